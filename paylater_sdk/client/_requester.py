"""The sans-I/O core every service shares: sign, decide retries, verify, map errors, log.

Nothing here touches the network or sleeps. A call is a generator (an :data:`Op`) that
*yields* what it needs done (:class:`HttpRequest`, :class:`Sleep`, :class:`NeedKeys`) and is
sent back the result; a thin runner performs the effects with ``requests``
(:mod:`._sync`) or with ``httpx`` on an event loop (:mod:`._async`). So the signing, the
retry loop, key rotation and the verification exist once, whichever transport runs them
(the sans-I/O style of h11 and of stripe-python's split requester).

Order of operations for one logical call:

1. Serialize the body once (the exact bytes that are signed are the bytes sent).
2. Per attempt: sign anew (fresh timestamp and nonce; the issuer refuses replays), keep the
   call's one ``Idempotency-Key``, send with a timeout (always), never follow redirects.
3. Verify the response signature over the raw body bytes *before* parsing it. A 2xx without
   a signature is treated as forged. A signature by an unknown serial triggers a refresh of
   ``/v1/certificates`` (key rotation; at most one per ``key_refresh_interval``), then
   :class:`UnknownKeyError`.
4. Map an error answer to its exception class; retry connection errors, timeouts, 429,
   5xx and ``409 IDEMPOTENCY_IN_PROGRESS`` with capped, jittered exponential backoff.

Transport exceptions are classified by the runners (:class:`TransportFailure`) and turned
into :class:`NetworkError` here, chained with ``from``.
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

from ..errors import (
    APIError,
    InvalidRequestError,
    InvalidSignatureError,
    NetworkError,
    PayLaterError,
    UnknownKeyError,
)
from ..lifecycle import API_VERSION, VERSION_HEADER
from ..signing import (
    InMemoryNonceStore,
    IssuerProfile,
    KeyRing,
    PrivateKey,
    RequestSigner,
    verify_response,
)
from ._certificates import keyring_from_certificates
from ._effects import (
    HttpRequest,
    HttpResponse,
    NeedKeys,
    Op,
    Sleep,
    TransportFailure,
)
from ._errors import error_from_response, is_retryable
from ._identity import USER_AGENT
from ._retry import RetryPolicy, parse_retry_after

logger = logging.getLogger("paylater_sdk")


def _monotonic() -> float:
    """The clock of the key-refresh rate limit (a module function so tests can move it)."""
    return time.monotonic()


@attrs.frozen
class ApiResponse:
    """A verified, parsed answer."""

    status: int
    data: Mapping[str, Any]
    request_id: str | None


class Requester:
    """The state one client's services share: signer, keys, response nonces, settings.

    Thread- and task-safe as far as it is concerned: the key ring is only replaced by a
    runner holding its keys lock, and the ring itself publishes entries atomically.
    """

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
        key_refresh_interval: float = 60.0,
    ) -> None:
        self.base_url = base_url
        self.base_path = urlsplit(base_url).path.rstrip("/")
        self.profile = profile
        self.timeout = timeout
        self.retry = retry
        self.api_key = api_key
        self._signer = RequestSigner(merchant_id, private_key, key_serial, profile=profile)
        self._keyring = issuer_keys
        self.key_refresh_interval = key_refresh_interval
        self._last_refresh: float | None = None
        #: How many times keys were fetched (a parse tells a fresh load from a stale ring).
        self.fetches = 0
        self._limit_lock = threading.Lock()
        # Responses carry nonces too; remembering them refuses a replayed answer. Per client:
        # the issuer signs each answer (idempotent replays included) with a fresh nonce.
        self.response_nonces = InMemoryNonceStore()

    # --- keys ---------------------------------------------------------------------------

    @property
    def known_keys(self) -> KeyRing | None:
        """The ring as it is now, without loading it (None before the first fetch)."""
        return self._keyring

    def keys(self, unknown_serial: str | None = None) -> Op[KeyRing]:
        """The issuer's keys; with ``unknown_serial``, refreshed for a rotation if allowed."""
        ring = self._keyring
        if ring is not None and unknown_serial is None:
            return ring
        fresh: KeyRing = yield NeedKeys(unknown_serial)
        return fresh

    def plan_keys(self, need: NeedKeys) -> KeyRing | None:
        """Decide under the runner's keys lock: the ring to use, or None to fetch now.

        Raises :class:`UnknownKeyError` when a refresh is due but the last one was less than
        ``key_refresh_interval`` ago: a flood of notifications with made-up serials costs
        at most one fetch per interval, never one per notification.
        """
        ring = self._keyring
        if need.force:
            return None
        if ring is None:
            return None  # the first load is not a refresh and is not rate-limited
        if need.serial is None or need.serial in ring:
            return ring  # loaded, or another thread or task refreshed meanwhile
        with self._limit_lock:
            now = _monotonic()
            last = self._last_refresh
            if last is not None and now - last < self.key_refresh_interval:
                raise UnknownKeyError(
                    f"no issuer key has serial {need.serial[:64]!r}; the keys were refreshed "
                    f"{now - last:.0f}s ago (at most one refresh per "
                    f"{self.key_refresh_interval:g}s)",
                    serial=need.serial,
                )
            self._last_refresh = now
        return None

    def fetch_keyring(self) -> Op[KeyRing]:
        """``GET /v1/certificates``, each key decrypted with the API key and verified."""
        built: list[KeyRing] = []

        def verify_with_certificates(resp: HttpResponse) -> bool:
            if resp.status >= 300:
                # An error answer has no certificates to verify it with: trust it only if
                # keys are already known (a refresh), else only its status is used.
                if self._keyring is None:
                    return False
                self._check_signature(resp, self._keyring)
                return True
            ring = keyring_from_certificates(resp.body, self.api_key)
            self._check_signature(resp, ring)
            built.append(ring)
            return True

        yield from self.call("GET", "/v1/certificates", verifier=verify_with_certificates)
        logger.info("paylater fetched issuer keys: %s", ", ".join(built[-1].serials()))
        self.fetches += 1
        return built[-1]

    def install_keys(self, fresh: KeyRing) -> KeyRing:
        """Merge fetched keys into the ring (a pinned ring keeps its own keys)."""
        ring = self._keyring
        if ring is None:
            self._keyring = ring = fresh
        else:
            for serial, key, not_before, not_after in fresh.entries():
                if serial not in ring:
                    ring.add(key, serial=serial, not_before=not_before, not_after=not_after)
        return ring

    # --- verification -------------------------------------------------------------------

    def _check_signature(self, resp: HttpResponse, ring: KeyRing) -> None:
        """Verify an answer over its raw bytes, remembering its nonce (replays fail)."""
        verify_response(
            resp.headers,
            resp.body,
            keyring=ring,
            nonce_store=self.response_nonces,
            profile=self.profile,
        )

    def _verify(self, resp: HttpResponse) -> Op[bool]:
        ring = yield from self.keys()
        try:
            self._check_signature(resp, ring)
        except UnknownKeyError as exc:
            serial = exc.serial or resp.headers.get(self.profile.header("Serial")) or ""
            logger.info("paylater unknown issuer key serial %s: refreshing keys", serial[:64])
            try:
                ring = yield from self.keys(serial)
            except PayLaterError as failed:
                # The answer stays unverified whatever went wrong with the refresh.
                raise UnknownKeyError(
                    f"{exc.message}; refreshing the issuer's keys failed too: {failed.message}",
                    serial=exc.serial,
                ) from failed
            self._check_signature(resp, ring)
        return True

    # --- the call -----------------------------------------------------------------------

    def authorization(self, method: str, target: str, payload: bytes) -> str:
        """A fresh ``Authorization`` for one attempt (a new timestamp and nonce each time)."""
        return self._signer.authorization(method, target, payload)

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

    def call(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        verifier: Callable[[HttpResponse], bool] | None = None,
    ) -> Op[ApiResponse]:
        """One logical call (with retries), returning the verified answer."""
        path_and_query = self.base_path + path
        if query:
            path_and_query += "?" + urlencode(query, quote_via=quote)
        url = self.base_url[: len(self.base_url) - len(self.base_path)] + path_and_query
        payload = b""
        headers = {
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            VERSION_HEADER: API_VERSION,
        }
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
            yield from self.keys()
        for attempt in itertools.count(1):
            headers["Authorization"] = self.authorization(method, path_and_query, payload)
            started = time.monotonic()
            outcome = yield HttpRequest(method, url, dict(headers), payload, self.timeout)
            retry_after: float | None = None
            if isinstance(outcome, TransportFailure):
                failure, cause = self.network_error(outcome, context)
            else:
                self._log(method, path, outcome, started, attempt)
                result = yield from self.interpret(outcome, context, verifier)
                if isinstance(result, ApiResponse):
                    return result
                if not is_retryable(result):
                    raise result
                failure, cause = result, result
                retry_after = parse_retry_after(outcome.headers)
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
            yield Sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def network_error(
        self, outcome: TransportFailure, context: str
    ) -> tuple[PayLaterError, BaseException]:
        """A retryable failure and its cause, or raise at once for one that is not."""
        exc = outcome.error
        name = type(exc).__name__
        if outcome.kind == "tls":
            # A certificate problem does not heal by retrying: fail at once.
            raise NetworkError(
                f"{context}: TLS with {self.base_url} failed ({name}); "
                "check the issuer's certificate and your CA bundle"
            ) from exc
        if outcome.kind == "fatal":
            raise NetworkError(f"{context} failed: {name}") from exc
        if outcome.kind == "timeout":
            return NetworkError(
                f"{context} timed out (timeout={self.timeout}); the issuer may still have "
                "acted: retry with the same idempotency key or look the object up"
            ), exc
        return NetworkError(
            f"{context} could not reach the issuer at {self.base_url} ({name})"
        ), exc

    def _log(
        self, method: str, path: str, resp: HttpResponse, started: float, attempt: int
    ) -> None:
        logger.info(
            "paylater %s %s -> %s request_id=%s elapsed_ms=%.1f attempt=%d",
            method,
            path,
            resp.status,
            resp.headers.get("Request-Id"),
            (time.monotonic() - started) * 1000,
            attempt,
        )

    def interpret(
        self,
        resp: HttpResponse,
        context: str,
        verifier: Callable[[HttpResponse], bool] | None,
    ) -> Op[ApiResponse | APIError]:
        status = resp.status
        request_id = resp.headers.get("Request-Id")
        signed = resp.headers.get(self.profile.header("Signature")) is not None
        # Fail closed: nothing in the body is looked at before the signature verifies.
        if signed:
            if verifier is not None:
                signed = verifier(resp)
            else:
                signed = yield from self._verify(resp)
        if not signed:
            if 200 <= status < 300:
                raise InvalidSignatureError(
                    f"the issuer's answer to {context} is not signed; an unsigned success "
                    "is treated as forged (check base_url and any proxy in between)"
                )
            return error_from_response(status, None, request_id, context=context)
        try:
            data = json.loads(resp.body) if resp.body else {}
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
