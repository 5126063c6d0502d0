"""Requests: the merchant signs, the issuer verifies (``Authorization`` header)."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Collection
from datetime import datetime
from typing import Final

import attrs

from ..errors import ConfigurationError, InvalidSignatureError, SignatureError
from ._algorithms import Algorithm, PrivateKey
from ._framing import (
    DEFAULT_MAX_SKEW,
    MAX_HEADER_BYTES,
    _allowed,
    _check_max_skew,
    _check_nonce,
    _check_private_key,
    _check_timestamp,
    _decode_signature,
    _key_for,
    _new_nonce,
    _now_ts,
    request_message,
)
from ._keys import KeyRing
from ._profiles import DEFAULT_PROFILE, IssuerProfile
from ._replay import NonceStore

logger = logging.getLogger("paylater_sdk.signing")

_VALUE = r'"[\x20\x21\x23-\x7e]*"'
_PAIR = rf"[A-Za-z_][A-Za-z0-9_]*={_VALUE}"
_PARAMS_RE: Final = re.compile(rf"[ \t]*{_PAIR}(?:[ \t]*,[ \t]*{_PAIR})*[ \t]*")
_PAIR_RE: Final = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="([^"]*)"')
_REQUIRED_FIELDS: Final = ("mchid", "nonce_str", "timestamp", "serial_no", "signature")
# The order this SDK's signer writes: one match instead of a general parse (hot path).
_CANONICAL_RE: Final = re.compile(
    r'([A-Z0-9][A-Z0-9-]*) mchid="([\x20\x21\x23-\x7e]*)",nonce_str="([\x20\x21\x23-\x7e]*)",'
    r'timestamp="([\x20\x21\x23-\x7e]*)",serial_no="([\x20\x21\x23-\x7e]*)",'
    r'signature="([\x20\x21\x23-\x7e]*)"'
)


@attrs.frozen(repr=False, eq=False)
class RequestSigner:
    """Signs merchant requests. ``repr`` names the merchant and serial, never the key.

    Signers compare by identity: nothing ever compares private keys.
    """

    merchant_id: str
    private_key: PrivateKey = attrs.field(repr=False)
    serial: str
    profile: IssuerProfile = attrs.field(default=DEFAULT_PROFILE, kw_only=True)
    algorithm: Algorithm = attrs.field(init=False)
    _scheme: str = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        algorithm = _check_private_key(self.private_key, self.serial, self.profile)
        mchid = self.merchant_id
        if not isinstance(mchid, str) or not mchid or '"' in mchid or not mchid.isprintable():
            raise ConfigurationError("merchant_id must be a non-empty printable string")
        object.__setattr__(self, "algorithm", algorithm)
        object.__setattr__(self, "_scheme", self.profile.scheme_for(algorithm))

    def authorization(
        self,
        method: str,
        path_and_query: str,
        body: bytes | str = b"",
        *,
        timestamp: int | datetime | None = None,
        nonce: str | None = None,
    ) -> str:
        """The ``Authorization`` header value for one request attempt.

        Call it for every attempt (retries included): the timestamp and nonce must be fresh.
        ``path_and_query`` is exactly what goes on the request line, e.g. ``/v1/x?a=1``.
        """
        ts = _now_ts(timestamp)
        if nonce is None:
            nonce = _new_nonce()
        else:
            _check_nonce(nonce, ConfigurationError)
        message = request_message(method, path_and_query, ts, nonce, body)
        signature = base64.b64encode(self.algorithm.sign(self.private_key, message)).decode()
        return (
            f'{self._scheme} mchid="{self.merchant_id}",nonce_str="{nonce}",'
            f'timestamp="{ts}",serial_no="{self.serial}",signature="{signature}"'
        )

    def __repr__(self) -> str:
        return (
            f"RequestSigner(merchant_id={self.merchant_id!r}, serial={self.serial!r}, "
            f"scheme={self._scheme!r})"
        )


def _parse_authorization(authorization: str) -> tuple[str, dict[str, str]]:
    if not isinstance(authorization, str) or not authorization:
        raise InvalidSignatureError("the request has no Authorization header (sign it)")
    if len(authorization) > MAX_HEADER_BYTES:
        raise InvalidSignatureError(
            f"the Authorization header is over {MAX_HEADER_BYTES} bytes; refused unparsed"
        )
    fast = _CANONICAL_RE.fullmatch(authorization)
    if fast is not None:
        scheme, mchid, nonce, timestamp, serial, signature = fast.groups()
        return scheme, {
            "mchid": mchid,
            "nonce_str": nonce,
            "timestamp": timestamp,
            "serial_no": serial,
            "signature": signature,
        }
    scheme, sep, params = authorization.partition(" ")
    if not sep:
        raise InvalidSignatureError(
            'the Authorization header must be "<SCHEME> key=\\"value\\",..."'
        )
    if not _PARAMS_RE.fullmatch(params):
        raise InvalidSignatureError(
            'malformed Authorization parameters: expected key="value" pairs separated by '
            "commas, every value in double quotes"
        )
    fields: dict[str, str] = {}
    for key, value in _PAIR_RE.findall(params):
        if key in fields:
            raise InvalidSignatureError(f"the Authorization field {key!r} appears twice")
        fields[key] = value
    missing = [f for f in _REQUIRED_FIELDS if f not in fields]
    if missing:
        raise InvalidSignatureError(f"the Authorization header lacks {', '.join(missing)}")
    return scheme, fields


def verify_request(
    authorization: str,
    method: str,
    path_and_query: str,
    body: bytes | str,
    *,
    keyring: KeyRing,
    nonce_store: NonceStore,
    profile: IssuerProfile = DEFAULT_PROFILE,
    now: datetime | int | None = None,
    max_skew: int = DEFAULT_MAX_SKEW,
    algorithms: Collection[Algorithm] | None = None,
) -> str:
    """Authenticate one request and return the merchant id it was signed for.

    ``body`` is the raw request body exactly as received; ``path_and_query`` the request
    target exactly as sent. The nonce is remembered as ``"<mchid>:<nonce>"`` in
    ``nonce_store`` (the caller decides what store, e.g. one per issuer). The key is picked
    by ``serial_no`` and must belong to the merchant: checking that is the caller's job
    (pass the merchant's own ``keyring``).
    """
    mchid = ""
    serial = ""
    try:
        _check_max_skew(max_skew, nonce_store)
        scheme, fields = _parse_authorization(authorization)
        algorithm = profile.algorithm_for(scheme)
        _allowed(algorithm, algorithms)
        mchid, serial, nonce = fields["mchid"], fields["serial_no"], fields["nonce_str"]
        if not mchid:
            raise InvalidSignatureError("the Authorization mchid is empty")
        now_ts = _now_ts(now)
        ts = _check_timestamp(fields["timestamp"], now_ts, max_skew)
        _check_nonce(nonce)
        key = _key_for(keyring, serial, now_ts, algorithm)
        signature = _decode_signature(fields["signature"])
        try:
            message = request_message(method, path_and_query, fields["timestamp"], nonce, body)
        except ConfigurationError as exc:
            raise InvalidSignatureError(f"cannot rebuild the signed string: {exc}") from None
        algorithm.verify(key, message, signature)
        nonce_store.check_and_store(f"{mchid}:{nonce}", ts)
    except SignatureError as exc:
        logger.debug(
            "request rejected: %s (%s) mchid=%r serial=%r",
            type(exc).__name__,
            exc,
            mchid[:64],
            serial[:64],
        )
        raise
    return mchid
