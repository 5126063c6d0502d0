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

import functools
import json
from datetime import datetime

import sqlalchemy as sa

from ...lifecycle import BuyerStatus
from ..storage.schema import buyers, ledger_entries, receivable_entries, to_epoch
from .accounts import KINDS

__all__ = [
    "LedgerError",
    "capture",
    "change_limit",
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


# Built once (see :mod:`..storage.prepared`): every money movement appends one of these.
_INSERT_ENTRY = ledger_entries.insert()
_INSERT_RECEIVABLE = receivable_entries.insert()


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
        _INSERT_ENTRY,
        {
            "buyer_id": buyer_id,
            "created_at": to_epoch(now),
            "reason": reason,
            "reference": reference,
            "amount": amount,
            "currency": currency,
            "limit_delta": limit,
            "available_delta": available,
            "held_delta": held,
            "outstanding_delta": outstanding,
        },
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


def _guard(name: str) -> sa.ColumnElement[bool]:
    """The WHERE clause that decides a move: ``:bound`` is the amount it needs."""
    bound: sa.BindParameter[int] = sa.bindparam("bound")
    if name == "spendable":  # a hold: enough available, and the buyer may buy
        return sa.and_(
            buyers.c.currency == sa.bindparam("in_currency"),
            buyers.c.available >= bound,
            buyers.c.status == BuyerStatus.ACTIVE,
            buyers.c.overdue == sa.false(),
        )
    return buyers.c[name] >= bound  # "held" or "outstanding": enough of it to move


@functools.cache
def _move_statement(guard: str, columns: tuple[str, ...]) -> sa.Update:
    """The guarded UPDATE adding ``:d_<column>`` to each of ``columns``, built once per
    shape (see :mod:`..storage.prepared`)."""
    return (
        buyers.update()
        .where(buyers.c.id == sa.bindparam("who"), _guard(guard))
        .values({buyers.c[name]: buyers.c[name] + sa.bindparam(f"d_{name}") for name in columns})
    )


def _move(
    conn: sa.Connection,
    *,
    buyer_id: str,
    guard: str,
    bound: int,
    currency: str,
    now: datetime,
    reason: str,
    reference: str,
    amount: int,
    available: int = 0,
    held: int = 0,
    outstanding: int = 0,
) -> bool:
    """Apply the deltas in one UPDATE guarded by ``guard`` (see :func:`_guard`: the row
    must have ``bound`` to move), then record the same deltas.

    Both the balance change and the ledger entry come from the one set of deltas, so the
    books cannot disagree with the balances. Returns False (nothing changed) when the
    guard matched no row.
    """
    deltas = {"available": available, "held": held, "outstanding": outstanding}
    moved = tuple(name for name, delta in deltas.items() if delta)
    params: dict[str, object] = {"who": buyer_id, "bound": bound, "in_currency": currency}
    params.update((f"d_{name}", deltas[name]) for name in moved)
    result = conn.execute(_move_statement(guard, moved), params)
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
        guard="spendable",
        bound=amount,
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
        guard="held",
        bound=amount,
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
        guard="held",
        bound=held_amount,
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
        guard="outstanding",
        bound=amount,
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
        _INSERT_RECEIVABLE,
        {
            "buyer_id": buyer_id,
            "order_id": order_id,
            "kind": kind,
            "delta": delta,
            "currency": currency,
            "reason": reason,
            "reference": reference,
            "created_at": to_epoch(now),
        },
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
