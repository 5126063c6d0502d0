"""The ``/v1`` JSON API: every request verified, every response (errors too) signed.

Order of checks for each request: a test fault (``error_500``), the body size (413),
the merchant's signature (401), then the route's own validation (4xx). The signature is
verified over the raw body bytes and the request target exactly as sent, before any
parsing. A retried POST with the same ``Idempotency-Key`` gets the stored answer.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, g, request

from ...errors import PayLaterError, ReplayError, SignatureError, TimestampError, UnknownKeyError
from ...lifecycle import API_VERSION, VERSION_HEADER
from ...signing import verify_request
from ..storage import idempotency
from ._context import current_issuer as _issuer
from ._request import injected_error, request_target
from .contract import (
    QUOTE_AMOUNT,
    QUOTE_CURRENCY,
    bodies,
    current_route,
    openapi_document,
    request_body,
    serve,
    success_status,
)
from .contract import positive_amount as _money
from .wire import bad, error_response, json_response, parse_json_body, status_and_body

__all__ = ["blueprint"]

log = logging.getLogger(__name__)

blueprint = Blueprint("paylater_api", __name__, url_prefix="/v1")

_MCHID_RE = re.compile(r'(?:^|[\s,])mchid="([^"]{1,64})"')
_ID_RE = re.compile(r"[A-Za-z0-9_]{1,64}")
_TRADE_NO = bodies.TRADE_NO
_KEY_RE = re.compile(r"[\x21-\x7e]{1,255}")
_MAX_QUERY = 2048


def _signature_error(exc: SignatureError) -> PayLaterError:
    if isinstance(exc, TimestampError):
        code = "TIMESTAMP_OUT_OF_RANGE"
    elif isinstance(exc, ReplayError):
        code = "REPLAYED"
    elif isinstance(exc, UnknownKeyError):
        code = "UNKNOWN_KEY"
    else:
        code = "SIGNATURE_INVALID"
    return bad(code, str(exc.message)[:300])


@blueprint.before_request
def _authenticate() -> Response | None:
    issuer = _issuer()
    if injected_error(issuer):
        return error_response(500, "INTERNAL_ERROR", "injected test fault: error_500")
    version = request.headers.get(VERSION_HEADER)
    if version is not None and version != API_VERSION:
        raise bad(
            "UNSUPPORTED_VERSION",
            f"{VERSION_HEADER} {version[:40]!r} is not served here; this issuer speaks "
            f"{API_VERSION} (send that, or no header)",
            field=VERSION_HEADER,
        )
    if len(request.query_string) > _MAX_QUERY:
        raise bad("INVALID_QUERY", f"the query string is over {_MAX_QUERY} bytes")
    body = request.get_data(cache=True)  # 413 past MAX_CONTENT_LENGTH
    route = current_route()
    if route is not None and not route.signed:
        return None
    authorization = request.headers.get("Authorization")
    if not authorization:
        raise bad("SIGNATURE_MISSING", "sign the request: the Authorization header is missing")
    found = _MCHID_RE.search(authorization[:4096])
    keyring = issuer.merchant_keyring(found.group(1)) if found else None
    if found is None or keyring is None:
        raise bad("UNKNOWN_MERCHANT", "the Authorization mchid is not a registered merchant")
    try:
        merchant_id = verify_request(
            authorization,
            request.method,
            request_target(),
            body,
            keyring=keyring,
            nonce_store=issuer.nonce_store,
            max_skew=issuer.config.max_skew,
        )
    except SignatureError as exc:
        raise _signature_error(exc) from None
    if merchant_id != found.group(1):
        raise bad("SIGNATURE_INVALID", "ambiguous mchid in the Authorization header")
    g.merchant_id = merchant_id
    issuer.sweep()
    return None


def _no_query(*allowed: str) -> dict[str, str]:
    args = request.args
    values: dict[str, str] = {}
    for name in args:
        if name not in allowed:
            raise bad("INVALID_QUERY", f"unknown query parameter {name[:40]!r}", field=name[:40])
        items = args.getlist(name)
        if len(items) != 1:
            raise bad("INVALID_QUERY", f"the query parameter {name!r} is repeated", field=name)
        values[name] = items[0]
    return values


def _object_id(value: str) -> str:
    if not _ID_RE.fullmatch(value):
        raise bad("NOT_FOUND", "no such object")
    return value


def _post(handler: Callable[[dict[str, Any]], Any]) -> Response:
    """Run a POST handler under the request's ``Idempotency-Key`` (if any).

    See :mod:`.idempotency`: the answer of a request with an effect is stored in the
    effect's own transaction; others are stored after the handler returns.
    """
    _no_query()
    data = parse_json_body()
    status = success_status()
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return json_response(handler(data), status)
    if not _KEY_RE.fullmatch(key):
        raise bad(
            "INVALID_FIELD",
            "Idempotency-Key must be 1 to 255 printable ASCII characters",
            field="Idempotency-Key",
        )
    issuer = _issuer()
    merchant_id: str = g.merchant_id
    fp = idempotency.fingerprint(request.method, request.path, data)
    stored = idempotency.lookup(issuer.engine, merchant_id=merchant_id, key=key, fp=fp)
    if stored is not None:
        return _replayed(stored)
    call = idempotency.IdempotentCall(merchant_id, key, fp, status, issuer.now())
    token = idempotency.CURRENT.set(call)
    try:
        result = handler(data)
    except idempotency.Replay as replay:
        return _replayed(replay.stored)
    except PayLaterError as exc:
        answer = status_and_body(exc)
        if answer is None or call.answered is not None:
            raise
        if not idempotency.storable(answer[0], answer[1].get("code")):
            raise
        refused = idempotency.StoredResponse(answer[0], idempotency.encode(answer[1]))
        return _answer(idempotency.store_answer(issuer.engine, call, refused))
    finally:
        idempotency.CURRENT.reset(token)
    if call.answered is not None:
        return _answer(call.answered)
    fresh = idempotency.StoredResponse(status, idempotency.encode(result))
    return _answer(idempotency.store_answer(issuer.engine, call, fresh))


def _answer(stored: idempotency.StoredResponse) -> Response:
    return Response(stored.body, status=stored.status, mimetype="application/json")


def _replayed(stored: idempotency.StoredResponse) -> Response:
    replay = _answer(stored)
    replay.headers["Idempotent-Replayed"] = "true"
    return replay


# --- routes ---------------------------------------------------------------------------------
# Each view is bound to its row of the route table (contract/_routes.py): path, method,
# body model and success status come from there.


@serve(blueprint, "getOpenAPI")
def openapi() -> Response:
    _no_query()
    return json_response(openapi_document(include_test_controls=_issuer().config.test_mode))


@serve(blueprint, "listCertificates")
def certificates() -> Response:
    _no_query()
    return json_response({"data": _issuer().certificates(g.merchant_id)})


@serve(blueprint, "quotePlans")
def plans_quote() -> Response:
    args = _no_query("amount", "currency")
    if "amount" not in args or "currency" not in args:
        raise bad(
            "INVALID_QUERY",
            "give amount (minor units) and currency, e.g. amount=12000&currency=CNY",
        )
    if not re.fullmatch(QUOTE_AMOUNT, args["amount"]):
        raise bad("INVALID_QUERY", "amount must be a whole number of minor units", field="amount")
    if not re.fullmatch(QUOTE_CURRENCY, args["currency"]):
        raise bad("INVALID_QUERY", "currency must be an ISO 4217 code", field="currency")
    amount = _money("amount", {"value": int(args["amount"]), "currency": args["currency"].upper()})
    return json_response(_issuer().quote(amount))


@serve(blueprint, "checkEligibility")
def eligibility() -> Response:
    def handle(data: dict[str, Any]) -> Any:
        body = request_body(bodies.CheckEligibility, data)
        return _issuer().eligibility(body.buyer_token, body.amount, merchant_id=g.merchant_id)

    return _post(handle)


@serve(blueprint, "createCheckout")
def create_checkout() -> Response:
    def handle(data: dict[str, Any]) -> Any:
        body = request_body(bodies.CreateCheckout, data)
        return _issuer().orders.create_checkout(
            g.merchant_id,
            out_trade_no=body.out_trade_no,
            amount=body.amount,
            description=body.description,
            notify_url=body.notify_url,
            return_url=body.return_url,
            plan_ids=body.plans,
            expires_in=body.expires_in,
            base_url=request.host_url,
            metadata=body.metadata,
        )

    return _post(handle)


@serve(blueprint, "getCheckout")
def get_checkout(checkout_id: str) -> Response:
    _no_query()
    return json_response(_issuer().orders.get_checkout(g.merchant_id, _object_id(checkout_id)))


@serve(blueprint, "closeCheckout")
def close_checkout(checkout_id: str) -> Response:
    def handle(data: dict[str, Any]) -> Any:
        request_body(bodies.NoFields, data)
        return _issuer().orders.close_checkout(g.merchant_id, _object_id(checkout_id))

    return _post(handle)


@serve(blueprint, "captureOrder")
def capture(order_id: str) -> Response:
    def handle(data: dict[str, Any]) -> Any:
        body = request_body(bodies.CaptureOrder, data)
        final = body.final is not False  # absent: final, as the one capture always was
        return _issuer().orders.capture(
            g.merchant_id, _object_id(order_id), body.amount, final=final
        )

    return _post(handle)


@serve(blueprint, "extendOrder")
def extend(order_id: str) -> Response:
    def handle(data: dict[str, Any]) -> Any:
        body = request_body(bodies.ExtendOrder, data)
        return _issuer().orders.extend(g.merchant_id, _object_id(order_id), days=body.days)

    return _post(handle)


@serve(blueprint, "voidOrder")
def void(order_id: str) -> Response:
    def handle(data: dict[str, Any]) -> Any:
        request_body(bodies.NoFields, data)
        return _issuer().orders.void(g.merchant_id, _object_id(order_id))

    return _post(handle)


@serve(blueprint, "createRefund")
def create_refund() -> Response:
    def handle(data: dict[str, Any]) -> Any:
        body = request_body(bodies.CreateRefund, data)
        return _issuer().orders.create_refund(
            g.merchant_id,
            order_id=_object_id(body.order_id),
            amount=body.amount,
            out_refund_no=body.out_refund_no,
            reason=body.reason,
            metadata=body.metadata,
        )

    return _post(handle)


@serve(blueprint, "getRefund")
def get_refund(refund_id: str) -> Response:
    _no_query()
    return json_response(_issuer().orders.get_refund(g.merchant_id, _object_id(refund_id)))


# The list and event endpoints join this blueprint (their module imports it from here).
from . import bills as _bills  # noqa: E402, F401
from . import lists as _lists  # noqa: E402, F401
