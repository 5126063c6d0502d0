"""JSON in and out for the issuer's HTTP endpoints: strict parsing, errors, the status table.

Everything a client can get wrong is answered with a 4xx JSON error carrying a specific
code (docs/api.md, "Errors"), before any state changes: so a malformed request never writes
anything and never reaches code that could fail with a 5xx. The strict JSON rules
(duplicate keys, NaN and lone surrogates refused; numbers with a fraction parsed as Decimal,
never float) are here; what each body may hold is declared once in :mod:`.contract`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from flask import Response, g, request

from ...errors import (
    AuthenticationError,
    ConflictError,
    CreditDeclinedError,
    IdempotencyError,
    InvalidRequestError,
    MoneyError,
    NotFoundError,
    PayLaterError,
    PlanError,
    RateLimitError,
)

__all__ = [
    "ERROR_STATUS",
    "MAX_MINOR",
    "bad",
    "error_body",
    "error_response",
    "json_response",
    "parse_json_body",
    "retry_after",
    "status_and_body",
]

#: Largest accepted amount in minor units (10^13 fen = 100 billion yuan); keeps every
#: value far inside a BigInteger and any arithmetic on it exact.
MAX_MINOR = 10**13


def bad(code: str, message: str, *, field: str | None = None) -> InvalidRequestError:
    """A refusal with ``code`` (its status comes from :data:`ERROR_STATUS`)."""
    return InvalidRequestError(message, code=code, field=field)


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def json_response(
    obj: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(_dumps(obj), status=status, mimetype="application/json", headers=headers)


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message, "request_id": g.get("request_id")}
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


#: Codes a client should retry, and after how many seconds by default.
_RETRYABLE = {"IDEMPOTENCY_IN_PROGRESS": 1, "RATE_LIMITED": 1}


def retry_after(code: str, seconds: int | None = None) -> dict[str, str] | None:
    """The ``Retry-After`` header of a retryable error code (None for the others)."""
    if code not in _RETRYABLE:
        return None
    return {"Retry-After": str(seconds if seconds is not None else _RETRYABLE[code])}


def error_response(
    status: int, code: str, message: str, *, retry_seconds: int | None = None, **extra: Any
) -> Response:
    body = error_body(code, message, **extra)
    return json_response(body, status, retry_after(code, retry_seconds))


#: The one table from error code to HTTP status (docs/api.md, "Errors"). The issuer's
#: domain raises errors with a code (and a ``field``) and knows nothing of HTTP.
ERROR_STATUS: Mapping[str, int] = {
    "INVALID_FIELD": 400,
    "MISSING_FIELD": 400,
    "UNKNOWN_FIELD": 400,
    "INVALID_AMOUNT": 400,
    "INVALID_JSON": 400,
    "INVALID_QUERY": 400,
    "INVALID_REQUEST": 400,
    "UNSUPPORTED_VERSION": 400,
    "CURRENCY_MISMATCH": 400,
    "PLAN_NOT_AVAILABLE": 400,
    "URL_NOT_ALLOWED": 400,
    "AMOUNT_EXCEEDS_OWED": 400,
    "PAYOFF_AMOUNT_MISMATCH": 400,
    "INVALID_DATE": 400,
    "SIGNATURE_MISSING": 401,
    "SIGNATURE_INVALID": 401,
    "UNKNOWN_MERCHANT": 401,
    "UNKNOWN_KEY": 401,
    "REPLAYED": 401,
    "TIMESTAMP_OUT_OF_RANGE": 401,
    "CREDIT_DECLINED": 402,
    "NOT_FOUND": 404,
    "UNKNOWN_ORDER": 404,
    "METHOD_NOT_ALLOWED": 405,
    "INVALID_STATE": 409,
    "NOTHING_OWED": 409,
    "DUPLICATE_OUT_TRADE_NO": 409,
    "DUPLICATE_OUT_REFUND_NO": 409,
    "DUPLICATE_PHONE": 409,
    "AMOUNT_EXCEEDS_AVAILABLE": 409,
    "IDEMPOTENCY_IN_PROGRESS": 409,
    "BODY_TOO_LARGE": 413,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "IDEMPOTENCY_KEY_REUSED": 422,
    "RATE_LIMITED": 429,
    "INTERNAL_ERROR": 500,
}

#: The code of an error raised without one, by its class (most specific first).
_CLASS_CODE: tuple[tuple[type[PayLaterError], str], ...] = (
    (CreditDeclinedError, "CREDIT_DECLINED"),
    (AuthenticationError, "SIGNATURE_INVALID"),
    (NotFoundError, "NOT_FOUND"),
    (IdempotencyError, "IDEMPOTENCY_KEY_REUSED"),
    (ConflictError, "INVALID_STATE"),
    (RateLimitError, "RATE_LIMITED"),
    (InvalidRequestError, "INVALID_FIELD"),
    (MoneyError, "INVALID_AMOUNT"),
    (PlanError, "PLAN_NOT_AVAILABLE"),
)


def status_and_body(exc: PayLaterError) -> tuple[int, dict[str, Any]] | None:
    """The HTTP answer for a deliberate error, or None if it is not a client error."""
    for cls, default_code in _CLASS_CODE:
        if isinstance(exc, cls):
            code = exc.code or default_code
            extra: dict[str, Any] = {"field": exc.field}
            if isinstance(exc, CreditDeclinedError):
                extra["reason"] = exc.reason
            status = ERROR_STATUS.get(code) or ERROR_STATUS[default_code]
            return status, error_body(code, exc.message or str(exc), **extra)
    return None


# --- parsing ----------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key[:40]!r}")
        result[key] = value
    return result


def parse_json_body() -> dict[str, Any]:
    """The request body as a JSON object; an empty body counts as ``{}``."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    if request.mimetype != "application/json":
        raise bad(
            "UNSUPPORTED_MEDIA_TYPE",
            "send the body as JSON with Content-Type: application/json",
        )
    try:
        data = json.loads(
            raw.decode("utf-8"),
            parse_float=Decimal,
            parse_constant=_reject_constant,
            object_pairs_hook=_no_duplicates,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise bad("INVALID_JSON", f"the body is not valid UTF-8 JSON: {str(exc)[:120]}") from None
    if not isinstance(data, dict):
        raise bad("INVALID_JSON", "the body must be a JSON object")
    if not _unicode_only(data):
        raise bad(
            "INVALID_JSON",
            "the body holds a string that is not Unicode text (a lone surrogate such as "
            "\\ud800): send UTF-8 text",
        )
    return data


def _unicode_only(value: Any) -> bool:
    """No string in ``value`` holds a lone surrogate (JSON's ``\\ud800`` escapes one in;
    it cannot be stored, logged or sent as UTF-8)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return False
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True
