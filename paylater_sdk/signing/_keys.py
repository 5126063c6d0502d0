"""Keys: generation, PEM loading, serial numbers and the :class:`KeyRing` of trusted keys.

A serial number names a public key on the wire (``serial_no=`` / ``Paylater-Serial``) so the
verifier can pick the right key during a rotation, when two keys are valid at once. Serials
are derived from the key itself (upper-case hex of the first 20 bytes of the SHA-256 of the
SubjectPublicKeyInfo DER), so nobody has to keep a registry of who issued which number, and a
serial can never silently point at a different key.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import NamedTuple

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from ..errors import ConfigurationError, UnknownKeyError
from ._algorithms import ED25519, MIN_RSA_BITS, RSA_SHA256, Algorithm, PrivateKey, PublicKey

_SERIAL_BYTES = 20


def _check_key_size(key: PrivateKey | PublicKey) -> None:
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise ConfigurationError(
            f"RSA keys must have at least {MIN_RSA_BITS} bits, this one has {key.key_size}; "
            "generate a new key with: paylater keys generate --alg rsa"
        )


def generate_private_key(alg: str = "ed25519") -> PrivateKey:
    """A new private key: ``"ed25519"`` (default, fast) or ``"rsa"`` (2048 bits, WeChat style)."""
    kind = alg.lower()
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=MIN_RSA_BITS)
    raise ConfigurationError(f"unknown key algorithm {alg!r}; use 'ed25519' or 'rsa'")


def _as_bytes(pem: bytes | str) -> bytes:
    return pem.encode("ascii", "replace") if isinstance(pem, str) else bytes(pem)


def load_private_key(pem: bytes | str, password: bytes | None = None) -> PrivateKey:
    """Load an RSA (>= 2048 bits) or Ed25519 private key from PEM, optionally encrypted.

    Errors never quote the PEM: it is a secret.
    """
    data = _as_bytes(pem)
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except TypeError:
        if password is None:
            raise ConfigurationError(
                "the private key is encrypted; pass its passphrase as password=b'...'"
            ) from None
        raise ConfigurationError(
            "a passphrase was given but the private key is not encrypted; pass password=None"
        ) from None
    except ValueError:
        raise ConfigurationError(
            "could not load the private key: not a PEM private key, or a wrong passphrase"
        ) from None
    except Exception:  # unsupported algorithms raise UnsupportedAlgorithm
        raise ConfigurationError(
            "could not load the private key: only RSA and Ed25519 keys are supported"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise ConfigurationError(
            f"unsupported private key type {type(key).__name__}; use RSA (>= 2048) or Ed25519"
        )
    _check_key_size(key)
    return key


def load_public_key(pem: bytes | str) -> PublicKey:
    """Load an RSA (>= 2048 bits) or Ed25519 public key from a ``PUBLIC KEY`` PEM block."""
    try:
        key = serialization.load_pem_public_key(_as_bytes(pem))
    except Exception:
        raise ConfigurationError(
            "could not load the public key: expected a PEM 'PUBLIC KEY' block (RSA or Ed25519)"
        ) from None
    if not isinstance(key, rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        raise ConfigurationError(
            f"unsupported public key type {type(key).__name__}; use RSA (>= 2048) or Ed25519"
        )
    _check_key_size(key)
    return key


def _public(key: PrivateKey | PublicKey) -> PublicKey:
    if isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        return key.public_key()
    if isinstance(key, rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        return key
    raise ConfigurationError(
        f"expected an RSA or Ed25519 key object, got {type(key).__name__}; "
        "load PEM data with load_public_key() first"
    )


def public_key_pem(key: PrivateKey | PublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM of a public key (or of a private key's public half)."""
    return _public(key).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def private_key_pem(key: PrivateKey, password: bytes | None = None) -> bytes:
    """PKCS#8 PEM of a private key, encrypted with the best available cipher if a password
    is given (PKCS#8 is also what ``wechatpayv3`` expects)."""
    if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise ConfigurationError(f"expected an RSA or Ed25519 private key, got {type(key)!r}")
    if password is not None and not password:
        raise ConfigurationError("an empty passphrase protects nothing; pass None or a passphrase")
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password is not None
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def serial_for(public_key: PublicKey | PrivateKey) -> str:
    """Upper-case hex of the first 20 bytes of SHA-256(SubjectPublicKeyInfo DER).

    A private key is accepted too and names its public half.
    """
    der = _public(public_key).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).digest()[:_SERIAL_BYTES].hex().upper()


def algorithm_for_key(key: PrivateKey | PublicKey) -> Algorithm:
    """The algorithm that signs with (or verifies with) ``key``."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        _check_key_size(key)
        return RSA_SHA256
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return ED25519
    raise ConfigurationError(
        f"no algorithm for key type {type(key).__name__}; use RSA (>= 2048) or Ed25519"
    )


class KeyEntry(NamedTuple):
    """One trusted key and the window in which it is valid (``None``: open-ended)."""

    serial: str
    public_key: PublicKey
    not_before: datetime | None
    not_after: datetime | None


def _check_aware(name: str, value: datetime | None) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ConfigurationError(f"{name} must be timezone-aware (e.g. tzinfo=timezone.utc)")


class KeyRing:
    """Trusted public keys by serial, each with an optional validity window.

    During a rotation both the old and the new key are in the ring; the serial on each
    message picks the key. Reads take no lock (the mapping is replaced, never mutated), so
    a ring can be refreshed while other threads verify.
    """

    def __init__(self) -> None:
        self._entries: dict[str, KeyEntry] = {}
        # serial -> (key, not_before, not_after) as UNIX seconds: the verifiers' hot path.
        self._windows: dict[str, tuple[PublicKey, float, float]] = {}
        self._lock = threading.Lock()

    def add(
        self,
        public_key: PublicKey | bytes | str,
        *,
        serial: str | None = None,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> str:
        """Trust ``public_key`` (a key object or PEM) and return its serial.

        ``serial`` defaults to :func:`serial_for`; pass one only to speak to a gateway that
        names keys otherwise (WeChat Pay uses certificate serial numbers). Adding the same
        key again updates its window, e.g. to set ``not_after`` on the key being retired.
        """
        key = load_public_key(public_key) if isinstance(public_key, bytes | str) else public_key
        if not isinstance(key, rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
            raise ConfigurationError(
                f"KeyRing.add needs a public key (object or PEM), got {type(key).__name__}"
            )
        _check_key_size(key)
        _check_aware("not_before", not_before)
        _check_aware("not_after", not_after)
        if not_before is not None and not_after is not None and not_after <= not_before:
            raise ConfigurationError("not_after must be later than not_before")
        name = serial_for(key) if serial is None else serial
        if not name or not name.isprintable() or len(name) > 128 or '"' in name:
            raise ConfigurationError("a serial is 1..128 printable characters without quotes")
        with self._lock:
            old = self._entries.get(name)
            if old is not None and serial_for(old.public_key) != serial_for(key):
                raise ConfigurationError(
                    f"serial {name} already names a different key; remove() it first"
                )
            entries = dict(self._entries)
            entries[name] = KeyEntry(name, key, not_before, not_after)
            self._publish(entries)
        return name

    def _publish(self, entries: dict[str, KeyEntry]) -> None:
        windows = {
            e.serial: (
                e.public_key,
                -math.inf if e.not_before is None else e.not_before.timestamp(),
                math.inf if e.not_after is None else e.not_after.timestamp(),
            )
            for e in entries.values()
        }
        # Readers may see the new windows with the old entries for an instant; both are
        # complete mappings on their own, and get() only uses one of them per call.
        self._windows = windows
        self._entries = entries

    def remove(self, serial: str) -> None:
        """Stop trusting a key (no error if it is not there)."""
        with self._lock:
            entries = dict(self._entries)
            entries.pop(serial, None)
            self._publish(entries)

    def get(self, serial: str, *, at: datetime | None = None) -> PublicKey:
        """The key named ``serial``, checked against its window at ``at`` (if given)."""
        entry = self._entries.get(serial)
        if entry is None:
            raise UnknownKeyError(
                f"no trusted key has serial {serial[:64]!r}; refresh the issuer's keys "
                "(GET /v1/certificates) or add the key to the KeyRing",
                serial=serial[:64],
            )
        if at is not None:
            _check_aware("at", at)
            if entry.not_before is not None and at < entry.not_before:
                raise UnknownKeyError(
                    f"key {serial} is not valid before {entry.not_before.isoformat()}",
                    serial=serial,
                )
            if entry.not_after is not None and at >= entry.not_after:
                raise UnknownKeyError(
                    f"key {serial} expired at {entry.not_after.isoformat()}; refresh the "
                    "issuer's keys (GET /v1/certificates)",
                    serial=serial,
                )
        return entry.public_key

    def get_at_timestamp(self, serial: str, timestamp: int) -> PublicKey:
        """Like :meth:`get` with ``at`` given as UNIX seconds (the verifiers' hot path)."""
        window = self._windows.get(serial)
        if window is None or not window[1] <= timestamp < window[2]:
            return self.get(serial, at=datetime.fromtimestamp(timestamp, UTC))
        return window[0]

    def serials(self) -> list[str]:
        """The serials of the keys on the ring, in the order they were added."""
        return list(self._entries)

    def entries(self) -> list[KeyEntry]:
        """The keys on the ring with their validity windows, in the order they were added."""
        return list(self._entries.values())

    def __contains__(self, serial: object) -> bool:
        return serial in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))

    def __repr__(self) -> str:
        return f"KeyRing(serials={self.serials()!r})"
