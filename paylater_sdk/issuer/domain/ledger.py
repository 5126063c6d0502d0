"""The credit ledger: per buyer, ``limit = available + held + outstanding`` at every moment.

``outstanding`` is principal only. Interest, fees, penalty and late fees owed are
receivables kept apart (``receivable_entries``, one signed delta per entry, per order and
kind), and so is the written-off account: a write-off takes the order's principal out of
``outstanding`` *and* out of the limit (the credit is lost, not freed).

Each operation is one conditional UPDATE of the buyer row plus one append-only ledger
entry with the three deltas, in the caller's transaction. The hold is the important one:
``UPDATE ... SET available = available - :a WHERE available >= :a`` decides atomically in
the database, so two concurrent checkouts can never both spend the same credit, whatever
the isolation level (no read-then-write race in Python).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ...lifecycle import BuyerStatus
from ..storage.schema import buyers, ledger_entries, orders, receivable_entries, to_epoch
from .accounts import KINDS, balances, lines_by_order

__all__ = [
    "LedgerError",
    "capture",
    "change_limit",
    "check_ledger",
    "hold",
    "open_account",
    "post_receivable",
    "receivable_balances",
    "release",
    "restore_principal",
    "schedule_outstanding",
    "write_off_principal",
]


def schedule_outstanding(schedule_json: str) -> int:
    """Unpaid principal (minor units) of a stored schedule, read straight from its JSON."""
    data = json.loads(schedule_json)
    return sum(int(item["principal"]["value"]) for item in data["installments"] if not item["paid"])


class LedgerError(RuntimeError):
    """A conditional update matched no row: the ledger would have gone wrong."""


def _entry(
    conn: sa.Connection,
    *,
    buyer_id: str,
    currency: str,
    now: datetime,
    reason: str,
    reference: str,
    amount: int,
    limit: int = 0,
    available: int = 0,
    held: int = 0,
    outstanding: int = 0,
) -> None:
    conn.execute(
        ledger_entries.insert().values(
            buyer_id=buyer_id,
            created_at=to_epoch(now),
            reason=reason,
            reference=reference,
            amount=amount,
            currency=currency,
            limit_delta=limit,
            available_delta=available,
            held_delta=held,
            outstanding_delta=outstanding,
        )
    )


def open_account(
    conn: sa.Connection, *, buyer_id: str, currency: str, limit: int, now: datetime
) -> None:
    """Record the opening entry of a buyer row inserted with ``available = limit``."""
    _entry(
        conn,
        buyer_id=buyer_id,
        currency=currency,
        now=now,
        reason="OPEN",
        reference=buyer_id,
        amount=limit,
        limit=limit,
        available=limit,
    )


def _move(
    conn: sa.Connection,
    *,
    buyer_id: str,
    guard: sa.ColumnElement[bool],
    currency: str,
    now: datetime,
    reason: str,
    reference: str,
    amount: int,
    available: int = 0,
    held: int = 0,
    outstanding: int = 0,
) -> bool:
    """Apply the deltas in one UPDATE guarded by ``guard``, then record the same deltas.

    Both the balance change and the ledger entry come from the one set of deltas, so the
    books cannot disagree with the balances. Returns False (nothing changed) when the
    guard matched no row.
    """
    deltas = {"available": available, "held": held, "outstanding": outstanding}
    result = conn.execute(
        buyers.update()
        .where(buyers.c.id == buyer_id, guard)
        .values({buyers.c[name]: buyers.c[name] + delta for name, delta in deltas.items() if delta})
    )
    if result.rowcount != 1:
        return False
    _entry(
        conn,
        buyer_id=buyer_id,
        currency=currency,
        now=now,
        reason=reason,
        reference=reference,
        amount=amount,
        **deltas,
    )
    return True


def hold(
    conn: sa.Connection,
    *,
    buyer_id: str,
    amount: int,
    currency: str,
    reference: str,
    now: datetime,
) -> bool:
    """Move ``amount`` from available to held if (and only if) the buyer may spend it.

    The buyer's status and overdue flag are part of the same WHERE clause, so a buyer
    frozen between the credit check and the hold is refused too. Returns False (and
    changes nothing) when the row did not qualify.
    """
    if amount <= 0:
        raise ValueError("a hold must be positive")
    return _move(
        conn,
        buyer_id=buyer_id,
        guard=sa.and_(
            buyers.c.currency == currency,
            buyers.c.available >= amount,
            buyers.c.status == BuyerStatus.ACTIVE,
            buyers.c.overdue == sa.false(),
        ),
        currency=currency,
        now=now,
        reason="HOLD",
        reference=reference,
        amount=amount,
        available=-amount,
        held=amount,
    )


def release(
    conn: sa.Connection,
    *,
    buyer_id: str,
    amount: int,
    currency: str,
    reference: str,
    reason: str,
    now: datetime,
) -> None:
    """Give a held amount back to available (void, expiry, the rest of a partial capture)."""
    if amount <= 0:
        return
    if not _move(
        conn,
        buyer_id=buyer_id,
        guard=buyers.c.held >= amount,
        currency=currency,
        now=now,
        reason=reason,
        reference=reference,
        amount=amount,
        available=amount,
        held=-amount,
    ):
        raise LedgerError(f"buyer {buyer_id} holds less than the {amount} to release")


def capture(
    conn: sa.Connection,
    *,
    buyer_id: str,
    held_amount: int,
    captured: int,
    currency: str,
    reference: str,
    now: datetime,
) -> None:
    """Turn a hold into a loan: ``captured`` becomes outstanding, the rest is released."""
    if not 0 < captured <= held_amount:
        raise ValueError("the captured amount must be positive and within the hold")
    if not _move(
        conn,
        buyer_id=buyer_id,
        guard=buyers.c.held >= held_amount,
        currency=currency,
        now=now,
        reason="CAPTURE",
        reference=reference,
        amount=captured,
        available=held_amount - captured,
        held=-held_amount,
        outstanding=captured,
    ):
        raise LedgerError(f"buyer {buyer_id} holds less than the {held_amount} to capture")


def restore_principal(
    conn: sa.Connection,
    *,
    buyer_id: str,
    amount: int,
    currency: str,
    reference: str,
    reason: str,
    now: datetime,
) -> None:
    """Outstanding principal paid back (``REPAY``) or cancelled (``REFUND``) frees credit."""
    if amount <= 0:
        return
    if not _move(
        conn,
        buyer_id=buyer_id,
        guard=buyers.c.outstanding >= amount,
        currency=currency,
        now=now,
        reason=reason,
        reference=reference,
        amount=amount,
        available=amount,
        outstanding=-amount,
    ):
        raise LedgerError(f"buyer {buyer_id} owes less than the {amount} to restore")


def write_off_principal(
    conn: sa.Connection,
    *,
    buyer_id: str,
    amount: int,
    currency: str,
    reference: str,
    now: datetime,
) -> None:
    """The principal of a written-off order leaves ``outstanding`` and the limit together
    (the invariant holds; the credit is not freed), in one guarded UPDATE plus its entry."""
    if amount <= 0:
        return
    result = conn.execute(
        buyers.update()
        .where(buyers.c.id == buyer_id, buyers.c.outstanding >= amount)
        .values(
            outstanding=buyers.c.outstanding - amount,
            credit_limit=buyers.c.credit_limit - amount,
        )
    )
    if result.rowcount != 1:
        raise LedgerError(f"buyer {buyer_id} owes less than the {amount} to write off")
    _entry(
        conn,
        buyer_id=buyer_id,
        currency=currency,
        now=now,
        reason="WRITE_OFF",
        reference=reference,
        amount=amount,
        limit=-amount,
        outstanding=-amount,
    )


def post_receivable(
    conn: sa.Connection,
    *,
    buyer_id: str,
    order_id: str,
    kind: str,
    delta: int,
    currency: str,
    reason: str,
    reference: str,
    now: datetime,
) -> None:
    """Append one signed change of an order's receivable ``kind`` (nothing for zero)."""
    if kind not in KINDS:
        raise ValueError(f"unknown receivable kind {kind!r}")
    if not delta:
        return
    conn.execute(
        receivable_entries.insert().values(
            buyer_id=buyer_id,
            order_id=order_id,
            kind=kind,
            delta=delta,
            currency=currency,
            reason=reason,
            reference=reference,
            created_at=to_epoch(now),
        )
    )


def receivable_balances(
    conn: sa.Connection, *, buyer_id: str | None = None, order_id: str | None = None
) -> dict[tuple[str, str], int]:
    """``(order_id, kind) -> balance`` from the receivable entries (a buyer's or one order's)."""
    query = sa.select(
        receivable_entries.c.order_id,
        receivable_entries.c.kind,
        sa.func.sum(receivable_entries.c.delta).label("balance"),
    ).group_by(receivable_entries.c.order_id, receivable_entries.c.kind)
    if buyer_id is not None:
        query = query.where(receivable_entries.c.buyer_id == buyer_id)
    if order_id is not None:
        query = query.where(receivable_entries.c.order_id == order_id)
    return {(r.order_id, r.kind): int(r.balance or 0) for r in conn.execute(query)}


def _check_receivables(
    conn: sa.Connection, loans: list[Any], lines: dict[str, list[Any]]
) -> list[str]:
    """Each order's receivables and written-off amount equal what its facts say."""
    problems: list[str] = []
    books = receivable_balances(conn)
    known = {r.id for r in loans}
    for row in loans:
        expected = balances(row, lines[row.id])
        for kind in KINDS:
            have = books.get((row.id, kind), 0)
            if have != expected[kind]:
                problems.append(
                    f"{row.buyer_id}: order {row.id} {kind} receivable {have} != "
                    f"{expected[kind]} owed by its schedule and payments"
                )
            if have < 0:
                problems.append(f"{row.buyer_id}: order {row.id} {kind} receivable is negative")
    for (order_id, kind), have in books.items():
        if order_id not in known and have:
            problems.append(f"order {order_id}: {kind} receivable {have} without a loan")
    return problems


def check_ledger(conn: sa.Connection) -> list[str]:
    """Every violation found, in words; an empty list means the books balance.

    Checks per buyer: the invariant itself, no negative balance, the balances equal the
    sum of the ledger entries, and the holds and principal equal what the buyer's
    orders say (a hold per authorized order, outstanding principal per loan: the
    schedule less the payment rows, nothing for a written-off loan); and per loan, each
    receivable (interest, fees, penalty, late fees, written off) equals what its
    schedule, payment rows and posted figures say.
    """
    problems: list[str] = []
    sums = {
        row.buyer_id: row
        for row in conn.execute(
            sa.select(
                ledger_entries.c.buyer_id,
                sa.func.sum(ledger_entries.c.limit_delta).label("limit"),
                sa.func.sum(ledger_entries.c.available_delta).label("available"),
                sa.func.sum(ledger_entries.c.held_delta).label("held"),
                sa.func.sum(ledger_entries.c.outstanding_delta).label("outstanding"),
            ).group_by(ledger_entries.c.buyer_id)
        )
    }
    held_by_orders: dict[str, int] = {}
    owed_by_orders: dict[str, int] = {}
    loans: list[Any] = []
    for row in conn.execute(sa.select(orders)):
        held_by_orders[row.buyer_id] = held_by_orders.get(row.buyer_id, 0) + row.held
        if row.schedule_json:
            loans.append(row)
    lines = lines_by_order(conn, [r.id for r in loans])
    for row in loans:
        owed = balances(row, lines[row.id])["PRINCIPAL"]
        owed_by_orders[row.buyer_id] = owed_by_orders.get(row.buyer_id, 0) + owed
    problems.extend(_check_receivables(conn, loans, lines))
    for b in conn.execute(sa.select(buyers).order_by(buyers.c.id)):
        total = b.available + b.held + b.outstanding
        if total != b.credit_limit:
            problems.append(
                f"{b.id}: limit {b.credit_limit} != available {b.available} + held {b.held}"
                f" + outstanding {b.outstanding} (= {total})"
            )
        for name in ("available", "held", "outstanding"):
            if getattr(b, name) < 0:
                problems.append(f"{b.id}: {name} is negative ({getattr(b, name)})")
        s = sums.get(b.id)
        if s is None:
            problems.append(f"{b.id}: no ledger entries")
        else:
            for name, column in (
                ("limit", "credit_limit"),
                ("available", "available"),
                ("held", "held"),
                ("outstanding", "outstanding"),
            ):
                if int(getattr(s, name) or 0) != getattr(b, column):
                    problems.append(
                        f"{b.id}: {name} {getattr(b, column)} != sum of ledger entries "
                        f"{int(getattr(s, name) or 0)}"
                    )
        if held_by_orders.get(b.id, 0) != b.held:
            problems.append(
                f"{b.id}: held {b.held} != holds of authorized orders {held_by_orders.get(b.id, 0)}"
            )
        if owed_by_orders.get(b.id, 0) != b.outstanding:
            problems.append(
                f"{b.id}: outstanding {b.outstanding} != unpaid principal of loans "
                f"{owed_by_orders.get(b.id, 0)}"
            )
    return problems


def change_limit(
    conn: sa.Connection,
    *,
    buyer_id: str,
    delta: int,
    currency: str,
    reason: str,
    reference: str,
    now: datetime,
) -> bool:
    """Raise or cut a credit line by ``delta``: the limit and the available credit move
    together, guarded so that a cut never takes ``available`` below zero (a line is never
    cut below what is held or outstanding). False, and nothing changed, when it would."""
    if delta == 0:
        return True
    result = conn.execute(
        buyers.update()
        .where(buyers.c.id == buyer_id, buyers.c.available + delta >= 0)
        .values(credit_limit=buyers.c.credit_limit + delta, available=buyers.c.available + delta)
    )
    if result.rowcount != 1:
        return False
    _entry(
        conn,
        buyer_id=buyer_id,
        currency=currency,
        now=now,
        reason=reason,
        reference=reference,
        amount=abs(delta),
        limit=delta,
        available=delta,
    )
    return True
