"""The client's services: one definition per method, shared by both clients.

Each method checks its arguments locally (so a typo fails before a signed request leaves
the process), builds the documented JSON, and returns a typed model. It is written once,
as an operation over the sans-I/O core (:mod:`._requester`): on a ``PayLaterClient`` the
method returns the model, on an ``AsyncPayLaterClient`` it returns a coroutine of it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from ..errors import APIError, InvalidRequestError, MoneyError
from ..money import Money
from ._effects import Op
from ._identity import mask
from ._notifications import NotificationsService
from ._ops import M, Service, operation
from ._pages import Page
from .models import Checkout, Eligibility, Event, Order, Quote, Refund, SealedNotification

T = TypeVar("T", Checkout, Refund, Event)

logger = logging.getLogger("paylater_sdk")

__all__ = [
    "CheckoutsService",
    "CreditService",
    "EventsService",
    "NotificationsService",
    "OrdersService",
    "PlansService",
    "RefundsService",
]


def _money(name: str, value: object, *, allow_zero: bool = False) -> Money:
    if not isinstance(value, Money):
        raise MoneyError(
            f"{name} must be a paylater_sdk.Money, e.g. Money('120.00', 'CNY'), "
            f"not {type(value).__name__}",
            field=name,
        )
    if value.amount < 0 or (not allow_zero and not value):
        raise MoneyError(f"{name} must be positive, got {value}", field=name)
    return value


def _text(name: str, value: object, *, max_length: int = 255, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not allow_empty) or len(value) > max_length:
        raise InvalidRequestError(
            f"{name} must be a {'' if allow_empty else 'non-empty '}string of at most "
            f"{max_length} characters, got {type(value).__name__}"
            + (f" of length {len(value)}" if isinstance(value, str) else ""),
            field=name,
        )
    return value


def _url(name: str, value: object) -> str:
    url = _text(name, value, max_length=2048)
    if not url.startswith(("https://", "http://")):
        raise InvalidRequestError(
            f"{name} must be an absolute http(s) URL, got {url!r}", field=name
        )
    return url


def _metadata(value: object) -> dict[str, str]:
    """Up to 20 string keys (1 to 40 characters) with string values (up to 500)."""
    if not isinstance(value, Mapping) or len(value) > 20:
        raise InvalidRequestError(
            "metadata must be a mapping of at most 20 string keys", field="metadata"
        )
    for key, item in value.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 40:
            raise InvalidRequestError(
                f"metadata keys must be 1 to 40 characters, got {key!r}", field="metadata"
            )
        if not isinstance(item, str) or len(item) > 500:
            raise InvalidRequestError(
                f"metadata[{key!r}] must be a string of at most 500", field=f"metadata.{key}"
            )
    return dict(value)


def _list_params(
    *,
    limit: int,
    starting_after: str | None,
    ending_before: str | None,
    state: str | None,
    created_gte: datetime | None,
    created_lt: datetime | None,
    out_trade_no: str | None,
) -> dict[str, str]:
    """The query of a list call, checked (the limit is always sent: it makes
    ``GET /v1/checkouts?out_trade_no=`` a list, never the find form)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
        raise InvalidRequestError(f"limit must be an integer from 1 to 100, got {limit!r}")
    if starting_after is not None and ending_before is not None:
        raise InvalidRequestError("give starting_after or ending_before, not both")
    params = {"limit": str(limit)}
    for name, text in (
        ("starting_after", starting_after),
        ("ending_before", ending_before),
        ("state", state),
        ("out_trade_no", out_trade_no),
    ):
        if text is not None:
            params[name] = _text(name, str(text), max_length=64)
    for name, moment in (("created_gte", created_gte), ("created_lt", created_lt)):
        if moment is not None:
            if not isinstance(moment, datetime) or moment.tzinfo is None:
                raise InvalidRequestError(f"{name} must be a timezone-aware datetime")
            params[name] = moment.isoformat()
    return params


def _page(
    service: Service[Any],
    path: str,
    params: dict[str, str],
    parse: Callable[[Mapping[str, Any]], T],
) -> Op[Page[T]]:
    """One page; its ``fetch`` runs the next page's call on the same client."""
    resp = yield from service._core.call("GET", path, query=params)
    items = resp.data.get("data")
    if not isinstance(items, list):
        raise APIError(f"the issuer's answer to GET {path} is not a page (no 'data' list)")
    kept = {k: v for k, v in params.items() if k not in ("starting_after", "ending_before")}

    def fetch(cursor: dict[str, str]) -> Any:
        return service._runner.run(_page(service, path, {**kept, **cursor}, parse))

    return Page(
        tuple(parse(item) for item in items),
        bool(resp.data.get("has_more")),
        fetch=fetch,
        is_async=service._runner.is_async,
        newer="ending_before" in params,
    )


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
        metadata: Mapping[str, str] | None = None,
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
        if metadata is not None:
            body["metadata"] = _metadata(metadata)
        resp = yield from self._core.call(
            "POST", "/v1/checkouts", body=body, idempotency_key=_key(idempotency_key)
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
    def list(
        self,
        *,
        limit: int = 20,
        starting_after: str | None = None,
        ending_before: str | None = None,
        state: str | None = None,
        created_gte: datetime | None = None,
        created_lt: datetime | None = None,
        out_trade_no: str | None = None,
    ) -> Op[Page[Checkout]]:
        """A page of checkouts, newest first; ``.auto_paging_iter()`` walks the rest."""
        params = _list_params(
            limit=limit,
            starting_after=starting_after,
            ending_before=ending_before,
            state=state,
            created_gte=created_gte,
            created_lt=created_lt,
            out_trade_no=out_trade_no,
        )
        return (yield from _page(self, "/v1/checkouts", params, Checkout.from_api))

    @operation
    def close(self, id: str) -> Op[Checkout]:
        """Close an unauthorized checkout (the buyer can no longer pay it)."""
        resp = yield from self._core.call(
            "POST", self._core.path("/v1/checkouts/{}/close", id), body={}
        )
        return Checkout.from_api(resp.data)


class OrdersService(Service[M]):
    @operation
    def capture(
        self,
        id: str,
        amount: Money | None = None,
        *,
        final: bool | None = None,
        idempotency_key: str | None = None,
    ) -> Op[Order]:
        """Capture on shipping (docs/api.md, "Captures").

        ``final=False`` captures ``amount`` and keeps the rest authorized for the next
        shipment; ``final=True`` or no ``final`` (as before) ends the authorization and
        releases the rest. Retries reuse one idempotency key; pass your own
        ``idempotency_key`` (one per shipment) to extend that across processes.
        """
        body: dict[str, Any] = {}
        if amount is not None:
            body["amount"] = _money("amount", amount).to_json()
        if final is not None:
            if not isinstance(final, bool):
                raise InvalidRequestError(f"final must be True or False, got {final!r}")
            body["final"] = final
        resp = yield from self._core.call(
            "POST",
            self._core.path("/v1/orders/{}/capture", id),
            body=body,
            idempotency_key=_key(idempotency_key),
        )
        return Order.from_api(resp.data)

    @operation
    def extend(
        self, id: str, days: int | None = None, *, idempotency_key: str | None = None
    ) -> Op[Order]:
        """Extend a live authorization once: by ``days``, or to the product's maximum."""
        body: dict[str, Any] = {}
        if days is not None:
            if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365:
                raise InvalidRequestError(
                    f"days must be a whole number from 1 to 365, got {days!r}"
                )
            body["days"] = days
        resp = yield from self._core.call(
            "POST",
            self._core.path("/v1/orders/{}/extend", id),
            body=body,
            idempotency_key=_key(idempotency_key),
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
        self,
        order_id: str,
        amount: Money,
        out_refund_no: str,
        reason: str | None = None,
        *,
        metadata: Mapping[str, str] | None = None,
    ) -> Op[Refund]:
        """Refund part or all of a captured order; ``out_refund_no`` is unique per merchant."""
        body: dict[str, Any] = {
            "order_id": _text("order_id", order_id),
            "amount": _money("amount", amount).to_json(),
            "out_refund_no": _text("out_refund_no", out_refund_no, max_length=64),
        }
        if reason is not None:
            body["reason"] = _text("reason", reason, max_length=1000)
        if metadata is not None:
            body["metadata"] = _metadata(metadata)
        resp = yield from self._core.call("POST", "/v1/refunds", body=body)
        return Refund.from_api(resp.data)

    @operation
    def get(self, id: str) -> Op[Refund]:
        resp = yield from self._core.call("GET", self._core.path("/v1/refunds/{}", id))
        return Refund.from_api(resp.data)

    @operation
    def list(
        self,
        *,
        limit: int = 20,
        starting_after: str | None = None,
        ending_before: str | None = None,
        state: str | None = None,
        created_gte: datetime | None = None,
        created_lt: datetime | None = None,
        out_trade_no: str | None = None,
    ) -> Op[Page[Refund]]:
        """A page of refunds, newest first (``out_trade_no``: that checkout's refunds)."""
        params = _list_params(
            limit=limit,
            starting_after=starting_after,
            ending_before=ending_before,
            state=state,
            created_gte=created_gte,
            created_lt=created_lt,
            out_trade_no=out_trade_no,
        )
        return (yield from _page(self, "/v1/refunds", params, Refund.from_api))


class EventsService(Service[M]):
    """The notifications the issuer sent you in the last 30 days (catch up, resend)."""

    @operation
    def list(
        self,
        *,
        limit: int = 20,
        starting_after: str | None = None,
        ending_before: str | None = None,
        state: str | None = None,
        created_gte: datetime | None = None,
        created_lt: datetime | None = None,
        out_trade_no: str | None = None,
    ) -> Op[Page[Event]]:
        """A page of events, newest first; ``state`` is the delivery state
        (``PENDING``, ``DELIVERED``, ``FAILED``). Each is the :class:`Event` a notification
        parses to, so one handler serves both."""
        params = _list_params(
            limit=limit,
            starting_after=starting_after,
            ending_before=ending_before,
            state=state,
            created_gte=created_gte,
            created_lt=created_lt,
            out_trade_no=out_trade_no,
        )
        return (yield from _page(self, "/v1/events", params, Event.from_record))

    @operation
    def get(self, id: str) -> Op[Event]:
        resp = yield from self._core.call("GET", self._core.path("/v1/events/{}", id))
        return Event.from_record(resp.data)

    @operation
    def resend(self, id: str, *, idempotency_key: str | None = None) -> Op[Event]:
        """Have the issuer deliver the event again (same id: your deduplication holds)."""
        resp = yield from self._core.call(
            "POST",
            self._core.path("/v1/events/{}/resend", id),
            body={},
            idempotency_key=idempotency_key,
        )
        return Event.from_record(resp.data)

    @operation
    def notification(self, id: str) -> Op[SealedNotification]:
        """The event sealed by the issuer now, ready to POST to your notify handler."""
        resp = yield from self._core.call("GET", self._core.path("/v1/events/{}/notification", id))
        return SealedNotification.from_api(resp.data)


def _key(idempotency_key: str | None) -> str | None:
    """A caller's own ``Idempotency-Key`` (printable ASCII), or None for a fresh one."""
    if idempotency_key is not None:
        key = _text("idempotency_key", idempotency_key)
        if not key.isascii() or not key.isprintable():
            raise InvalidRequestError("idempotency_key must be printable ASCII")
    return idempotency_key
