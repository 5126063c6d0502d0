"""The checkout lifecycle: every state change with its ledger move and its notification.

``CREATED -> AUTHORIZED -> CAPTURED (-> PARTIALLY_REFUNDED -> REFUNDED)``,
``CREATED -> CLOSED | EXPIRED``, ``AUTHORIZED -> VOIDED | EXPIRED``. Captures are in
:mod:`.captures`; an order captured in part keeps its loan state while ``held > 0``, and a
void or expiry then releases only the rest (``ORDER.RELEASED``).

Each function runs in the caller's transaction: the state change, the ledger entry and
the outbox row commit together or not at all. A state change is itself a conditional
UPDATE (``... WHERE state = :expected``), so two requests racing on one checkout cannot
both win; the loser gets 409 ``INVALID_STATE`` and nothing changes.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ...errors import ConflictError, NotFoundError
from ...lifecycle import CheckoutState, EventType
from ..delivery.store import enqueue
from ..storage.locking import locked
from ..storage.prepared import by_id, setting
from ..storage.schema import checkouts, orders, reading, to_epoch
from . import ledger
from .accounts import SERVICED
from .views import checkout_json, order_json_by_id

__all__ = [
    "REFUNDABLE",
    "authorization_expiry",
    "close_checkout",
    "emit",
    "expire_due",
    "loan_state",
    "new_id",
    "not_found",
    "notify_checkout",
    "require_state",
    "schedule_fields",
    "update_order",
    "void_order",
]

REFUNDABLE = (CheckoutState.CAPTURED, CheckoutState.PARTIALLY_REFUNDED)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def emit(
    conn: sa.Connection,
    *,
    merchant_id: str,
    notify_url: str,
    event_type: str,
    original_type: str,
    resource: dict[str, Any],
    summary: str,
    now: datetime,
) -> str:
    """Enqueue a notification in this transaction: it commits with the state change."""
    return enqueue(
        conn,
        merchant_id=merchant_id,
        notify_url=notify_url,
        event_type=event_type,
        original_type=original_type,
        resource=resource,
        summary=summary,
        now=now,
    )


def schedule_fields(schedule: Any) -> dict[str, Any]:
    """The order columns of a bare schedule (servicing paths use ``booking.order_fields``,
    whose ``next_due_on`` is the freeze date: the grace period included)."""
    unpaid = [i for i in schedule.installments if not i.paid and i.amount.minor > 0]
    return {
        "schedule_json": json.dumps(schedule.to_json()),
        "next_due_on": unpaid[0].due_date.isoformat() if unpaid else None,
    }


def require_state(kind: str, obj_id: str, state: str, allowed: tuple[str, ...], verb: str) -> None:
    if state not in allowed:
        raise ConflictError(
            f"{kind} {obj_id} is {state}; only {' or '.join(allowed)} can be {verb}",
            code="INVALID_STATE",
        )


_SET_CHECKOUT_STATE = (
    checkouts.update()
    .where(checkouts.c.id == sa.bindparam("obj_id"))
    .values(state=sa.bindparam("new_state"))
)


def _set_checkout_state(conn: sa.Connection, checkout_id: str, state: str) -> None:
    conn.execute(_SET_CHECKOUT_STATE, {"obj_id": checkout_id, "new_state": state})


def notify_checkout(
    conn: sa.Connection, checkout_id: str, event_type: str, summary: str, now: datetime
) -> dict[str, Any]:
    row = conn.execute(by_id(checkouts), {"obj_id": checkout_id}).one()
    resource = checkout_json(conn, row)
    emit(
        conn,
        merchant_id=row.merchant_id,
        notify_url=row.notify_url,
        event_type=event_type,
        original_type="checkout",
        resource=resource,
        summary=summary,
        now=now,
    )
    return resource


def close_checkout(conn: sa.Connection, checkout: Any, now: datetime) -> dict[str, Any]:
    require_state("checkout", checkout.id, checkout.state, (CheckoutState.CREATED,), "closed")
    done = conn.execute(
        checkouts.update()
        .where(checkouts.c.id == checkout.id, checkouts.c.state == CheckoutState.CREATED)
        .values(state=CheckoutState.CLOSED)
    )
    if done.rowcount != 1:
        raise ConflictError("the checkout changed meanwhile; fetch it again", code="INVALID_STATE")
    return notify_checkout(conn, checkout.id, EventType.CHECKOUT_CLOSED, "checkout closed", now)


#: The version-guarded order UPDATE; :func:`setting` adds the columns each change sets.
_TRANSITION = orders.update().where(
    orders.c.id == sa.bindparam("obj_id"),
    orders.c.state == sa.bindparam("old_state"),
    orders.c.version == sa.bindparam("old_version"),
)


def _order_transition(conn: sa.Connection, order: Any, old: str, **values: Any) -> None:
    """Update an order read (and locked) in this transaction, guarded on its version.

    The version guard is the second line of defence behind the row lock: an update
    computed from a stale read matches no row and fails, instead of overwriting newer
    amounts (the lost update that let concurrent refunds exceed the capture).
    """
    done = conn.execute(
        setting(_TRANSITION, ("version", *sorted(values))),
        {"obj_id": order.id, "old_state": old, "old_version": order.version}
        | {"version": order.version + 1}
        | values,
    )
    if done.rowcount != 1:
        raise ConflictError(
            f"order {order.id} changed meanwhile; fetch it again",
            code="INVALID_STATE",
        )
    if "state" in values:
        _set_checkout_state(conn, order.checkout_id, values["state"])


def update_order(conn: sa.Connection, order: Any, **values: Any) -> None:
    """Change an order without changing its state (a repayment), under the same guard."""
    _order_transition(conn, order, order.state, **values)


def loan_state(captured: int, refunded: int, held: int) -> CheckoutState:
    """The state of an order with a loan: ``REFUNDED`` only once nothing is left to
    capture either (a refunded order with a live hold can still be captured again)."""
    if not refunded:
        return CheckoutState.CAPTURED
    if refunded == captured and not held:
        return CheckoutState.REFUNDED
    return CheckoutState.PARTIALLY_REFUNDED


def void_order(conn: sa.Connection, order: Any, now: datetime) -> dict[str, Any]:
    """Void an authorization; on an order captured in part, release the rest of it."""
    if order.state in SERVICED and order.held:
        _release_rest(conn, order, "VOID", "the rest of the authorization voided", now)
        return order_json_by_id(conn, order.id)
    require_state("order", order.id, order.state, (CheckoutState.AUTHORIZED,), "voided")
    _end_authorization(conn, order, CheckoutState.VOIDED, "VOID", "authorization voided", now)
    return order_json_by_id(conn, order.id)


def _release_rest(
    conn: sa.Connection, order: Any, reason: str, summary: str, now: datetime
) -> None:
    """The authorization of an order captured in part ends (void, expiry): the hold still
    placed goes back; the loan of what was captured is unchanged."""
    state = loan_state(order.captured_amount, order.refunded_amount, 0)
    _order_transition(conn, order, order.state, state=state, held=0)
    ledger.release(
        conn,
        buyer_id=order.buyer_id,
        amount=order.held,
        currency=order.currency,
        reference=order.id,
        reason=reason,
        now=now,
    )
    notify_checkout(conn, order.checkout_id, EventType.ORDER_RELEASED, summary, now)


def _end_authorization(
    conn: sa.Connection, order: Any, state: str, reason: str, summary: str, now: datetime
) -> None:
    """An authorization that ends uncaptured (void, expiry): its whole hold goes back."""
    _order_transition(conn, order, CheckoutState.AUTHORIZED, state=state, held=0)
    ledger.release(
        conn,
        buyer_id=order.buyer_id,
        amount=order.held,
        currency=order.currency,
        reference=order.id,
        reason=reason,
        now=now,
    )
    notify_checkout(conn, order.checkout_id, EventType(f"ORDER.{state}"), summary, now)


# Built once (see :mod:`..storage.prepared`): the sweep runs both every second.
_STALE_CHECKOUTS = sa.select(checkouts.c.id).where(
    checkouts.c.state == CheckoutState.CREATED, checkouts.c.expires_at <= sa.bindparam("moment")
)
# every live hold (authorized, or captured in part): few rows, indexed
_STALE_HOLDS = sa.select(orders.c.id).where(
    orders.c.held > 0, orders.c.authorization_expires_at <= sa.bindparam("moment")
)


def expire_due(engine: Engine, now: datetime) -> int:
    """Expire unauthorized checkouts and stale authorizations; returns how many changed.

    Each expiry is its own short transaction, so one object can never fail another's
    request (or the whole sweep); an object another process changed or expired first
    is simply skipped.
    """
    moment = to_epoch(now)
    with reading(engine) as conn:
        stale_checkouts = conn.execute(_STALE_CHECKOUTS, {"moment": moment}).scalars().all()
        stale_orders = conn.execute(_STALE_HOLDS, {"moment": moment}).scalars().all()
    changed = 0
    for checkout_id in stale_checkouts:
        with engine.begin() as conn:
            done = conn.execute(
                checkouts.update()
                .where(
                    checkouts.c.id == checkout_id,
                    checkouts.c.state == CheckoutState.CREATED,
                    checkouts.c.expires_at <= moment,
                )
                .values(state=CheckoutState.EXPIRED)
            )
            if done.rowcount == 1:
                changed += 1
                notify_checkout(
                    conn, checkout_id, EventType.CHECKOUT_EXPIRED, "checkout expired", now
                )
    for order_id in stale_orders:
        with engine.begin() as conn:
            order = conn.execute(locked(sa.select(orders).where(orders.c.id == order_id))).first()
            if order is None or not order.held or order.authorization_expires_at > moment:
                continue  # captured, voided or extended meanwhile: not ours to expire
            if order.state == CheckoutState.AUTHORIZED:
                _end_authorization(
                    conn, order, CheckoutState.EXPIRED, "EXPIRE", "authorization expired", now
                )
            elif order.state in SERVICED:  # captured in part: the rest of the hold expires
                _release_rest(conn, order, "EXPIRE", "the rest of the authorization expired", now)
            else:
                continue
            changed += 1
    return changed


def authorization_expiry(now: datetime, ttl: int) -> int:
    return to_epoch(now + timedelta(seconds=ttl))


def not_found(kind: str, obj_id: str) -> NotFoundError:
    return NotFoundError(f"no {kind} {obj_id[:64]!r}", code="NOT_FOUND")
