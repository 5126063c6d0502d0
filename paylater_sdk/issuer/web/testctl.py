"""Test controls (``/_test``, test mode only, unsigned): buyers, the clock, faults, reset.

Like Stripe's test clocks and forced declines, these let a merchant's test suite reach
states that would take days (expiries, overdue installments) or luck (a 500, a lost
notification) against a real issuer. The blueprint is only registered in test mode, so a
production-mode issuer answers 404 for all of it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from ...lifecycle import BuyerStatus
from ..domain import servicing
from ._context import current_issuer as _issuer
from .contract import bodies, request_body, serve, success_status
from .wire import bad, json_response, parse_json_body

__all__ = ["blueprint"]

blueprint = Blueprint("paylater_testctl", __name__, url_prefix="/_test")


def _body() -> dict[str, Any]:
    if request.args:
        raise bad("INVALID_QUERY", "test controls take no query parameters")
    return parse_json_body()


def _answer(obj: Any) -> Response:
    return json_response(obj, success_status())


@serve(blueprint, "testCreateBuyer")
def create_buyer() -> Response:
    body = request_body(bodies.CreateTestBuyer, _body())
    limit, spm = body.limit, body.single_purchase_max
    if spm is not None and spm.currency != limit.currency:
        raise bad("CURRENCY_MISMATCH", "single_purchase_max must be in the limit's currency")
    buyer = _issuer().create_buyer(
        limit=limit,
        phone=body.phone,
        single_purchase_max=spm,
        status=body.status or BuyerStatus.ACTIVE,
        overdue=bool(body.overdue),
    )
    return _answer(
        {
            "id": buyer.id,
            "buyer_token": buyer.buyer_token,
            "phone": buyer.phone,
            "test_code": buyer.test_code,
        }
    )


@serve(blueprint, "testAdvanceClock")
def advance_clock() -> Response:
    body = request_body(bodies.AdvanceClock, _body())
    now = _issuer().advance_clock(body.seconds)
    return _answer({"now": now.isoformat()})


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (0 < len(key) <= 255 and key.isascii() and key.isprintable()):
        raise bad(
            "INVALID_FIELD",
            "Idempotency-Key must be 1 to 255 printable ASCII characters",
            field="Idempotency-Key",
        )
    return key


@serve(blueprint, "testRepay")
def repay(buyer_id: str) -> Response:
    body = request_body(bodies.Repay, _body())
    if len(buyer_id) > 64:
        raise bad("NOT_FOUND", "no such buyer")
    key = _idempotency_key()
    answer = _issuer().orders.repay(
        buyer_id,
        body.order_id,
        body.amount,
        mode=body.mode or "DUE",
        prepay_keeps=body.prepay_keeps or "PAYMENT",
        idempotency_key=key,
    )
    return _answer(answer)


@serve(blueprint, "testStatement")
def statement(buyer_id: str) -> Response:
    extra = set(request.args) - {"month"}
    if extra or len(request.args.getlist("month")) != 1:
        raise bad("INVALID_QUERY", "the statement takes one query parameter: month=YYYY-MM")
    month = request.args["month"]
    if len(buyer_id) > 64:
        raise bad("NOT_FOUND", "no such buyer")
    issuer = _issuer()
    issuer.sweep()
    return _answer(
        servicing.statement(
            issuer.engine, buyer_id, month, today=issuer.now().date(), config=issuer.config
        )
    )


@serve(blueprint, "testInjectFault")
def inject_fault() -> Response:
    body = request_body(bodies.InjectFault, _body())
    count = body.count or 1
    _issuer().inject_fault(body.kind, method=body.method, path_prefix=body.path_prefix, count=count)
    return _answer(
        {"kind": body.kind, "method": body.method, "path_prefix": body.path_prefix, "count": count}
    )


@serve(blueprint, "testReset")
def reset() -> Response:
    request_body(bodies.NoFields, _body())
    _issuer().reset()
    return _answer({"reset": True, "now": _issuer().now().isoformat()})
