"""The checkout lifecycle: every state change with its ledger move and its notification.

``CREATED -> AUTHORIZED -> CAPTURED (-> PARTIALLY_REFUNDED -> REFUNDED)``,
``CREATED -> CLOSED | EXPIRED``, ``AUTHORIZED -> VOIDED | EXPIRED``.

Each function runs in the caller's transaction: the state change, the ledger entry and
the outbox row commit together or not at all. A state change is itself a conditional
UPDATE (``... WHERE state = :expected``), so two requests racing on one checkout cannot
both win; the loser gets 409 ``INVALID_STATE`` and nothing changes.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ...errors import ConflictError, InvalidRequestError, NotFoundError
from ...installments import OrderAccount, build_schedule, refund
from ...lifecycle import BuyerEventType, CheckoutState, EventType, RefundState
from ...money import Money
from ..config import IssuerConfig
from ..delivery.store import enqueue
from ..storage.locking import locked
from ..storage.positions import next_position
from ..storage.schema import checkouts, orders, reading, refunds, to_epoch
from . import ledger, messages
from .accounts import account_of, lines_by_order, policy_for
from .booking import book_order, insert_lines, order_fields
from .views import checkout_json_by_id, order_json_by_id, refund_json

__all__ = [
    "REFUNDABLE",
    "authorization_expiry",
    "capture_order",
    "close_checkout",
    "create_refund",
    "emit",
    "expire_due",
    "new_id",
    "not_found",
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


def _set_checkout_state(conn: sa.Connection, checkout_id: str, state: str) -> None:
    conn.execute(checkouts.update().where(checkouts.c.id == checkout_id).values(state=state))


def _notify_checkout(
    conn: sa.Connection, checkout_id: str, event_type: str, summary: str, now: datetime
) -> dict[str, Any]:
    row = conn.execute(sa.select(checkouts).where(checkouts.c.id == checkout_id)).one()
    resource = checkout_json_by_id(conn, checkout_id)
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
    return _notify_checkout(conn, checkout.id, EventType.CHECKOUT_CLOSED, "checkout closed", now)


def _order_transition(conn: sa.Connection, order: Any, old: str, **values: Any) -> None:
    """Update an order read (and locked) in this transaction, guarded on its version.

    The version guard is the second line of defence behind the row lock: an update
    computed from a stale read matches no row and fails, instead of overwriting newer
    amounts (the lost update that let concurrent refunds exceed the capture).
    """
    done = conn.execute(
        orders.update()
        .where(orders.c.id == order.id, orders.c.state == old, orders.c.version == order.version)
        .values(version=order.version + 1, **values)
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


def void_order(conn: sa.Connection, order: Any, now: datetime) -> dict[str, Any]:
    require_state("order", order.id, order.state, (CheckoutState.AUTHORIZED,), "voided")
    _end_authorization(conn, order, CheckoutState.VOIDED, "VOID", "authorization voided", now)
    return order_json_by_id(conn, order.id)


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
    _notify_checkout(conn, order.checkout_id, EventType(f"ORDER.{state}"), summary, now)


def capture_order(
    conn: sa.Connection,
    order: Any,
    amount: Money | None,
    offer: Any,
    now: datetime,
    *,
    config: IssuerConfig,
) -> dict[str, Any]:
    """Open the loan: store the chosen plan's schedule, release whatever is not captured."""
    require_state("order", order.id, order.state, (CheckoutState.AUTHORIZED,), "captured")
    captured = order.amount if amount is None else amount.minor
    if amount is not None and amount.currency != order.currency:
        raise InvalidRequestError(
            f"capture amount is {amount.currency} but the order is {order.currency}",
            code="CURRENCY_MISMATCH",
        )
    if captured <= 0:
        raise InvalidRequestError("capture amount must be positive", code="INVALID_AMOUNT")
    if captured > order.amount:
        raise ConflictError(
            f"cannot capture {captured} minor units: the order authorized {order.amount}",
            code="AMOUNT_EXCEEDS_AVAILABLE",
        )
    schedule = build_schedule(
        Money.from_minor(captured, order.currency), offer.terms, start=now.date()
    )
    policy = policy_for(config, order.plan_id)
    account = OrderAccount.open(order.id, schedule, policy)
    _order_transition(
        conn,
        order,
        CheckoutState.AUTHORIZED,
        state=CheckoutState.CAPTURED,
        held=0,
        captured_amount=captured,
        captured_at=to_epoch(now),
        penalty_rate=str(account.penalty_rate),
        **order_fields(account, now.date(), policy),
    )
    for kind, total in (("INTEREST", schedule.total_interest), ("FEE", schedule.total_fees)):
        ledger.post_receivable(
            conn,
            buyer_id=order.buyer_id,
            order_id=order.id,
            kind=kind,
            delta=total.minor,
            currency=order.currency,
            reason="CAPTURE",
            reference=order.id,
            now=now,
        )
    ledger.capture(
        conn,
        buyer_id=order.buyer_id,
        held_amount=order.held,
        captured=captured,
        currency=order.currency,
        reference=order.id,
        now=now,
    )
    _notify_checkout(conn, order.checkout_id, EventType.ORDER_CAPTURED, "order captured", now)
    return order_json_by_id(conn, order.id)


def _check_refund(conn: sa.Connection, order: Any, amount: Money, out_refund_no: str) -> None:
    """Every reason a refund of ``amount`` on ``order`` (read locked) is refused."""
    require_state("order", order.id, order.state, REFUNDABLE, "refunded")
    if order.written_off_at is not None:
        raise ConflictError(
            f"order {order.id} was written off; its loan is closed and cannot be refunded here",
            code="INVALID_STATE",
        )
    if amount.currency != order.currency:
        raise InvalidRequestError(
            f"refund amount is {amount.currency} but the order is {order.currency}",
            code="CURRENCY_MISMATCH",
        )
    if amount.minor <= 0:
        raise InvalidRequestError("refund amount must be positive", code="INVALID_AMOUNT")
    refundable = order.captured_amount - order.refunded_amount
    if amount.minor > refundable:
        raise ConflictError(
            f"cannot refund {amount}: only {Money.from_minor(refundable, order.currency)} "
            "of the captured amount is not refunded yet",
            code="AMOUNT_EXCEEDS_AVAILABLE",
        )
    duplicate = conn.execute(
        sa.select(refunds.c.id).where(
            refunds.c.merchant_id == order.merchant_id, refunds.c.out_refund_no == out_refund_no
        )
    ).first()
    if duplicate is not None:
        raise ConflictError(
            f"out_refund_no {out_refund_no!r} was already used for refund {duplicate.id}",
            code="DUPLICATE_OUT_REFUND_NO",
        )


def create_refund(
    conn: sa.Connection,
    order: Any,
    *,
    amount: Money,
    out_refund_no: str,
    reason: str | None,
    now: datetime,
    config: IssuerConfig,
    metadata: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Refund part or all of a captured order, by the servicing rule ``installments.refund``.

    The refund first pays past-due principal (payment rows with ``source = REFUND``), then
    cancels not-yet-due principal by re-planning; both free the buyer's credit. What
    exceeds the unpaid principal the buyer already repaid: it is returned to the buyer's
    payment source and recorded (a ``REFUND.RETURNED`` message with the amount).
    """
    _check_refund(conn, order, amount, out_refund_no)
    today = now.date()
    policy = policy_for(config, order.plan_id)
    before = account_of(order, lines_by_order(conn, [order.id])[order.id])
    result = refund(before, amount, on=today, policy=policy)
    refund_id = new_id("rf")
    insert_lines(conn, result.credited, reference=refund_id, on=today, source="REFUND")
    fields = book_order(
        conn,
        order,
        before,
        result.account,
        result.credited,
        on=today,
        now=now,
        reason="REFUND",
        reference=refund_id,
        policy=policy,
    )
    refunded = order.refunded_amount + amount.minor
    full = refunded == order.captured_amount
    _order_transition(
        conn,
        order,
        order.state,
        state=CheckoutState.REFUNDED if full else CheckoutState.PARTIALLY_REFUNDED,
        refunded_amount=refunded,
        **fields,
    )
    ledger.restore_principal(
        conn,
        buyer_id=order.buyer_id,
        amount=result.reduced.minor,
        currency=order.currency,
        reference=order.id,
        reason="REFUND",
        now=now,
    )
    if result.returned.minor:
        messages.record(
            conn,
            buyer_id=order.buyer_id,
            event_type=BuyerEventType.REFUND_RETURNED,
            summary=f"{result.returned} of a refund returned to your payment source",
            on=today,
            now=now,
            order_id=order.id,
            data={"refund_id": refund_id, "returned": result.returned.to_json()},
        )
    values = {
        "id": refund_id,
        "order_id": order.id,
        "merchant_id": order.merchant_id,
        "out_refund_no": out_refund_no,
        "amount": amount.minor,
        "currency": order.currency,
        "reason": reason,
        "state": RefundState.SUCCEEDED,
        "created_at": to_epoch(now),
        "metadata_json": json.dumps(dict(metadata or {}), ensure_ascii=False),
        "list_seq": next_position(conn, order.merchant_id),  # after every row lock
    }
    conn.execute(refunds.insert().values(values))
    resource = refund_json(SimpleNamespace(**values))  # the row just inserted
    notify_url = conn.execute(
        sa.select(checkouts.c.notify_url).where(checkouts.c.id == order.checkout_id)
    ).scalar_one()
    emit(
        conn,
        merchant_id=order.merchant_id,
        notify_url=notify_url,
        event_type=EventType.REFUND_SUCCEEDED,
        original_type="refund",
        resource=resource,
        summary="refund succeeded",
        now=now,
    )
    return resource


def expire_due(engine: Engine, now: datetime) -> int:
    """Expire unauthorized checkouts and stale authorizations; returns how many changed.

    Each expiry is its own short transaction, so one object can never fail another's
    request (or the whole sweep); an object another process changed or expired first
    is simply skipped.
    """
    moment = to_epoch(now)
    with reading(engine) as conn:
        stale_checkouts = (
            conn.execute(
                sa.select(checkouts.c.id).where(
                    checkouts.c.state == CheckoutState.CREATED, checkouts.c.expires_at <= moment
                )
            )
            .scalars()
            .all()
        )
        stale_orders = (
            conn.execute(
                sa.select(orders.c.id).where(
                    orders.c.state == CheckoutState.AUTHORIZED,
                    orders.c.authorization_expires_at <= moment,
                )
            )
            .scalars()
            .all()
        )
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
                _notify_checkout(
                    conn, checkout_id, EventType.CHECKOUT_EXPIRED, "checkout expired", now
                )
    for order_id in stale_orders:
        with engine.begin() as conn:
            order = conn.execute(locked(sa.select(orders).where(orders.c.id == order_id))).first()
            if order is None or order.state != CheckoutState.AUTHORIZED:
                continue  # captured or voided meanwhile: not ours to expire
            if order.authorization_expires_at > moment:
                continue
            _end_authorization(
                conn, order, CheckoutState.EXPIRED, "EXPIRE", "authorization expired", now
            )
            changed += 1
    return changed


def authorization_expiry(now: datetime, ttl: int) -> int:
    return to_epoch(now + timedelta(seconds=ttl))


def not_found(kind: str, obj_id: str) -> NotFoundError:
    return NotFoundError(f"no {kind} {obj_id[:64]!r}", code="NOT_FOUND")
