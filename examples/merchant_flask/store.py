"""Order bookkeeping: the only place that writes the shop's payment state.

Every update comes from an issuer ``Checkout`` document (a notification resource or a fresh
``client.checkouts.get``), never from the buyer's browser. Updates are monotonic: a late or
duplicated notification carrying an older snapshot never moves an order backwards, so
processing the same news twice changes nothing.

One rule for every write (concurrent notifications for one order are normal): the order row
is locked before it is compared (``SELECT ... FOR UPDATE``; on SQLite the transaction took
the write lock at ``BEGIN IMMEDIATE``, see ``db``), or the UPDATE is guarded on the old
values and its row count checked. Inserts that may race (a notification id, a refund number)
run inside a SAVEPOINT and treat the duplicate key as "already there".
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from paylater_sdk.money import Money

from .db import events, insert_new, lock_order, orders, reading, refunds
from .refunds import record_refund, settle_refunds

__all__ = [
    "FINAL_STATES",
    "OPEN_STATES",
    "STATES",
    "apply_checkout",
    "create_order",
    "get_order",
    "list_open_orders",
    "list_orders",
    "list_refunds",
    "lock_order",
    "new_out_refund_no",
    "order_events",
    "planned_installments",
    "processed_event_ids",
    "record_event",
    "record_refund",
]

#: Every lifecycle state, in display order (docs/api.md "States").
STATES: tuple[str, ...] = (
    "CREATED",
    "AUTHORIZED",
    "CAPTURED",
    "PARTIALLY_REFUNDED",
    "REFUNDED",
    "VOIDED",
    "CLOSED",
    "EXPIRED",
)

#: States after which nothing can happen to an order any more.
FINAL_STATES: tuple[str, ...] = ("REFUNDED", "VOIDED", "CLOSED", "EXPIRED")

#: States reconciliation looks at: every non-final one. A CREATED order may have been
#: authorized, an AUTHORIZED one captured, voided or expired, a CAPTURED or
#: PARTIALLY_REFUNDED one refunded, all without the shop hearing of it.
OPEN_STATES: tuple[str, ...] = tuple(s for s in STATES if s not in FINAL_STATES)

# Progress rank: an update is applied only when it is not older than what is stored.
_RANK = {
    "CREATED": 0,
    "AUTHORIZED": 1,
    "CAPTURED": 2,
    "PARTIALLY_REFUNDED": 3,
    "REFUNDED": 4,
    "VOIDED": 4,
    "CLOSED": 4,
    "EXPIRED": 4,
}


def _now() -> datetime:
    return datetime.now(UTC)


def new_out_trade_no() -> str:
    """A merchant order number: date plus randomness, unique per shop."""
    return f"SH{_now():%Y%m%d}{secrets.token_hex(4).upper()}"


def new_out_refund_no(out_trade_no: str) -> str:
    """Generated when the refund form is rendered, so a double submit refunds once."""
    return f"{out_trade_no}-R{secrets.token_hex(3).upper()}"


def create_order(
    engine: Engine,
    *,
    out_trade_no: str,
    description: str,
    lines: Sequence[Mapping[str, Any]],
    amount: Money,
) -> None:
    now = _now()
    with engine.begin() as conn:
        conn.execute(
            orders.insert().values(
                out_trade_no=out_trade_no,
                description=description,
                lines=list(lines),
                amount_minor=amount.minor,
                currency=amount.currency,
                state="CREATED",
                captured_minor=0,
                refunded_minor=0,
                created_at=now,
                updated_at=now,
            )
        )


def close_abandoned(engine: Engine, out_trade_no: str) -> bool:
    """The issuer never got this order's checkout: nothing can be paid any more.

    Guarded on the old values (still CREATED, still no checkout): a checkout attached
    meanwhile wins. Returns whether the order was closed.
    """
    with engine.begin() as conn:
        result = conn.execute(
            orders.update()
            .where(
                orders.c.out_trade_no == out_trade_no,
                orders.c.checkout_id.is_(None),
                orders.c.state == "CREATED",
            )
            .values(state="CLOSED", updated_at=_now())
        )
        return result.rowcount == 1


def attach_checkout(engine: Engine, out_trade_no: str, checkout_id: str, url: str) -> bool:
    """Remember the issuer's checkout for an order (guarded: never replaces another one).

    Reconciliation may have attached the same checkout first (found by order number); any
    other checkout id already stored is kept and False returned.
    """
    with engine.begin() as conn:
        result = conn.execute(
            orders.update()
            .where(
                orders.c.out_trade_no == out_trade_no,
                sa.or_(orders.c.checkout_id.is_(None), orders.c.checkout_id == checkout_id),
            )
            .values(checkout_id=checkout_id, authorize_url=url, updated_at=_now())
        )
        return result.rowcount == 1


def get_order(engine: Engine | Connection, out_trade_no: str) -> dict[str, Any] | None:
    query = sa.select(orders).where(orders.c.out_trade_no == out_trade_no)
    if isinstance(engine, Connection):
        row = engine.execute(query).mappings().first()
    else:
        with reading(engine) as conn:
            row = conn.execute(query).mappings().first()
    return dict(row) if row is not None else None


def _rows(engine: Engine, query: sa.Select[Any]) -> list[dict[str, Any]]:
    with reading(engine) as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def list_orders(engine: Engine, *, state: str | None = None) -> list[dict[str, Any]]:
    query = sa.select(orders).order_by(orders.c.created_at.desc())
    if state:
        query = query.where(orders.c.state == state)
    return _rows(engine, query)


def list_open_orders(engine: Engine) -> list[dict[str, Any]]:
    """Non-final orders, including those whose checkout creation failed."""
    return _rows(
        engine,
        sa.select(orders)
        .where(orders.c.state.in_(OPEN_STATES))
        .order_by(orders.c.created_at, orders.c.out_trade_no),
    )


def list_refunds(engine: Engine, out_trade_no: str) -> list[dict[str, Any]]:
    return _rows(
        engine,
        sa.select(refunds)
        .where(refunds.c.out_trade_no == out_trade_no)
        .order_by(refunds.c.created_at, refunds.c.out_refund_no),
    )


def order_events(engine: Engine, out_trade_no: str) -> list[dict[str, Any]]:
    return _rows(
        engine,
        sa.select(events)
        .where(events.c.out_trade_no == out_trade_no)
        .order_by(events.c.received_at),
    )


def _minor(doc: Mapping[str, Any] | None, currency: str) -> int:
    if not doc:
        return 0
    money = Money.from_json(doc)
    if money.currency != currency:
        raise ValueError(f"issuer sent {money.currency} for a {currency} order")
    return money.minor


def apply_checkout(conn: Connection, checkout: Mapping[str, Any]) -> bool:
    """Bring the local order in line with an issuer Checkout document.

    Returns True when something changed. Unknown orders, other currencies or a snapshot
    older than the stored one change nothing (the issuer's amounts must match ours too).
    """
    out_trade_no = checkout.get("out_trade_no")
    # Locked before comparing: a concurrent notification for the same order waits here
    # and then compares against what this one wrote (never a lost update).
    row = lock_order(conn, str(out_trade_no)) if out_trade_no else None
    if row is None:
        return False
    if row["checkout_id"] and checkout.get("id") != row["checkout_id"]:
        return False
    amount = Money.from_json(checkout["amount"])
    if amount.minor != row["amount_minor"] or amount.currency != row["currency"]:
        # Never trust a document whose amount is not what this shop asked for.
        return False
    order = checkout.get("order") or {}
    state = str(order.get("state") or checkout.get("state") or "")
    if state not in _RANK:
        return False
    currency = row["currency"]
    captured = _minor(order.get("captured_amount"), currency)
    refunded = _minor(order.get("refunded_amount"), currency)
    new_key = (_RANK[state], refunded, captured)
    old_key = (_RANK[row["state"]], row["refunded_minor"], row["captured_minor"])
    schedule = order.get("schedule")
    plan = order.get("plan") or {}
    values: dict[str, Any] = {}
    if new_key > old_key or (new_key == old_key and state != row["state"]):
        values.update(state=state, captured_minor=captured, refunded_minor=refunded)
    if new_key >= old_key and schedule is not None and schedule != row["schedule"]:
        # Repayments change "paid" flags without changing the state.
        values["schedule"] = schedule
    if order.get("id") and row["order_id"] != order["id"]:
        values["order_id"] = order["id"]
    if plan.get("plan_id") and row["plan"] != plan:
        values.update(plan_id=plan["plan_id"], plan=dict(plan))
    if not row["checkout_id"] and checkout.get("id"):
        values["checkout_id"] = checkout["id"]
    if values:
        values["updated_at"] = _now()
        conn.execute(
            orders.update().where(orders.c.out_trade_no == row["out_trade_no"]).values(values)
        )
    # A snapshot older than refunds the shop already recorded must not hide them.
    settled = settle_refunds(conn, row["out_trade_no"])
    return bool(values) or settled


def planned_installments(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The installments a chosen plan promises, before capture fixes the due dates.

    First payment, then regular payments; the last takes whatever makes the rows sum
    exactly to ``total_amount`` (no rounding drift on the page).
    """
    periods = int(plan["periods"])
    first = Money.from_json(plan["first_payment"])
    regular = Money.from_json(plan["regular_payment"])
    total = Money.from_json(plan["total_amount"])
    if periods < 1:
        return []
    amounts = [first] + [regular] * max(periods - 2, 0)
    if periods > 1:
        amounts.append(total - sum(amounts[1:], first))
    else:
        amounts = [total]
    return [{"number": n, "amount": a} for n, a in enumerate(amounts, start=1)]


def processed_event_ids(engine: Engine, ids: Sequence[str]) -> set[str]:
    """Which of these notification ids this shop has recorded."""
    if not ids:
        return set()
    query = sa.select(events.c.id).where(events.c.id.in_(list(ids)))
    with reading(engine) as conn:
        return {str(r[0]) for r in conn.execute(query)}


def record_event(
    conn: Connection, *, event_id: str, event_type: str, out_trade_no: str | None
) -> bool:
    """Remember a processed notification id; False if it was already processed."""
    return insert_new(
        conn,
        events.insert().values(
            id=event_id,
            event_type=event_type,
            out_trade_no=out_trade_no,
            received_at=_now(),
        ),
    )
