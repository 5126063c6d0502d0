"""The one table from our error codes to WeChat Pay v3's: ``(status, code)``.

v3 answers every error as ``{"code", "message"}`` (plus ``detail.field`` for a bad field)
with its own small set of codes. The shared domain raises its own codes (``INVALID_STATE``,
``AMOUNT_EXCEEDS_AVAILABLE``, ...), and the v3 domain raises v3 codes directly; this table
maps both, so each mapping is written down exactly once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ....errors import (
    AuthenticationError,
    ConflictError,
    CreditDeclinedError,
    InvalidRequestError,
    NotFoundError,
    PayLaterError,
    RateLimitError,
)

__all__ = ["V3_CODES", "V3_ERRORS", "v3_answer"]

#: Every code the v3 face answers with.
V3_CODES: Final = (
    "PARAM_ERROR",
    "INVALID_REQUEST",
    "SIGN_ERROR",
    "ORDER_NOT_EXIST",
    "ORDER_CLOSED",
    "NOT_ENOUGH",
    "FREQUENCY_LIMITED",
    "SYSTEM_ERROR",
    "RESOURCE_NOT_EXISTS",
)

V3_ERRORS: Mapping[str, tuple[int, str]] = {
    # v3's own codes, raised by the v3 domain
    "PARAM_ERROR": (400, "PARAM_ERROR"),
    "INVALID_REQUEST": (400, "INVALID_REQUEST"),
    "ORDER_CLOSED": (400, "ORDER_CLOSED"),
    "SIGN_ERROR": (401, "SIGN_ERROR"),
    "NOT_ENOUGH": (403, "NOT_ENOUGH"),
    "ORDER_NOT_EXIST": (404, "ORDER_NOT_EXIST"),
    "RESOURCE_NOT_EXISTS": (404, "RESOURCE_NOT_EXISTS"),
    "FREQUENCY_LIMITED": (429, "FREQUENCY_LIMITED"),
    "SYSTEM_ERROR": (500, "SYSTEM_ERROR"),
    # the shared domain's codes (issuer/web/wire.py ERROR_STATUS has their /v1 statuses)
    "INVALID_FIELD": (400, "PARAM_ERROR"),
    "MISSING_FIELD": (400, "PARAM_ERROR"),
    "UNKNOWN_FIELD": (400, "PARAM_ERROR"),
    "INVALID_AMOUNT": (400, "PARAM_ERROR"),
    "INVALID_JSON": (400, "PARAM_ERROR"),
    "INVALID_QUERY": (400, "PARAM_ERROR"),
    "UNSUPPORTED_VERSION": (400, "PARAM_ERROR"),
    "CURRENCY_MISMATCH": (400, "PARAM_ERROR"),
    "PLAN_NOT_AVAILABLE": (400, "PARAM_ERROR"),
    "URL_NOT_ALLOWED": (400, "PARAM_ERROR"),
    "BODY_TOO_LARGE": (400, "PARAM_ERROR"),
    "UNSUPPORTED_MEDIA_TYPE": (400, "PARAM_ERROR"),
    "SIGNATURE_MISSING": (401, "SIGN_ERROR"),
    "SIGNATURE_INVALID": (401, "SIGN_ERROR"),
    "UNKNOWN_MERCHANT": (401, "SIGN_ERROR"),
    "UNKNOWN_KEY": (401, "SIGN_ERROR"),
    "REPLAYED": (401, "SIGN_ERROR"),
    "TIMESTAMP_OUT_OF_RANGE": (401, "SIGN_ERROR"),
    "CREDIT_DECLINED": (403, "NOT_ENOUGH"),
    "NOT_FOUND": (404, "RESOURCE_NOT_EXISTS"),
    "METHOD_NOT_ALLOWED": (405, "INVALID_REQUEST"),
    "INVALID_STATE": (400, "INVALID_REQUEST"),
    "DUPLICATE_OUT_TRADE_NO": (400, "INVALID_REQUEST"),
    "DUPLICATE_OUT_REFUND_NO": (400, "INVALID_REQUEST"),
    "DUPLICATE_PHONE": (400, "INVALID_REQUEST"),
    "IDEMPOTENCY_KEY_REUSED": (400, "INVALID_REQUEST"),
    "AMOUNT_EXCEEDS_AVAILABLE": (400, "INVALID_REQUEST"),
    # Servicing (buyer repayments: never reached through /v3, mapped so none is a 500).
    "INVALID_DATE": (400, "PARAM_ERROR"),
    "AMOUNT_EXCEEDS_OWED": (400, "PARAM_ERROR"),
    "PAYOFF_AMOUNT_MISMATCH": (400, "PARAM_ERROR"),
    "UNKNOWN_ORDER": (404, "ORDER_NOT_EXIST"),
    "NOTHING_OWED": (400, "INVALID_REQUEST"),
    "IDEMPOTENCY_IN_PROGRESS": (429, "FREQUENCY_LIMITED"),
    "RATE_LIMITED": (429, "FREQUENCY_LIMITED"),
    "INTERNAL_ERROR": (500, "SYSTEM_ERROR"),
}

_BY_CLASS: tuple[tuple[type[PayLaterError], str], ...] = (
    (CreditDeclinedError, "NOT_ENOUGH"),
    (AuthenticationError, "SIGN_ERROR"),
    (NotFoundError, "RESOURCE_NOT_EXISTS"),
    (ConflictError, "INVALID_REQUEST"),
    (RateLimitError, "FREQUENCY_LIMITED"),
    (InvalidRequestError, "PARAM_ERROR"),
)


def v3_answer(exc: PayLaterError) -> tuple[int, dict[str, Any]] | None:
    """``(status, {"code", "message"[, "detail"]})`` for a deliberate error, else None."""
    mapped = V3_ERRORS.get(exc.code or "")
    if mapped is None:
        for cls, code in _BY_CLASS:
            if isinstance(exc, cls):
                mapped = V3_ERRORS[code]
                break
    if mapped is None:
        return None
    status, code = mapped
    body: dict[str, Any] = {"code": code, "message": str(exc.message)[:500]}
    if exc.field:
        body["detail"] = {"field": exc.field, "location": "body"}
    return status, body
