"""The issuer's own signing keys: loaded from PEM files or generated once and persisted.

Rotation follows WeChat Pay's rule: the new key signs from now on, and the previous key
stays published (and valid for verification) for 24 hours, so merchants that cached the
old certificate keep verifying while they refresh. Key validity uses the wall clock, not
the test clock, because merchants verify signatures with their own wall clock.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ...signing import (
    DEFAULT_PROFILE,
    KeyRing,
    ResponseSigner,
    algorithm_for_key,
    generate_private_key,
    load_private_key,
    private_key_pem,
    serial_for,
)
from .locking import lock_name
from .schema import from_epoch, issuer_keys, reading, to_epoch

__all__ = ["ROTATION_OVERLAP", "SIGNER_RECHECK", "IssuerKeys"]

ROTATION_OVERLAP = timedelta(hours=24)
#: Seconds between checks of which key is active (rotations by other processes).
SIGNER_RECHECK = 5.0
_KEYS_LOCK = "paylater-issuer:signing-keys"


def _wall() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class IssuerKeys:
    """Thread-safe access to the current signer and the published key ring."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._signer: ResponseSigner | None = None
        self._checked = 0.0

    @classmethod
    def ensure(cls, conn: sa.Connection, pem_paths: tuple[str, ...]) -> None:
        """At start-up, in the start-up transaction: the configured keys, or one generated.

        The partial unique index on ``active`` makes "one active key" a database fact;
        the named lock makes concurrent start-ups and rotations take turns.
        """
        lock_name(conn, _KEYS_LOCK)
        now = _wall()
        for index, path in enumerate(pem_paths):
            key = load_private_key(Path(path).read_bytes())
            cls._store(conn, key, now=now, active=index == 0)
        has_active = conn.execute(
            sa.select(issuer_keys.c.serial).where(issuer_keys.c.active == sa.true())
        ).first()
        if has_active is None:
            cls._store(conn, generate_private_key("ed25519"), now=now, active=True)

    @staticmethod
    def _store(conn: sa.Connection, key: Any, *, now: datetime, active: bool) -> str:
        serial = serial_for(key)
        if active:
            conn.execute(issuer_keys.update().values(active=False))
        exists = conn.execute(
            sa.select(issuer_keys.c.serial).where(issuer_keys.c.serial == serial)
        ).first()
        if exists is None:
            conn.execute(
                issuer_keys.insert().values(
                    serial=serial,
                    algorithm=DEFAULT_PROFILE.scheme_for(algorithm_for_key(key)),
                    private_pem=private_key_pem(key).decode(),
                    created_at=to_epoch(now),
                    not_after=None,
                    active=active,
                )
            )
        else:
            conn.execute(
                issuer_keys.update()
                .where(issuer_keys.c.serial == serial)
                .values(active=active, not_after=None)
            )
        return serial

    def signer(self) -> ResponseSigner:
        """The active key's signer; re-checked every few seconds, so a rotation made by
        another process (``paylater issuer rotate-key``) is picked up without a restart."""
        now = time.monotonic()
        with self._lock:
            if self._signer is not None and now - self._checked < SIGNER_RECHECK:
                return self._signer
            with reading(self._engine) as conn:
                row = conn.execute(
                    sa.select(issuer_keys).where(issuer_keys.c.active == sa.true())
                ).one()
            if self._signer is None or self._signer.serial != row.serial:
                key = load_private_key(row.private_pem.encode())
                self._signer = ResponseSigner(key, row.serial)
            self._checked = now
            return self._signer

    def published(self) -> list[dict[str, Any]]:
        """Keys still valid now: serial, algorithm name, public key, effective/expire time."""
        now = to_epoch(_wall())
        with reading(self._engine) as conn:
            rows = conn.execute(
                sa.select(issuer_keys)
                .where(sa.or_(issuer_keys.c.not_after.is_(None), issuer_keys.c.not_after > now))
                .order_by(issuer_keys.c.created_at, issuer_keys.c.serial)
            ).all()
        result = []
        for row in rows:
            public = load_private_key(row.private_pem.encode()).public_key()
            result.append(
                {
                    "serial_no": row.serial,
                    "algorithm": row.algorithm,
                    "public_key": public,
                    "effective_time": from_epoch(row.created_at),
                    "expire_time": None if row.not_after is None else from_epoch(row.not_after),
                }
            )
        return result

    def keyring(self) -> KeyRing:
        ring = KeyRing()
        for item in self.published():
            ring.add(
                item["public_key"],
                serial=item["serial_no"],
                not_after=item["expire_time"],
            )
        return ring

    def rotate(self, alg: str = "ed25519") -> str:
        key = generate_private_key(alg)
        now = _wall()
        with self._lock, self._engine.begin() as conn:
            lock_name(conn, _KEYS_LOCK)
            conn.execute(
                issuer_keys.update()
                .where(issuer_keys.c.active == sa.true())
                .values(not_after=to_epoch(now + ROTATION_OVERLAP))
            )
            serial = self._store(conn, key, now=now, active=True)
            self._signer = None
        return serial
