"""Signature algorithms, kept apart from the wire framing (as PyJWT separates algorithms
from token encoding).

An :class:`Algorithm` knows how to turn bytes into a signature and back, and which key
types it accepts. It knows nothing about headers, timestamps or nonces: the framing in
:mod:`paylater_sdk.signing` decides *what* bytes get signed. Keeping the two apart is what
makes "an allow-list of algorithms" meaningful: the verifier picks the algorithm from its
own list, then checks that the key really is of that algorithm's type, so a message can
never talk a verifier into using an RSA public key as an HMAC secret or similar confusion.

Verification always goes through the cryptography library's ``verify``, never a string
comparison of signatures.
"""

from __future__ import annotations

import abc
from typing import Final, cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from ..errors import ConfigurationError, InvalidSignatureError

#: Private key types the SDK signs with.
PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
#: Public key types the SDK verifies with.
PublicKey = rsa.RSAPublicKey | ed25519.Ed25519PublicKey

#: RSA keys below this size are refused everywhere (WeChat Pay v3 requires 2048 too).
MIN_RSA_BITS: Final = 2048

_MISMATCH: Final = (
    "the signature does not match the signed content (verify over the raw body bytes exactly "
    "as received, and the path and query exactly as sent)"
)


class _IsA:
    """``isinstance(key, cls)`` that remembers the concrete types it accepted.

    The key classes are ABCs with Rust-backed implementations registered on them; the ABC
    check costs about a microsecond, a set lookup a few nanoseconds, and verifiers ask on
    every message.
    """

    def __init__(self, cls: type) -> None:
        self._cls = cls
        self._seen: set[type] = set()

    def __call__(self, key: object) -> bool:
        kind = type(key)
        if kind in self._seen:
            return True
        if isinstance(key, self._cls):
            self._seen.add(kind)
            return True
        return False


_is_rsa_private = _IsA(rsa.RSAPrivateKey)
_is_rsa_public = _IsA(rsa.RSAPublicKey)
_is_ed_private = _IsA(ed25519.Ed25519PrivateKey)
_is_ed_public = _IsA(ed25519.Ed25519PublicKey)


class Algorithm(abc.ABC):
    """One signature algorithm. Instances are stateless singletons: compare with ``is``."""

    #: Short, profile-independent name, e.g. ``"SHA256-RSA2048"``; profiles prefix it.
    name: str

    @abc.abstractmethod
    def sign(self, private_key: PrivateKey, message: bytes) -> bytes:
        """Return the raw (not base64) signature of ``message``."""

    @abc.abstractmethod
    def verify(self, public_key: PublicKey, message: bytes, signature: bytes) -> None:
        """Raise :class:`InvalidSignatureError` unless ``signature`` matches ``message``."""

    @abc.abstractmethod
    def accepts_private_key(self, key: object) -> bool:
        """Whether ``key`` is a private key this algorithm can sign with."""

    @abc.abstractmethod
    def accepts_public_key(self, key: object) -> bool:
        """Whether ``key`` is a public key this algorithm can verify with."""

    def __repr__(self) -> str:
        return f"<Algorithm {self.name}>"


class RSASHA256Algorithm(Algorithm):
    """RSASSA-PKCS1-v1_5 with SHA-256 over keys of at least 2048 bits (WeChat Pay v3)."""

    name = "SHA256-RSA2048"

    def __init__(self) -> None:
        # Built once: the padding and hash objects are immutable and reused by every call.
        self._padding = padding.PKCS1v15()
        self._hash = hashes.SHA256()

    def sign(self, private_key: PrivateKey, message: bytes) -> bytes:
        if not self.accepts_private_key(private_key):
            raise ConfigurationError(
                f"{self.name} needs an RSA private key of at least {MIN_RSA_BITS} bits, "
                f"got {type(private_key).__name__}"
            )
        return private_key.sign(message, self._padding, self._hash)  # type: ignore[call-arg]

    def verify(self, public_key: PublicKey, message: bytes, signature: bytes) -> None:
        if not _is_rsa_public(public_key):
            raise InvalidSignatureError(
                f"the signature claims {self.name} but the signing key is not an RSA key"
            )
        public_key = cast(rsa.RSAPublicKey, public_key)
        if public_key.key_size < MIN_RSA_BITS:
            raise InvalidSignatureError(
                f"the signing key has {public_key.key_size} bits; at least {MIN_RSA_BITS} needed"
            )
        if len(signature) != (public_key.key_size + 7) // 8:
            raise InvalidSignatureError(
                f"the {self.name} signature has {len(signature)} bytes, "
                f"expected {(public_key.key_size + 7) // 8} (truncated or wrong algorithm?)"
            )
        try:
            public_key.verify(signature, message, self._padding, self._hash)
        except InvalidSignature:
            raise InvalidSignatureError(_MISMATCH) from None

    def accepts_private_key(self, key: object) -> bool:
        return _is_rsa_private(key) and key.key_size >= MIN_RSA_BITS  # type: ignore[attr-defined]

    def accepts_public_key(self, key: object) -> bool:
        return _is_rsa_public(key) and key.key_size >= MIN_RSA_BITS  # type: ignore[attr-defined]


class Ed25519Algorithm(Algorithm):
    """Ed25519 (RFC 8032): much faster signing than RSA, 64-byte signatures."""

    name = "ED25519"
    signature_length: Final = 64

    def sign(self, private_key: PrivateKey, message: bytes) -> bytes:
        if not _is_ed_private(private_key):
            raise ConfigurationError(
                f"{self.name} needs an Ed25519 private key, got {type(private_key).__name__}"
            )
        return private_key.sign(message)  # type: ignore[call-arg]

    def verify(self, public_key: PublicKey, message: bytes, signature: bytes) -> None:
        if not _is_ed_public(public_key):
            raise InvalidSignatureError(
                f"the signature claims {self.name} but the signing key is not an Ed25519 key"
            )
        if len(signature) != self.signature_length:
            raise InvalidSignatureError(
                f"the {self.name} signature has {len(signature)} bytes, expected "
                f"{self.signature_length} (truncated or wrong algorithm?)"
            )
        try:
            public_key.verify(signature, message)  # type: ignore[call-arg]
        except InvalidSignature:
            raise InvalidSignatureError(_MISMATCH) from None

    def accepts_private_key(self, key: object) -> bool:
        return _is_ed_private(key)

    def accepts_public_key(self, key: object) -> bool:
        return _is_ed_public(key)


#: RSASSA-PKCS1-v1_5 + SHA-256 (``PAYLATER-SHA256-RSA2048`` / ``WECHATPAY2-SHA256-RSA2048``).
RSA_SHA256: Final[Algorithm] = RSASHA256Algorithm()
#: Ed25519 (``PAYLATER-ED25519``).
ED25519: Final[Algorithm] = Ed25519Algorithm()
