"""The client's services: thin objects over one shared requester (as stripe-python does).

Each method checks its arguments locally (so a typo fails before a signed request leaves
the process), builds the documented JSON, and returns a typed model.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import InvalidRequestError, MoneyError, UnknownKeyError
from ..money import Money
from ..signing import InMemoryNonceStore, NonceStore, open_notification
from ._requester import Requester, mask
from .models import Checkout, Eligibility, Event, Order, Quote, Refund

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


class _Service:
    def __init__(self, requester: Requester) -> None:
        self._requester = requester

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class CreditService(_Service):
    def eligibility(self, buyer_token: str, amount: Money) -> Eligibility:
        """Whether the buyer can pay ``amount`` now, with reason codes and offered plans.

        The answer never reveals the buyer's limit. The token never appears in logs.
        """
        token = _text("buyer_token", buyer_token)
        logger.debug("paylater eligibility check for buyer %s", mask(token))
        body = {"buyer_token": token, "amount": _money("amount", amount).to_json()}
        resp = self._requester.request("POST", "/v1/credit/eligibility", body=body)
        return Eligibility.from_api(resp.data)


class PlansService(_Service):
    def quote(self, amount: Money) -> Quote:
        """The plans offered for ``amount`` priced with APR, and the "as low as" figure."""
        money = _money("amount", amount)
        resp = self._requester.request(
            "GET",
            "/v1/plans/quote",
            query={"amount": str(money.minor), "currency": money.currency},
        )
        return Quote.from_api(resp.data)


class CheckoutsService(_Service):
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
    ) -> Checkout:
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
        resp = self._requester.request(
            "POST", "/v1/checkouts", body=body, idempotency_key=idempotency_key
        )
        return Checkout.from_api(resp.data)

    def get(self, id: str) -> Checkout:
        resp = self._requester.request("GET", self._requester.path("/v1/checkouts/{}", id))
        return Checkout.from_api(resp.data)

    def find(self, out_trade_no: str) -> Checkout:
        """The checkout for your order number (:class:`NotFoundError` if there is none)."""
        resp = self._requester.request(
            "GET", "/v1/checkouts", query={"out_trade_no": _text("out_trade_no", out_trade_no)}
        )
        return Checkout.from_api(resp.data)

    def close(self, id: str) -> Checkout:
        """Close an unauthorized checkout (the buyer can no longer pay it)."""
        resp = self._requester.request(
            "POST", self._requester.path("/v1/checkouts/{}/close", id), body={}
        )
        return Checkout.from_api(resp.data)


class OrdersService(_Service):
    def capture(self, id: str, amount: Money | None = None) -> Order:
        """Capture on shipping; a partial ``amount`` releases the rest of the hold."""
        body: dict[str, Any] = {}
        if amount is not None:
            body["amount"] = _money("amount", amount).to_json()
        resp = self._requester.request(
            "POST", self._requester.path("/v1/orders/{}/capture", id), body=body
        )
        return Order.from_api(resp.data)

    def void(self, id: str) -> Order:
        """Release an authorized, uncaptured order's hold."""
        resp = self._requester.request(
            "POST", self._requester.path("/v1/orders/{}/void", id), body={}
        )
        return Order.from_api(resp.data)


class RefundsService(_Service):
    def create(
        self, order_id: str, amount: Money, out_refund_no: str, reason: str | None = None
    ) -> Refund:
        """Refund part or all of a captured order; ``out_refund_no`` is unique per merchant."""
        body: dict[str, Any] = {
            "order_id": _text("order_id", order_id),
            "amount": _money("amount", amount).to_json(),
            "out_refund_no": _text("out_refund_no", out_refund_no, max_length=64),
        }
        if reason is not None:
            body["reason"] = _text("reason", reason, max_length=1000)
        resp = self._requester.request("POST", "/v1/refunds", body=body)
        return Refund.from_api(resp.data)

    def get(self, id: str) -> Refund:
        resp = self._requester.request("GET", self._requester.path("/v1/refunds/{}", id))
        return Refund.from_api(resp.data)


class NotificationsService(_Service):
    """Verify and decrypt the issuer's notifications (webhooks).

    Replay protection uses this service's own nonce store, in memory, per process: behind
    several workers, a replay that lands on another worker is still stopped by the
    timestamp window, and the event ``id`` is what you deduplicate on anyway. Pass a shared
    :class:`~paylater_sdk.signing.NonceStore` (``client.notifications.nonce_store = ...``)
    to close that gap.
    """

    def __init__(self, requester: Requester, *, api_key: bytes) -> None:
        super().__init__(requester)
        self._api_key = api_key
        self.nonce_store: NonceStore = InMemoryNonceStore()

    def parse(self, headers: Mapping[str, str], body: bytes) -> Event:
        """Verify (signature, timestamp, replay), decrypt and type one notification.

        Pass the raw request body bytes exactly as received (``request.get_data()`` in
        Flask), never a re-serialized JSON. Raises a :class:`SignatureError` subclass on
        anything unauthentic: answer 4xx and the issuer retries.
        """
        if isinstance(body, str):
            body = body.encode("utf-8")
        if not isinstance(body, bytes | bytearray):
            raise InvalidRequestError(
                f"body must be the raw request bytes, not {type(body).__name__}"
            )
        requester = self._requester
        try:
            note = open_notification(
                headers,
                bytes(body),
                api_key=self._api_key,
                keyring=requester.keyring(),
                nonce_store=self.nonce_store,
                profile=requester.profile,
            )
        except UnknownKeyError as exc:
            requester.refresh_keys(exc.serial)
            note = open_notification(
                headers,
                bytes(body),
                api_key=self._api_key,
                keyring=requester.keyring(),
                nonce_store=self.nonce_store,
                profile=requester.profile,
            )
        return Event.from_api(
            {
                "id": note.id,
                "event_type": note.event_type,
                "create_time": note.create_time.isoformat(),
                "summary": note.summary,
                "original_type": note.original_type,
                "resource": note.resource,
            }
        )
