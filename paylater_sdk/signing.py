"""The signed wire protocol: WeChat Pay API v3 framing, byte for byte, plus replay protection.

Requests are signed by the merchant over ``METHOD\\nPATH_AND_QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n``
and carry ``Authorization: <SCHEME> mchid="..",nonce_str="..",timestamp="..",serial_no="..",
signature=".."``.
Responses and notifications are signed by the issuer over ``TIMESTAMP\\nNONCE\\nBODY\\n`` and
carry ``<Prefix>-Timestamp``, ``-Nonce``, ``-Serial``, ``-Signature`` and ``-Signature-Type``.

Everything is verified over the raw body bytes *exactly as received*. Frameworks that parse
and re-serialize JSON change whitespace, key order or escapes, and the signature no longer
matches: that is the most common complaint of WeChat Pay SDK users, so this module only ever
takes bytes and never touches JSON.

Verification fails closed, cheapest checks first: framing -> timestamp -> key -> signature
-> nonce. The nonce is stored only after the signature verified, so forgeries cannot burn a
genuine sender's nonces. No HTTP library is imported here.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import secrets
import time
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Final

import attrs

from .algorithms import (
    ED25519,
    MIN_RSA_BITS,
    RSA_SHA256,
    Algorithm,
    Ed25519Algorithm,
    PrivateKey,
    PublicKey,
    RSASHA256Algorithm,
)
from .errors import (
    ConfigurationError,
    InvalidSignatureError,
    SignatureError,
    TimestampError,
)
from .keys import (
    KeyEntry,
    KeyRing,
    algorithm_for_key,
    generate_private_key,
    load_private_key,
    load_public_key,
    private_key_pem,
    public_key_pem,
    serial_for,
)
from .replay import InMemoryNonceStore, NonceStore

__all__ = [
    "DEFAULT_MAX_SKEW",
    "DEFAULT_PROFILE",
    "ED25519",
    "MAX_HEADER_BYTES",
    "MIN_RSA_BITS",
    "RSA_SHA256",
    "WECHATPAY_V3",
    "Algorithm",
    "Ed25519Algorithm",
    "InMemoryNonceStore",
    "IssuerProfile",
    "KeyEntry",
    "KeyRing",
    "NonceStore",
    "PrivateKey",
    "PublicKey",
    "RSASHA256Algorithm",
    "RequestSigner",
    "ResponseSigner",
    "algorithm_for_key",
    "generate_private_key",
    "get_header",
    "load_private_key",
    "load_public_key",
    "private_key_pem",
    "public_key_pem",
    "request_message",
    "response_message",
    "serial_for",
    "verify_request",
    "verify_response",
]

logger = logging.getLogger(__name__)

#: Default allowed clock difference, both directions (WeChat Pay uses 5 minutes too).
DEFAULT_MAX_SKEW: Final = 300
#: Any protocol header longer than this is refused before it is parsed.
MAX_HEADER_BYTES: Final = 4096

_NONCE_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TIMESTAMP_RE: Final = re.compile(r"[0-9]{1,12}")
_VALUE = r'"[\x20\x21\x23-\x7e]*"'
_PAIR = rf"[A-Za-z_][A-Za-z0-9_]*={_VALUE}"
_PARAMS_RE: Final = re.compile(rf"[ \t]*{_PAIR}(?:[ \t]*,[ \t]*{_PAIR})*[ \t]*")
_PAIR_RE: Final = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="([^"]*)"')
_REQUIRED_FIELDS: Final = ("mchid", "nonce_str", "timestamp", "serial_no", "signature")


@attrs.frozen
class IssuerProfile:
    """Names that differ between gateways speaking the same construction.

    ``schemes`` pairs each allowed scheme name (``PAYLATER-ED25519``) with its algorithm;
    the order is the order of preference. It doubles as the verifier's default allow-list.
    """

    name: str
    header_prefix: str = "Paylater"
    schemes: tuple[tuple[str, Algorithm], ...] = ()
    _by_scheme: dict[str, Algorithm] = attrs.field(init=False, eq=False, repr=False)
    _by_algorithm: dict[int, str] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if not self.schemes:
            raise ConfigurationError("an IssuerProfile needs at least one (scheme, algorithm)")
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*", self.header_prefix):
            raise ConfigurationError(f"bad header prefix {self.header_prefix!r}")
        for scheme, _ in self.schemes:
            if not re.fullmatch(r"[A-Z0-9][A-Z0-9-]*", scheme):
                raise ConfigurationError(f"bad scheme name {scheme!r}: use A-Z, 0-9 and '-'")
        object.__setattr__(self, "_by_scheme", dict(self.schemes))
        object.__setattr__(self, "_by_algorithm", {id(a): s for s, a in reversed(self.schemes)})

    @property
    def algorithms(self) -> tuple[Algorithm, ...]:
        return tuple(a for _, a in self.schemes)

    def scheme_for(self, algorithm: Algorithm) -> str:
        """The scheme name this profile uses for ``algorithm``."""
        try:
            return self._by_algorithm[id(algorithm)]
        except KeyError:
            raise ConfigurationError(
                f"profile {self.name!r} has no scheme for {algorithm.name}; it allows "
                f"{[s for s, _ in self.schemes]}"
            ) from None

    def algorithm_for(self, scheme: str) -> Algorithm:
        """The algorithm of a scheme name received on the wire; unknown -> rejected."""
        try:
            return self._by_scheme[scheme]
        except KeyError:
            raise InvalidSignatureError(
                f"unknown signature scheme {scheme[:40]!r}; profile {self.name!r} accepts "
                f"{[s for s, _ in self.schemes]}"
            ) from None

    def header(self, suffix: str) -> str:
        """``header("Timestamp")`` -> ``"Paylater-Timestamp"``."""
        return f"{self.header_prefix}-{suffix}"


#: This SDK's own names: ``PAYLATER-ED25519`` / ``PAYLATER-SHA256-RSA2048``, ``Paylater-*``.
DEFAULT_PROFILE: Final = IssuerProfile(
    name="paylater",
    header_prefix="Paylater",
    schemes=(("PAYLATER-ED25519", ED25519), ("PAYLATER-SHA256-RSA2048", RSA_SHA256)),
)
#: A WeChat Pay API v3 gateway: ``WECHATPAY2-SHA256-RSA2048`` and ``Wechatpay-*`` headers.
WECHATPAY_V3: Final = IssuerProfile(
    name="wechatpay-v3",
    header_prefix="Wechatpay",
    schemes=(("WECHATPAY2-SHA256-RSA2048", RSA_SHA256),),
)


# --- the strings to sign ---------------------------------------------------------------


def _body_bytes(body: bytes | bytearray | memoryview | str) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, bytearray | memoryview):
        return bytes(body)
    raise ConfigurationError(f"the body must be bytes (the raw body), got {type(body).__name__}")


def _line(name: str, value: str) -> bytes:
    if not isinstance(value, str) or not value or "\n" in value or "\r" in value:
        raise ConfigurationError(f"{name} must be a non-empty string without line breaks")
    return value.encode("utf-8")


def request_message(
    method: str, path_and_query: str, timestamp: int | str, nonce: str, body: bytes | str
) -> bytes:
    """``METHOD\\nPATH_AND_QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n`` (an empty body: an empty line)."""
    return b"%s\n%s\n%s\n%s\n%s\n" % (
        _line("method", method),
        _line("path_and_query", path_and_query),
        str(timestamp).encode("ascii"),
        nonce.encode("ascii"),
        _body_bytes(body),
    )


def response_message(timestamp: int | str, nonce: str, body: bytes | str) -> bytes:
    """``TIMESTAMP\\nNONCE\\nBODY\\n``, for responses and notifications."""
    return b"%s\n%s\n%s\n" % (
        str(timestamp).encode("ascii"),
        nonce.encode("ascii"),
        _body_bytes(body),
    )


# --- shared helpers ---------------------------------------------------------------------


def _now_ts(now: datetime | int | None) -> int:
    if now is None:
        return int(time.time())
    if isinstance(now, datetime):
        if now.tzinfo is None or now.utcoffset() is None:
            raise ConfigurationError("now must be timezone-aware (e.g. tzinfo=timezone.utc)")
        return int(now.timestamp())
    if isinstance(now, int) and not isinstance(now, bool):
        return now
    raise ConfigurationError(f"now must be an aware datetime or UNIX seconds, not {now!r}")


def _new_nonce() -> str:
    return secrets.token_hex(16).upper()


def _check_timestamp(raw: str, now_ts: int, max_skew: int) -> int:
    if not _TIMESTAMP_RE.fullmatch(raw):
        raise TimestampError(
            f"the timestamp must be UNIX seconds in decimal digits, got {raw[:20]!r}"
        )
    ts = int(raw)
    if ts - now_ts > max_skew or now_ts - ts > max_skew:
        raise TimestampError(
            f"the timestamp is {ts - now_ts:+d} s from now, outside +/-{max_skew} s; "
            "check the clock (NTP) and sign every attempt anew"
        )
    return ts


def _check_nonce(nonce: str) -> None:
    if not _NONCE_RE.fullmatch(nonce):
        raise InvalidSignatureError("the nonce must be 1..64 characters of A-Z a-z 0-9 _ -")


def _decode_signature(raw: str) -> bytes:
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSignatureError("the signature is not valid base64") from None


def _check_max_skew(max_skew: int, nonce_store: NonceStore | None) -> None:
    if isinstance(max_skew, bool) or not isinstance(max_skew, int) or max_skew < 0:
        raise ConfigurationError("max_skew must be a non-negative int number of seconds")
    window = getattr(nonce_store, "window_seconds", None)
    if isinstance(window, int) and window < max_skew:
        raise ConfigurationError(
            f"the nonce store remembers {window} s but max_skew is {max_skew} s: a replay "
            "could outlive the nonce memory; use window_seconds >= max_skew"
        )


def _allowed(
    profile: IssuerProfile, algorithm: Algorithm, algorithms: Collection[Algorithm] | None
) -> None:
    if algorithms is not None and not any(algorithm is a for a in algorithms):
        raise InvalidSignatureError(
            f"algorithm {algorithm.name} is not in this verifier's allow-list "
            f"{[a.name for a in algorithms]}"
        )


def _at(now_ts: int) -> datetime:
    return datetime.fromtimestamp(now_ts, UTC)


def _key_for(keyring: KeyRing, serial: str, now_ts: int, algorithm: Algorithm) -> PublicKey:
    key = keyring.get(serial, at=_at(now_ts))
    if not algorithm.accepts_public_key(key):
        raise InvalidSignatureError(
            f"key {serial} cannot verify {algorithm.name} signatures (it is a "
            f"{algorithm_for_key(key).name} key): algorithm mismatch"
        )
    return key


def _check_private_key(private_key: PrivateKey, serial: str, profile: IssuerProfile) -> Algorithm:
    algorithm = algorithm_for_key(private_key)
    if not algorithm.accepts_private_key(private_key):
        raise ConfigurationError("a signer needs a private key, not a public key")
    profile.scheme_for(algorithm)
    if not isinstance(serial, str) or not serial or '"' in serial or not serial.isprintable():
        raise ConfigurationError("serial must be a non-empty printable string without quotes")
    return algorithm


# --- requests (merchant signs, issuer verifies) -----------------------------------------


@attrs.frozen(repr=False)
class RequestSigner:
    """Signs merchant requests. ``repr`` names the merchant and serial, never the key."""

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
        nonce = _new_nonce() if nonce is None else nonce
        _check_nonce(nonce)
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


def _parse_authorization(authorization: str, profile: IssuerProfile) -> tuple[str, dict[str, str]]:
    if not isinstance(authorization, str) or not authorization:
        raise InvalidSignatureError("the request has no Authorization header (sign it)")
    if len(authorization) > MAX_HEADER_BYTES:
        raise InvalidSignatureError(
            f"the Authorization header is over {MAX_HEADER_BYTES} bytes; refused unparsed"
        )
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
        scheme, fields = _parse_authorization(authorization, profile)
        algorithm = profile.algorithm_for(scheme)
        _allowed(profile, algorithm, algorithms)
        mchid, serial, nonce = fields["mchid"], fields["serial_no"], fields["nonce_str"]
        if not mchid:
            raise InvalidSignatureError("the Authorization mchid is empty")
        now_ts = _now_ts(now)
        ts = _check_timestamp(fields["timestamp"], now_ts, max_skew)
        _check_nonce(nonce)
        key = _key_for(keyring, serial, now_ts, algorithm)
        signature = _decode_signature(fields["signature"])
        try:
            message = request_message(method, path_and_query, ts, nonce, body)
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


# --- responses and notifications (issuer signs, merchant verifies) ---------------------


@attrs.frozen(repr=False)
class ResponseSigner:
    """Signs issuer responses and notifications. ``repr`` shows the serial, never the key."""

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
        nonce = _new_nonce() if nonce is None else nonce
        _check_nonce(nonce)
        message = response_message(ts, nonce, body)
        signature = base64.b64encode(self.algorithm.sign(self.private_key, message)).decode()
        t, n, s, sig, typ = self._names
        return {t: str(ts), n: nonce, s: self.serial, sig: signature, typ: self._scheme}

    def __repr__(self) -> str:
        return f"ResponseSigner(serial={self.serial!r}, scheme={self._scheme!r})"


def _normalize(name: str) -> str:
    name = name.lower().replace("_", "-")
    return name[5:] if name.startswith("http-") else name


def get_header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup over any mapping (dict with lower-case keys,
    requests' CaseInsensitiveDict, werkzeug Headers, Django's ``HTTP_X_Y`` META).

    A header given twice with different values is refused: which one was signed?
    """
    getlist = getattr(headers, "getlist", None)
    if callable(getlist):
        values = list(getlist(name))
        if len(set(values)) > 1:
            raise InvalidSignatureError(f"the {name} header appears twice with different values")
        if values:
            return _header_value(name, values[0])
    value = headers.get(name)
    if value is not None:
        return _header_value(name, value)
    wanted = name.lower()
    found: str | None = None
    for key, val in headers.items():
        if isinstance(key, str) and _normalize(key) == wanted:
            if found is not None and found != val:
                raise InvalidSignatureError(
                    f"the {name} header appears twice with different values"
                )
            found = val
    return None if found is None else _header_value(name, found)


def _header_value(name: str, value: object) -> str:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str):
        raise InvalidSignatureError(f"the {name} header is not a string")
    if len(value) > MAX_HEADER_BYTES:
        raise InvalidSignatureError(f"the {name} header is over {MAX_HEADER_BYTES} bytes")
    return value.strip()


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
        _allowed(profile, algorithm, algorithms)
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
        algorithm.verify(key, response_message(ts, nonce, body), signature)
        if nonce_store is not None:
            nonce_store.check_and_store(nonce, ts)
    except SignatureError as exc:
        logger.debug("response rejected: %s (%s) serial=%r", type(exc).__name__, exc, serial[:64])
        raise
    return serial
