"""Typed views of the issuer's JSON objects (docs/api.md, "Objects").

Each model is an immutable attrs class built by ``from_api(dict)``. Parsing is strict about
what the SDK relies on (a Money amount must be integer minor units, a time must carry an
offset) and lenient about everything else: unknown fields are ignored but kept in ``raw``,
and an unknown state or event type becomes ``UNKNOWN`` instead of an exception, so that an
issuer that grows a new state next year does not break a deployed shop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import APIError
from ..lifecycle import CheckoutState, EventType, OrderState, RefundState
from ..money import Money
from ._fields import Fields, frozen_raw, raw_field

if TYPE_CHECKING:
    from ..installments import Schedule

__all__ = [
    "Checkout",
    "CheckoutState",
    "Eligibility",
    "Event",
    "EventType",
    "Order",
    "OrderState",
    "Plan",
    "Quote",
    "Refund",
    "RefundState",
    "SealedNotification",
]

# The states and event types are shared with the issuer: paylater_sdk.lifecycle.


# --- models -----------------------------------------------------------------------------


@attrs.frozen
class Plan:
    """One offered plan priced for one amount (the PlanQuote JSON of docs/api.md).

    ``apr`` and ``effective_annual_rate`` are fractions as Decimals (``0.1235`` = 12.35 %),
    exactly as the issuer disclosed them.
    """

    plan_id: str
    name: str
    method: str
    periods: int
    frequency: str
    fee_payer: str
    first_payment: Money
    regular_payment: Money
    total_amount: Money
    total_cost: Money
    apr: Decimal
    effective_annual_rate: Decimal
    raw: Mapping[str, Any] = raw_field()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Plan:
        """Build from the issuer's JSON object; raise on a missing or mistyped field."""
        f = Fields(data, "plan quote")
        return cls(
            plan_id=f.text("plan_id"),
            name=f.text("name"),
            method=f.text("method"),
            periods=f.integer("periods"),
            frequency=f.text("frequency"),
            fee_payer=f.text("fee_payer"),
            first_payment=f.money("first_payment"),
            regular_payment=f.money("regular_payment"),
            total_amount=f.money("total_amount"),
            total_cost=f.money("total_cost"),
            apr=f.rate("apr"),
            effective_annual_rate=f.rate("effective_annual_rate"),
            raw=frozen_raw(f.data),
        )


def _metadata(f: Fields) -> Mapping[str, str]:
    """The merchant's metadata (an issuer that predates it sends none: ``{}``)."""
    value = f.obj("metadata") or {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise APIError(f"issuer sent a malformed {f.kind}: 'metadata' must map strings")
    return frozen_raw(value)


def _plans(f: Fields, name: str) -> tuple[Plan, ...]:
    return tuple(Plan.from_api(item) for item in f.items(name))


def _schedule(data: Mapping[str, Any] | None) -> Schedule | None:
    if data is None:
        return None
    # Imported here: the plan engine is only needed once an order has a schedule.
    from ..installments import Schedule

    try:
        return Schedule.from_json(dict(data))
    except (ValueError, TypeError, KeyError) as exc:
        raise APIError(f"issuer sent a malformed order: field 'schedule' ({exc})") from exc


@attrs.frozen
class Order:
    """The loan side of a checkout; exists once the buyer authorized."""

    id: str
    checkout_id: str
    out_trade_no: str
    state: CheckoutState
    amount: Money
    captured_amount: Money
    refunded_amount: Money
    plan: Plan | None
    schedule: Schedule | None = attrs.field(eq=False)
    authorized_at: datetime | None
    authorization_expires_at: datetime | None
    captured_at: datetime | None
    metadata: Mapping[str, str] = attrs.field(factory=dict)
    raw: Mapping[str, Any] = raw_field()
    #: Still authorized and capturable (None from an issuer older than split captures).
    capturable_amount: Money | None = None
    authorization_extended_at: datetime | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Order:
        """Build from the issuer's JSON object; raise on a missing or mistyped field."""
        f = Fields(data, "order")
        plan = f.obj("plan")
        return cls(
            id=f.text("id"),
            checkout_id=f.text("checkout_id"),
            out_trade_no=f.text("out_trade_no"),
            state=CheckoutState.parse(f.text("state")),
            amount=f.money("amount"),
            captured_amount=f.money("captured_amount"),
            refunded_amount=f.money("refunded_amount"),
            plan=None if plan is None else Plan.from_api(plan),
            schedule=_schedule(f.obj("schedule")),
            authorized_at=f.opt_time("authorized_at"),
            authorization_expires_at=f.opt_time("authorization_expires_at"),
            captured_at=f.opt_time("captured_at"),
            metadata=_metadata(f),
            raw=frozen_raw(f.data),
            capturable_amount=f.opt_money("capturable_amount"),
            authorization_extended_at=f.opt_time("authorization_extended_at"),
        )


@attrs.frozen
class Checkout:
    """A merchant's payment request; send the buyer to ``authorize_url``."""

    id: str
    out_trade_no: str
    state: CheckoutState
    amount: Money
    description: str
    notify_url: str
    return_url: str
    plans: tuple[Plan, ...]
    authorize_url: str
    created_at: datetime
    expires_at: datetime | None
    order: Order | None
    metadata: Mapping[str, str] = attrs.field(factory=dict)
    raw: Mapping[str, Any] = raw_field()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Checkout:
        """Build from the issuer's JSON object; raise on a missing or mistyped field."""
        f = Fields(data, "checkout")
        order = f.obj("order")
        return cls(
            id=f.text("id"),
            out_trade_no=f.text("out_trade_no"),
            state=CheckoutState.parse(f.text("state")),
            amount=f.money("amount"),
            description=f.opt_text("description") or "",
            notify_url=f.text("notify_url"),
            return_url=f.text("return_url"),
            plans=_plans(f, "plans"),
            authorize_url=f.text("authorize_url"),
            created_at=f.time("created_at"),
            expires_at=f.opt_time("expires_at"),
            order=None if order is None else Order.from_api(order),
            metadata=_metadata(f),
            raw=frozen_raw(f.data),
        )


@attrs.frozen
class Refund:
    """A refund of (part of) a captured order, as the issuer reports it."""

    id: str
    order_id: str
    out_refund_no: str
    amount: Money
    reason: str | None
    state: RefundState
    created_at: datetime
    metadata: Mapping[str, str] = attrs.field(factory=dict)
    raw: Mapping[str, Any] = raw_field()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Refund:
        """Build from the issuer's JSON object; raise on a missing or mistyped field."""
        f = Fields(data, "refund")
        return cls(
            id=f.text("id"),
            order_id=f.text("order_id"),
            out_refund_no=f.text("out_refund_no"),
            amount=f.money("amount"),
            reason=f.opt_text("reason"),
            state=RefundState.parse(f.text("state")),
            created_at=f.time("created_at"),
            metadata=_metadata(f),
            raw=frozen_raw(f.data),
        )


@attrs.frozen
class Eligibility:
    """Whether a buyer can pay an amount; never the buyer's limit (privacy by design)."""

    eligible: bool
    reasons: tuple[str, ...]
    plans: tuple[Plan, ...]
    raw: Mapping[str, Any] = raw_field()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Eligibility:
        """Build from the issuer's JSON object; raise on a missing or mistyped field."""
        f = Fields(data, "eligibility answer")
        reasons = f.items("reasons")
        if not all(isinstance(r, str) for r in reasons):
            raise APIError("issuer sent a malformed eligibility answer: 'reasons' must be strings")
        return cls(
            eligible=f.boolean("eligible"),
            reasons=tuple(reasons),
            plans=_plans(f, "plans"),
            raw=frozen_raw(f.data),
        )


@attrs.frozen
class Quote:
    """The plans offered for an amount and the "as low as ¥X/月" figure."""

    amount: Money
    plans: tuple[Plan, ...]
    as_low_as: Money | None
    raw: Mapping[str, Any] = raw_field()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Quote:
        """Build from the issuer's JSON object; raise on a missing or mistyped field."""
        f = Fields(data, "plan quote answer")
        return cls(
            amount=f.money("amount"),
            plans=_plans(f, "plans"),
            as_low_as=f.opt_money("as_low_as"),
            raw=frozen_raw(f.data),
        )


_RESOURCE_PARSERS: Mapping[str, Callable[[Mapping[str, Any]], Checkout | Refund]] = {
    "checkout": Checkout.from_api,
    "refund": Refund.from_api,
}


@attrs.frozen
class Event:
    """A verified, decrypted notification.

    Deduplicate on ``id``: delivery is at least once and a retry keeps the id. ``resource``
    is a :class:`Checkout` or :class:`Refund`; a resource type this SDK version does not
    know stays a plain mapping rather than failing, so an acknowledgement is still possible.
    """

    id: str
    event_type: EventType
    create_time: datetime
    summary: str
    original_type: str
    resource: Checkout | Refund | Mapping[str, Any]
    raw: Mapping[str, Any] = raw_field()

    @property
    def checkout(self) -> Checkout | None:
        """The checkout this event is about (None for a refund event)."""
        return self.resource if isinstance(self.resource, Checkout) else None

    @property
    def refund(self) -> Refund | None:
        """The refund this event is about (None for a checkout or order event)."""
        return self.resource if isinstance(self.resource, Refund) else None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Event:
        """Build from ``{"id", "event_type", "create_time", "summary", "original_type",
        "resource": <decrypted dict>}``."""
        f = Fields(data, "notification")
        original_type = f.opt_text("original_type") or ""
        resource_data = f.obj("resource")
        if resource_data is None:
            raise APIError("issuer sent a malformed notification: field 'resource' is missing")
        parser = _RESOURCE_PARSERS.get(original_type)
        resource: Checkout | Refund | Mapping[str, Any] = (
            parser(resource_data) if parser else frozen_raw(resource_data)
        )
        return cls(
            id=f.text("id"),
            event_type=EventType.parse(f.text("event_type")),
            create_time=f.time("create_time"),
            summary=f.opt_text("summary") or "",
            original_type=original_type,
            resource=resource,
            raw=frozen_raw(f.data),
        )

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> Event:
        """Build from an item of ``GET /v1/events``: ``{"id", "type", "created_at",
        "resource"}``, the same Event a notification parses to (summary aside)."""
        f = Fields(data, "event")
        kind = f.text("type")
        return cls.from_api(
            {
                "id": f.text("id"),
                "event_type": kind,
                "create_time": f.text("created_at"),
                "summary": "",
                "original_type": "refund" if kind.startswith("REFUND.") else "checkout",
                "resource": f.obj("resource"),
            }
        )


@attrs.frozen
class SealedNotification:
    """An event sealed by the issuer just now: POST ``body`` with ``headers`` to forward it."""

    headers: Mapping[str, str] = attrs.field(repr=False)
    body: bytes = attrs.field(repr=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> SealedNotification:
        """Build from ``{"headers", "body"}``; the body is kept as the exact bytes to send."""
        f = Fields(data, "sealed notification")
        headers = f.obj("headers") or {}
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
            raise APIError("issuer sent a malformed sealed notification: 'headers'")
        return cls(headers=frozen_raw(headers), body=f.text("body").encode("utf-8"))
