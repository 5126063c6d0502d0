"""The issuer's memory of signed-request nonces, shared by every process.

A nonce kept in one process's memory protects that process only: after a restart, or at
another worker behind the same load balancer, a captured request would be accepted again.
So the issuer keeps nonces where all its processes look: its own database by default
(one INSERT on a primary key per signed request; the key decides atomically), or Redis
(``NONCE_STORE = "redis://..."``, the library's :class:`~paylater_sdk.signing.RedisNonceStore`)
when the database should not take a write per request.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ...errors import ConfigurationError, ReplayError
from ...signing import InMemoryNonceStore, NonceStore, RedisNonceStore
from .quickread import QuickWrite
from .schema import seen_nonces

__all__ = ["DatabaseNonceStore", "build_nonce_store"]

#: One per signed request, a whole transaction by itself: a quick write (the primary key
#: decides atomically; see :mod:`.quickread`).
_INSERT = QuickWrite(
    seen_nonces.insert().values(nonce=sa.bindparam("nonce"), signed_at=sa.bindparam("signed_at"))
)
_REPLAYED = "this nonce was already used: the request is a replay"


class DatabaseNonceStore:
    """Nonces in the issuer's database: atomic (a primary key), shared, and durable."""

    def __init__(self, engine: Engine, *, window_seconds: int = 300) -> None:
        self.window_seconds = window_seconds
        self._engine = engine

    def check_and_store(self, nonce: str, timestamp: int) -> None:
        if not isinstance(nonce, str) or not nonce:
            raise ReplayError("a nonce must be a non-empty string")
        try:
            _INSERT.run(self._engine, nonce=nonce, signed_at=int(timestamp))
        except IntegrityError:
            raise ReplayError(_REPLAYED) from None
        except SQLAlchemyError as exc:  # fail closed: an unrecorded nonce could be replayed
            raise ReplayError(
                "the nonce store is unavailable; refusing the message rather than accepting "
                "one that could be a replay"
            ) from exc

    def purge(self, now: float | None = None) -> int:
        """Forget nonces signed more than two windows ago (their messages are refused by
        their timestamp alone); returns how many were removed."""
        horizon = int(time.time() if now is None else now) - 2 * self.window_seconds
        with self._engine.begin() as conn:
            result = conn.execute(seen_nonces.delete().where(seen_nonces.c.signed_at < horizon))
        return int(result.rowcount or 0)

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"DatabaseNonceStore(window_seconds={self.window_seconds})"


def build_nonce_store(spec: Any, engine: Engine, window_seconds: int) -> NonceStore:
    """The store named by the ``NONCE_STORE`` setting.

    ``"database"`` (default), ``"memory"`` (one process only: tests and notebooks),
    ``"redis://host:port/db"``, or any object with ``check_and_store``.
    """
    if spec is None or spec == "database":
        return DatabaseNonceStore(engine, window_seconds=window_seconds)
    if spec == "memory":
        return InMemoryNonceStore(window_seconds=window_seconds)
    if isinstance(spec, str) and spec.startswith(("redis://", "rediss://", "unix://")):
        try:
            import redis
        except ImportError:  # pragma: no cover - the redis extra
            raise ConfigurationError(
                'NONCE_STORE is a Redis URL: pip install "paylater-sdk[redis]"'
            ) from None
        client = redis.Redis.from_url(spec, socket_timeout=2, socket_connect_timeout=2)
        return RedisNonceStore(
            client, window_seconds=window_seconds, prefix="paylater:issuer:nonce:"
        )
    if isinstance(spec, str):
        raise ConfigurationError("NONCE_STORE must be 'database', 'memory' or a redis:// URL")
    if not callable(getattr(spec, "check_and_store", None)):
        raise ConfigurationError("NONCE_STORE must be a store with check_and_store()")
    store: NonceStore = spec
    return store
