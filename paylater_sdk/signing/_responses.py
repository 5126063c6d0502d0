"""Responses and notifications: the issuer signs, the merchant verifies
(``<Prefix>-Timestamp/-Nonce/-Serial/-Signature/-Signature-Type`` headers)."""

from __future__ import annotations

import base64
import logging
from collections.abc import Collection, Mapping
from datetime import datetime

import attrs

from ..errors import ConfigurationError, InvalidSignatureError, SignatureError, TimestampError
from ._algorithms import Algorithm, PrivateKey
from ._framing import (
    DEFAULT_MAX_SKEW,
    _allowed,
    _check_max_skew,
    _check_nonce,
    _check_private_key,
    _check_timestamp,
    _decode_signature,
    _key_for,
    _new_nonce,
    _now_ts,
    get_header,
    response_message,
)
from ._keys import KeyRing
from ._profiles import DEFAULT_PROFILE, IssuerProfile
from ._replay import NonceStore

logger = logging.getLogger("paylater_sdk.signing")


@attrs.frozen(repr=False, eq=False)
class ResponseSigner:
    """Signs issuer responses and notifications. ``repr`` shows the serial, never the key.

    Signers compare by identity: nothing ever compares private keys.
    """

    private_key: PrivateKey = attrs.field(repr=False)
    serial: str
    profile: IssuerProfile = attrs.field(default=DEFAULT_PROFILE, kw_only=True)
    algorithm: Algorithm = attrs.field(init=False)
    _scheme: str = attrs.field(init=False)
    _names: tuple[str, str, str, str, str] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        algorithm = _check_private_key(self.private_key, self.serial, self.profile)
        object.__setattr__(self, "algorithm", algorithm)
        object.__setattr__(self, "_scheme", self.profile.scheme_for(algorithm))
        h = self.profile.header
        names = (h("Timestamp"), h("Nonce"), h("Serial"), h("Signature"), h("Signature-Type"))
        object.__setattr__(self, "_names", names)

    def headers(
        self,
        body: bytes | str,
        *,
        timestamp: int | datetime | None = None,
        nonce: str | None = None,
    ) -> dict[str, str]:
        """The five signature headers for ``body`` (sign exactly the bytes you send)."""
        ts = _now_ts(timestamp)
        if nonce is None:
            nonce = _new_nonce()
        else:
            _check_nonce(nonce, ConfigurationError)
        message = response_message(ts, nonce, body)
        signature = base64.b64encode(self.algorithm.sign(self.private_key, message)).decode()
        t, n, s, sig, typ = self._names
        return {t: str(ts), n: nonce, s: self.serial, sig: signature, typ: self._scheme}

    def __repr__(self) -> str:
        return f"ResponseSigner(serial={self.serial!r}, scheme={self._scheme!r})"


def verify_response(
    headers: Mapping[str, str],
    body: bytes | str,
    *,
    keyring: KeyRing,
    nonce_store: NonceStore | None = None,
    profile: IssuerProfile = DEFAULT_PROFILE,
    now: datetime | int | None = None,
    max_skew: int = DEFAULT_MAX_SKEW,
    algorithms: Collection[Algorithm] | None = None,
) -> str:
    """Authenticate a response or notification over its raw ``body``; return the serial.

    An unsigned message is rejected (a client must treat an unsigned 2xx as forged). With a
    ``nonce_store`` the nonce is remembered as is and a replay raises :class:`ReplayError`.
    """
    serial = ""
    try:
        _check_max_skew(max_skew, nonce_store)
        h = profile.header
        raw_signature = get_header(headers, h("Signature"))
        if not raw_signature:
            raise InvalidSignatureError(
                f"the message has no {h('Signature')} header: treat it as forged"
            )
        scheme = get_header(headers, h("Signature-Type"))
        if not scheme:
            raise InvalidSignatureError(f"the message has no {h('Signature-Type')} header")
        algorithm = profile.algorithm_for(scheme)
        _allowed(algorithm, algorithms)
        raw_ts = get_header(headers, h("Timestamp"))
        if raw_ts is None:
            raise TimestampError(f"the message has no {h('Timestamp')} header")
        now_ts = _now_ts(now)
        ts = _check_timestamp(raw_ts, now_ts, max_skew)
        nonce = get_header(headers, h("Nonce"))
        if nonce is None:
            raise InvalidSignatureError(f"the message has no {h('Nonce')} header")
        _check_nonce(nonce)
        serial = get_header(headers, h("Serial")) or ""
        if not serial:
            raise InvalidSignatureError(f"the message has no {h('Serial')} header")
        key = _key_for(keyring, serial, now_ts, algorithm)
        signature = _decode_signature(raw_signature)
        algorithm.verify(key, response_message(raw_ts, nonce, body), signature)
        if nonce_store is not None:
            nonce_store.check_and_store(nonce, ts)
    except SignatureError as exc:
        logger.debug("response rejected: %s (%s) serial=%r", type(exc).__name__, exc, serial[:64])
        raise
    return serial
