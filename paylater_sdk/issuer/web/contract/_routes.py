"""The route table: every ``/v1`` and ``/_test`` endpoint, once, with its contract.

A row names the method and path, the OpenAPI operation, the request body and query models,
the success answer and whether the request is signed. Views are bound to their row with
:func:`serve` (``@serve(blueprint, "createCheckout")``), which registers the Flask rule from
the row, so a served path is always a documented one; the OpenAPI document is generated
from the rows (:mod:`._openapi`) and docs/api.md's endpoint tables are checked against them
(tests/issuer/web/test_contract.py).

Adding an endpoint: one row here, and a view decorated with ``serve`` in any web module.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar

import attrs
from flask import Blueprint, request
from pydantic import BaseModel, ConfigDict, Field

from . import _answers as out
from . import _bodies as body
from ._validate import M, validate

V = TypeVar("V", bound=Callable[..., Any])

QUOTE_AMOUNT = r"[0-9]{1,14}"
QUOTE_CURRENCY = r"[A-Za-z]{3}"


class Query(BaseModel):
    """Query parameters of a GET (validated in the view; declared here for the document)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class QuoteQuery(Query):
    amount: Annotated[str, Field(pattern=f"^{QUOTE_AMOUNT}$", description="minor units")]
    currency: Annotated[str, Field(pattern=f"^{QUOTE_CURRENCY}$")]


class BillQuery(Query):
    date: Annotated[
        str,
        Field(
            pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
            examples=["2026-12-01"],
            description="a business day that has ended (BILL_TIME_ZONE, Asia/Shanghai)",
        ),
    ]


class StatementQuery(Query):
    month: Annotated[str, Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", examples=["2026-03"])]


_ID = r"^[A-Za-z0-9_]{1,64}$"
_TIME = {"format": "date-time", "examples": ["2026-12-01T00:00:00+08:00"]}


class ListQuery(Query):
    """The parameters every list takes (docs/api.md, "Lists")."""

    limit: Annotated[
        int | None, Field(ge=1, le=100, description="objects per page, 1 to 100 (default 20)")
    ] = None
    starting_after: Annotated[
        str | None, Field(pattern=_ID, description="an id: the page of objects older than it")
    ] = None
    ending_before: Annotated[
        str | None, Field(pattern=_ID, description="an id: the page of objects newer than it")
    ] = None
    created_gte: Annotated[
        str | None, Field(json_schema_extra=_TIME, description="created at or after (RFC 3339)")
    ] = None
    created_lt: Annotated[
        str | None, Field(json_schema_extra=_TIME, description="created before (RFC 3339)")
    ] = None
    out_trade_no: Annotated[str | None, Field(pattern=f"^{body.TRADE_NO}$")] = None


class CheckoutListQuery(ListQuery):
    """With ``out_trade_no`` as the only parameter, the answer is that one Checkout."""

    state: Annotated[str | None, out._enum(*out.CHECKOUT_STATES)] = None


class RefundListQuery(ListQuery):
    state: Annotated[str | None, out._enum(*out.REFUND_STATES)] = None


class EventListQuery(ListQuery):
    state: Annotated[
        str | None, out._enum(*out.NOTIFICATION_STATES), Field(description="delivery state")
    ] = None


@attrs.frozen
class Answer:
    """The success answer of a route: its status, body model and description."""

    status: int
    model: type[BaseModel] | None
    description: str
    media_type: str = "application/json"


def ok(
    status: int,
    model: type[BaseModel] | None,
    description: str,
    media_type: str = "application/json",
) -> Answer:
    return Answer(status, model, description, media_type)


@attrs.frozen
class Route:
    """One endpoint. ``path`` is in OpenAPI form (``/v1/checkouts/{checkout_id}``)."""

    method: str
    path: str
    operation_id: str
    summary: str
    answer: Answer
    body: type[BaseModel] | None = None
    query: type[Query] | None = None
    signed: bool = True

    @property
    def test_control(self) -> bool:
        return self.path.startswith("/_test/")


_CHECKOUT = ok(200, out.Checkout, "The checkout")
_REFUND = ok(200, out.Refund, "The refund")

ROUTES: tuple[Route, ...] = (
    Route("GET", "/v1/openapi.json", "getOpenAPI", "This document (no signature needed)",
          ok(200, None, "OpenAPI 3.1"), signed=False),
    Route("GET", "/v1/certificates", "listCertificates",
          "The issuer's public keys, encrypted to the merchant's API key",
          ok(200, out.Certificates, "Keys")),
    Route("GET", "/v1/plans/quote", "quotePlans", "Price every offered plan for an amount",
          ok(200, out.Quote, "Quotes"), query=QuoteQuery),
    Route("POST", "/v1/credit/eligibility", "checkEligibility",
          "Can this buyer borrow this amount? (never reveals the limit)",
          ok(200, out.Eligibility, "Answer with reason codes"), body=body.CheckEligibility),
    Route("POST", "/v1/checkouts", "createCheckout", "Create a checkout",
          ok(201, out.Checkout, "Created"), body=body.CreateCheckout),
    Route("GET", "/v1/checkouts", "listCheckouts",
          "List checkouts, newest first (out_trade_no alone: find that one checkout)",
          ok(200, out.Checkouts, "A page, or the checkout found"), query=CheckoutListQuery),
    Route("GET", "/v1/checkouts/{checkout_id}", "getCheckout", "Get a checkout", _CHECKOUT),
    Route("POST", "/v1/checkouts/{checkout_id}/close", "closeCheckout",
          "Close an unauthorized checkout", ok(200, out.Checkout, "Closed"), body=body.NoFields),
    Route("POST", "/v1/orders/{order_id}/capture", "captureOrder",
          "Capture all or part of an authorization (opens the loan)",
          ok(200, out.Order, "Captured"), body=body.CaptureOrder),
    Route("POST", "/v1/orders/{order_id}/void", "voidOrder", "Void an authorization",
          ok(200, out.Order, "Voided"), body=body.NoFields),
    Route("POST", "/v1/orders/{order_id}/extend", "extendOrder",
          "Extend a live authorization once, up to the product's maximum",
          ok(200, out.Order, "Extended"), body=body.ExtendOrder),
    Route("POST", "/v1/refunds", "createRefund", "Refund part or all of a captured order",
          ok(201, out.Refund, "Refunded"), body=body.CreateRefund),
    Route("GET", "/v1/refunds/{refund_id}", "getRefund", "Get a refund", _REFUND),
    Route("GET", "/v1/refunds", "listRefunds", "List refunds, newest first",
          ok(200, out.RefundList, "A page"), query=RefundListQuery),
    Route("GET", "/v1/events", "listEvents",
          "List the notifications sent in the last 30 days, newest first",
          ok(200, out.EventList, "A page"), query=EventListQuery),
    Route("GET", "/v1/events/{event_id}", "getEvent", "Get an event",
          ok(200, out.Event, "The event")),
    Route("POST", "/v1/events/{event_id}/resend", "resendEvent",
          "Deliver an event again (a fresh round of retries, the same id)",
          ok(200, out.Event, "Due again"), body=body.NoFields),
    Route("GET", "/v1/events/{event_id}/notification", "getEventNotification",
          "The event sealed now, as it would be POSTed (for a forwarding tool)",
          ok(200, out.SealedNotification, "Headers and body")),
    Route("GET", "/v1/bills/trade", "getTradeBill",
          "The trade bill of a business day: where to download it and its SHA-256",
          ok(200, out.TradeBill, "The bill"), query=BillQuery),
    Route("GET", "/v1/bills/trade/{bill_id}/file", "downloadTradeBill",
          "The bill's gzip CSV, the same bytes at every download (docs/settlement.md)",
          ok(200, None, "gzip CSV", "application/gzip")),
    Route("POST", "/_test/buyers", "testCreateBuyer", "Create a test buyer",
          ok(201, out.TestBuyerCreated, "Created"), body=body.CreateTestBuyer, signed=False),
    Route("POST", "/_test/buyers/apply", "testApplyForCredit",
          "Open a credit line through the decision engine (docs/credit.md)",
          ok(201, out.CreditApplied, "Decided"), body=body.ApplyForCredit, signed=False),
    Route("POST", "/_test/clock/advance", "testAdvanceClock", "Move the test clock forward",
          ok(200, out.ClockMoved, "The new time"), body=body.AdvanceClock, signed=False),
    Route("POST", "/_test/buyers/{buyer_id}/repay", "testRepay",
          "Repay any amount: what is due, an early payoff or a prepayment (Idempotency-Key)",
          ok(200, out.Repaid, "Allocated"), body=body.Repay, signed=False),
    Route("GET", "/_test/buyers/{buyer_id}/statement", "testStatement",
          "A buyer's bill of one month", ok(200, out.Statement, "The bill"),
          query=StatementQuery, signed=False),
    Route("POST", "/_test/faults", "testInjectFault",
          "Make the next N matching requests or notifications fail",
          ok(201, out.FaultArmed, "Armed"), body=body.InjectFault, signed=False),
    Route("POST", "/_test/reset", "testReset",
          "Forget buyers, checkouts, notifications, faults and the clock",
          ok(200, out.ResetDone, "Reset"), body=body.NoFields, signed=False),
)  # fmt: skip

ROUTE_BY_ID: Mapping[str, Route] = {route.operation_id: route for route in ROUTES}
_BY_ENDPOINT: dict[str, Route] = {}


def flask_rule(path: str) -> str:
    """``/checkouts/{checkout_id}`` in Flask's spelling, ``/checkouts/<checkout_id>``."""
    return re.sub(r"\{([a-z_]+)\}", r"<\1>", path)


def serve(blueprint: Blueprint, operation_id: str) -> Callable[[V], V]:
    """Register the decorated view for the route ``operation_id`` of :data:`ROUTES`."""
    route = ROUTE_BY_ID[operation_id]
    prefix = blueprint.url_prefix or ""
    if not route.path.startswith(prefix + "/"):
        raise ValueError(f"{route.path} is not under the blueprint's prefix {prefix}")

    def register(view: V) -> V:
        blueprint.add_url_rule(
            flask_rule(route.path[len(prefix) :]), view_func=view, methods=[route.method]
        )
        _BY_ENDPOINT[f"{blueprint.name}.{view.__name__}"] = route
        return view

    return register


def current_route() -> Route | None:
    """The row of the request being served (None for a path no route matched)."""
    return _BY_ENDPOINT.get(request.endpoint or "")


def request_body(model: type[M], data: Mapping[str, Any]) -> M:
    """The body validated as ``model``, which must be the current route's body model."""
    route = current_route()
    if route is None or route.body is not model:
        raise RuntimeError(f"{request.endpoint} validates with {model.__name__}, not its row's")
    return validate(model, data)


def success_status() -> int:
    """The status the current route answers with on success."""
    route = current_route()
    if route is None:
        raise RuntimeError(f"{request.endpoint} is served without a route row")
    return route.answer.status
