"""Booking a servicing change of one order: its stored facts and its ledger moves together.

Every servicing path (a repayment, a refund after repayment, the sweeper's posting and
write-off) ends the same way for each order it touched: the new schedule, the penalty and
late fees posted through the day, the payment rows, and the ledger deltas that follow from
exactly those facts (principal restored, receivables posted, paid or re-planned), in the
caller's transaction. The figures come from the pure :class:`OrderAccount`; this module
only books them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ...installments import AllocationLine, OrderAccount, ServicingPolicy
from ..storage.schema import repayment_lines
from . import ledger

__all__ = ["book_order", "freeze_date", "insert_lines", "order_fields"]

_RECEIVABLE_PARTS = ("INTEREST", "FEE", "PENALTY", "LATE_FEE")


def freeze_date(account: OrderAccount, on: date, policy: ServicingPolicy) -> str | None:
    """The last day of grace of the oldest installment still owing anything (ISO), or None.

    Stored as ``orders.next_due_on``: the buyer is frozen (``credit.refresh_overdue``)
    once a day is past it, which is exactly ``delinquency(...).frozen`` (more than
    ``grace_days`` past due).
    """
    # Installments fall due in order, so the oldest owing one is the first not settled
    # (a new loan stops at its first installment, and only its state is worked out).
    oldest = account.first_owing(max(on, account.schedule.start), policy)
    if oldest is None:
        return None
    return (oldest.installment.due_date + timedelta(days=policy.grace_days)).isoformat()


def order_fields(account: OrderAccount, on: date, policy: ServicingPolicy) -> dict[str, Any]:
    """The order columns that store an account's schedule and its freeze date."""
    return {
        "schedule_json": json.dumps(account.schedule.to_json()),
        "next_due_on": freeze_date(account, on, policy),
    }


def insert_lines(
    conn: sa.Connection,
    lines: Sequence[AllocationLine],
    *,
    reference: str,
    on: date,
    source: str,
) -> None:
    """Store allocation lines as the orders' payment rows (``source``: REPAYMENT | REFUND)."""
    for li in lines:
        conn.execute(
            repayment_lines.insert().values(
                repayment_id=reference,
                order_id=li.order_id,
                installment=li.installment,
                part=li.part.value,
                amount_minor=li.amount.minor,
                business_date=on.isoformat(),
                source=source,
            )
        )


def _plan_totals(account: OrderAccount) -> dict[str, int]:
    rows = account.schedule.installments
    return {
        "INTEREST": sum(i.interest.minor for i in rows),
        "FEE": sum(i.fee.minor for i in rows),
    }


def book_order(
    conn: sa.Connection,
    order: Any,
    before: OrderAccount,
    after: OrderAccount,
    lines: Sequence[AllocationLine],
    *,
    on: date,
    now: datetime,
    reason: str,
    reference: str,
    policy: ServicingPolicy,
) -> dict[str, Any]:
    """Book ``order`` going from ``before`` to ``after`` by ``lines`` on ``on``.

    Posts the penalty and late fees accrued through ``on`` (what the account says, less
    what is stored: posting at every repayment, statement and sweep never drifts), the
    receivable change of a re-planned schedule, the receivables the lines paid, and the
    principal they paid back (freeing credit); then stores the schedule. ``reason`` names
    the ledger entries (``REPAY``, ``REFUND``, ``SWEEP``). Returns the order columns to
    store (the caller's version-guarded update, with any state change of its own).
    """
    states = before.states(on, policy)
    penalty = sum(s.penalty.minor for s in states) - order.penalty_posted_minor
    late = sum(s.late_fee.minor for s in states) - order.late_fees_posted_minor
    old, new = _plan_totals(before), _plan_totals(after)
    principal = sum(li.amount.minor for li in lines if li.part.value not in _RECEIVABLE_PARTS)
    common = {
        "buyer_id": order.buyer_id,
        "order_id": order.id,
        "currency": order.currency,
        "reference": reference,
        "now": now,
    }
    ledger.post_receivable(conn, kind="PENALTY", delta=penalty, reason="PENALTY", **common)
    ledger.post_receivable(conn, kind="LATE_FEE", delta=late, reason="LATE_FEE", **common)
    for kind in ("INTEREST", "FEE"):
        change = new[kind] - old[kind]
        ledger.post_receivable(conn, kind=kind, delta=change, reason=f"{reason}_PLAN", **common)
    for li in lines:
        if li.part.value in _RECEIVABLE_PARTS:
            ledger.post_receivable(
                conn, kind=li.part.value, delta=-li.amount.minor, reason=reason, **common
            )
    ledger.restore_principal(
        conn,
        buyer_id=order.buyer_id,
        amount=principal,
        currency=order.currency,
        reference=reference,
        reason=reason,
        now=now,
    )
    return {
        "penalty_posted_minor": order.penalty_posted_minor + penalty,
        "late_fees_posted_minor": order.late_fees_posted_minor + late,
        **order_fields(after, on, policy),
    }
