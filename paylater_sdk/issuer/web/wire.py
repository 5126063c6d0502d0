"""JSON in and out for the issuer's HTTP endpoints: strict parsing, validation, errors.

Everything a client can get wrong is answered here with a 4xx JSON error carrying a
specific code (docs/api.md, "Errors"), before any state changes: so a malformed request
never writes anything and never reaches code that could fail with a 5xx.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
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
from ...money import Money

__all__ = [
    "ERROR_STATUS",
    "MAX_MINOR",
    "Validator",
    "bad",
    "error_body",
    "error_response",
    "fields",
    "json_response",
    "money",
    "opt_int",
    "opt_text",
    "parse_json_body",
    "retry_after",
    "status_and_body",
    "text",
    "url",
]

#: Largest accepted amount in minor units (10^13 fen = 100 billion yuan); keeps every
#: value far inside a BigInteger and any arithmetic on it exact.
MAX_MINOR = 10**13
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

Validator = Callable[[str, Any], Any]


def bad(code: str, message: str, *, field: str | None = None) -> InvalidRequestError:
    """A refusal with ``code`` (its status comes from :data:`ERROR_STATUS`)."""
    exc = InvalidRequestError(message, code=code)
    setattr(exc, "field", field)  # noqa: B010 - the error view reads it back
    return exc


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
    "CURRENCY_MISMATCH": 400,
    "PLAN_NOT_AVAILABLE": 400,
    "URL_NOT_ALLOWED": 400,
    "SIGNATURE_MISSING": 401,
    "SIGNATURE_INVALID": 401,
    "UNKNOWN_MERCHANT": 401,
    "UNKNOWN_KEY": 401,
    "REPLAYED": 401,
    "TIMESTAMP_OUT_OF_RANGE": 401,
    "CREDIT_DECLINED": 402,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "INVALID_STATE": 409,
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
            extra: dict[str, Any] = {"field": getattr(exc, "field", None)}
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
    return data


def fields(
    data: Mapping[str, Any],
    required: Mapping[str, Validator],
    optional: Mapping[str, Validator] | None = None,
) -> dict[str, Any]:
    """Validate an object's fields: unknown, missing and ill-typed fields are refused."""
    optional = optional or {}
    for name in data:
        if name not in required and name not in optional:
            raise bad("UNKNOWN_FIELD", f"unknown field {name[:40]!r}", field=name[:40])
    result: dict[str, Any] = {}
    for name, check in required.items():
        if name not in data:
            raise bad("MISSING_FIELD", f"the field {name!r} is required", field=name)
        result[name] = check(name, data[name])
    for name, check in optional.items():
        result[name] = check(name, data[name]) if name in data else None
    return result


def money(name: str, value: Any) -> Money:
    """A positive Money in wire form; floats, negatives and huge values are refused."""
    try:
        amount = Money.from_json(value)
    except (MoneyError, TypeError, ValueError) as exc:
        raise bad("INVALID_AMOUNT", f"{name}: {exc}", field=name) from None
    if not 0 < amount.minor <= MAX_MINOR:
        raise bad(
            "INVALID_AMOUNT",
            f"{name} must be a positive integer number of minor units up to {MAX_MINOR}",
            field=name,
        )
    return amount


def text(max_len: int, pattern: str | None = None) -> Validator:
    compiled = re.compile(pattern) if pattern else None

    def check(name: str, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise bad("INVALID_FIELD", f"{name} must be a non-empty string", field=name)
        if len(value) > max_len:
            raise bad("INVALID_FIELD", f"{name} is longer than {max_len} characters", field=name)
        if _CONTROL.search(value):
            raise bad("INVALID_FIELD", f"{name} contains control characters", field=name)
        if compiled and not compiled.fullmatch(value):
            raise bad("INVALID_FIELD", f"{name} must match {pattern}", field=name)
        return value

    return check


def opt_text(max_len: int) -> Validator:
    inner = text(max_len)

    def check(name: str, value: Any) -> str | None:
        return None if value is None else inner(name, value)

    return check


def url(name: str, value: Any) -> str:
    checked: str = text(512)(name, value)
    if not checked.startswith(("http://", "https://")):
        raise bad("INVALID_FIELD", f"{name} must be an http(s) URL", field=name)
    return checked


def opt_int(low: int, high: int) -> Validator:
    def check(name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise bad(
                "INVALID_FIELD", f"{name} must be an integer from {low} to {high}", field=name
            )
        return value

    return check
