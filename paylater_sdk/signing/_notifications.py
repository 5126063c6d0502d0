"""Sealed notifications: the issuer tells the merchant what happened, signed and encrypted.

The envelope is WeChat Pay v3's callback, field for field::

    {"id": "evt_...", "create_time": "2026-11-29T19:02:25+00:00",
     "resource_type": "encrypt-resource", "event_type": "CHECKOUT.AUTHORIZED",
     "summary": "...",
     "resource": {"original_type": "checkout", "algorithm": "AEAD_AES_256_GCM",
                  "ciphertext": "<base64, 16-byte tag appended>",
                  "associated_data": "checkout", "nonce": "<12 characters>"}}

It is signed like a response (``<Prefix>-*`` headers over the raw body) *and* the resource is
encrypted with the merchant's 32-byte API key: the signature proves the issuer sent it, the
encryption keeps order details out of proxies' and load balancers' logs. The merchant side
verifies signature, timestamp and nonce first and decrypts only then, so a forged or replayed
body never reaches the decryption (or the merchant's business code).
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any, Final

import attrs
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import ConfigurationError, DecryptionError
from ._algorithms import Algorithm
from ._framing import DEFAULT_MAX_SKEW
from ._keys import KeyRing
from ._profiles import DEFAULT_PROFILE, IssuerProfile
from ._replay import NonceStore
from ._responses import ResponseSigner
from ._responses import verify_response as _verify_response

#: The only resource cipher (WeChat Pay v3's as well).
AEAD_ALGORITHM: Final = "AEAD_AES_256_GCM"
#: The API key is an AES-256 key: exactly 32 bytes.
API_KEY_BYTES: Final = 32
#: The GCM nonce is 12 characters, used as its 12 ASCII bytes (as WeChat Pay does).
RESOURCE_NONCE_LENGTH: Final = 12
_TAG_BYTES: Final = 16
_ENVELOPE_FIELDS: Final = ("id", "create_time", "resource_type", "event_type", "summary")
_RESOURCE_FIELDS: Final = ("algorithm", "ciphertext", "nonce", "associated_data", "original_type")
_EVENT_KEYS: Final = frozenset(
    {"event_type", "resource", "original_type", "summary", "id", "create_time", "associated_data"}
)


def _api_key(api_key: bytes | str) -> bytes:
    key = api_key.encode("utf-8") if isinstance(api_key, str) else api_key
    if not isinstance(key, bytes) or len(key) != API_KEY_BYTES:
        size = len(key) if isinstance(key, bytes) else type(key).__name__
        raise ConfigurationError(
            f"the API key must be exactly {API_KEY_BYTES} bytes (AES-256), got {size}; "
            "copy it again from the issuer's merchant settings"
        )
    return key


def _nonce_bytes(nonce: object, error: type[Exception]) -> bytes:
    if (
        not isinstance(nonce, str)
        or len(nonce) != RESOURCE_NONCE_LENGTH
        or not nonce.isascii()
        or not nonce.isprintable()
    ):
        raise error(
            f"the resource nonce must be {RESOURCE_NONCE_LENGTH} printable ASCII characters"
        )
    return nonce.encode("ascii")


def encrypt_resource(
    plaintext: bytes,
    api_key: bytes | str,
    *,
    associated_data: str,
    original_type: str = "",
    nonce: str | None = None,
) -> dict[str, str]:
    """AES-256-GCM ``plaintext`` under ``api_key``: the ``resource`` object of an envelope
    (or the ``encrypt_certificate`` of ``/v1/certificates``, without ``original_type``).

    Let ``nonce`` default: a fresh random one per message is what keeps GCM safe.
    """
    key = _api_key(api_key)
    if not isinstance(plaintext, bytes):
        raise ConfigurationError("encrypt_resource takes bytes; encode your JSON first")
    if not isinstance(associated_data, str):
        raise ConfigurationError("associated_data must be a string")
    nonce = secrets.token_urlsafe(9) if nonce is None else nonce
    sealed = AESGCM(key).encrypt(
        _nonce_bytes(nonce, ConfigurationError), plaintext, associated_data.encode("utf-8")
    )
    resource = {"original_type": original_type} if original_type else {}
    resource.update(
        algorithm=AEAD_ALGORITHM,
        ciphertext=base64.b64encode(sealed).decode("ascii"),
        associated_data=associated_data,
        nonce=nonce,
    )
    return resource


def decrypt_resource(resource: Mapping[str, Any], api_key: bytes | str) -> bytes:
    """The plaintext of an encrypted resource; :class:`DecryptionError` unless the tag
    authenticates ciphertext, nonce and associated data under ``api_key``."""
    key = _api_key(api_key)
    if not isinstance(resource, Mapping):
        raise DecryptionError("the encrypted resource must be a JSON object")
    algorithm = resource.get("algorithm")
    if algorithm != AEAD_ALGORITHM:
        raise DecryptionError(f"unsupported resource algorithm {str(algorithm)[:40]!r}")
    ciphertext, associated_data = resource.get("ciphertext"), resource.get("associated_data", "")
    if not isinstance(ciphertext, str) or not isinstance(associated_data, str):
        raise DecryptionError("the resource needs string 'ciphertext' and 'associated_data'")
    nonce = _nonce_bytes(resource.get("nonce"), DecryptionError)
    try:
        sealed = base64.b64decode(ciphertext, validate=True)
    except (binascii.Error, ValueError):
        raise DecryptionError("the resource ciphertext is not valid base64") from None
    if len(sealed) < _TAG_BYTES:
        raise DecryptionError(
            f"the resource ciphertext is {len(sealed)} bytes, shorter than the GCM tag (truncated)"
        )
    try:
        return AESGCM(key).decrypt(nonce, sealed, associated_data.encode("utf-8"))
    except InvalidTag:
        raise DecryptionError(
            "the resource does not decrypt: wrong API key, or altered ciphertext, nonce or "
            "associated data"
        ) from None


@attrs.frozen
class Notification:
    """A verified, decrypted notification. Deduplicate on ``id``: delivery is at least once."""

    id: str
    event_type: str
    create_time: datetime
    summary: str
    resource_type: str
    original_type: str
    resource: dict[str, Any]


def _rfc3339(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ConfigurationError("times must be timezone-aware (e.g. tzinfo=timezone.utc)")
    return value.isoformat(timespec="seconds")


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None or "T" not in value.upper():
        return None
    return parsed


@attrs.frozen
class _Event:
    """A :func:`seal_notification` event, checked, with its defaults filled in."""

    id: str
    event_type: str
    original_type: str
    summary: str
    create_time: str
    associated_data: str
    resource: Mapping[str, Any]


def _event_fields(event: Mapping[str, Any], now: datetime) -> _Event:
    """Check the caller's event mapping (a :class:`ConfigurationError` names the key)."""
    unknown = set(event) - _EVENT_KEYS
    if unknown:
        raise ConfigurationError(
            f"unknown event keys {sorted(unknown)}; allowed {sorted(_EVENT_KEYS)}"
        )
    event_type, resource = event.get("event_type"), event.get("resource")
    if not isinstance(event_type, str) or not event_type:
        raise ConfigurationError("event['event_type'] is required, e.g. 'CHECKOUT.AUTHORIZED'")
    if not isinstance(resource, Mapping):
        raise ConfigurationError("event['resource'] is required: a JSON-able dict")
    original_type = event.get("original_type", "object")
    summary = event.get("summary", "")
    event_id = event.get("id") or f"evt_{secrets.token_hex(12)}"
    create_time = event.get("create_time", now)
    if isinstance(create_time, datetime):
        create_time = _rfc3339(create_time)
    elif _parse_time(create_time) is None:
        raise ConfigurationError("event['create_time'] must be an aware datetime or RFC 3339")
    associated_data = event.get("associated_data", original_type)
    for name, value in (("original_type", original_type), ("summary", summary), ("id", event_id)):
        if not isinstance(value, str):
            raise ConfigurationError(f"event[{name!r}] must be a string")
    return _Event(
        id=event_id,
        event_type=event_type,
        original_type=original_type,
        summary=summary,
        create_time=create_time,
        associated_data=associated_data,
        resource=resource,
    )


def seal_notification(
    event: Mapping[str, Any],
    api_key: bytes | str,
    signer: ResponseSigner,
    *,
    now: datetime | None = None,
    nonce: str | None = None,
    resource_nonce: str | None = None,
) -> tuple[dict[str, str], bytes]:
    """Build, encrypt and sign one delivery; returns ``(headers, body)`` to POST as is.

    ``event``: ``event_type`` and ``resource`` (a JSON-able dict) are required;
    ``original_type`` (``"object"``), ``summary`` (``""``), ``id`` (a new ``evt_...``),
    ``create_time`` (``now``) and ``associated_data`` (the ``original_type``) are optional.
    A re-delivery passes the same ``id`` and gets a fresh signature timestamp and nonce.
    ``nonce`` is the signature nonce, ``resource_nonce`` the GCM one (both random by
    default; fix them only for test vectors).
    """
    if now is None:
        now = datetime.now(UTC)
    checked = _event_fields(event, now)
    try:
        plaintext = json.dumps(dict(checked.resource), ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"event['resource'] is not JSON-able: {exc}") from None
    envelope = {
        "id": checked.id,
        "create_time": checked.create_time,
        "resource_type": "encrypt-resource",
        "event_type": checked.event_type,
        "summary": checked.summary,
        "resource": encrypt_resource(
            plaintext.encode("utf-8"),
            api_key,
            associated_data=checked.associated_data,
            original_type=checked.original_type,
            nonce=resource_nonce,
        ),
    }
    body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return signer.headers(body, timestamp=now, nonce=nonce), body


def open_notification(
    headers: Mapping[str, str],
    body: bytes | str,
    *,
    api_key: bytes | str,
    keyring: KeyRing,
    nonce_store: NonceStore,
    profile: IssuerProfile = DEFAULT_PROFILE,
    now: datetime | int | None = None,
    max_skew: int = DEFAULT_MAX_SKEW,
    algorithms: Collection[Algorithm] | None = None,
) -> Notification:
    """Verify (signature, timestamp, nonce) over the raw ``body``, then decrypt.

    Pass the body bytes exactly as received (``request.get_data()`` in Flask), never a
    re-serialized JSON. Header names are matched case-insensitively.
    """
    key = _api_key(api_key)
    _verify_response(
        headers,
        body,
        keyring=keyring,
        nonce_store=nonce_store,
        profile=profile,
        now=now,
        max_skew=max_skew,
        algorithms=algorithms,
    )
    envelope, create_time = _envelope(body)
    resource = envelope["resource"]
    data = _resource(resource, key)
    return Notification(
        id=envelope["id"],
        event_type=envelope["event_type"],
        create_time=create_time,
        summary=envelope["summary"],
        resource_type=envelope["resource_type"],
        original_type=resource["original_type"],
        resource=data,
    )


def _envelope(body: bytes | str) -> tuple[dict[str, Any], datetime]:
    """The verified body as a v3 callback envelope, and its ``create_time``."""
    try:
        envelope = json.loads(body)
    except (ValueError, RecursionError):
        raise DecryptionError("the notification body is not JSON") from None
    if not isinstance(envelope, dict):
        raise DecryptionError("the notification body must be a JSON object")
    missing = [f for f in (*_ENVELOPE_FIELDS, "resource") if f not in envelope]
    if missing:
        raise DecryptionError(f"the notification lacks {', '.join(missing)}")
    for name in _ENVELOPE_FIELDS:
        if not isinstance(envelope[name], str):
            raise DecryptionError(f"the notification field {name!r} must be a string")
    if envelope["resource_type"] != "encrypt-resource":
        raise DecryptionError("resource_type must be 'encrypt-resource'")
    create_time = _parse_time(envelope["create_time"])
    if create_time is None:
        raise DecryptionError("create_time must be an RFC 3339 time with an offset")
    return envelope, create_time


def _resource(resource: object, key: bytes) -> dict[str, Any]:
    """The envelope's ``resource`` checked, decrypted and parsed (a JSON object)."""
    if not isinstance(resource, dict):
        raise DecryptionError("the notification 'resource' must be an object")
    missing = [f for f in _RESOURCE_FIELDS if f not in resource]
    if missing:
        raise DecryptionError(f"the notification resource lacks {', '.join(missing)}")
    if not isinstance(resource["original_type"], str):
        raise DecryptionError("the resource original_type must be a string")
    plaintext = decrypt_resource(resource, key)
    try:
        data = json.loads(plaintext)
    except (ValueError, RecursionError):
        raise DecryptionError("the decrypted resource is not JSON") from None
    if not isinstance(data, dict):
        raise DecryptionError("the decrypted resource must be a JSON object")
    return data
