"""The ledger audit: every way the books could disagree with the facts, in words.

Kept apart from :mod:`.ledger` (which moves money) because it only reads: the test
control API, the testing kit and an operator's ``paylater issuer check-ledger`` all ask it
after the fact whether ``limit = available + held + outstanding`` still holds and whether
the balances equal the entries and the orders.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ..storage.schema import buyers, ledger_entries, orders
from .accounts import KINDS, balances, lines_by_order
from .ledger import receivable_balances

__all__ = ["check_ledger"]

_BALANCES = (
    ("limit", "credit_limit"),
    ("available", "available"),
    ("held", "held"),
    ("outstanding", "outstanding"),
)


def check_ledger(conn: sa.Connection) -> list[str]:
    """Every violation found, in words; an empty list means the books balance.

    Checks per buyer: the invariant itself, no negative balance, the balances equal the
    sum of the ledger entries, and the holds and principal equal what the buyer's
    orders say (a hold per authorized order, outstanding principal per loan: the
    schedule less the payment rows, nothing for a written-off loan); and per loan, each
    receivable (interest, fees, penalty, late fees, written off) equals what its
    schedule, payment rows and posted figures say.
    """
    sums = _entry_sums(conn)
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
    problems = _check_receivables(conn, loans, lines)
    for b in conn.execute(sa.select(buyers).order_by(buyers.c.id)):
        problems.extend(_check_balances(b, sums.get(b.id)))
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


def _entry_sums(conn: sa.Connection) -> dict[str, Any]:
    """Per buyer, the sum of each balance's deltas over the ledger entries."""
    query = sa.select(
        ledger_entries.c.buyer_id,
        sa.func.sum(ledger_entries.c.limit_delta).label("limit"),
        sa.func.sum(ledger_entries.c.available_delta).label("available"),
        sa.func.sum(ledger_entries.c.held_delta).label("held"),
        sa.func.sum(ledger_entries.c.outstanding_delta).label("outstanding"),
    ).group_by(ledger_entries.c.buyer_id)
    return {row.buyer_id: row for row in conn.execute(query)}


def _check_balances(b: Any, sums: Any) -> list[str]:
    """The buyer row ``b`` against the invariant, zero and its entries' ``sums``."""
    problems: list[str] = []
    total = b.available + b.held + b.outstanding
    if total != b.credit_limit:
        problems.append(
            f"{b.id}: limit {b.credit_limit} != available {b.available} + held {b.held}"
            f" + outstanding {b.outstanding} (= {total})"
        )
    for name in ("available", "held", "outstanding"):
        if getattr(b, name) < 0:
            problems.append(f"{b.id}: {name} is negative ({getattr(b, name)})")
    if sums is None:
        problems.append(f"{b.id}: no ledger entries")
        return problems
    for name, column in _BALANCES:
        if int(getattr(sums, name) or 0) != getattr(b, column):
            problems.append(
                f"{b.id}: {name} {getattr(b, column)} != sum of ledger entries "
                f"{int(getattr(sums, name) or 0)}"
            )
    return problems


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
