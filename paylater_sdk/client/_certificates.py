"""The issuer's published keys (``GET /v1/certificates``), authenticated by our API key.

Each certificate is the issuer's public key PEM encrypted with AES-256-GCM under the
merchant's API key (as WeChat Pay v3 does), so only the real issuer can produce one. A
decrypted key must also hash to its advertised serial before it is trusted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta

from ..errors import InvalidSignatureError, PayLaterError
from ..signing import KeyRing, decrypt_resource, load_public_key, serial_for


def keyring_from_certificates(body: bytes, api_key: bytes) -> KeyRing:
    """Decrypt the issuer's published keys with our API key: only the issuer could make them."""
    try:
        data = json.loads(body)
    except ValueError:
        raise InvalidSignatureError("the /v1/certificates answer is not JSON") from None
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise InvalidSignatureError("the /v1/certificates answer lists no certificates")
    ring = KeyRing()
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("serial_no"), str):
            raise InvalidSignatureError("a certificate in /v1/certificates has no serial_no")
        serial = item["serial_no"]
        encrypted = item.get("encrypt_certificate")
        if not isinstance(encrypted, Mapping):
            raise InvalidSignatureError(f"certificate {serial} has no encrypt_certificate")
        pem = decrypt_resource(encrypted, api_key)
        try:
            key = load_public_key(pem)
        except (PayLaterError, ValueError, TypeError):
            raise InvalidSignatureError(f"certificate {serial} is not a public key") from None
        if serial_for(key) != serial:
            raise InvalidSignatureError(
                f"certificate {serial} holds a key whose serial is {serial_for(key)}"
            )
        ring.add(
            key,
            serial=serial,
            not_before=_cert_time(item.get("effective_time"), -300),
            not_after=_cert_time(item.get("expire_time"), 0),
        )
    return ring


def _cert_time(value: object, slack_seconds: int) -> datetime | None:
    # effective_time is moved back by the allowed clock skew so that a client whose clock
    # runs a little behind the issuer's still accepts a freshly rotated key.
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidSignatureError(f"certificate time {value!r} is not RFC 3339") from None
    if when.tzinfo is None:
        raise InvalidSignatureError(f"certificate time {value!r} has no UTC offset")
    return when + timedelta(seconds=slack_seconds)
