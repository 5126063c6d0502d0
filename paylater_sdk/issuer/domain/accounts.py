"""Orders as servicing accounts: an :class:`OrderAccount` rebuilt from what is stored.

The issuer stores facts only (the schedule, the penalty rate fixed at capture, the payment
rows of ``repayment_lines``, the penalty and late fees posted) and rebuilds the pure
:class:`~paylater_sdk.installments.OrderAccount` from them for every operation; every rule
(allocation, penalty, payoff, delinquency) is the pure function's, never a second copy.
The expected balances (:func:`balances`) are what ``check-ledger`` holds the books to.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa

from ...installments import (
    DEFAULT_POLICY,
    AllocationPart,
    OrderAccount,
    Payment,
    Schedule,
    ServicingPolicy,
)
from ...lifecycle import CheckoutState
from ...money import Money
from ..config import IssuerConfig
from ..storage.schema import orders, repayment_lines

__all__ = [
    "KINDS",
    "SERVICED",
    "account_of",
    "accounts_of",
    "balances",
    "lines_by_order",
    "policies_for",
    "policy_for",
]

#: Order states with a loan (a schedule) being serviced or finished.
SERVICED = (
    CheckoutState.CAPTURED,
    CheckoutState.PARTIALLY_REFUNDED,
    CheckoutState.REFUNDED,
)

#: The receivable kinds kept apart from the principal, and the written-off account.
KINDS = ("INTEREST", "FEE", "PENALTY", "LATE_FEE", "WRITTEN_OFF")


def policy_for(config: IssuerConfig, plan_id: str) -> ServicingPolicy:
    """The servicing policy of the product ``plan_id``: its ``SERVICING`` settings in the
    issuer's configuration, or the documented defaults (docs/servicing.md)."""
    return config.servicing.get(plan_id, DEFAULT_POLICY)


def policies_for(config: IssuerConfig, rows: Sequence[Any]) -> dict[str, ServicingPolicy]:
    """Each stored order's policy, by order id (a buyer's orders may be of two products)."""
    return {r.id: policy_for(config, r.plan_id) for r in rows}


# Built once (see :mod:`..storage.prepared`): every capture, refund and repayment reads it.
_LINES = (
    sa.select(repayment_lines)
    .where(repayment_lines.c.order_id.in_(sa.bindparam("order_ids", expanding=True)))
    .order_by(repayment_lines.c.id)
)


def lines_by_order(conn: sa.Connection, order_ids: Sequence[str]) -> dict[str, list[Any]]:
    """The stored payment rows of each order, in the order they were written."""
    out: dict[str, list[Any]] = {oid: [] for oid in order_ids}
    if not order_ids:
        return out
    rows = conn.execute(_LINES, {"order_ids": list(order_ids)})
    for row in rows:
        out[row.order_id].append(row)
    return out


def account_of(order: Any, lines: Sequence[Any]) -> OrderAccount:
    """The pure account of a stored order (its ``schedule_json``, ``penalty_rate``, lines)."""
    schedule = Schedule.from_json(json.loads(order.schedule_json))
    payments = [
        Payment(
            date.fromisoformat(li.business_date),
            li.installment,
            AllocationPart(li.part),
            Money.from_minor(li.amount_minor, order.currency),
        )
        for li in lines
    ]
    rate = order.penalty_rate if order.penalty_rate is not None else "0"
    return OrderAccount(order.id, schedule, rate, payments)


def accounts_of(conn: sa.Connection, rows: Sequence[Any]) -> list[OrderAccount]:
    """The accounts of several stored orders (one query for all their lines)."""
    lines = lines_by_order(conn, [r.id for r in rows])
    return [account_of(r, lines[r.id]) for r in rows]


def serviced_orders(conn: sa.Connection, buyer_id: str, *, lock: bool = False) -> list[Any]:
    """The buyer's orders with a schedule, by id (the lock order of every servicing path)."""
    query = (
        sa.select(orders)
        .where(
            orders.c.buyer_id == buyer_id,
            orders.c.state.in_(SERVICED),
            orders.c.schedule_json.is_not(None),
        )
        .order_by(orders.c.id)
    )
    if lock:
        query = query.with_for_update()
    return list(conn.execute(query))


def balances(order: Any, lines: Sequence[Any]) -> dict[str, int]:
    """What the books must say of one order: outstanding principal and each receivable.

    From the stored facts alone: each installment's principal, interest and fee less what
    the payment rows paid of them (an installment flagged paid owes nothing), the penalty
    and late fees posted less what was paid of them. A written-off order owes nothing on
    the credit line: all of it sits in ``WRITTEN_OFF``.
    """
    schedule = json.loads(order.schedule_json)
    paid: dict[tuple[int, str], int] = {}
    for li in lines:
        part = "PRINCIPAL" if li.part == "PREPAYMENT" else li.part
        key = (li.installment, part)
        paid[key] = paid.get(key, 0) + li.amount_minor
    out = dict.fromkeys(("PRINCIPAL", *KINDS), 0)
    for item in schedule["installments"]:
        if item["paid"]:
            continue
        n = item["number"]
        for part, name in (("PRINCIPAL", "principal"), ("INTEREST", "interest"), ("FEE", "fee")):
            out[part] += int(item[name]["value"]) - paid.get((n, part), 0)
    penalty_paid = sum(li.amount_minor for li in lines if li.part == "PENALTY")
    late_paid = sum(li.amount_minor for li in lines if li.part == "LATE_FEE")
    out["PENALTY"] = order.penalty_posted_minor - penalty_paid
    out["LATE_FEE"] = order.late_fees_posted_minor - late_paid
    if order.written_off_at is not None:
        out["WRITTEN_OFF"] = sum(out[k] for k in ("PRINCIPAL", "INTEREST", "FEE", "PENALTY"))
        out["WRITTEN_OFF"] += out["LATE_FEE"]
        for k in ("PRINCIPAL", "INTEREST", "FEE", "PENALTY", "LATE_FEE"):
            out[k] = 0
    return out
