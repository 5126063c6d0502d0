"""Where notifications live: the outbox tables, enqueueing, re-delivery and the log.

Storage only (no HTTP, no sealing): :mod:`.notify_delivery` sends what is stored here,
and :mod:`.outbox` is the one name the rest of the issuer imports.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..storage.positions import next_position
from ..storage.schema import (
    checkouts,
    notification_attempts,
    notifications,
    orders,
    rfc3339,
    to_epoch,
)
from . import wechat

__all__ = [
    "DELIVERED",
    "FAILED",
    "NOTIFICATION_STATES",
    "PENDING",
    "delivery_log",
    "enqueue",
    "notification_attempts",
    "notifications",
    "redeliver",
]

PENDING, DELIVERED, FAILED = "PENDING", "DELIVERED", "FAILED"
NOTIFICATION_STATES = (PENDING, DELIVERED, FAILED)


# --- enqueue (inside the caller's transaction) -----------------------------------------


# Built once (see :mod:`..storage.prepared`): every state change enqueues.
_INSERT = notifications.insert()
_TRADE_NO_OF_ORDER = (
    sa.select(checkouts.c.out_trade_no)
    .join(orders, orders.c.checkout_id == checkouts.c.id)
    .where(orders.c.id == sa.bindparam("order_id"))
)


def enqueue(
    conn: Connection,
    *,
    merchant_id: str,
    notify_url: str,
    event_type: str,
    original_type: str,
    resource: Mapping[str, Any],
    summary: str,
    now: datetime,
) -> str:
    """Record a notification, due at once, in the caller's transaction; return its id
    (``""``: not recorded, a ``/v1`` event of a checkout made through ``/v3``).

    The resource is stored as plain JSON and sealed only when sent, because every attempt
    needs a fresh signature and the merchant's API key may be rotated meanwhile.
    """
    if not merchant_id or not event_type:
        raise ValueError("enqueue needs a merchant_id and an event_type")
    scheme = urlsplit(notify_url).scheme
    if scheme not in ("http", "https"):
        raise ValueError(f"notify_url must be an http(s) URL, got scheme {scheme!r}")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (use Issuer.now())")
    if wechat.suppressed(conn, event_type, original_type, resource):
        return ""  # a checkout made through /v3 is announced the v3 way only
    event_id = "evt_" + secrets.token_hex(12)
    trade_no = _out_trade_no(conn, resource)
    conn.execute(
        _INSERT,
        {
            "id": event_id,
            "merchant_id": merchant_id,
            "notify_url": notify_url,
            "event_type": event_type,
            "original_type": original_type,
            "summary": summary,
            "resource": json.dumps(dict(resource), ensure_ascii=False, separators=(",", ":")),
            "state": PENDING,
            "attempts": 0,
            "round_start": 0,
            "created_at": to_epoch(now),
            "seq": time.time_ns(),
            "next_attempt_at": to_epoch(now),
            "out_trade_no": trade_no,
            # Last: the position is numbered in commit order (storage/positions.py).
            "list_seq": next_position(conn, merchant_id),
        },
    )
    return event_id


def _out_trade_no(conn: Connection, resource: Mapping[str, Any]) -> str | None:
    """The out_trade_no of the checkout the resource is (or whose order it refunds)."""
    found = resource.get("out_trade_no")
    if isinstance(found, str):
        return found
    order_id = resource.get("order_id")
    if not isinstance(order_id, str):
        return None
    value = conn.execute(_TRADE_NO_OF_ORDER, {"order_id": order_id}).scalar()
    return None if value is None else str(value)


def redeliver(conn: Connection, event_id: str, *, now: datetime) -> bool:
    """Make a notification due again at once (an operator's "resend"); False if unknown.

    A delivered or failed notification gets a fresh round of retries; its past attempts
    stay in the log, and the envelope keeps its ``id`` so merchants still deduplicate it.
    """
    result = conn.execute(
        notifications.update()
        .where(notifications.c.id == event_id)
        .values(
            state=PENDING,
            next_attempt_at=to_epoch(now),
            round_start=notifications.c.attempts,
            last_error=None,
        )
    )
    return result.rowcount == 1


# --- the delivery log -------------------------------------------------------------------


def delivery_log(
    conn: Connection,
    *,
    merchant_id: str | None = None,
    limit: int = 100,
    state: str | None = None,
    event_id: str | None = None,
) -> list[dict[str, Any]]:
    """The newest notifications first, each with its attempts in order (JSON-ready dicts).

    The resource is left out: the log is for seeing *whether* merchants were told, and the
    resource can carry buyer-facing details that an operator view does not need.
    """
    if not 1 <= limit <= 1000:
        raise ValueError("limit must be between 1 and 1000")
    if state is not None and state not in NOTIFICATION_STATES:
        raise ValueError(f"state must be one of {', '.join(NOTIFICATION_STATES)}")
    query = sa.select(notifications).order_by(
        notifications.c.created_at.desc(), notifications.c.seq.desc()
    )
    if merchant_id is not None:
        query = query.where(notifications.c.merchant_id == merchant_id)
    if state is not None:
        query = query.where(notifications.c.state == state)
    if event_id is not None:
        query = query.where(notifications.c.id == event_id)
    rows = conn.execute(query.limit(limit)).all()
    attempts: dict[str, list[dict[str, Any]]] = {row.id: [] for row in rows}
    if rows:
        for attempt in conn.execute(
            sa.select(notification_attempts)
            .where(notification_attempts.c.notification_id.in_(list(attempts)))
            .order_by(notification_attempts.c.notification_id, notification_attempts.c.number)
        ):
            attempts[attempt.notification_id].append(
                {
                    "number": attempt.number,
                    "attempted_at": rfc3339(attempt.attempted_at),
                    "outcome": attempt.outcome,
                    "status_code": attempt.status_code,
                    "error": attempt.error,
                    "duplicated": bool(attempt.duplicated),
                }
            )
    return [
        {
            "id": row.id,
            "merchant_id": row.merchant_id,
            "event_type": row.event_type,
            "original_type": row.original_type,
            "summary": row.summary,
            "notify_url": row.notify_url,
            "state": row.state,
            "attempt_count": row.attempts,
            "created_at": rfc3339(row.created_at),
            "next_attempt_at": rfc3339(row.next_attempt_at) if row.state == PENDING else None,
            "delivered_at": rfc3339(row.delivered_at),
            "last_status": row.last_status,
            "last_error": row.last_error,
            "attempts": attempts[row.id],
        }
        for row in rows
    ]
