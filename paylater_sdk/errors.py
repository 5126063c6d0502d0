"""One exception hierarchy for the whole SDK, rooted in :class:`PayLaterError`.

Callers catch ``PayLaterError`` to handle anything this library raises on purpose.
Value-shaped mistakes (bad amounts, bad plan terms) also subclass :class:`ValueError`
so that code written against the standard library's conventions keeps working.

Messages never contain secrets: keys, API keys, full signatures or full buyer tokens.
"""

from __future__ import annotations

__all__ = [
    "APIError",
    "AuthenticationError",
    "ConfigurationError",
    "ConflictError",
    "CreditDeclinedError",
    "CurrencyMismatchError",
    "DecryptionError",
    "IdempotencyError",
    "InvalidRequestError",
    "InvalidSignatureError",
    "IssuerUnavailableError",
    "MalformedNotificationError",
    "MoneyError",
    "NetworkError",
    "NoAPRError",
    "NotFoundError",
    "PayLaterError",
    "PlanError",
    "RateLimitError",
    "ReplayError",
    "SignatureError",
    "TimestampError",
    "UnknownKeyError",
]


class PayLaterError(Exception):
    """Root of every error this SDK raises on purpose.

    The HTTP-facing attributes are ``None`` for errors raised locally (bad input,
    a signature that does not verify) and filled for errors the issuer reported.
    ``field`` names the one input at fault when there is one (``"amount"``,
    ``"metadata.color"``), whether the issuer reported it or a local check found it.
    """

    def __init__(
        self,
        message: str = "",
        *,
        http_status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.code = code
        self.request_id = request_id
        self.field = field

    def __str__(self) -> str:
        parts = [self.message]
        if self.code:
            parts.append(f"(code={self.code})")
        if self.field:
            parts.append(f"(field={self.field})")
        if self.http_status is not None:
            parts.append(f"(http_status={self.http_status})")
        if self.request_id:
            parts.append(f"(request_id={self.request_id})")
        return " ".join(p for p in parts if p)


class ConfigurationError(PayLaterError, ValueError):
    """The SDK was configured in a way that cannot work (bad URL, short key, ...)."""


# --- money and plans -------------------------------------------------------------------


class MoneyError(PayLaterError, ValueError):
    """An amount or currency is not acceptable."""


class CurrencyMismatchError(MoneyError, TypeError):
    """Two amounts in different currencies were combined or compared."""


class PlanError(PayLaterError, ValueError):
    """Installment-plan terms or inputs that cannot produce a schedule."""


class NoAPRError(PlanError):
    """The cash flows have no annual rate (for example payments never repay the advance)."""


# --- protocol ---------------------------------------------------------------------------


class SignatureError(PayLaterError):
    """A message could not be authenticated. Fail closed: never use its contents."""


class InvalidSignatureError(SignatureError):
    """The signature is malformed or does not match the signed content."""


class TimestampError(SignatureError):
    """The message timestamp is missing, malformed or outside the allowed clock skew."""


class ReplayError(SignatureError):
    """The nonce was already seen within the replay window."""


class UnknownKeyError(SignatureError):
    """No trusted key has the given serial (or it is outside its validity window)."""

    def __init__(self, message: str = "", *, serial: str | None = None) -> None:
        super().__init__(message)
        self.serial = serial


class DecryptionError(SignatureError):
    """An encrypted notification resource failed authentication or could not be decoded."""


# --- API errors (raised by the client from issuer responses) ----------------------------


class APIError(PayLaterError):
    """The issuer answered with an error."""


class InvalidRequestError(APIError):
    """The request was malformed or had invalid parameters (HTTP 400/413/415/422)."""


class AuthenticationError(APIError):
    """The issuer rejected the request's signature or merchant (HTTP 401/403)."""


class NotFoundError(APIError):
    """The resource does not exist or belongs to another merchant (HTTP 404)."""


class ConflictError(APIError):
    """The resource is in a state that does not allow the operation (HTTP 409)."""


class IdempotencyError(APIError):
    """An idempotency key was reused with a different request body."""


class CreditDeclinedError(APIError):
    """The buyer's credit check failed; ``reason`` is the issuer's reason code."""

    def __init__(
        self,
        message: str = "",
        *,
        reason: str | None = None,
        http_status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(
            message, http_status=http_status, code=code, request_id=request_id, field=field
        )
        self.reason = reason


class RateLimitError(APIError):
    """Too many requests (HTTP 429)."""


class IssuerUnavailableError(APIError):
    """The issuer failed (HTTP 5xx) and retries were exhausted."""


class NetworkError(PayLaterError):
    """The issuer could not be reached (connection error, timeout)."""


class MalformedNotificationError(InvalidSignatureError, InvalidRequestError):
    """What was handed to ``notifications.parse`` is not a notification at all (headers
    that are not a mapping or pairs, a body that is not bytes or text, ``None``).

    A :class:`SignatureError` (answer 4xx, never use it) and, since it is the caller's
    mistake as much as the sender's, an :class:`InvalidRequestError` too.
    """
