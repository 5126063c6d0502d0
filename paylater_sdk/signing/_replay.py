"""Replay protection: remember every accepted nonce for as long as its timestamp is valid.

A signature proves who sent a message, not that it is sent only once: an attacker who
records a signed ``POST /v1/refunds`` can send it again within the clock-skew window. The
popular payment SDKs check the timestamp (some not even that) but keep no nonce memory; we
do. The verifier calls :meth:`NonceStore.check_and_store` *after* the signature verified, so
forged messages can never burn a genuine sender's nonce.

Store keys are the exact strings given: callers scope them.
:func:`~paylater_sdk.signing.verify_request` passes ``"<mchid>:<nonce>"``
(so two merchants may pick the same nonce), while
:func:`~paylater_sdk.signing.verify_response` and notifications pass the nonce as is.
"""

from __future__ import annotations

import heapq
import threading
from typing import Any, Protocol, runtime_checkable

from ..errors import ConfigurationError, ReplayError

_REPLAYED = (
    "this nonce was already used within the replay window; sign every request anew "
    "(fresh timestamp and nonce), also when retrying"
)


def _check_window(window_seconds: object) -> None:
    if isinstance(window_seconds, bool) or not isinstance(window_seconds, int):
        raise ConfigurationError("window_seconds must be an int number of seconds")
    if window_seconds <= 0:
        raise ConfigurationError(f"window_seconds must be positive, got {window_seconds}")


@runtime_checkable
class NonceStore(Protocol):
    """Where seen nonces live. A Redis or SQL store implements the same single method.

    Implementations must be atomic: two concurrent calls with the same nonce must not
    both succeed (Redis: ``SET key 1 NX EX window``).
    """

    def check_and_store(self, nonce: str, timestamp: int) -> None:
        """Remember ``nonce`` (signed at UNIX ``timestamp``); raise :class:`ReplayError`
        if it was already seen within the window."""
        ...


class InMemoryNonceStore:
    """Thread-safe, memory-bounded nonce memory for one process.

    Entries expire with the window, measured on the *message* clock: an entry signed at
    ``t`` is dropped once a message signed after ``t + 2 * window_seconds`` arrives. A
    verifier with ``max_skew <= window_seconds`` rejects such an old message by its
    timestamp alone, so forgetting it is safe; and no wall clock is read, so an issuer's
    test clock can jump days ahead without confusing the store.

    When ``max_entries`` live nonces are held, new ones are refused with
    :class:`ReplayError` (fail closed) rather than evicting a nonce that may still be
    replayed. Size ``max_entries`` for your peak rate times ``2 * window_seconds``.
    """

    def __init__(self, window_seconds: int = 300, *, max_entries: int = 1_000_000) -> None:
        _check_window(window_seconds)
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries <= 0:
            raise ConfigurationError("max_entries must be a positive int")
        self.window_seconds = window_seconds
        self.max_entries = max_entries
        self._seen: dict[str, int] = {}
        self._expiry: list[tuple[int, str]] = []  # min-heap of (timestamp, nonce)
        self._newest = 0
        self._lock = threading.Lock()

    def check_and_store(self, nonce: str, timestamp: int) -> None:
        """See :meth:`NonceStore.check_and_store`; thread-safe, expired nonces are dropped."""
        if not isinstance(nonce, str) or not nonce:
            raise ReplayError("a nonce must be a non-empty string")
        with self._lock:
            if timestamp > self._newest:
                self._newest = timestamp
                self._purge()
            if nonce in self._seen:
                raise ReplayError(_REPLAYED)
            if len(self._seen) >= self.max_entries:
                raise ReplayError(
                    f"the nonce store is full ({self.max_entries} live nonces); "
                    "refusing rather than forgetting a nonce that could be replayed"
                )
            self._seen[nonce] = timestamp
            heapq.heappush(self._expiry, (timestamp, nonce))

    def _purge(self) -> None:
        horizon = self._newest - 2 * self.window_seconds
        expiry = self._expiry
        while expiry and expiry[0][0] < horizon:
            _, nonce = heapq.heappop(expiry)
            del self._seen[nonce]

    def __len__(self) -> int:
        return len(self._seen)

    def __bool__(self) -> bool:
        # An empty store is still a store: ``store or default`` must never drop it.
        return True

    def __repr__(self) -> str:
        return (
            f"InMemoryNonceStore(window_seconds={self.window_seconds}, "
            f"entries={len(self._seen)}, max_entries={self.max_entries})"
        )


class _RedisLike(Protocol):
    def set(self, name: str, value: str, *, nx: bool, ex: int) -> Any: ...


class RedisNonceStore:
    """Nonce memory shared by every process and host that points at one Redis.

    An in-memory store protects one process; behind a load balancer a replayed request
    could reach another worker. Here each nonce is one ``SET key 1 NX EX ttl``: atomic,
    so two workers can never both accept the same nonce, and Redis expires it by itself
    after ``2 * window_seconds`` (the in-memory store's horizon).

    ``client`` is a ``redis.Redis`` (``pip install "paylater-sdk[redis]"``) or anything with
    the same ``set`` method. If Redis cannot be reached the message is refused (fail
    closed): an unrecorded nonce could be replayed.
    """

    def __init__(
        self, client: _RedisLike, *, window_seconds: int = 300, prefix: str = "paylater:nonce:"
    ) -> None:
        _check_window(window_seconds)
        if not callable(getattr(client, "set", None)):
            raise ConfigurationError("client must be a redis.Redis (or have its set() method)")
        self.window_seconds = window_seconds
        self.prefix = prefix
        self._client = client

    def check_and_store(self, nonce: str, timestamp: int) -> None:
        """Record ``nonce`` with one atomic ``SET NX EX``; raise ``ReplayError`` if seen."""
        if not isinstance(nonce, str) or not nonce:
            raise ReplayError("a nonce must be a non-empty string")
        try:
            stored = self._client.set(self.prefix + nonce, "1", nx=True, ex=2 * self.window_seconds)
        except Exception as exc:  # redis.ConnectionError, timeouts, ...: fail closed
            raise ReplayError(
                "the nonce store (Redis) is unavailable; refusing the message rather than "
                "accepting one that could be a replay"
            ) from exc
        if not stored:
            raise ReplayError(_REPLAYED)

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"RedisNonceStore(window_seconds={self.window_seconds}, prefix={self.prefix!r})"
