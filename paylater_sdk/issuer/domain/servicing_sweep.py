"""The servicing sweep: what the business clock makes due, booked once per buyer and day.

Run by :meth:`Issuer.sweep` (before requests, after a test-clock advance) and so by the
background sweeper: for each buyer with a loan still owing, in one transaction under the
same locks as a repayment (the buyer's orders, then the buyer row), it posts the penalty
and late fees accrued through today, sends the due-soon reminder (3 days before a due
date) and the overdue notice (the day after), writes off an order at
``policy.write_off_days`` past due (its principal and receivables leave the books for the
written-off account, and the buyer's line closes) and refreshes the freeze. Every event
has a dedupe key and every posting is "what the account says less what is stored", so any
number of processes may sweep the same day.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ...installments import OrderAccount, ServicingPolicy
from ...lifecycle import BuyerEventType, BuyerStatus, RiskRule
from ..config import IssuerConfig, RiskRuleConfig
from ..storage.schema import buyers, log_failure, orders, reading, to_epoch
from . import ledger, lifecycle, messages, risk
from .accounts import (
    SERVICED,
    accounts_of,
    balances,
    lines_by_order,
    policies_for,
    policy_for,
    serviced_orders,
)
from .booking import book_order
from .servicing import refresh_freeze

__all__ = ["DUE_SOON_DAYS", "sweep_servicing"]

log = logging.getLogger(__name__)

#: The reminder goes out this many days before a due date.
DUE_SOON_DAYS = 3


def _buyers_to_sweep(engine: Engine) -> list[str]:
    with reading(engine) as conn:
        return list(
            conn.execute(
                sa.select(orders.c.buyer_id)
                .where(
                    orders.c.state.in_(SERVICED),
                    orders.c.next_due_on.is_not(None),
                    orders.c.written_off_at.is_(None),
                )
                .distinct()
                .order_by(orders.c.buyer_id)
            ).scalars()
        )


def sweep_servicing(engine: Engine, now: datetime, config: IssuerConfig) -> int:
    """Sweep every buyer with a loan still owing; returns how many were swept.

    Each order by its own product's settings (``config.servicing``: grace, penalty cap,
    late fee, write-off days).

    One transaction per buyer: one buyer's failure is logged and retried next time,
    never the rest's.
    """
    swept = 0
    for buyer_id in _buyers_to_sweep(engine):
        try:
            with engine.begin() as conn:
                _sweep_buyer(conn, buyer_id, now, config)
            swept += 1
        except Exception as exc:
            log_failure(log, "servicing sweep of a buyer failed; the next one retries", exc)
    return swept


def _sweep_buyer(conn: sa.Connection, buyer_id: str, now: datetime, config: IssuerConfig) -> None:
    on = now.date()
    risk_rules = dict(config.risk_rules)
    rows = [r for r in serviced_orders(conn, buyer_id, lock=True) if r.written_off_at is None]
    buyer = conn.execute(sa.select(buyers).where(buyers.c.id == buyer_id).with_for_update()).one()
    for row, account in zip(rows, accounts_of(conn, rows), strict=True):
        if account.schedule.start > on:
            continue
        policy = policy_for(config, row.plan_id)
        _remind(conn, row, account, on, now, policy)
        _first_payment(conn, row, account, on, now, policy, risk_rules)
        fields = book_order(
            conn, row, account, account, [], on=on, now=now, reason="SWEEP",
            reference=row.id, policy=policy,
        )  # fmt: skip
        unchanged = (
            fields["penalty_posted_minor"] == row.penalty_posted_minor
            and fields["late_fees_posted_minor"] == row.late_fees_posted_minor
            and fields["next_due_on"] == row.next_due_on
        )
        if not unchanged:
            lifecycle.update_order(conn, row, **fields)
            row = conn.execute(sa.select(orders).where(orders.c.id == row.id)).one()
        if account.days_past_due(on, policy) >= policy.write_off_days:
            _write_off(conn, row, on, now)
    refresh_freeze(conn, buyer, on, now)
    live = [r for r in serviced_orders(conn, buyer_id) if r.written_off_at is None]
    messages.record_bucket(
        conn,
        buyer_id=buyer_id,
        accounts=accounts_of(conn, live),
        policy=policies_for(config, live),
        on=on,
        now=now,
    )


def _remind(
    conn: sa.Connection,
    row: Any,
    account: OrderAccount,
    on: date,
    now: datetime,
    policy: ServicingPolicy,
) -> None:
    """The due-soon reminder and the overdue notice of each installment, once each."""
    for s in account.states(on, policy):
        if s.settled:
            continue
        due, number = s.installment.due_date, s.installment.number
        common = {"buyer_id": row.buyer_id, "on": on, "now": now, "order_id": row.id}
        data = {"installment": number, "due_date": due.isoformat(), "owed": s.owed.to_json()}
        if due - timedelta(days=DUE_SOON_DAYS) <= on <= due:
            messages.record(
                conn,
                event_type=BuyerEventType.INSTALLMENT_DUE_SOON,
                summary=f"installment {number} of {s.owed} is due on {due.isoformat()}",
                data=data,
                dedupe_key=f"{row.id}:{number}:{due.isoformat()}:DUE_SOON",
                **common,
            )
        if s.past_due:
            messages.record(
                conn,
                event_type=BuyerEventType.INSTALLMENT_OVERDUE,
                summary=f"installment {number} due on {due.isoformat()} is overdue",
                data=data,
                dedupe_key=f"{row.id}:{number}:{due.isoformat()}:OVERDUE",
                **common,
            )


def _first_payment(
    conn: sa.Connection,
    row: Any,
    account: OrderAccount,
    on: date,
    now: datetime,
    policy: ServicingPolicy,
    risk_rules: dict[str, RiskRuleConfig],
) -> None:
    """The risk rule FIRST_PAYMENT_DEFAULT, once the first installment's grace is over."""
    if RiskRule.FIRST_PAYMENT_DEFAULT not in risk_rules:
        return
    first = account.states(on, policy)[0]
    if first.days_past_due > policy.grace_days:
        risk.after_missed_installment(
            conn,
            risk_rules,
            buyer_id=row.buyer_id,
            order_id=row.id,
            installment=first.installment.number,
            days_past_due=first.days_past_due,
            now=now,
        )


def _write_off(conn: sa.Connection, row: Any, on: date, now: datetime) -> None:
    """Write the order off: principal leaves the line (and the limit), every receivable
    moves to the written-off account, the buyer's line closes."""
    owed = balances(row, lines_by_order(conn, [row.id])[row.id])
    common = {
        "buyer_id": row.buyer_id,
        "order_id": row.id,
        "currency": row.currency,
        "reference": row.id,
        "now": now,
    }
    moved = owed["PRINCIPAL"]
    for kind in ("INTEREST", "FEE", "PENALTY", "LATE_FEE"):
        ledger.post_receivable(conn, kind=kind, delta=-owed[kind], reason="WRITE_OFF", **common)
        moved += owed[kind]
    ledger.post_receivable(conn, kind="WRITTEN_OFF", delta=moved, reason="WRITE_OFF", **common)
    ledger.write_off_principal(
        conn,
        buyer_id=row.buyer_id,
        amount=owed["PRINCIPAL"],
        currency=row.currency,
        reference=row.id,
        now=now,
    )
    lifecycle.update_order(conn, row, written_off_at=to_epoch(now), next_due_on=None)
    conn.execute(
        buyers.update().where(buyers.c.id == row.buyer_id).values(status=BuyerStatus.FROZEN)
    )
    messages.record(
        conn,
        buyer_id=row.buyer_id,
        event_type=BuyerEventType.ORDER_WRITTEN_OFF,
        summary=f"order {row.id} was written off; the credit line is closed",
        on=on,
        now=now,
        order_id=row.id,
        data={"written_off": {"value": moved, "currency": row.currency}},
        dedupe_key=f"{row.id}:WRITTEN_OFF",
    )
