"""The WeChat Pay v3 platform key: one RSA key with two names, shared by every process.

WeChat Pay names its platform key by a certificate serial (certificate mode) or by a
``PUB_KEY_ID_...`` (public-key mode); the mock has one key with both names. It is created
once per database (under a named lock, so processes starting together agree on one) and
cached a few seconds per process, like the merchants' key rings.
"""

from __future__ import annotations

import threading
import time
import weakref
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ...errors import ConfigurationError
from ...signing import (
    WECHATPAY_V3,
    Certificate,
    ResponseSigner,
    generate_certificate,
    generate_private_key,
    load_certificate,
    load_private_key,
    private_key_pem,
    public_key_id_for,
    public_key_pem,
)
from .locking import lock_name
from .schema import reading, to_epoch, wechat_platform_keys

__all__ = ["KEY_MODES", "PlatformKeys", "platform_keys"]

KEY_MODES = ("certificate", "public_key")
_CACHE_SECONDS = 5.0
_BY_ENGINE: weakref.WeakKeyDictionary[Engine, PlatformKeys] = weakref.WeakKeyDictionary()
_GUARD = threading.Lock()


def platform_keys(engine: Engine) -> PlatformKeys:
    """The (cached) platform keys of the database behind ``engine``."""
    with _GUARD:
        keys = _BY_ENGINE.get(engine)
        if keys is None:
            keys = _BY_ENGINE[engine] = PlatformKeys(engine)
        return keys


def check_mode(key_mode: str) -> None:
    if key_mode not in KEY_MODES:
        raise ConfigurationError(f"key_mode must be one of {', '.join(KEY_MODES)}")


class PlatformKeys:
    """The platform key: created once per database, cached a few seconds per process."""

    def __init__(self, engine: Engine) -> None:
        # weak: the per-engine cache below must not keep a disposed engine alive
        self._engine_ref = weakref.ref(engine)
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Any]] | None = None

    @property
    def _engine(self) -> Engine:
        engine = self._engine_ref()
        if engine is None:
            raise RuntimeError("the engine of these platform keys is gone")
        return engine

    def _rows(self) -> list[Any]:
        now = time.monotonic()
        with self._lock:
            if self._cached is not None and now - self._cached[0] < _CACHE_SECONDS:
                return self._cached[1]
        with reading(self._engine) as conn:
            rows = list(conn.execute(sa.select(wechat_platform_keys)))
        if not rows:
            rows = self._create()
        with self._lock:
            self._cached = (now, rows)
        return rows

    def _create(self) -> list[Any]:
        key = generate_private_key("rsa")
        cert = generate_certificate(key, common_name="Paylater Mock Tenpay Platform")
        with self._engine.begin() as conn:
            lock_name(conn, "paylater-issuer:wechat-platform")
            exists = conn.execute(sa.select(wechat_platform_keys.c.serial)).first()
            if exists is None:
                conn.execute(
                    wechat_platform_keys.insert().values(
                        serial=cert.serial,
                        public_key_id=public_key_id_for(key),
                        private_pem=private_key_pem(key).decode(),
                        certificate_pem=cert.pem.decode(),
                        created_at=to_epoch(datetime.now(UTC)),
                    )
                )
            return list(conn.execute(sa.select(wechat_platform_keys)))

    def newest(self) -> Any:
        return max(self._rows(), key=lambda r: (r.created_at, r.serial))

    def signer(self, key_mode: str) -> ResponseSigner:
        """Signs answers and callbacks, naming the key as ``key_mode`` wants."""
        check_mode(key_mode)
        row = self.newest()
        serial = row.serial if key_mode == "certificate" else row.public_key_id
        return ResponseSigner(load_private_key(row.private_pem), serial, profile=WECHATPAY_V3)

    def certificates(self) -> list[Certificate]:
        """Every platform certificate (``GET /v3/certificates``)."""
        return [load_certificate(row.certificate_pem) for row in self._rows()]

    def public_key(self) -> tuple[str, str]:
        """``(public_key_id, PEM)``: what a merchant configures for public-key mode."""
        row = self.newest()
        cert = load_certificate(row.certificate_pem)
        return row.public_key_id, public_key_pem(cert.public_key).decode()
