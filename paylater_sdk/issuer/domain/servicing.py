"""Servicing at the issuer: repayments, bills and the buyer's servicing view (issue #14).

The rules are the pure functions of :mod:`paylater_sdk.installments` (docs/servicing.md):
this module loads a buyer's orders as :class:`OrderAccount` values (:mod:`.accounts`),
calls :func:`allocate`, :func:`build_statement` or :func:`delinquency`, and books what
they return (:mod:`.booking`). A repayment is one write transaction that locks the
buyer's orders and then the buyer row (the order -> buyer lock order of captures and
refunds, so no two servicing paths deadlock), so two repayments of one buyer serialise
and neither can over-pay or restore credit twice. With an ``Idempotency-Key`` the answer
commits with the repayment (``repayments.answer_json``) and a retry gets it back.
"""

from __future__ import annotations

import calendar
import hashlib
import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ...errors import IdempotencyError, NotFoundError
from ...installments import (
    Allocation,
    AllocationPart,
    OrderAccount,
    PrepayKeeps,
    RepayMode,
    ServicingError,
    ServicingPolicy,
    allocate,
    build_statement,
    delinquency,
    owed,
)
from ...lifecycle import BuyerEventType
from ...money import Money
from ..config import IssuerConfig
from ..storage.locking import locked
from ..storage.schema import buyers, orders, reading, repayments, to_epoch
from . import credit, ledger, lifecycle, messages
from .accounts import account_of, accounts_of, lines_by_order, policies_for, serviced_orders
from .booking import book_order, insert_lines

__all__ = ["receipt", "refresh_freeze", "repay", "servicing_view", "statement"]


def _buyer(conn: sa.Connection, buyer_id: str, *, lock: bool = False) -> Any:
    query = sa.select(buyers).where(buyers.c.id == buyer_id)
    row = conn.execute(locked(query) if lock else query).first()
    if row is None:
        raise NotFoundError(f"no buyer {buyer_id[:64]!r}", code="NOT_FOUND")
    return row


def _request_hash(request: dict[str, Any]) -> str:
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _open_accounts(
    conn: sa.Connection, buyer_id: str, rows: list[Any], order_id: str | None
) -> tuple[list[Any], list[OrderAccount]]:
    """The buyer's loans still on the line among ``rows`` (locked), and their accounts."""
    if order_id is not None:
        mine = [r for r in rows if r.id == order_id]
        if mine and mine[0].written_off_at is not None:
            raise ServicingError(
                f"order {order_id} was written off; it is closed",
                code="NOTHING_OWED",
                field="order_id",
            )
        if not mine and _owns(conn, buyer_id, order_id):
            raise ServicingError(
                f"order {order_id} has no loan yet (not captured); nothing is owed on it",
                code="NOTHING_OWED",
                field="order_id",
            )
        if not mine:
            raise ServicingError(
                f"unknown order {order_id[:64]!r} for this buyer",
                code="UNKNOWN_ORDER",
                field="order_id",
            )
    rows = [r for r in rows if r.written_off_at is None]
    if not rows:
        raise ServicingError("this buyer owes nothing", code="NOTHING_OWED", field="amount")
    return rows, accounts_of(conn, rows)


def _owns(conn: sa.Connection, buyer_id: str, order_id: str) -> bool:
    query = sa.select(orders.c.id).where(orders.c.id == order_id, orders.c.buyer_id == buyer_id)
    return conn.execute(query).first() is not None


def repay(
    engine: Engine,
    buyer_id: str,
    *,
    now: datetime,
    config: IssuerConfig,
    amount: Money | None = None,
    order_id: str | None = None,
    mode: str = RepayMode.DUE.value,
    prepay_keeps: str = PrepayKeeps.PAYMENT.value,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """The buyer repays ``amount`` (``None``: all ``mode`` can take) on the business day.

    Answers ``{"repayment_id", "allocated", "owed", "delinquency"}``; raises
    :class:`ServicingError` (nothing changes) for an amount it cannot apply.
    """
    on = now.date()
    request = {
        "amount": None if amount is None else amount.to_json(),
        "order_id": order_id,
        "mode": mode,
        "prepay_keeps": prepay_keeps,
    }
    digest = _request_hash(request)
    with engine.begin() as conn:
        _buyer(conn, buyer_id)  # 404 for an unknown buyer, before any lock
        locked_rows = serviced_orders(conn, buyer_id, lock=True)
        buyer = _buyer(conn, buyer_id, lock=True)
        if idempotency_key is not None:  # looked up under the locks: a duplicate waited
            done = conn.execute(
                sa.select(repayments.c.request_hash, repayments.c.answer_json).where(
                    repayments.c.buyer_id == buyer_id,
                    repayments.c.idempotency_key == idempotency_key,
                )
            ).first()
            if done is not None:
                if done.request_hash != digest:
                    raise IdempotencyError(
                        "this Idempotency-Key was already used with a different repayment",
                        code="IDEMPOTENCY_KEY_REUSED",
                    )
                answer: dict[str, Any] = json.loads(done.answer_json)
                return answer
        rows, accounts = _open_accounts(conn, buyer_id, locked_rows, order_id)
        policy = policies_for(config, rows)
        alloc = allocate(
            accounts,
            amount,
            on=on,
            mode=mode,
            order_id=order_id,
            prepay_keeps=prepay_keeps,
            policy=policy,
        )
        repayment_id = lifecycle.new_id("rp")
        messages.record(
            conn,
            buyer_id=buyer_id,
            event_type=BuyerEventType.REPAYMENT_SUCCEEDED,
            summary=f"repayment of {alloc.amount} received",
            on=on,
            now=now,
            data={"repayment_id": repayment_id, "amount": alloc.amount.to_json()},
        )
        _book(conn, rows, accounts, alloc, repayment_id, now, policy)
        status = delinquency(list(alloc.accounts), on=on, policy=policy)
        answer = {
            "repayment_id": repayment_id,
            "allocated": [li.to_json() for li in alloc.lines],
            "owed": owed(list(alloc.accounts), on=on, policy=policy).to_json(),
            "delinquency": status.to_json(),
        }
        conn.execute(
            repayments.insert().values(
                id=repayment_id,
                buyer_id=buyer_id,
                idempotency_key=idempotency_key,
                request_hash=digest,
                mode=alloc.mode.value,
                order_id=order_id,
                prepay_keeps=prepay_keeps,
                amount_minor=alloc.amount.minor,
                currency=alloc.amount.currency,
                business_date=on.isoformat(),
                created_at=to_epoch(now),
                answer_json=json.dumps(answer, sort_keys=True),
            )
        )
        refresh_freeze(conn, buyer, on, now)
        messages.record_bucket(
            conn, buyer_id=buyer_id, accounts=alloc.accounts, policy=policy, on=on, now=now
        )
        return answer


def _book(
    conn: sa.Connection,
    rows: list[Any],
    accounts: list[OrderAccount],
    alloc: Allocation,
    repayment_id: str,
    now: datetime,
    policies: Mapping[str, ServicingPolicy],
) -> None:
    on = alloc.on
    insert_lines(conn, alloc.lines, reference=repayment_id, on=on, source="REPAYMENT")
    for row, before, after in zip(rows, accounts, alloc.accounts, strict=True):
        mine = [li for li in alloc.lines if li.order_id == row.id]
        if not mine:
            continue
        policy = policies[row.id]
        fields = book_order(
            conn,
            row,
            before,
            after,
            mine,
            on=on,
            now=now,
            reason="REPAY",
            reference=repayment_id,
            policy=policy,
        )
        lifecycle.update_order(conn, row, **fields)
        if all(s.settled for s in after.states(on, policy)):
            messages.record(
                conn,
                buyer_id=row.buyer_id,
                event_type=BuyerEventType.ORDER_PAID_OFF,
                summary=f"order {row.id} is paid off",
                on=on,
                now=now,
                order_id=row.id,
                dedupe_key=f"{row.id}:PAID_OFF",
            )


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
    _buyer(conn, buyer_id)
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
        buyer = _buyer(conn, buyer_id)
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


def receipt(engine: Engine, buyer_id: str, repayment_id: str) -> dict[str, Any] | None:
    """A repayment of this buyer (its answer, amount and day), or None for any other id."""
    with reading(engine) as conn:
        row = conn.execute(
            sa.select(repayments).where(
                repayments.c.id == repayment_id, repayments.c.buyer_id == buyer_id
            )
        ).first()
    if row is None:
        return None
    answer: dict[str, Any] = json.loads(row.answer_json)
    return {
        **answer,
        "amount": Money.from_minor(row.amount_minor, row.currency).to_json(),
        "mode": row.mode,
        "date": row.business_date,
    }
