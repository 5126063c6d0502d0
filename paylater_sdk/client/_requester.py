"""The one transport every service shares: sign, send, verify, retry, map errors, log.

Order of operations for one logical call:

1. Serialize the body once (the exact bytes that are signed are the bytes sent).
2. Per attempt: sign anew (fresh timestamp and nonce; the issuer refuses replays), keep the
   call's one ``Idempotency-Key``, send with a timeout (always), never follow redirects.
3. Verify the response signature over the raw body bytes *before* parsing it. A 2xx without
   a signature is treated as forged. A signature by an unknown serial triggers one refresh
   of ``/v1/certificates`` (key rotation), then :class:`UnknownKeyError`.
4. Map an error answer to its exception class; retry connection errors, timeouts, 429,
   5xx and ``409 IDEMPOTENCY_IN_PROGRESS`` with capped, jittered exponential backoff.

Transport exceptions are translated here and nowhere else, chained with ``from``.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import attrs
import requests

from ..algorithms import PrivateKey
from ..errors import (
    APIError,
    AuthenticationError,
    ConflictError,
    CreditDeclinedError,
    IdempotencyError,
    InvalidRequestError,
    InvalidSignatureError,
    IssuerUnavailableError,
    NetworkError,
    NotFoundError,
    PayLaterError,
    RateLimitError,
    UnknownKeyError,
)
from ..notifications import decrypt_resource
from ..replay import InMemoryNonceStore
from ..signing import (
    IssuerProfile,
    KeyRing,
    RequestSigner,
    load_public_key,
    serial_for,
    verify_response,
)
from ._retry import RETRYABLE_STATUSES, RetryPolicy, parse_retry_after

__all__ = ["ApiResponse", "Requester", "error_from_response", "mask"]

logger = logging.getLogger("paylater_sdk")

_STATUS_ERRORS: Mapping[int, type[APIError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    402: CreditDeclinedError,
    403: AuthenticationError,
    404: NotFoundError,
    409: ConflictError,
    413: InvalidRequestError,
    415: InvalidRequestError,
    422: InvalidRequestError,
    429: RateLimitError,
}

_IDEMPOTENCY_IN_PROGRESS = "IDEMPOTENCY_IN_PROGRESS"


def mask(secret: str) -> str:
    """First 4 characters and an ellipsis: enough to correlate logs, useless to an attacker."""
    return secret[:4] + "…" if len(secret) > 4 else "…"


def _user_agent() -> str:
    try:
        from importlib.metadata import version

        return f"paylater-sdk-python/{version('paylater-sdk')}"
    except Exception:  # pragma: no cover - not installed as a distribution
        return "paylater-sdk-python"


_USER_AGENT = _user_agent()


@attrs.frozen
class ApiResponse:
    """A verified, parsed answer."""

    status: int
    data: Mapping[str, Any]
    request_id: str | None


def error_from_response(
    status: int, body: Mapping[str, Any] | None, request_id: str | None, *, context: str
) -> APIError:
    """Build the exception for an error answer (docs/api.md, "Errors").

    ``body`` is None when the answer could not be authenticated: then nothing in it is
    trusted and only the status decides the class.
    """
    code = message = reason = None
    if body is not None:
        code = body.get("code") if isinstance(body.get("code"), str) else None
        message = body.get("message") if isinstance(body.get("message"), str) else None
        reason = body.get("reason") if isinstance(body.get("reason"), str) else None
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
            message, reason=reason, http_status=status, code=code, request_id=request_id
        )
    return cls(message, http_status=status, code=code, request_id=request_id)


def _is_retryable(error: APIError) -> bool:
    if error.http_status == 409:
        return error.code == _IDEMPOTENCY_IN_PROGRESS
    return error.http_status in RETRYABLE_STATUSES or (error.http_status or 0) >= 500


class Requester:
    """Shared by every service of one client; thread-safe (keys refresh under a lock)."""

    def __init__(
        self,
        *,
        base_url: str,
        merchant_id: str,
        private_key: PrivateKey,
        key_serial: str,
        api_key: bytes,
        issuer_keys: KeyRing | None,
        profile: IssuerProfile,
        timeout: tuple[float, float],
        retry: RetryPolicy,
        session: requests.Session | None,
    ) -> None:
        self.base_url = base_url
        self._base_path = urlsplit(base_url).path.rstrip("/")
        self.profile = profile
        self.timeout = timeout
        self.retry = retry
        self._signer = RequestSigner(merchant_id, private_key, key_serial, profile=profile)
        self._api_key = api_key
        self._keyring = issuer_keys
        self._keys_lock = threading.Lock()
        # Responses carry nonces too; remembering them refuses a replayed answer. Per client:
        # the issuer signs each answer (idempotent replays included) with a fresh nonce.
        self.response_nonces = InMemoryNonceStore()
        self._owns_session = session is None
        self.session = session if session is not None else requests.Session()

    # --- keys ---------------------------------------------------------------------------

    def keyring(self) -> KeyRing:
        """The issuer's keys: as configured, or fetched from ``/v1/certificates`` once."""
        ring = self._keyring
        if ring is not None:
            return ring
        with self._keys_lock:
            if self._keyring is None:
                self._keyring = self._fetch_keyring()
            return self._keyring

    def refresh_keys(self, unknown_serial: str | None) -> KeyRing:
        """Fetch the certificates again (rotation) and merge them into the ring."""
        with self._keys_lock:
            ring = self._keyring
            if ring is not None and unknown_serial is not None and unknown_serial in ring:
                return ring  # another thread refreshed meanwhile
            fresh = self._fetch_keyring()
            if ring is None:
                self._keyring = fresh
            else:
                for serial, key, not_before, not_after in fresh.entries():
                    if serial not in ring:
                        ring.add(key, serial=serial, not_before=not_before, not_after=not_after)
            assert self._keyring is not None
            return self._keyring

    def _fetch_keyring(self) -> KeyRing:
        built: list[KeyRing] = []

        def verify_with_certificates(resp: requests.Response) -> bool:
            if resp.status_code >= 300:
                # An error answer has no certificates to verify it with: trust it only if
                # keys are already known (a refresh), else only its status is used.
                if self._keyring is None:
                    return False
                self._verify(resp, refresh=False)
                return True
            ring = _keyring_from_certificates(resp.content, self._api_key)
            verify_response(
                resp.headers,
                resp.content,
                keyring=ring,
                nonce_store=self.response_nonces,
                profile=self.profile,
            )
            built.append(ring)
            return True

        self.request("GET", "/v1/certificates", verifier=verify_with_certificates)
        logger.info("paylater fetched issuer keys: %s", ", ".join(built[-1].serials()))
        return built[-1]

    # --- verification -------------------------------------------------------------------

    def _header(self, resp: requests.Response, suffix: str) -> str | None:
        return resp.headers.get(f"{self.profile.header_prefix}-{suffix}")

    def _verify(self, resp: requests.Response, *, refresh: bool = True) -> bool:
        ring = self._keyring if not refresh and self._keyring is not None else self.keyring()
        try:
            verify_response(
                resp.headers,
                resp.content,
                keyring=ring,
                nonce_store=self.response_nonces,
                profile=self.profile,
            )
        except UnknownKeyError as exc:
            if not refresh:
                raise
            logger.info("paylater unknown issuer key serial %s: refreshing keys", exc.serial)
            ring = self.refresh_keys(exc.serial or self._header(resp, "Serial"))
            verify_response(
                resp.headers,
                resp.content,
                keyring=ring,
                nonce_store=self.response_nonces,
                profile=self.profile,
            )
        return True

    # --- the call -----------------------------------------------------------------------

    def path(self, template: str, *ids: str) -> str:
        """Fill ``{}`` placeholders with path-quoted ids (what is signed is what is sent)."""
        quoted = []
        for value in ids:
            if not isinstance(value, str) or not value or len(value) > 255:
                raise InvalidRequestError(
                    f"an id must be a non-empty string of at most 255 characters, got {value!r}"
                )
            quoted.append(quote(value, safe=""))
        return template.format(*quoted)

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        verifier: Callable[[requests.Response], bool] | None = None,
    ) -> ApiResponse:
        """Perform one logical call (with retries) and return the verified answer."""
        path_and_query = self._base_path + path
        if query:
            path_and_query += "?" + urlencode(query, quote_via=quote)
        url = self.base_url[: len(self.base_url) - len(self._base_path)] + path_and_query
        payload = b""
        headers = {"Accept": "application/json", "User-Agent": _USER_AGENT}
        if method != "GET":
            payload = json.dumps(
                body or {}, ensure_ascii=False, separators=(",", ":"), sort_keys=True
            ).encode("utf-8")
            headers["Content-Type"] = "application/json"
            headers["Idempotency-Key"] = idempotency_key or f"idem_{uuid.uuid4().hex}"
        context = f"{method} {path}"
        if verifier is None:
            # Know the issuer's keys before acting: an answer that cannot be verified after
            # the issuer created a checkout would leave the caller guessing.
            self.keyring()
        for attempt in itertools.count(1):
            headers["Authorization"] = self._signer.authorization(method, path_and_query, payload)
            started = time.monotonic()
            try:
                resp = self.session.request(
                    method,
                    url,
                    data=payload or None,
                    headers=headers,
                    timeout=self.timeout,
                    allow_redirects=False,
                )
            except requests.Timeout as exc:
                failure: PayLaterError = NetworkError(
                    f"{context} timed out (timeout={self.timeout}); the issuer may still have "
                    "acted: retry with the same idempotency key or look the object up"
                )
                cause: BaseException = exc
                retry_after = None
            except requests.ConnectionError as exc:
                failure = NetworkError(
                    f"{context} could not reach the issuer at {self.base_url} "
                    f"({type(exc).__name__})"
                )
                cause = exc
                retry_after = None
            except requests.RequestException as exc:
                raise NetworkError(f"{context} failed: {type(exc).__name__}") from exc
            else:
                elapsed_ms = (time.monotonic() - started) * 1000
                request_id = resp.headers.get("Request-Id")
                logger.info(
                    "paylater %s %s -> %s request_id=%s elapsed_ms=%.1f attempt=%d",
                    method,
                    path,
                    resp.status_code,
                    request_id,
                    elapsed_ms,
                    attempt,
                )
                outcome = self._interpret(resp, context, verifier)
                if isinstance(outcome, ApiResponse):
                    return outcome
                if not _is_retryable(outcome):
                    raise outcome
                failure, cause = outcome, outcome
                retry_after = parse_retry_after(resp.headers)
            delay = self.retry.delay(attempt, retry_after)
            if delay is None:
                if failure is cause:
                    raise failure
                raise failure from cause
            logger.warning(
                "paylater retrying %s in %.2fs (retry %d of %d): %s",
                context,
                delay,
                attempt,
                self.retry.max_retries,
                failure.message,
            )
            self.retry.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _interpret(
        self,
        resp: requests.Response,
        context: str,
        verifier: Callable[[requests.Response], bool] | None,
    ) -> ApiResponse | APIError:
        status = resp.status_code
        request_id = resp.headers.get("Request-Id")
        signed = self._header(resp, "Signature") is not None
        # Fail closed: nothing in the body is looked at before the signature verifies.
        if signed and not (verifier or self._verify)(resp):
            signed = False
        if not signed:
            if 200 <= status < 300:
                raise InvalidSignatureError(
                    f"the issuer's answer to {context} is not signed; an unsigned success "
                    "is treated as forged (check base_url and any proxy in between)"
                )
            return error_from_response(status, None, request_id, context=context)
        try:
            data = json.loads(resp.content) if resp.content else {}
        except ValueError:
            data = None
        if not isinstance(data, dict):
            if 200 <= status < 300:
                raise APIError(
                    f"the issuer's answer to {context} is not a JSON object",
                    http_status=status,
                    request_id=request_id,
                )
            data = {}
        if 200 <= status < 300:
            return ApiResponse(status=status, data=data, request_id=request_id)
        return error_from_response(status, data, request_id, context=context)

    def close(self) -> None:
        if self._owns_session:
            self.session.close()


def _keyring_from_certificates(body: bytes, api_key: bytes) -> KeyRing:
    """Decrypt the issuer's published keys with our API key: only the issuer could make them."""
    try:
        data = json.loads(body)
    except ValueError:
        raise InvalidSignatureError("the /v1/certificates answer is not JSON") from None
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise InvalidSignatureError("the /v1/certificates answer lists no certificates")
    ring = KeyRing()
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("serial_no"), str):
            raise InvalidSignatureError("a certificate in /v1/certificates has no serial_no")
        serial = item["serial_no"]
        encrypted = item.get("encrypt_certificate")
        if not isinstance(encrypted, Mapping):
            raise InvalidSignatureError(f"certificate {serial} has no encrypt_certificate")
        pem = decrypt_resource(encrypted, api_key)
        try:
            key = load_public_key(pem)
        except (PayLaterError, ValueError, TypeError):
            raise InvalidSignatureError(f"certificate {serial} is not a public key") from None
        if serial_for(key) != serial:
            raise InvalidSignatureError(
                f"certificate {serial} holds a key whose serial is {serial_for(key)}"
            )
        ring.add(
            key,
            serial=serial,
            not_before=_cert_time(item.get("effective_time"), -300),
            not_after=_cert_time(item.get("expire_time"), 0),
        )
    return ring


def _cert_time(value: object, slack_seconds: int) -> datetime | None:
    # effective_time is moved back by the allowed clock skew so that a client whose clock
    # runs a little behind the issuer's still accepts a freshly rotated key.
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidSignatureError(f"certificate time {value!r} is not RFC 3339") from None
    if when.tzinfo is None:
        raise InvalidSignatureError(f"certificate time {value!r} has no UTC offset")
    return when + timedelta(seconds=slack_seconds)
