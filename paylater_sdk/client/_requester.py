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
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import attrs
import requests

from ..errors import (
    APIError,
    InvalidRequestError,
    InvalidSignatureError,
    NetworkError,
    PayLaterError,
    UnknownKeyError,
)
from ..signing import (
    InMemoryNonceStore,
    IssuerProfile,
    KeyRing,
    PrivateKey,
    RequestSigner,
    verify_response,
)
from ._certificates import keyring_from_certificates
from ._errors import error_from_response, is_retryable
from ._retry import RetryPolicy, parse_retry_after

__all__ = ["ApiResponse", "Requester", "mask"]

logger = logging.getLogger("paylater_sdk")


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
            ring = keyring_from_certificates(resp.content, self._api_key)
            self._check_signature(resp, ring)
            built.append(ring)
            return True

        self.request("GET", "/v1/certificates", verifier=verify_with_certificates)
        logger.info("paylater fetched issuer keys: %s", ", ".join(built[-1].serials()))
        return built[-1]

    # --- verification -------------------------------------------------------------------

    def _header(self, resp: requests.Response, suffix: str) -> str | None:
        return resp.headers.get(f"{self.profile.header_prefix}-{suffix}")

    def _check_signature(self, resp: requests.Response, ring: KeyRing) -> None:
        """Verify an answer over its raw bytes, remembering its nonce (replays fail)."""
        verify_response(
            resp.headers,
            resp.content,
            keyring=ring,
            nonce_store=self.response_nonces,
            profile=self.profile,
        )

    def _verify(self, resp: requests.Response, *, refresh: bool = True) -> bool:
        ring = self._keyring if not refresh and self._keyring is not None else self.keyring()
        try:
            self._check_signature(resp, ring)
        except UnknownKeyError as exc:
            if not refresh:
                raise
            logger.info("paylater unknown issuer key serial %s: refreshing keys", exc.serial)
            try:
                ring = self.refresh_keys(exc.serial or self._header(resp, "Serial"))
            except PayLaterError as failed:
                # The answer stays unverified whatever went wrong with the refresh.
                raise UnknownKeyError(
                    f"{exc.message}; refreshing the issuer's keys failed too: {failed.message}",
                    serial=exc.serial,
                ) from failed
            self._check_signature(resp, ring)
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
            except requests.exceptions.SSLError as exc:
                # A certificate problem does not heal by retrying: fail at once.
                raise NetworkError(
                    f"{context}: TLS with {self.base_url} failed ({type(exc).__name__}); "
                    "check the issuer's certificate and your CA bundle"
                ) from exc
            except requests.Timeout as exc:
                failure: PayLaterError = NetworkError(
                    f"{context} timed out (timeout={self.timeout}); the issuer may still have "
                    "acted: retry with the same idempotency key or look the object up"
                )
                cause: BaseException = exc
                retry_after = None
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
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
                if not is_retryable(outcome):
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
