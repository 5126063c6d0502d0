"""Refund rows and what they prove about the order's refunded amount.

A refund reaches the shop twice: from the admin action's answer and from the
``REFUND.SUCCEEDED`` notification, in any order and possibly at the same time. The refund
number is the key (insert in a SAVEPOINT, "already there" on a duplicate), and every write
locks the order row first (``db.lock_order``), so concurrent writers of one order queue up.

Every recorded SUCCEEDED refund happened at the issuer, so their sum is a lower bound of
the order's refunded amount: :func:`settle_refunds` raises the order to it when a checkout
snapshot (say the ORDER.CAPTURED notification, delivered late) is older than the refunds.
It never adds a refund twice, because it compares sums instead of adding deltas.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from paylater_sdk.money import Money

from .db import insert_new, lock_order, orders, refunds

__all__ = ["record_refund", "settle_refunds"]

#: States whose refunded amount follows from the refunds (the rest cannot be refunded).
_REFUNDABLE = frozenset({"CAPTURED", "PARTIALLY_REFUNDED", "REFUNDED"})

#: A refund's state only moves forward: a late PENDING never undoes SUCCEEDED or FAILED.
_REFUND_RANK = {"UNKNOWN": 0, "PENDING": 1, "SUCCEEDED": 2, "FAILED": 2}


def record_refund(
    conn: Connection,
    *,
    out_refund_no: str,
    out_trade_no: str,
    amount: Money,
    state: str,
    refund_id: str | None,
    reason: str | None = None,
) -> bool:
    """Insert or update a refund row (the admin action and REFUND.SUCCEEDED both land here).

    Returns True when something changed. The order row is locked first (the same order of
    locks as every other writer); a refund's state only moves forward and a known
    ``refund_id`` is never replaced.
    """
    if lock_order(conn, out_trade_no) is None:
        return False
    if insert_new(
        conn,
        refunds.insert().values(
            out_refund_no=out_refund_no,
            out_trade_no=out_trade_no,
            refund_id=refund_id,
            amount_minor=amount.minor,
            currency=amount.currency,
            reason=reason,
            state=state,
            created_at=_now(),
        ),
    ):
        settle_refunds(conn, out_trade_no)
        return True
    # Already there: serialised by the order lock, so a plain read is current.
    query = sa.select(refunds).where(refunds.c.out_refund_no == out_refund_no)
    row = conn.execute(query).mappings().one()
    values: dict[str, Any] = {}
    if refund_id and not row["refund_id"]:
        values["refund_id"] = refund_id
    if _REFUND_RANK.get(state, 0) > _REFUND_RANK.get(row["state"], 0):
        values["state"] = state
    if not values:
        return False
    conn.execute(refunds.update().where(refunds.c.out_refund_no == out_refund_no).values(values))
    settle_refunds(conn, out_trade_no)
    return True


def settle_refunds(conn: Connection, out_trade_no: str) -> bool:
    """Raise the order's refunded amount to the sum of its SUCCEEDED refunds, if below.

    Takes the order row lock (a no-op when the caller holds it already, as every caller
    in the shop does). Only for a captured order whose capture covers the refunds;
    otherwise the capture's news is still missing, and applying it will settle the order.
    """
    row = lock_order(conn, out_trade_no)
    if row is None or row["state"] not in _REFUNDABLE:
        return False
    known = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(refunds.c.amount_minor), 0)).where(
            refunds.c.out_trade_no == out_trade_no, refunds.c.state == "SUCCEEDED"
        )
    ).scalar_one()
    if known <= row["refunded_minor"] or known > row["captured_minor"]:
        return False
    state = "REFUNDED" if known == row["captured_minor"] else "PARTIALLY_REFUNDED"
    result = conn.execute(
        orders.update()
        .where(
            orders.c.out_trade_no == out_trade_no,
            orders.c.refunded_minor == row["refunded_minor"],
        )
        .values(refunded_minor=int(known), state=state, updated_at=_now())
    )
    return result.rowcount == 1


def _now() -> datetime:
    return datetime.now(UTC)
