"""The merchant's events: every notification it was sent, kept 30 days, listed, resent.

An event is a row of the notification outbox (:mod:`..delivery.store`) seen from the
merchant's side: ``{"id" (the envelope id), "type", "created_at", "resource"}`` with the
resource as the merchant decrypts it. Events older than :data:`RETENTION_SECONDS` are
gone from the API at once and purged by housekeeping (a pending one is kept until its
delivery ends).

Resending makes the notification due again through the outbox, in one transaction with
the answer stored under the request's ``Idempotency-Key`` (a retried resend does not
deliver twice). A resend promises a delivery attempt that *starts after* it: an attempt
already in flight when the resend commits (claimed, not yet recorded) can no longer
record its outcome over the resend, because the resend moves the attempt counter past
it (the attempt is still logged).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ...lifecycle import NotificationState
from ..delivery.attempt import DeliveryIssuer, _seal
from ..delivery.store import notification_attempts, notifications
from ..storage import idempotency
from ..storage.locking import locked
from ..storage.records import NotificationRow
from ..storage.schema import reading, rfc3339, to_epoch
from .lifecycle import not_found
from .listing import ListQuery, Page, page

__all__ = ["RETENTION_SECONDS", "get_event", "list_events", "purge", "resend", "sealed"]

#: How long events are kept (and listed): 30 days.
RETENTION_SECONDS = 30 * 24 * 3600


def event_json(conn: sa.Connection, row: NotificationRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "type": row.event_type,
        "created_at": rfc3339(row.created_at),
        "resource": json.loads(row.resource),
    }


def _kept(now: datetime) -> sa.ColumnElement[bool]:
    return notifications.c.created_at >= to_epoch(now) - RETENTION_SECONDS


def list_events(engine: Engine, merchant_id: str, query: ListQuery, now: datetime) -> Page:
    filters = [_kept(now)]
    if query.out_trade_no is not None:
        filters.append(notifications.c.out_trade_no == query.out_trade_no)
    with reading(engine) as conn:
        return page(conn, notifications, merchant_id, query, filters=filters, render=event_json)


def _row(
    conn: sa.Connection, merchant_id: str, event_id: str, now: datetime, *, lock: bool = False
) -> NotificationRow:
    query = sa.select(notifications).where(
        notifications.c.id == event_id, notifications.c.merchant_id == merchant_id, _kept(now)
    )
    row = conn.execute(locked(query) if lock else query).first()
    if row is None:
        raise not_found("event", event_id)  # another merchant's event too: no id probing
    return row


def get_event(engine: Engine, merchant_id: str, event_id: str, now: datetime) -> dict[str, Any]:
    with reading(engine) as conn:
        return event_json(conn, _row(conn, merchant_id, event_id, now))


def resend(engine: Engine, merchant_id: str, event_id: str, now: datetime) -> dict[str, Any]:
    """Make the event due again at once (a fresh round of retries); its id is kept."""
    with idempotency.transaction(engine) as tx:
        conn = tx.conn
        row = _row(conn, merchant_id, event_id, now, lock=True)
        attempts = int(row.attempts)
        if row.state == NotificationState.PENDING and attempts > 0:
            recorded = conn.execute(
                sa.select(notification_attempts.c.id).where(
                    notification_attempts.c.notification_id == row.id,
                    notification_attempts.c.number == attempts,
                )
            ).first()
            if recorded is None:
                attempts += 1  # an attempt is in flight: its outcome must not end the resend
        conn.execute(
            notifications.update()
            .where(notifications.c.id == row.id)
            .values(
                state=NotificationState.PENDING,
                attempts=attempts,
                round_start=attempts,
                next_attempt_at=to_epoch(now),
                last_error=None,
            )
        )
        return tx.done(event_json(conn, row))


def sealed(issuer: DeliveryIssuer, merchant_id: str, event_id: str) -> dict[str, Any]:
    """The notification sealed now, as it would be POSTed: ``{"headers", "body"}``."""
    with reading(issuer.engine) as conn:
        row = _row(conn, merchant_id, event_id, issuer.now())
    merchant = issuer.merchant(merchant_id)
    if merchant is None:
        raise not_found("merchant", merchant_id)
    headers, body = _seal(issuer, dict(row._mapping), merchant)
    return {"headers": headers, "body": body.decode("utf-8")}


def purge(engine: Engine, now: datetime) -> int:
    """Forget events past retention whose delivery has ended; returns how many."""
    old = sa.select(notifications.c.id).where(
        notifications.c.created_at < to_epoch(now) - RETENTION_SECONDS,
        notifications.c.state != NotificationState.PENDING,
    )
    with engine.begin() as conn:
        ids = list(conn.execute(old.limit(1000)).scalars())
        if not ids:
            return 0
        conn.execute(
            notification_attempts.delete().where(notification_attempts.c.notification_id.in_(ids))
        )
        conn.execute(notifications.delete().where(notifications.c.id.in_(ids)))
    return len(ids)
