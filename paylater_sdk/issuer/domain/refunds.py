"""Refunds of captured orders: the servicing rule ``installments.refund``, booked.

In the caller's transaction on an order row read with a lock (kept apart from
:mod:`.lifecycle` so that each module stays about one thing): the refund row, its payment
rows, the re-planned schedule, the ledger moves and the ``REFUND.SUCCEEDED`` notification
commit together. The state follows :func:`.lifecycle.loan_state`: an order captured in part
whose captured amount is all refunded stays ``PARTIALLY_REFUNDED`` while more can still be
captured.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa

from ...errors import ConflictError, InvalidRequestError
from ...installments import OrderAccount, RefundResult, ServicingPolicy, refund
from ...lifecycle import BuyerEventType, EventType, RefundState
from ...money import Money
from ..config import IssuerConfig
from ..storage.positions import next_position
from ..storage.schema import checkouts, refunds, to_epoch
from . import ledger, messages
from .accounts import account_of, lines_by_order, policy_for
from .booking import book_order, insert_lines
from .lifecycle import REFUNDABLE, emit, loan_state, new_id, require_state, update_order
from .views import refund_json

__all__ = ["create_refund"]

# Built once (see :mod:`..storage.prepared`): every refund runs each of these.
_REFUND_NO_TAKEN = sa.select(refunds.c.id).where(
    refunds.c.merchant_id == sa.bindparam("owner"),
    refunds.c.out_refund_no == sa.bindparam("refund_no"),
)
_INSERT_REFUND = refunds.insert()
_NOTIFY_URL = sa.select(checkouts.c.notify_url).where(checkouts.c.id == sa.bindparam("checkout_id"))


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
        _REFUND_NO_TAKEN, {"owner": order.merchant_id, "refund_no": out_refund_no}
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
    policy = policy_for(config, order.plan_id)
    before = account_of(order, lines_by_order(conn, [order.id])[order.id])
    result = refund(before, amount, on=now.date(), policy=policy)
    refund_id = new_id("rf")
    _book_refund(conn, order, before, result, refund_id, amount=amount, now=now, policy=policy)
    if result.returned.minor:
        _record_returned(conn, order, result.returned, refund_id, now)
    resource = _insert_refund(
        conn,
        order,
        refund_id,
        amount=amount,
        out_refund_no=out_refund_no,
        reason=reason,
        now=now,
        metadata=metadata,
    )
    _emit_refund(conn, order, resource, now)
    return resource


def _book_refund(
    conn: sa.Connection,
    order: Any,
    before: OrderAccount,
    result: RefundResult,
    refund_id: str,
    *,
    amount: Money,
    now: datetime,
    policy: ServicingPolicy,
) -> None:
    """The refund's payment rows, the re-planned schedule, the order's new state and the
    freed credit, in the caller's transaction."""
    today = now.date()
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
    update_order(
        conn,
        order,
        state=loan_state(order.captured_amount, refunded, order.held),
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


def _record_returned(
    conn: sa.Connection, order: Any, returned: Money, refund_id: str, now: datetime
) -> None:
    """Tell the buyer that ``returned`` (what they had already repaid) goes back to them."""
    messages.record(
        conn,
        buyer_id=order.buyer_id,
        event_type=BuyerEventType.REFUND_RETURNED,
        summary=f"{returned} of a refund returned to your payment source",
        on=now.date(),
        now=now,
        order_id=order.id,
        data={"refund_id": refund_id, "returned": returned.to_json()},
    )


def _insert_refund(
    conn: sa.Connection,
    order: Any,
    refund_id: str,
    *,
    amount: Money,
    out_refund_no: str,
    reason: str | None,
    now: datetime,
    metadata: Mapping[str, str] | None,
) -> dict[str, Any]:
    """Insert the refund row and answer its resource, built from the values just written."""
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
    conn.execute(_INSERT_REFUND, values)
    return refund_json(SimpleNamespace(**values))


def _emit_refund(conn: sa.Connection, order: Any, resource: dict[str, Any], now: datetime) -> None:
    """Queue ``REFUND.SUCCEEDED`` to the checkout's notify URL, in the same transaction."""
    notify_url = conn.execute(_NOTIFY_URL, {"checkout_id": order.checkout_id}).scalar_one()
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
