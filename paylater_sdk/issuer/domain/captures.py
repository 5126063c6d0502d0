"""Captures (split shipments) and the authorization's one extension, order by order.

An authorization may be captured in several parts, each its own request (and its own
``Idempotency-Key``), never beyond the authorized amount. The order's ``held`` column is
what is still capturable; a capture either leaves the rest held (``final: false``) or ends
the authorization and releases the rest (``final: true``, the default: a capture without
``final`` behaves exactly as the one capture of earlier versions). The order keeps one
loan: the first capture builds its schedule from the capture day, each later one re-plans
that schedule (:func:`~paylater_sdk.installments.add_capture`: the new principal spread
over the installments not yet due), so repayments, refunds, statements and payoff keep
working on one exact account.

An order captured in part stays ``CAPTURED`` (or ``PARTIALLY_REFUNDED`` / ``REFUNDED``
after refunds) with ``held > 0`` until its authorization ends; no new state, so every
servicing path, list filter and client that knows the loan states keeps working.

Each function runs in the caller's transaction on an order row read with a lock; every
order update is the version-guarded one of :mod:`.lifecycle`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ...errors import ConflictError, InvalidRequestError
from ...installments import OrderAccount, ServicingError, add_capture, build_schedule
from ...lifecycle import CheckoutState, EventType
from ...money import Money
from ..config import IssuerConfig
from ..storage.schema import captures, to_epoch
from . import ledger, lifecycle
from .accounts import SERVICED, account_of, lines_by_order, policy_for
from .booking import book_order, order_fields
from .views import order_json_by_id

__all__ = ["capture_order", "extend_authorization"]

_INSERT_CAPTURE = captures.insert()  # built once (see :mod:`..storage.prepared`)


def _check_capturable(order: Any, now: datetime) -> None:
    """Refused unless the authorization is live: authorized, or captured in part."""
    live = order.state == CheckoutState.AUTHORIZED or (order.state in SERVICED and order.held)
    if not live:
        raise ConflictError(
            f"order {order.id} is {order.state} and its authorization has ended; "
            "nothing more can be captured",
            code="INVALID_STATE",
        )
    if order.authorization_expires_at <= to_epoch(now):
        raise ConflictError(
            f"the authorization of order {order.id} expired; nothing more can be captured",
            code="INVALID_STATE",
        )


def _amount(order: Any, amount: Money | None) -> int:
    """The minor units to capture: ``amount``, or everything still held."""
    if amount is None:
        return int(order.held)
    if amount.currency != order.currency:
        raise InvalidRequestError(
            f"capture amount is {amount.currency} but the order is {order.currency}",
            code="CURRENCY_MISMATCH",
        )
    if amount.minor <= 0:
        raise InvalidRequestError("capture amount must be positive", code="INVALID_AMOUNT")
    if amount.minor > order.held:
        left = Money.from_minor(order.held, order.currency)
        raise ConflictError(
            f"cannot capture {amount}: the order authorized "
            f"{Money.from_minor(order.amount, order.currency)} and {left} of it is left to capture",
            code="AMOUNT_EXCEEDS_AVAILABLE",
        )
    return amount.minor


def capture_order(
    conn: sa.Connection,
    order: Any,
    amount: Money | None,
    offer: Any,
    now: datetime,
    *,
    config: IssuerConfig,
    final: bool = True,
) -> dict[str, Any]:
    """Capture ``amount`` (default: all still held) of a live authorization.

    ``final`` (or capturing all that is held) ends the authorization: the rest of the
    hold goes back to the buyer's available credit in the same ledger entry.
    """
    _check_capturable(order, now)
    captured = _amount(order, amount)
    ends = final or captured == order.held
    policy = policy_for(config, order.plan_id)
    capture_id = lifecycle.new_id("cap")
    if order.schedule_json is None:
        fields = _first_loan(conn, order, captured, offer, now, policy)
    else:
        fields = _more_loan(conn, order, captured, now, policy, capture_id)
    held = 0 if ends else order.held - captured
    total = order.captured_amount + captured
    lifecycle.update_order(
        conn,
        order,
        state=lifecycle.loan_state(total, order.refunded_amount, held),
        held=held,
        captured_amount=total,
        captured_at=order.captured_at if order.captured_at is not None else to_epoch(now),
        **fields,
    )
    ledger.capture(
        conn,
        buyer_id=order.buyer_id,
        held_amount=order.held if ends else captured,
        captured=captured,
        currency=order.currency,
        reference=order.id,
        now=now,
    )
    conn.execute(
        _INSERT_CAPTURE,
        {
            "id": capture_id,
            "order_id": order.id,
            "merchant_id": order.merchant_id,
            "amount": captured,
            "currency": order.currency,
            "final": ends,
            "created_at": to_epoch(now),
        },
    )
    summary = "order captured" if ends else "order captured in part"
    resource = lifecycle.notify_checkout(
        conn, order.checkout_id, EventType.ORDER_CAPTURED, summary, now
    )
    # The checkout's one order (orders.checkout_id is unique), as just read for the
    # notification: the answer needs no second read of the same row.
    return dict(resource["order"])


def _first_loan(
    conn: sa.Connection, order: Any, captured: int, offer: Any, now: datetime, policy: Any
) -> dict[str, Any]:
    """Open the loan: the chosen plan's schedule from today, its receivables posted."""
    schedule = build_schedule(
        Money.from_minor(captured, order.currency), offer.terms, start=now.date()
    )
    account = OrderAccount.open(order.id, schedule, policy)
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
    return {"penalty_rate": str(account.penalty_rate), **order_fields(account, now.date(), policy)}


def _more_loan(
    conn: sa.Connection,
    order: Any,
    captured: int,
    now: datetime,
    policy: Any,
    capture_id: str,
) -> dict[str, Any]:
    """Re-plan the loan with ``captured`` more principal; book the receivables' change."""
    today = now.date()
    before = account_of(order, lines_by_order(conn, [order.id])[order.id])
    try:
        after = add_capture(
            before, Money.from_minor(captured, order.currency), on=today, policy=policy
        )
    except ServicingError as exc:
        raise ConflictError(str(exc), code="INVALID_STATE") from None
    return book_order(
        conn,
        order,
        before,
        after,
        [],
        on=today,
        now=now,
        reason="CAPTURE",
        reference=capture_id,
        policy=policy,
    )


def extend_authorization(
    conn: sa.Connection, order: Any, now: datetime, *, maximum: int, days: int | None
) -> dict[str, Any]:
    """Extend a live authorization once: by ``days``, or (``None``) to the product's
    maximum, ``maximum`` seconds after the authorization."""
    _check_capturable(order, now)
    if order.authorization_extended_at is not None:
        raise ConflictError(
            f"the authorization of order {order.id} was already extended; it extends once only",
            code="AUTHORIZATION_ALREADY_EXTENDED",
        )
    latest = order.authorized_at + maximum
    wanted = latest if days is None else order.authorization_expires_at + days * 86400
    if wanted > latest or wanted <= order.authorization_expires_at:
        raise ConflictError(
            f"this product's authorizations last at most {maximum // 86400} days "
            f"({maximum} seconds) from authorization",
            code="EXTENSION_EXCEEDS_MAXIMUM",
        )
    lifecycle.update_order(
        conn, order, authorization_expires_at=wanted, authorization_extended_at=to_epoch(now)
    )
    return order_json_by_id(conn, order.id)
