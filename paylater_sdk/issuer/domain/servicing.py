"""Servicing at the issuer: bills, the freeze and the buyer's servicing view (issue #14).

The rules are the pure functions of :mod:`paylater_sdk.installments` (docs/servicing.md):
this module loads a buyer's orders as :class:`OrderAccount` values (:mod:`.accounts`) and
answers what :func:`build_statement`, :func:`owed` and :func:`delinquency` say of them; it
also refreshes the buyer's freeze. Repayments, which change the books, are
:mod:`.repayments`.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ...errors import NotFoundError
from ...installments import (
    AllocationPart,
    OrderAccount,
    ServicingPolicy,
    build_statement,
    delinquency,
    owed,
)
from ...lifecycle import BuyerEventType
from ...money import Money
from ..config import IssuerConfig
from ..storage.locking import locked
from ..storage.schema import buyers, reading
from . import credit, ledger, messages
from .accounts import account_of, lines_by_order, policies_for, serviced_orders

__all__ = ["buyer_row", "refresh_freeze", "servicing_view", "statement"]


def buyer_row(conn: sa.Connection, buyer_id: str, *, lock: bool = False) -> Any:
    """The buyer's row (locked with ``lock``), or ``NOT_FOUND``."""
    query = sa.select(buyers).where(buyers.c.id == buyer_id)
    row = conn.execute(locked(query) if lock else query).first()
    if row is None:
        raise NotFoundError(f"no buyer {buyer_id[:64]!r}", code="NOT_FOUND")
    return row


def refresh_freeze(conn: sa.Connection, buyer: Any, on: date, now: datetime) -> None:
    """Refresh the buyer's freeze (``overdue``) from the orders' freeze dates; a change of
    it is an ``ACCOUNT.FROZEN`` / ``ACCOUNT.UNFROZEN`` message."""
    credit.refresh_overdue(conn, on, buyer.id)
    frozen = conn.execute(sa.select(buyers.c.overdue).where(buyers.c.id == buyer.id)).scalar_one()
    if bool(frozen) == bool(buyer.overdue):
        return
    kind = BuyerEventType.ACCOUNT_FROZEN if frozen else BuyerEventType.ACCOUNT_UNFROZEN
    summary = "new purchases are frozen: an installment is past due" if frozen else "cured"
    messages.record(conn, buyer_id=buyer.id, event_type=kind, summary=summary, on=on, now=now)


def _load(conn: sa.Connection, buyer_id: str) -> tuple[list[Any], list[OrderAccount]]:
    buyer_row(conn, buyer_id)
    rows = serviced_orders(conn, buyer_id)
    lines = lines_by_order(conn, [r.id for r in rows])
    return rows, [account_of(r, lines[r.id]) for r in rows]


def statement(
    engine: Engine, buyer_id: str, month: str, *, today: date, config: IssuerConfig
) -> dict[str, Any]:
    """The bill of ``month`` (``YYYY-MM``) as of today (or the month's last day, if past)."""
    with reading(engine) as conn:
        rows, accounts = _load(conn, buyer_id)
    policy = policies_for(config, rows)
    live = [a for r, a in zip(rows, accounts, strict=True) if r.written_off_at is None]
    bill = build_statement(live, month, as_of=_as_of(month, today), policy=policy)
    return {"buyer_id": buyer_id, **bill.to_json()}


def _as_of(month: str, today: date) -> date | None:
    """A past month's bill is as of its last day (None); this or a later month's, as of
    today or the month's first day. A malformed month is left to ``build_statement``."""
    try:
        first = date.fromisoformat(f"{month}-01")
    except ValueError:
        return None
    last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    return None if last < today else max(first, today)


def servicing_view(
    engine: Engine, buyer_id: str, *, today: date, config: IssuerConfig
) -> dict[str, Any]:
    """Bills, receivables and delinquency of a buyer (the admin's servicing section)."""
    with reading(engine) as conn:
        rows, accounts = _load(conn, buyer_id)
        books = ledger.receivable_balances(conn, buyer_id=buyer_id)
        buyer = buyer_row(conn, buyer_id)
    policy = policies_for(config, rows)
    live = [a for r, a in zip(rows, accounts, strict=True) if r.written_off_at is None]
    totals = {
        kind: sum(v for (_, k), v in books.items() if k == kind)
        for kind in ("INTEREST", "FEE", "PENALTY", "LATE_FEE", "WRITTEN_OFF")
    }
    cur = buyer.currency
    return {
        "buyer_id": buyer_id,
        "as_of": today.isoformat(),
        "outstanding_principal": Money.from_minor(buyer.outstanding, cur).to_json(),
        "receivables": {k: Money.from_minor(v, cur).to_json() for k, v in totals.items()},
        "delinquency": delinquency(live, on=today, policy=policy).to_json(),
        "frozen": bool(buyer.overdue),
        "owed_now": (owed(live, on=today, policy=policy) if live else Money.zero(cur)).to_json(),
        "bill": build_statement(live, today.isoformat()[:7], as_of=today, policy=policy).to_json(),
        "orders": [
            _order_view(r, a, today, policy[r.id]) for r, a in zip(rows, accounts, strict=True)
        ],
    }


def _order_view(
    row: Any, account: OrderAccount, today: date, policy: ServicingPolicy
) -> dict[str, Any]:
    states = account.states(max(today, account.schedule.start), policy)
    settled = all(s.settled for s in states)
    quote = None
    if not settled and row.written_off_at is None:
        quote = account.payoff_quote(today, policy).to_json()
    return {
        "order_id": row.id,
        "state": row.state,
        "written_off": row.written_off_at is not None,
        "paid_off": settled,
        "penalty_rate": row.penalty_rate,
        "plan_id": row.plan_id,
        "servicing": policy.to_json(),
        "days_past_due": account.days_past_due(today, policy),
        "outstanding_principal": account.outstanding_principal(today, policy).to_json(),
        "payoff_quote": quote,
        "schedule": account.schedule.to_json(),
        "installments": [
            {
                "installment": s.installment.number,
                "due_date": s.installment.due_date.isoformat(),
                "amount": s.installment.amount.to_json(),
                "paid": (s.paid_fee + s.paid_interest + s.paid_principal).to_json(),
                "penalty": s.penalty.to_json(),
                "owed": s.owed.to_json(),
                "principal_owed": s.owed_part(AllocationPart.PRINCIPAL).to_json(),
            }
            for s in states
        ],
        "payments": [
            {
                "date": p.on.isoformat(),
                "installment": p.installment,
                "part": p.part.value,
                "amount": p.amount.to_json(),
            }
            for p in account.payments
        ],
    }
