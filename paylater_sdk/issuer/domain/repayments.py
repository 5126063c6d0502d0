"""Repayments at the issuer: the buyer pays, :func:`installments.allocate` decides where.

A repayment is one write transaction that locks the buyer's orders and then the buyer row
(the order -> buyer lock order of captures and refunds, so no two servicing paths
deadlock), so two repayments of one buyer serialise and neither can over-pay or restore
credit twice. With an ``Idempotency-Key`` the answer commits with the repayment
(``repayments.answer_json``) and a retry gets it back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ...errors import IdempotencyError
from ...installments import (
    Allocation,
    OrderAccount,
    PrepayKeeps,
    RepayMode,
    ServicingError,
    ServicingPolicy,
    allocate,
    delinquency,
    owed,
)
from ...lifecycle import BuyerEventType
from ...money import Money
from ..config import IssuerConfig
from ..storage.schema import orders, reading, repayments, to_epoch
from . import lifecycle, messages
from .accounts import accounts_of, policies_for, serviced_orders
from .booking import book_order, insert_lines
from .servicing import buyer_row, refresh_freeze

__all__ = ["receipt", "repay"]


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
    amount_json = None if amount is None else amount.to_json()
    digest = _request_hash(
        {"amount": amount_json, "order_id": order_id, "mode": mode, "prepay_keeps": prepay_keeps}
    )
    with engine.begin() as conn:
        buyer_row(conn, buyer_id)  # 404 for an unknown buyer, before any lock
        locked_rows = serviced_orders(conn, buyer_id, lock=True)
        buyer = buyer_row(conn, buyer_id, lock=True)
        if idempotency_key is not None:  # looked up under the locks: a duplicate waited
            done = _stored_answer(conn, buyer_id, idempotency_key, digest)
            if done is not None:
                return done
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
        answer = _answer(alloc, repayment_id, on, policy)
        _store_repayment(
            conn,
            repayment_id,
            buyer_id,
            alloc,
            answer,
            key=idempotency_key,
            digest=digest,
            order_id=order_id,
            prepay_keeps=prepay_keeps,
            now=now,
        )
        refresh_freeze(conn, buyer, on, now)
        messages.record_bucket(
            conn, buyer_id=buyer_id, accounts=alloc.accounts, policy=policy, on=on, now=now
        )
        return answer


def _answer(
    alloc: Allocation, repayment_id: str, on: date, policy: Mapping[str, ServicingPolicy]
) -> dict[str, Any]:
    """What a repayment answers (and stores for a retry with the same key)."""
    accounts = list(alloc.accounts)
    return {
        "repayment_id": repayment_id,
        "allocated": [li.to_json() for li in alloc.lines],
        "owed": owed(accounts, on=on, policy=policy).to_json(),
        "delinquency": delinquency(accounts, on=on, policy=policy).to_json(),
    }


def _store_repayment(
    conn: sa.Connection,
    repayment_id: str,
    buyer_id: str,
    alloc: Allocation,
    answer: dict[str, Any],
    *,
    key: str | None,
    digest: str,
    order_id: str | None,
    prepay_keeps: str,
    now: datetime,
) -> None:
    """The repayment row with its stored answer, committed with the effect it answers for."""
    conn.execute(
        repayments.insert().values(
            id=repayment_id,
            buyer_id=buyer_id,
            idempotency_key=key,
            request_hash=digest,
            mode=alloc.mode.value,
            order_id=order_id,
            prepay_keeps=prepay_keeps,
            amount_minor=alloc.amount.minor,
            currency=alloc.amount.currency,
            business_date=now.date().isoformat(),
            created_at=to_epoch(now),
            answer_json=json.dumps(answer, sort_keys=True),
        )
    )


def _stored_answer(
    conn: sa.Connection, buyer_id: str, idempotency_key: str, digest: str
) -> dict[str, Any] | None:
    """The answer stored for ``idempotency_key``, or ``None`` for a first request; a key
    reused with another request body is refused."""
    done = conn.execute(
        sa.select(repayments.c.request_hash, repayments.c.answer_json).where(
            repayments.c.buyer_id == buyer_id,
            repayments.c.idempotency_key == idempotency_key,
        )
    ).first()
    if done is None:
        return None
    if done.request_hash != digest:
        raise IdempotencyError(
            "this Idempotency-Key was already used with a different repayment",
            code="IDEMPOTENCY_KEY_REUSED",
        )
    answer: dict[str, Any] = json.loads(done.answer_json)
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
