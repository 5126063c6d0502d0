"""The client's services: one definition per method, shared by both clients.

Each method checks its arguments locally (so a typo fails before a signed request leaves
the process), builds the documented JSON, and returns a typed model. It is written once,
as an operation over the sans-I/O core (:mod:`._requester`): on a ``PayLaterClient`` the
method returns the model, on an ``AsyncPayLaterClient`` it returns a coroutine of it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from ..errors import InvalidRequestError, MoneyError
from ..money import Money
from ._notifications import NotificationsService
from ._ops import M, Service, operation
from ._requester import Op, mask
from .models import Checkout, Eligibility, Order, Quote, Refund

logger = logging.getLogger("paylater_sdk")

__all__ = [
    "CheckoutsService",
    "CreditService",
    "NotificationsService",
    "OrdersService",
    "PlansService",
    "RefundsService",
]


def _money(name: str, value: object, *, allow_zero: bool = False) -> Money:
    if not isinstance(value, Money):
        raise MoneyError(
            f"{name} must be a paylater_sdk.Money, e.g. Money('120.00', 'CNY'), "
            f"not {type(value).__name__}"
        )
    if value.amount < 0 or (not allow_zero and not value):
        raise MoneyError(f"{name} must be positive, got {value}")
    return value


def _text(name: str, value: object, *, max_length: int = 255, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not allow_empty) or len(value) > max_length:
        raise InvalidRequestError(
            f"{name} must be a {'' if allow_empty else 'non-empty '}string of at most "
            f"{max_length} characters, got {type(value).__name__}"
            + (f" of length {len(value)}" if isinstance(value, str) else "")
        )
    return value


def _url(name: str, value: object) -> str:
    url = _text(name, value, max_length=2048)
    if not url.startswith(("https://", "http://")):
        raise InvalidRequestError(f"{name} must be an absolute http(s) URL, got {url!r}")
    return url


class CreditService(Service[M]):
    @operation
    def eligibility(self, buyer_token: str, amount: Money) -> Op[Eligibility]:
        """Whether the buyer can pay ``amount`` now, with reason codes and offered plans.

        The answer never reveals the buyer's limit. The token never appears in logs.
        """
        token = _text("buyer_token", buyer_token)
        logger.debug("paylater eligibility check for buyer %s", mask(token))
        body = {"buyer_token": token, "amount": _money("amount", amount).to_json()}
        resp = yield from self._core.call("POST", "/v1/credit/eligibility", body=body)
        return Eligibility.from_api(resp.data)


class PlansService(Service[M]):
    @operation
    def quote(self, amount: Money) -> Op[Quote]:
        """The plans offered for ``amount`` priced with APR, and the "as low as" figure."""
        money = _money("amount", amount)
        resp = yield from self._core.call(
            "GET",
            "/v1/plans/quote",
            query={"amount": str(money.minor), "currency": money.currency},
        )
        return Quote.from_api(resp.data)


class CheckoutsService(Service[M]):
    @operation
    def create(
        self,
        *,
        out_trade_no: str,
        amount: Money,
        description: str,
        notify_url: str,
        return_url: str,
        plans: Sequence[str] | None = None,
        expires_in: int | None = None,
        idempotency_key: str | None = None,
    ) -> Op[Checkout]:
        """Create a checkout; redirect the buyer to ``checkout.authorize_url``.

        Retries reuse one idempotency key, so a dropped connection never creates two
        checkouts. Pass your own ``idempotency_key`` to extend that across processes.
        """
        body: dict[str, Any] = {
            "out_trade_no": _text("out_trade_no", out_trade_no, max_length=64),
            "amount": _money("amount", amount).to_json(),
            "description": _text("description", description, max_length=1000),
            "notify_url": _url("notify_url", notify_url),
            "return_url": _url("return_url", return_url),
        }
        if plans is not None:
            if isinstance(plans, str) or not all(isinstance(p, str) and p for p in plans):
                raise InvalidRequestError("plans must be a list of plan_id strings")
            body["plans"] = list(plans)
        if expires_in is not None:
            if isinstance(expires_in, bool) or not isinstance(expires_in, int) or expires_in < 1:
                raise InvalidRequestError(
                    f"expires_in must be a positive whole number of seconds, got {expires_in!r}"
                )
            body["expires_in"] = expires_in
        if idempotency_key is not None:
            key = _text("idempotency_key", idempotency_key)
            if not key.isascii() or not key.isprintable():
                raise InvalidRequestError("idempotency_key must be printable ASCII")
        resp = yield from self._core.call(
            "POST", "/v1/checkouts", body=body, idempotency_key=idempotency_key
        )
        return Checkout.from_api(resp.data)

    @operation
    def get(self, id: str) -> Op[Checkout]:
        resp = yield from self._core.call("GET", self._core.path("/v1/checkouts/{}", id))
        return Checkout.from_api(resp.data)

    @operation
    def find(self, out_trade_no: str) -> Op[Checkout]:
        """The checkout for your order number (:class:`NotFoundError` if there is none)."""
        resp = yield from self._core.call(
            "GET", "/v1/checkouts", query={"out_trade_no": _text("out_trade_no", out_trade_no)}
        )
        return Checkout.from_api(resp.data)

    @operation
    def close(self, id: str) -> Op[Checkout]:
        """Close an unauthorized checkout (the buyer can no longer pay it)."""
        resp = yield from self._core.call(
            "POST", self._core.path("/v1/checkouts/{}/close", id), body={}
        )
        return Checkout.from_api(resp.data)


class OrdersService(Service[M]):
    @operation
    def capture(self, id: str, amount: Money | None = None) -> Op[Order]:
        """Capture on shipping; a partial ``amount`` releases the rest of the hold."""
        body: dict[str, Any] = {}
        if amount is not None:
            body["amount"] = _money("amount", amount).to_json()
        resp = yield from self._core.call(
            "POST", self._core.path("/v1/orders/{}/capture", id), body=body
        )
        return Order.from_api(resp.data)

    @operation
    def void(self, id: str) -> Op[Order]:
        """Release an authorized, uncaptured order's hold."""
        resp = yield from self._core.call(
            "POST", self._core.path("/v1/orders/{}/void", id), body={}
        )
        return Order.from_api(resp.data)


class RefundsService(Service[M]):
    @operation
    def create(
        self, order_id: str, amount: Money, out_refund_no: str, reason: str | None = None
    ) -> Op[Refund]:
        """Refund part or all of a captured order; ``out_refund_no`` is unique per merchant."""
        body: dict[str, Any] = {
            "order_id": _text("order_id", order_id),
            "amount": _money("amount", amount).to_json(),
            "out_refund_no": _text("out_refund_no", out_refund_no, max_length=64),
        }
        if reason is not None:
            body["reason"] = _text("reason", reason, max_length=1000)
        resp = yield from self._core.call("POST", "/v1/refunds", body=body)
        return Refund.from_api(resp.data)

    @operation
    def get(self, id: str) -> Op[Refund]:
        resp = yield from self._core.call("GET", self._core.path("/v1/refunds/{}", id))
        return Refund.from_api(resp.data)
