"""Test controls (``/_test``, test mode only, unsigned): buyers, the clock, faults, reset.

Like Stripe's test clocks and forced declines, these let a merchant's test suite reach
states that would take days (expiries, overdue installments) or luck (a 500, a lost
notification) against a real issuer. The blueprint is only registered in test mode, so a
production-mode issuer answers 404 for all of it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from ...errors import MoneyError
from ...lifecycle import BuyerStatus
from ...money import Money
from ..domain.issuer import FAULT_KINDS
from ._context import current_issuer as _issuer
from .wire import (
    MAX_MINOR,
    bad,
    fields,
    json_response,
    money,
    opt_int,
    opt_text,
    parse_json_body,
    text,
)

__all__ = ["blueprint"]

blueprint = Blueprint("paylater_testctl", __name__, url_prefix="/_test")

_PHONE = r"1[0-9]{10}"


def _body() -> dict[str, Any]:
    if request.args:
        raise bad("INVALID_QUERY", "test controls take no query parameters")
    return parse_json_body()


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise bad("INVALID_FIELD", f"{name} must be true or false", field=name)
    return value


def _status(name: str, value: Any) -> str:
    if value not in tuple(BuyerStatus):
        raise bad("INVALID_FIELD", f"{name} must be 'ACTIVE' or 'FROZEN'", field=name)
    return str(value)


def _limit(name: str, value: Any) -> Money:
    """Like :func:`money`, but zero is allowed: a buyer whose every purchase declines."""
    try:
        limit = Money.from_json(value)
    except (MoneyError, TypeError, ValueError) as exc:
        raise bad("INVALID_AMOUNT", f"{name}: {exc}", field=name) from None
    if not 0 <= limit.minor <= MAX_MINOR:
        raise bad("INVALID_AMOUNT", f"{name} must be 0 to {MAX_MINOR} minor units", field=name)
    return limit


@blueprint.post("/buyers")
def create_buyer() -> Response:
    body = fields(
        _body(),
        {"limit": _limit},
        {
            "phone": text(11, _PHONE),
            "single_purchase_max": money,
            "status": _status,
            "overdue": _bool,
        },
    )
    limit: Money = body["limit"]
    spm = body["single_purchase_max"]
    if spm is not None and spm.currency != limit.currency:
        raise bad("CURRENCY_MISMATCH", "single_purchase_max must be in the limit's currency")
    buyer = _issuer().create_buyer(
        limit=limit,
        phone=body["phone"],
        single_purchase_max=spm,
        status=body["status"] or BuyerStatus.ACTIVE,
        overdue=bool(body["overdue"]),
    )
    return json_response(
        {
            "id": buyer.id,
            "buyer_token": buyer.buyer_token,
            "phone": buyer.phone,
            "test_code": buyer.test_code,
        },
        201,
    )


@blueprint.post("/clock/advance")
def advance_clock() -> Response:
    body = fields(_body(), {"seconds": opt_int(0, 10 * 365 * 24 * 3600)})
    now = _issuer().advance_clock(body["seconds"])
    return json_response({"now": now.isoformat()})


@blueprint.post("/buyers/<buyer_id>/repay")
def repay(buyer_id: str) -> Response:
    body = fields(_body(), {"order_id": text(64)}, {"amount": money})
    if len(buyer_id) > 64:
        raise bad("NOT_FOUND", "no such buyer")
    return json_response(_issuer().repay(buyer_id, body["order_id"], body["amount"]))


def _kind(name: str, value: Any) -> str:
    if value not in FAULT_KINDS:
        raise bad("INVALID_FIELD", f"{name} must be one of {', '.join(FAULT_KINDS)}", field=name)
    return str(value)


def _method(name: str, value: Any) -> str:
    if not isinstance(value, str) or value.upper() not in ("GET", "POST", "PUT", "DELETE", "PATCH"):
        raise bad("INVALID_FIELD", f"{name} must be an HTTP method such as POST", field=name)
    return value.upper()


@blueprint.post("/faults")
def inject_fault() -> Response:
    body = fields(
        _body(),
        {"kind": _kind},
        {"method": _method, "path_prefix": opt_text(256), "count": opt_int(1, 1000)},
    )
    count = body["count"] or 1
    _issuer().inject_fault(
        body["kind"], method=body["method"], path_prefix=body["path_prefix"], count=count
    )
    return json_response(
        {
            "kind": body["kind"],
            "method": body["method"],
            "path_prefix": body["path_prefix"],
            "count": count,
        },
        201,
    )


@blueprint.post("/reset")
def reset() -> Response:
    fields(_body(), {})
    _issuer().reset()
    return json_response({"reset": True, "now": _issuer().now().isoformat()})
