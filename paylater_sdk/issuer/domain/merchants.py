"""Merchants: registration, their public keys and API keys, looked up with a short cache.

Registration may happen while issuer processes run (``paylater issuer add-merchant``), so
the per-process caches of key rings and URL prefixes live only ``KEYRING_TTL`` seconds: a
new merchant, a new key or a narrowed prefix reaches every process within that time without
a restart (at once in the process that registered it). Delivery does not use the cache: each
attempt re-reads the merchant's prefixes as registered now.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, NamedTuple, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ...signing import KeyRing, load_public_key, public_key_pem, serial_for
from ..config import is_api_key
from ..storage.locking import lock_name
from ..storage.prepared import by_id
from ..storage.quickread import QuickRead
from ..storage.schema import merchant_keys, merchants, reading, to_epoch
from .lifecycle import not_found

__all__ = ["KEYRING_TTL", "MerchantRegistry", "Prefixes", "store_merchant"]

#: Seconds a process trusts its cached copy of a merchant's keys and URL prefixes.
KEYRING_TTL = 5.0

_V = TypeVar("_V")

#: Every delivery attempt reads the merchant as stored now (see :mod:`..storage.quickread`).
_MERCHANT = QuickRead(by_id(merchants))
_PREFIXES = sa.select(merchants.c.notify_prefixes, merchants.c.return_prefixes).where(
    merchants.c.id == sa.bindparam("merchant_id")
)


class Prefixes(NamedTuple):
    """The URL prefixes a merchant registered: where notifications and buyers may go."""

    notify: tuple[str, ...]  # tuples: the cached copy is shared by every caller
    return_to: tuple[str, ...]


def store_merchant(
    conn: sa.Connection,
    merchant_id: str,
    *,
    name: str,
    public_keys: Sequence[Any],
    api_key: str,
    notify_prefixes: Sequence[str],
    return_prefixes: Sequence[str],
) -> None:
    """Insert or update a merchant in the caller's transaction (keys added, never removed)."""
    if not is_api_key(api_key):
        raise ValueError("a merchant API key must be exactly 32 bytes")
    lock_name(conn, f"paylater-issuer:merchant:{merchant_id}")  # racing registrations
    values = {
        "name": name,
        "api_key": api_key,
        "notify_prefixes": json.dumps(list(notify_prefixes)),
        "return_prefixes": json.dumps(list(return_prefixes)),
    }
    updated = conn.execute(merchants.update().where(merchants.c.id == merchant_id).values(**values))
    if updated.rowcount != 1:
        conn.execute(
            merchants.insert().values(
                id=merchant_id, created_at=to_epoch(datetime.now(UTC)), **values
            )
        )
    known = set(
        conn.execute(
            sa.select(merchant_keys.c.serial).where(merchant_keys.c.merchant_id == merchant_id)
        ).scalars()
    )
    for key in public_keys:
        serial = serial_for(key)
        if serial not in known:
            known.add(serial)
            conn.execute(
                merchant_keys.insert().values(
                    merchant_id=merchant_id, serial=serial, public_pem=public_key_pem(key).decode()
                )
            )


class _Recent(Generic[_V]):
    """Per-merchant values loaded at most ``KEYRING_TTL`` seconds ago (an unknown merchant,
    whose load answers None, is not kept: it may be registered any moment)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, tuple[float, _V]] = {}

    def get(self, merchant_id: str, load: Callable[[], _V | None]) -> _V | None:
        now = time.monotonic()
        with self._lock:
            cached = self._values.get(merchant_id)
        if cached is not None and now - cached[0] < KEYRING_TTL:
            return cached[1]
        value = load()
        if value is not None:
            with self._lock:
                self._values[merchant_id] = (now, value)
        return value

    def drop(self, merchant_id: str) -> None:
        with self._lock:
            self._values.pop(merchant_id, None)


class MerchantRegistry:
    """The merchants of one issuer database, with short per-process caches of key rings
    and URL prefixes (every signed request and every checkout created needs them)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._keyrings: _Recent[KeyRing] = _Recent()
        self._prefixes: _Recent[Prefixes] = _Recent()

    def add(
        self,
        merchant_id: str,
        *,
        name: str,
        public_keys: Sequence[str | bytes],
        api_key: str,
        notify_prefixes: Sequence[str],
        return_prefixes: Sequence[str],
    ) -> None:
        loaded = [load_public_key(pem) for pem in public_keys]
        with self._engine.begin() as conn:
            store_merchant(
                conn,
                merchant_id,
                name=name,
                public_keys=loaded,
                api_key=api_key,
                notify_prefixes=notify_prefixes,
                return_prefixes=return_prefixes,
            )
        self.forget(merchant_id)

    def forget(self, merchant_id: str) -> None:
        """Drop this process's cached keys and prefixes of a merchant just (re)registered,
        so they apply here at once (other processes see them within ``KEYRING_TTL``)."""
        self._keyrings.drop(merchant_id)
        self._prefixes.drop(merchant_id)

    def row(self, merchant_id: str) -> Any:
        """The merchant's row as stored now, or None (every delivery attempt reads it, so
        a quick read: one statement, no transaction)."""
        found = _MERCHANT.rows(self._engine, obj_id=merchant_id)
        return found[0] if found else None

    def keyring(self, merchant_id: str) -> KeyRing | None:
        """The merchant's public keys (None for an unknown merchant)."""
        return self._keyrings.get(merchant_id, lambda: self._load_keyring(merchant_id))

    def _load_keyring(self, merchant_id: str) -> KeyRing | None:
        with reading(self._engine) as conn:
            known = conn.execute(
                sa.select(merchants.c.id).where(merchants.c.id == merchant_id)
            ).first()
            if known is None:
                return None
            ring = KeyRing()
            for row in conn.execute(
                sa.select(merchant_keys).where(merchant_keys.c.merchant_id == merchant_id)
            ):
                ring.add(load_public_key(row.public_pem.encode()), serial=row.serial)
        return ring

    def prefixes(self, merchant_id: str) -> Prefixes | None:
        """The merchant's URL prefixes (None for an unknown merchant), at most
        ``KEYRING_TTL`` seconds old: what a new checkout's URLs are checked against."""
        return self._prefixes.get(merchant_id, lambda: self._load_prefixes(merchant_id))

    def _load_prefixes(self, merchant_id: str) -> Prefixes | None:
        with reading(self._engine) as conn:
            row = conn.execute(_PREFIXES, {"merchant_id": merchant_id}).first()
        if row is None:
            return None
        return Prefixes(
            tuple(json.loads(row.notify_prefixes)), tuple(json.loads(row.return_prefixes))
        )

    def api_key(self, merchant_id: str) -> bytes:
        row = self.row(merchant_id)
        if row is None:
            raise not_found("merchant", merchant_id)
        key: str = row.api_key
        return key.encode()
