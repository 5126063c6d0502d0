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
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ...signing import KeyRing, load_public_key, public_key_pem, serial_for
from ..config import is_api_key
from ..storage.locking import lock_name
from ..storage.prepared import by_id
from ..storage.schema import merchant_keys, merchants, reading, to_epoch
from .lifecycle import not_found

__all__ = ["KEYRING_TTL", "MerchantRegistry", "Prefixes", "store_merchant"]

#: Seconds a process trusts its cached copy of a merchant's keys and URL prefixes.
KEYRING_TTL = 5.0

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


class MerchantRegistry:
    """The merchants of one issuer database, with short per-process caches of key rings
    and URL prefixes (every signed request and every checkout created needs them)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._keyrings: dict[str, tuple[float, KeyRing]] = {}
        self._prefixes: dict[str, tuple[float, Prefixes]] = {}

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
        with self._lock:
            self._keyrings.pop(merchant_id, None)
            self._prefixes.pop(merchant_id, None)

    def row(self, merchant_id: str) -> Any:
        with reading(self._engine) as conn:
            return conn.execute(by_id(merchants), {"obj_id": merchant_id}).first()

    def keyring(self, merchant_id: str) -> KeyRing | None:
        """The merchant's public keys (None for an unknown merchant)."""
        now = time.monotonic()
        with self._lock:
            cached = self._keyrings.get(merchant_id)
        if cached is not None and now - cached[0] < KEYRING_TTL:
            return cached[1]
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
        with self._lock:
            self._keyrings[merchant_id] = (now, ring)
        return ring

    def prefixes(self, merchant_id: str) -> Prefixes | None:
        """The merchant's URL prefixes (None for an unknown merchant), at most
        ``KEYRING_TTL`` seconds old: what a new checkout's URLs are checked against."""
        now = time.monotonic()
        with self._lock:
            cached = self._prefixes.get(merchant_id)
        if cached is not None and now - cached[0] < KEYRING_TTL:
            return cached[1]
        with reading(self._engine) as conn:
            row = conn.execute(_PREFIXES, {"merchant_id": merchant_id}).first()
        if row is None:
            return None
        found = Prefixes(
            tuple(json.loads(row.notify_prefixes)), tuple(json.loads(row.return_prefixes))
        )
        with self._lock:
            self._prefixes[merchant_id] = (now, found)
        return found

    def api_key(self, merchant_id: str) -> bytes:
        row = self.row(merchant_id)
        if row is None:
            raise not_found("merchant", merchant_id)
        key: str = row.api_key
        return key.encode()
