"""Validation of the client's configuration: fail at construction, not on the first payment.

Every check raises :class:`~paylater_sdk.errors.ConfigurationError` with a message that
says what to change, and none of them echoes a secret back.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from ..errors import ConfigurationError, PayLaterError
from ..signing import (
    API_KEY_BYTES,
    MIN_RSA_BITS,
    KeyRing,
    PrivateKey,
    load_private_key,
    load_public_key,
)

#: Printable ASCII without the characters that would break the Authorization header.
_HEADER_SAFE = re.compile(r"^[!#-\[\]-~]{1,128}$")


def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ::1: the only hosts plain http may reach."""
    if host.lower() in {"localhost", "localhost."} or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(value: object) -> str:
    """Return the base URL without a trailing slash, or raise ConfigurationError."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(
            "base_url must be the issuer's URL as a string, e.g. 'https://issuer.example.com'"
        )
    url = value.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError(f"base_url {url!r} is not a valid URL ({exc})") from None
    del port
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise ConfigurationError(
            f"base_url {url!r} must be an absolute https:// URL such as "
            "'https://issuer.example.com'"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigurationError(
            f"base_url {url!r} must not carry a query, fragment or credentials"
        )
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ConfigurationError(
            f"base_url {url!r} uses plain http to a non-loopback host; use https:// "
            "(plain http is only allowed to localhost, 127.0.0.0/8 and ::1 for local testing)"
        )
    return url.rstrip("/")


def check_header_value(name: str, value: object) -> str:
    """An identifier that travels in the Authorization header (merchant id, key serial)."""
    if not isinstance(value, str) or not _HEADER_SAFE.match(value):
        raise ConfigurationError(
            f"{name} must be a non-empty string of at most 128 printable ASCII characters "
            "without spaces, quotes or backslashes"
        )
    return value


def check_private_key(value: object) -> PrivateKey:
    """Accept a key object or its PEM (bytes or str); refuse RSA keys below 2048 bits."""
    key: Any = value
    if isinstance(value, str):
        key = value.encode("ascii", "replace")
    if isinstance(key, bytes):
        try:
            key = load_private_key(key)
        except PayLaterError as exc:
            raise ConfigurationError(f"private_key could not be loaded: {exc.message}") from None
        except (ValueError, TypeError):
            raise ConfigurationError(
                "private_key must be an unencrypted PEM private key (Ed25519 or RSA >= 2048 "
                "bits) or a loaded key object; load a passphrase-protected key with "
                "paylater_sdk.signing.load_private_key(pem, password) first"
            ) from None
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise ConfigurationError(
                f"private_key is too short: RSA keys need at least {MIN_RSA_BITS} bits, "
                f"this one has {key.key_size}; generate one with `paylater keys generate`"
            )
        return key
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    raise ConfigurationError(
        "private_key must be an Ed25519 or RSA (>= 2048 bits) private key or its PEM, "
        f"not {type(value).__name__}"
    )


def check_api_key(value: object) -> bytes:
    """The merchant's API key: exactly 32 bytes (str is UTF-8 encoded first)."""
    raw = value.encode("utf-8") if isinstance(value, str) else value
    if not isinstance(raw, bytes):
        raise ConfigurationError(f"api_key must be str or bytes, not {type(value).__name__}")
    if len(raw) != API_KEY_BYTES:
        raise ConfigurationError(
            f"api_key must be exactly {API_KEY_BYTES} bytes (AES-256), got {len(raw)}; "
            "copy the API key the issuer gave you for this merchant"
        )
    return raw


def check_timeout(value: object) -> tuple[float, float]:
    """``(connect, read)`` seconds, both > 0; a single number sets both."""
    pair: tuple[object, ...]
    pair = value if isinstance(value, tuple) else (value, value)
    if len(pair) != 2 or not all(
        isinstance(t, int | float) and not isinstance(t, bool) and 0 < t <= 600 for t in pair
    ):
        raise ConfigurationError(
            f"timeout must be a number of seconds or a (connect, read) pair, each in (0, 600], "
            f"got {value!r}"
        )
    return (float(pair[0]), float(pair[1]))  # type: ignore[arg-type]


def check_issuer_keys(value: object) -> KeyRing | None:
    """None (fetch ``/v1/certificates``), a KeyRing, or public keys / PEMs to pin."""
    if value is None or isinstance(value, KeyRing):
        return value
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ConfigurationError(
            "issuer_keys must be a paylater_sdk.signing.KeyRing, a list of public keys "
            "(objects or PEM), or None to fetch them from /v1/certificates"
        )
    ring = KeyRing()
    for item in value:
        key: Any = item
        if isinstance(item, str):
            key = item.encode("ascii", "replace")
        if isinstance(key, bytes):
            try:
                key = load_public_key(key)
            except (PayLaterError, ValueError, TypeError):
                raise ConfigurationError(
                    "issuer_keys holds a PEM that is not a public key"
                ) from None
        try:
            ring.add(key)
        except (PayLaterError, ValueError, TypeError) as exc:
            raise ConfigurationError(f"issuer_keys holds an unusable key: {exc}") from None
    if not len(ring):
        raise ConfigurationError("issuer_keys is empty; pass None to fetch the issuer's keys")
    return ring
