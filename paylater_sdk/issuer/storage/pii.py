"""Phone numbers at rest (PIPL): a keyed hash to find a buyer, an encrypted copy to show one.

No table holds a phone number in clear. ``buyers.phone_hash`` is HMAC-SHA256 of the
number under a key of the issuer's (so a stolen table cannot be reversed by hashing every
phone number, as a plain hash could), and ``buyers.phone_enc`` is the number sealed with
AES-256-GCM, decrypted only to show it masked (``138****1234``) or to hand it to its owner.

The master key is a random 32 bytes kept in ``issuer_state`` (like the test-mode session
secret), so every process and the 0003 migration use the same one; the hash and the
encryption keys are derived from it separately.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from . import shared_state

__all__ = ["PII_KEY", "PhoneVault", "load_vault", "mask_phone"]

PII_KEY = "pii_key"
_AAD = b"paylater buyer phone"


def mask_phone(phone: str) -> str:
    """``138****1234``: the first three and the last four digits (less for short numbers)."""
    if len(phone) >= 11:
        return f"{phone[:3]}****{phone[-4:]}"
    return "*" * max(len(phone) - 2, 0) + phone[-2:]


class PhoneVault:
    """Hashes, seals and opens phone numbers under one master key."""

    def __init__(self, master: bytes) -> None:
        if len(master) != 32:
            raise ValueError("the PII master key must be 32 bytes")
        self._hash_key = hmac.new(master, b"phone-hash", hashlib.sha256).digest()
        self._aead = AESGCM(hmac.new(master, b"phone-encryption", hashlib.sha256).digest())

    def __repr__(self) -> str:  # never the key
        return "PhoneVault()"

    def digest(self, phone: str) -> str:
        """The lookup key of ``phone`` (64 hex digits; the same phone, the same digest)."""
        return hmac.new(self._hash_key, phone.encode(), hashlib.sha256).hexdigest()

    def seal(self, phone: str) -> str:
        """``phone`` encrypted (a fresh nonce each time), as URL-safe base64 text."""
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, phone.encode(), _AAD)
        return base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, sealed: str) -> str:
        raw = base64.urlsafe_b64decode(sealed.encode())
        return self._aead.decrypt(raw[:12], raw[12:], _AAD).decode()

    def masked(self, sealed: str | None) -> str:
        """The masked number for display; ``***`` once the number has been erased."""
        return "***" if not sealed else mask_phone(self.open(sealed))


def load_vault(conn: sa.Connection) -> PhoneVault:
    """The vault of this database, creating its key on first use (start-up, migration)."""
    master = shared_state.ensure(conn, PII_KEY, secrets.token_hex(32))
    return PhoneVault(bytes.fromhex(master))
