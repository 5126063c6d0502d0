"""The buyer's messages: servicing events in the issuer's event log, never sent to merchants.

``INSTALLMENT.DUE_SOON``, ``INSTALLMENT.OVERDUE``, ``REPAYMENT.SUCCEEDED``,
``ORDER.PAID_OFF``, ``ACCOUNT.FROZEN``, ``ACCOUNT.UNFROZEN``, ``ORDER.WRITTEN_OFF`` and
``REFUND.RETURNED`` are rows of ``buyer_events``, written in the transaction of the change
they announce (under the buyer's lock). A sweeper's event carries a ``dedupe_key`` so
that it happens once however many processes sweep. ``ACCOUNT.BUCKET_CHANGED`` records
each move of the buyer's delinquency bucket (``CURRENT``, ``M1``, ``M2``, ``M3``,
``M3_PLUS``) against the last one recorded, so a move is recorded once whoever sees it
first (a sweep, a repayment) and a clock jumping weeks ahead records one move, not one a day.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ...installments import OrderAccount, Policies, delinquency
from ...lifecycle import BuyerEventType, DelinquencyBucket
from ..storage.schema import buyer_events, reading, to_epoch

__all__ = ["buyer_messages", "record", "record_bucket"]


def record(
    conn: sa.Connection,
    *,
    buyer_id: str,
    event_type: BuyerEventType,
    summary: str,
    on: date,
    now: datetime,
    order_id: str | None = None,
    data: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> bool:
    """Append a message; with ``dedupe_key``, only if that key was not recorded yet.

    Returns whether it was recorded. Callers hold the buyer's row lock, so the existence
    check cannot race another writer of the same buyer (the unique index is the backstop).
    """
    if dedupe_key is not None:
        seen = conn.execute(
            sa.select(buyer_events.c.id).where(buyer_events.c.dedupe_key == dedupe_key)
        ).first()
        if seen is not None:
            return False
    conn.execute(
        buyer_events.insert().values(
            buyer_id=buyer_id,
            event_type=event_type.value,
            order_id=order_id,
            summary=summary,
            data_json=json.dumps(data or {}, sort_keys=True),
            business_date=on.isoformat(),
            created_at=to_epoch(now),
            dedupe_key=dedupe_key,
        )
    )
    return True


def record_bucket(
    conn: sa.Connection,
    *,
    buyer_id: str,
    accounts: Sequence[OrderAccount],
    policy: Policies,
    on: date,
    now: datetime,
) -> bool:
    """Record ``ACCOUNT.BUCKET_CHANGED`` if the buyer's bucket (of ``accounts``, their
    orders still on the line) is not the last one recorded (``CURRENT`` before any).

    Judged as of ``on`` or the day of the last move, whichever is later: a request that
    read the business clock just before midnight, and commits after the next day's sweep,
    must not record the earlier day's bucket over the later one. The caller holds the
    buyer's row lock, so two sweeps cannot both record one move. Returns whether it did.
    """
    last = conn.execute(
        sa.select(buyer_events.c.data_json, buyer_events.c.business_date)
        .where(
            buyer_events.c.buyer_id == buyer_id,
            buyer_events.c.event_type == BuyerEventType.ACCOUNT_BUCKET_CHANGED.value,
        )
        .order_by(buyer_events.c.id.desc())
        .limit(1)
    ).first()
    before = DelinquencyBucket.CURRENT.value
    if last is not None:
        before = json.loads(last.data_json)["to"]
        on = max(on, date.fromisoformat(last.business_date))
    status = delinquency(list(accounts), on=on, policy=policy)
    after, days = status.bucket.value, status.days_past_due
    if before == after:
        return False
    return record(
        conn,
        buyer_id=buyer_id,
        event_type=BuyerEventType.ACCOUNT_BUCKET_CHANGED,
        summary=f"delinquency moved from {before} to {after} (days past due: {days})",
        on=on,
        now=now,
        data={"from": before, "to": after, "days_past_due": days},
    )


def buyer_messages(engine: Engine, buyer_id: str, *, limit: int = 200) -> list[dict[str, Any]]:
    """The buyer's messages, oldest first (the ``/account`` pages and the admin view)."""
    with reading(engine) as conn:
        rows = conn.execute(
            sa.select(buyer_events)
            .where(buyer_events.c.buyer_id == buyer_id)
            .order_by(buyer_events.c.id)
            .limit(limit)
        ).all()
    return [
        {
            "type": r.event_type,
            "order_id": r.order_id,
            "summary": r.summary,
            "date": r.business_date,
            "data": json.loads(r.data_json),
        }
        for r in rows
    ]
