"""Who speaks WeChat Pay v3: v3 merchants, the platform keys, and payers by WeChat's names.

- A **v3 merchant** is a registered merchant with an APIv3 key and a key mode: the mode
  decides how the issuer names the platform key on every answer and callback
  (``Wechatpay-Serial``): the platform certificate's serial (``certificate``) or the
  platform public key id (``public_key``, ``PUB_KEY_ID_...``). An unmodified WeChat Pay
  SDK accepts only the naming it was configured for. With ``WECHAT_COMPAT`` every merchant
  may use ``/v3`` (its API key doubles as APIv3 key, in the default key mode).
- The **platform key** is one RSA key with both names, kept in the database so that every
  issuer process signs with the same key.
- **Payers**: WeChat names a buyer by ``openid`` (derived from the buyer id here) or by the
  SM3 hash of the phone number; both are kept in ``wechat_payers``, filled lazily.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

import attrs
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from ....errors import ConfigurationError
from ....signing import (
    API_KEY_BYTES,
    load_certificate,
    load_public_key,
    public_key_pem,
    serial_for,
)
from ...storage.pii import PhoneVault
from ...storage.schema import (
    buyers,
    merchant_keys,
    merchants,
    reading,
    to_epoch,
    wechat_merchants,
    wechat_payers,
)
from ...storage.wechat_keystore import KEY_MODES, check_mode
from ..merchants import store_merchant

__all__ = [
    "KEY_MODES",
    "WeChatMerchant",
    "openid_for",
    "phone_hash",
    "register_wechat_merchant",
    "resolve_payer",
    "wechat_merchant",
]


@attrs.frozen(repr=False)
class WeChatMerchant:
    """A merchant as the v3 face sees it. ``repr`` leaves the APIv3 key out."""

    mchid: str
    apiv3_key: str
    key_mode: str
    appid: str | None

    def __repr__(self) -> str:
        return f"WeChatMerchant(mchid={self.mchid!r}, key_mode={self.key_mode!r})"


def register_wechat_merchant(
    engine: Engine,
    mchid: str,
    *,
    name: str,
    apiv3_key: str,
    notify_prefixes: Sequence[str],
    certificate: bytes | str | None = None,
    public_key: bytes | str | None = None,
    serial: str | None = None,
    key_mode: str = "public_key",
    appid: str | None = None,
) -> str:
    """Register (or update) a v3 merchant; returns the serial its requests must carry.

    The merchant's API key is either its X.509 API certificate (the serial is the
    certificate's) or a public key with the certificate serial the merchant's SDK sends as
    ``cert_serial_no`` (``serial``; derived from the key when not given).
    """
    check_mode(key_mode)
    if len(apiv3_key.encode()) != API_KEY_BYTES:
        raise ConfigurationError(f"an APIv3 key is exactly {API_KEY_BYTES} bytes")
    if (certificate is None) == (public_key is None):
        raise ConfigurationError("give the merchant's certificate or its public key (one)")
    if certificate is not None:
        cert = load_certificate(certificate)
        key, key_serial = cert.public_key, cert.serial
    else:
        assert public_key is not None
        key = load_public_key(public_key)
        key_serial = serial or serial_for(key)
    if not 1 <= len(key_serial) <= 64 or '"' in key_serial or not key_serial.isprintable():
        raise ConfigurationError("a serial is 1..64 printable characters without quotes")
    with engine.begin() as conn:
        store_merchant(
            conn,
            mchid,
            name=name,
            public_keys=[],
            api_key=apiv3_key,
            notify_prefixes=notify_prefixes,
            return_prefixes=notify_prefixes,
        )
        _store_key(conn, mchid, key_serial, public_key_pem(key).decode())
        values = {"apiv3_key": apiv3_key, "key_mode": key_mode, "appid": appid}
        done = conn.execute(
            wechat_merchants.update()
            .where(wechat_merchants.c.merchant_id == mchid)
            .values(**values)
        )
        if done.rowcount != 1:
            conn.execute(
                wechat_merchants.insert().values(
                    merchant_id=mchid, created_at=to_epoch(datetime.now(UTC)), **values
                )
            )
    return key_serial


def _store_key(conn: sa.Connection, mchid: str, serial: str, pem: str) -> None:
    row = conn.execute(
        sa.select(merchant_keys.c.public_pem).where(
            merchant_keys.c.merchant_id == mchid, merchant_keys.c.serial == serial
        )
    ).first()
    if row is None:
        conn.execute(
            merchant_keys.insert().values(merchant_id=mchid, serial=serial, public_pem=pem)
        )
    elif row.public_pem.strip() != pem.strip():
        raise ConfigurationError(f"serial {serial} already names another key of {mchid}")


def wechat_merchant(
    engine: Engine, mchid: str, *, compat: bool, compat_mode: str
) -> WeChatMerchant | None:
    """The v3 identity of ``mchid``; None when it may not use ``/v3``.

    Under compatibility mode a merchant without one gets one on first use (its API key as
    APIv3 key, ``compat_mode`` as key mode), stored so that callbacks sealed by any process
    later use the same key and mode.
    """
    with reading(engine) as conn:
        row = conn.execute(
            sa.select(wechat_merchants).where(wechat_merchants.c.merchant_id == mchid)
        ).first()
        if row is not None:
            return WeChatMerchant(mchid, row.apiv3_key, row.key_mode, row.appid)
        if not compat:
            return None
        api_key = conn.execute(
            sa.select(merchants.c.api_key).where(merchants.c.id == mchid)
        ).scalar()
    if api_key is None:
        return None
    check_mode(compat_mode)
    try:
        with engine.begin() as conn:
            conn.execute(
                wechat_merchants.insert().values(
                    merchant_id=mchid,
                    apiv3_key=api_key,
                    key_mode=compat_mode,
                    appid=None,
                    created_at=to_epoch(datetime.now(UTC)),
                )
            )
    except IntegrityError:  # another process did it first: use what it stored
        return wechat_merchant(engine, mchid, compat=False, compat_mode=compat_mode)
    return WeChatMerchant(mchid, api_key, compat_mode, None)


# --- payers ---------------------------------------------------------------------------


def openid_for(buyer_id: str) -> str:
    """The buyer's openid: 28 characters like WeChat's, derived from the buyer id."""
    digest = hashlib.sha256(b"paylater-openid:" + buyer_id.encode()).digest()
    return "o" + base64.urlsafe_b64encode(digest).decode()[:27]


def phone_hash(phone: str) -> str:
    """SM3 of the phone number in upper-case hex (WeChat's ``phone_number_hash``)."""
    digest = hashes.Hash(hashes.SM3())
    digest.update(phone.encode())
    return digest.finalize().hex().upper()


def _sync_payers(engine: Engine, vault: PhoneVault) -> None:
    """Give every buyer without one its openid and phone lookup key (new buyers only).

    The lookup key is the vault's keyed digest of the phone's SM3 hash, never the SM3 hash
    itself: an unkeyed hash of an 11-digit number is the number, to anyone who tries them
    all. A merchant's ``phone_number_hash`` is looked up through the same digest.
    """
    with reading(engine) as conn:
        missing = conn.execute(
            sa.select(buyers.c.id, buyers.c.phone_enc).where(
                buyers.c.phone_enc.is_not(None),
                buyers.c.id.not_in(sa.select(wechat_payers.c.buyer_id)),
            )
        ).all()
    for row in missing:
        lookup = vault.digest(phone_hash(vault.open(row.phone_enc)))
        try:
            with engine.begin() as conn:
                conn.execute(
                    wechat_payers.insert().values(
                        buyer_id=row.id, openid=openid_for(row.id), phone_hash=lookup
                    )
                )
        except IntegrityError:  # another process added it first
            continue


def resolve_payer(
    engine: Engine,
    vault: PhoneVault,
    *,
    openid: str | None = None,
    phone_number_hash: str | None = None,
) -> str | None:
    """The buyer id behind an openid or a phone hash (WeChat's SM3, any case), or None."""
    column, value = (
        (wechat_payers.c.openid, openid)
        if openid is not None
        else (wechat_payers.c.phone_hash, vault.digest((phone_number_hash or "").upper()))
    )
    for attempt in range(2):
        with reading(engine) as conn:
            found = conn.execute(
                sa.select(wechat_payers.c.buyer_id).where(column == value)
            ).scalar()
        if found is not None or attempt:
            return found
        _sync_payers(engine, vault)
    return None
