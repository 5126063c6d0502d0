"""The strings to sign and the checks shared by request and response verification."""

from __future__ import annotations

import binascii
import re
import secrets
import time
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Final

from ..errors import ConfigurationError, InvalidSignatureError, PayLaterError, TimestampError
from ._algorithms import Algorithm, PrivateKey, PublicKey
from ._keys import KeyRing, algorithm_for_key
from ._profiles import IssuerProfile
from ._replay import NonceStore

#: Default allowed clock difference, both directions (WeChat Pay uses 5 minutes too).
DEFAULT_MAX_SKEW: Final = 300
#: Any protocol header longer than this is refused before it is parsed.
MAX_HEADER_BYTES: Final = 4096

_NONCE_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")

# --- the strings to sign ---------------------------------------------------------------


def _utf8(name: str, value: str) -> bytes:
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigurationError(f"{name} is not encodable as UTF-8; pass the raw bytes") from None


def _body_bytes(body: bytes | bytearray | memoryview | str) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return _utf8("the body", body)
    if isinstance(body, bytearray | memoryview):
        return bytes(body)
    raise ConfigurationError(f"the body must be bytes (the raw body), got {type(body).__name__}")


def _bad_line(method: object, path_and_query: object) -> ConfigurationError:
    for name, value in (("method", method), ("path_and_query", path_and_query)):
        if not isinstance(value, str):
            return ConfigurationError(f"{name} must be a string, got {type(value).__name__}")
        if not value or "\n" in value or "\r" in value:
            return ConfigurationError(f"{name} must be a non-empty string without line breaks")
    return ConfigurationError("method and path_and_query must be strings")


def request_message(
    method: str, path_and_query: str, timestamp: int | str, nonce: str, body: bytes | str
) -> bytes:
    """``METHOD\\nPATH_AND_QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n`` (an empty body: an empty line)."""
    # Hot path of every request, both sides: plain str checks, one encode, one join.
    if (
        type(method) is not str
        or type(path_and_query) is not str
        or not method
        or not path_and_query
        or "\n" in method
        or "\r" in method
        or "\n" in path_and_query
        or "\r" in path_and_query
    ):
        raise _bad_line(method, path_and_query)
    head = _utf8("the method or path", f"{method}\n{path_and_query}\n{timestamp}\n{nonce}\n")
    return b"".join((head, body if type(body) is bytes else _body_bytes(body), b"\n"))


def response_message(timestamp: int | str, nonce: str, body: bytes | str) -> bytes:
    """``TIMESTAMP\\nNONCE\\nBODY\\n``, for responses and notifications."""
    head = _utf8("the nonce", f"{timestamp}\n{nonce}\n")
    return b"".join((head, body if type(body) is bytes else _body_bytes(body), b"\n"))


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
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 12):
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


def _check_nonce(nonce: str, error: type[PayLaterError] = InvalidSignatureError) -> None:
    if not isinstance(nonce, str) or not _NONCE_RE.fullmatch(nonce):
        raise error("the nonce must be 1..64 characters of A-Z a-z 0-9 _ -")


def _decode_signature(raw: str) -> bytes:
    try:
        # Strict: characters outside the alphabet, bad padding or data after it are errors.
        return binascii.a2b_base64(raw.encode("ascii"), strict_mode=True)
    except (binascii.Error, ValueError):
        raise InvalidSignatureError("the signature is not valid base64") from None


def _check_max_skew(max_skew: int, nonce_store: NonceStore | None) -> None:
    if type(max_skew) is not int or max_skew < 0:
        raise ConfigurationError("max_skew must be a non-negative int number of seconds")
    window = getattr(nonce_store, "window_seconds", None)
    if isinstance(window, int) and window < max_skew:
        raise ConfigurationError(
            f"the nonce store remembers {window} s but max_skew is {max_skew} s: a replay "
            "could outlive the nonce memory; use window_seconds >= max_skew"
        )


def _allowed(algorithm: Algorithm, algorithms: Collection[Algorithm] | None) -> None:
    if algorithms is not None and not any(algorithm is a for a in algorithms):
        raise InvalidSignatureError(
            f"algorithm {algorithm.name} is not in this verifier's allow-list "
            f"{[a.name for a in algorithms]}"
        )


def _key_for(keyring: KeyRing, serial: str, now_ts: int, algorithm: Algorithm) -> PublicKey:
    key = keyring.get_at_timestamp(serial, now_ts)
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


# --- headers ---------------------------------------------------------------------------


def _normalize(name: str) -> str:
    name = name.lower().replace("_", "-")
    return name[5:] if name.startswith("http-") else name


def get_header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup over any mapping (dict with lower-case keys,
    requests' CaseInsensitiveDict, werkzeug Headers, Django's ``HTTP_X_Y`` META).

    A header given twice with different values is refused: which one was signed?
    """
    if type(headers) is dict:  # the common case, exact spelling: skip the general path
        value = headers.get(name)
        if type(value) is str and len(value) <= MAX_HEADER_BYTES:
            return value.strip()
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
