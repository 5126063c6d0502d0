"""Error answers to exceptions: one class per kind of failure (docs/api.md, "Errors")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import (
    APIError,
    AuthenticationError,
    ConflictError,
    CreditDeclinedError,
    IdempotencyError,
    InvalidRequestError,
    IssuerUnavailableError,
    NotFoundError,
    RateLimitError,
)
from ._retry import RETRYABLE_STATUSES

_STATUS_ERRORS: Mapping[int, type[APIError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    402: CreditDeclinedError,
    403: AuthenticationError,
    404: NotFoundError,
    405: InvalidRequestError,
    409: ConflictError,
    413: InvalidRequestError,
    415: InvalidRequestError,
    422: InvalidRequestError,
    429: RateLimitError,
}

_IDEMPOTENCY_IN_PROGRESS = "IDEMPOTENCY_IN_PROGRESS"


def error_from_response(
    status: int, body: Mapping[str, Any] | None, request_id: str | None, *, context: str
) -> APIError:
    """Build the exception for an error answer (docs/api.md, "Errors").

    ``body`` is None when the answer could not be authenticated: then nothing in it is
    trusted and only the status decides the class.
    """
    code = message = reason = field = None
    if body is not None:
        code, message = _text(body, "code"), _text(body, "message")
        reason, field = _text(body, "reason"), _text(body, "field")
        body_rid = body.get("request_id")
        if request_id is None and isinstance(body_rid, str):
            request_id = body_rid
    if message is None:
        message = f"issuer answered HTTP {status} to {context}"
        if body is None:
            message += " (unsigned answer from a proxy or gateway? its body is not trusted)"
    if status >= 500:
        cls: type[APIError] = IssuerUnavailableError
    elif status == 422 and code == "IDEMPOTENCY_KEY_REUSED":
        cls = IdempotencyError
    else:
        cls = _STATUS_ERRORS.get(status, APIError)
    if cls is CreditDeclinedError:
        return CreditDeclinedError(
            message,
            reason=reason,
            http_status=status,
            code=code,
            request_id=request_id,
            field=field,
        )
    return cls(message, http_status=status, code=code, request_id=request_id, field=field)


def _text(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    return value if isinstance(value, str) else None


def is_retryable(error: APIError) -> bool:
    if error.http_status == 409:
        return error.code == _IDEMPOTENCY_IN_PROGRESS
    return error.http_status in RETRYABLE_STATUSES or (error.http_status or 0) >= 500
