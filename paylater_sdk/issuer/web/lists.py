"""The list endpoints and the events API: ``GET /v1/checkouts``, ``/v1/refunds``,
``/v1/events`` (cursor pages, newest first) and ``/v1/events/{id}`` with its resend and
freshly sealed notification.

Query parameters are checked here and answered 400 ``INVALID_QUERY`` with ``field``; the
domain (:mod:`..domain.listing`, :mod:`..domain.events`) receives a checked
:class:`ListQuery`. ``GET /v1/checkouts`` with ``out_trade_no`` as its *only* parameter is
the find form that always answered one Checkout (404 if none); any other parameter, or
none, makes it a list (``?out_trade_no=A1&limit=1`` is the list form of the same search).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import datetime
from typing import Any

from flask import Response, g

from ..domain import events
from ..domain.listing import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    ListQuery,
    checkout_filters,
    page,
    refund_filters,
)
from ..domain.views import checkout_json, refund_json
from ..storage.schema import checkouts, reading, refunds, to_epoch
from ._context import current_issuer as _issuer
from .api import _ID_RE, _TRADE_NO, _no_query, _object_id, _post, blueprint
from .contract import answers, bodies, request_body, serve
from .wire import bad, json_response

__all__: list[str] = []

_PARAMS = (
    "limit",
    "starting_after",
    "ending_before",
    "state",
    "created_gte",
    "created_lt",
    "out_trade_no",
)


def _time(name: str, value: str) -> int:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise bad(
            "INVALID_QUERY",
            f"{name} must be an RFC 3339 time with an offset, e.g. 2026-12-01T00:00:00%2B08:00 "
            "(a + in a query must be sent as %2B)",
            field=name,
        )
    return to_epoch(moment)


def _limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_LIMIT
    if not re.fullmatch(r"[0-9]{1,3}", value) or not 1 <= int(value) <= MAX_LIMIT:
        raise bad("INVALID_QUERY", f"limit must be 1 to {MAX_LIMIT}", field="limit")
    return int(value)


def _cursor(name: str, value: str | None) -> str | None:
    if value is not None and not _ID_RE.fullmatch(value):
        raise bad("INVALID_QUERY", f"{name} must be an object id", field=name)
    return value


def list_query(args: dict[str, str], states: Collection[str]) -> ListQuery:
    """The checked parameters of a list request (400 ``INVALID_QUERY`` naming the field)."""
    if "starting_after" in args and "ending_before" in args:
        raise bad(
            "INVALID_QUERY", "give starting_after or ending_before, not both", field="ending_before"
        )
    state = args.get("state")
    if state is not None and state not in states:
        raise bad("INVALID_QUERY", f"state must be one of {', '.join(states)}", field="state")
    trade_no = args.get("out_trade_no")
    if trade_no is not None and not re.fullmatch(_TRADE_NO, trade_no):
        raise bad("INVALID_QUERY", f"out_trade_no must match {_TRADE_NO}", field="out_trade_no")
    gte, lt = args.get("created_gte"), args.get("created_lt")
    return ListQuery(
        limit=_limit(args.get("limit")),
        starting_after=_cursor("starting_after", args.get("starting_after")),
        ending_before=_cursor("ending_before", args.get("ending_before")),
        state=state,
        created_gte=None if gte is None else _time("created_gte", gte),
        created_lt=None if lt is None else _time("created_lt", lt),
        out_trade_no=trade_no,
    )


def _checkout_row(conn: Any, row: Any) -> dict[str, Any]:
    return checkout_json(conn, row)


def _refund_row(conn: Any, row: Any) -> dict[str, Any]:
    return refund_json(row)


@serve(blueprint, "listCheckouts")
def list_checkouts() -> Response:
    args = _no_query(*_PARAMS)
    merchant_id: str = g.merchant_id
    if set(args) == {"out_trade_no"}:  # the find form: one Checkout, as it always was
        value = args["out_trade_no"]
        if not re.fullmatch(_TRADE_NO, value):
            raise bad("INVALID_QUERY", f"out_trade_no must match {_TRADE_NO}", field="out_trade_no")
        return json_response(_issuer().orders.find_checkout(merchant_id, value))
    query = list_query(args, answers.CHECKOUT_STATES)
    with reading(_issuer().engine) as conn:
        found = page(
            conn,
            checkouts,
            merchant_id,
            query,
            filters=checkout_filters(query),
            render=_checkout_row,
        )
    return json_response(found.to_json())


@serve(blueprint, "listRefunds")
def list_refunds() -> Response:
    query = list_query(_no_query(*_PARAMS), answers.REFUND_STATES)
    merchant_id: str = g.merchant_id
    with reading(_issuer().engine) as conn:
        found = page(
            conn,
            refunds,
            merchant_id,
            query,
            filters=refund_filters(merchant_id, query),
            render=_refund_row,
        )
    return json_response(found.to_json())


@serve(blueprint, "listEvents")
def list_events() -> Response:
    query = list_query(_no_query(*_PARAMS), answers.NOTIFICATION_STATES)
    issuer = _issuer()
    return json_response(
        events.list_events(issuer.engine, g.merchant_id, query, issuer.now()).to_json()
    )


@serve(blueprint, "getEvent")
def get_event(event_id: str) -> Response:
    _no_query()
    issuer = _issuer()
    return json_response(
        events.get_event(issuer.engine, g.merchant_id, _object_id(event_id), issuer.now())
    )


@serve(blueprint, "resendEvent")
def resend_event(event_id: str) -> Response:
    def handle(data: dict[str, Any]) -> Any:
        request_body(bodies.NoFields, data)
        issuer = _issuer()
        return events.resend(issuer.engine, g.merchant_id, _object_id(event_id), issuer.now())

    return _post(handle)


@serve(blueprint, "getEventNotification")
def event_notification(event_id: str) -> Response:
    _no_query()
    return json_response(events.sealed(_issuer(), g.merchant_id, _object_id(event_id)))
