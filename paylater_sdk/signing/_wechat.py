"""WeChat Pay v3's two ways of naming a key: X.509 certificates and public key ids.

WeChat Pay names the key behind a signature in one of two ways, and a merchant account uses
one of them ("key mode"):

- **certificate mode**: the platform (and the merchant) key sits in an X.509 certificate,
  and the serial on the wire is the certificate's serial number in upper-case hex
  (``5157F09EFDC096DE15EBE81A47057A7232F1B8E1``), not something derived from the key;
- **public-key mode**: the platform key is a bare public key with an id such as
  ``PUB_KEY_ID_0114232134912410000000000000``, which is not hex at all.

Both kinds of serial go into a :class:`~paylater_sdk.signing.KeyRing` unchanged; this module
reads certificates (serial, validity window and key from the certificate itself) and makes
public key ids, so neither has to be typed by hand.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Final

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.x509.oid import NameOID

from ..errors import ConfigurationError
from ._algorithms import PrivateKey, PublicKey
from ._keys import KeyRing, _check_key_size, _public

#: Every WeChat Pay platform public key id starts with this.
PUBLIC_KEY_ID_PREFIX: Final = "PUB_KEY_ID_"
_PUBLIC_KEY_ID_RE: Final = re.compile(r"PUB_KEY_ID_[0-9A-Za-z_]{1,64}")
_ID_DIGITS = 28


@attrs.frozen(repr=False)
class Certificate:
    """An X.509 certificate as WeChat Pay uses it: a key, its serial and its window.

    ``serial`` is the certificate serial number in upper-case hex, exactly what WeChat Pay
    sends in ``serial_no`` / ``Wechatpay-Serial`` (and what ``wechatpayv3`` compares).
    """

    serial: str
    public_key: PublicKey
    not_before: datetime
    not_after: datetime
    pem: bytes

    def __repr__(self) -> str:
        return (
            f"Certificate(serial={self.serial!r}, not_before={self.not_before.isoformat()}, "
            f"not_after={self.not_after.isoformat()})"
        )


def _cert_times(cert: x509.Certificate) -> tuple[datetime, datetime]:
    return cert.not_valid_before_utc, cert.not_valid_after_utc


def load_certificate(pem: bytes | str) -> Certificate:
    """Read a PEM certificate: serial (upper-case hex), RSA/Ed25519 key and validity window."""
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else bytes(pem)
    try:
        cert = x509.load_pem_x509_certificate(data)
    except ValueError:
        raise ConfigurationError("could not load the certificate: not a PEM certificate") from None
    try:
        key = cert.public_key()
    except Exception:
        raise ConfigurationError("the certificate's key type is not supported") from None
    if not isinstance(key, rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        raise ConfigurationError(
            f"unsupported certificate key type {type(key).__name__}; use RSA (>= 2048)"
        )
    _check_key_size(key)
    not_before, not_after = _cert_times(cert)
    return Certificate(
        serial=format(cert.serial_number, "X"),
        public_key=key,
        not_before=not_before,
        not_after=not_after,
        pem=cert.public_bytes(serialization.Encoding.PEM),
    )


def keyring_add_certificate(ring: KeyRing, certificate: Certificate | bytes | str) -> str:
    """Trust the key of ``certificate`` under its serial, within its validity window."""
    cert = certificate if isinstance(certificate, Certificate) else load_certificate(certificate)
    return ring.add(
        cert.public_key,
        serial=cert.serial,
        not_before=cert.not_before,
        not_after=cert.not_after,
    )


def generate_certificate(
    private_key: PrivateKey,
    *,
    common_name: str,
    serial_number: int | None = None,
    valid_days: int = 5 * 365,
    not_before: datetime | None = None,
) -> Certificate:
    """A self-signed certificate for ``private_key`` (a mock issuer's platform certificate,
    or a test merchant's API certificate). ``serial_number`` defaults to a random 159-bit
    number, so the hex serial has the 40 digits WeChat Pay's serials have."""
    if not isinstance(private_key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise ConfigurationError("generate_certificate needs an RSA or Ed25519 private key")
    if not common_name or len(common_name) > 64:
        raise ConfigurationError("common_name must be 1..64 characters")
    if valid_days < 1:
        raise ConfigurationError("valid_days must be at least 1")
    start = (not_before or datetime.now(UTC)).replace(microsecond=0)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    number = x509.random_serial_number() | (1 << 156) if serial_number is None else serial_number
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(number)
        .not_valid_before(start - timedelta(minutes=5))
        .not_valid_after(start + timedelta(days=valid_days))
    )
    algorithm = None if isinstance(private_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    cert = builder.sign(private_key, algorithm)
    return load_certificate(cert.public_bytes(serialization.Encoding.PEM))


def public_key_id_for(public_key: PublicKey | PrivateKey) -> str:
    """A WeChat-style public key id (``PUB_KEY_ID_`` and 28 digits), derived from the key.

    Derived rather than assigned, like :func:`~paylater_sdk.signing.serial_for`: the same
    key always gets the same id, and an id can never silently name another key.
    """
    der = _public(public_key).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    number = int.from_bytes(hashlib.sha256(der).digest()[:12], "big")
    return PUBLIC_KEY_ID_PREFIX + str(number).zfill(_ID_DIGITS)[-_ID_DIGITS:]


def is_public_key_id(serial: str) -> bool:
    """True for a public-key-mode id (``PUB_KEY_ID_...``), False for a certificate serial."""
    return isinstance(serial, str) and _PUBLIC_KEY_ID_RE.fullmatch(serial) is not None
