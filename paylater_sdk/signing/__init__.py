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

from ._algorithms import (
    ED25519,
    MIN_RSA_BITS,
    RSA_SHA256,
    Algorithm,
    Ed25519Algorithm,
    PrivateKey,
    PublicKey,
    RSASHA256Algorithm,
)
from ._framing import (
    DEFAULT_MAX_SKEW,
    MAX_HEADER_BYTES,
    get_header,
    request_message,
    response_message,
)
from ._keys import (
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
from ._notifications import (
    AEAD_ALGORITHM,
    API_KEY_BYTES,
    Notification,
    decrypt_resource,
    encrypt_resource,
    open_notification,
    seal_notification,
)
from ._profiles import DEFAULT_PROFILE, WECHATPAY_V3, IssuerProfile
from ._replay import InMemoryNonceStore, NonceStore, RedisNonceStore
from ._requests import RequestSigner, verify_request
from ._responses import ResponseSigner, verify_response
from ._wechat import (
    PUBLIC_KEY_ID_PREFIX,
    Certificate,
    generate_certificate,
    is_public_key_id,
    keyring_add_certificate,
    load_certificate,
    public_key_id_for,
)

__all__ = [
    "AEAD_ALGORITHM",
    "API_KEY_BYTES",
    "DEFAULT_MAX_SKEW",
    "DEFAULT_PROFILE",
    "ED25519",
    "MAX_HEADER_BYTES",
    "MIN_RSA_BITS",
    "PUBLIC_KEY_ID_PREFIX",
    "RSA_SHA256",
    "WECHATPAY_V3",
    "Algorithm",
    "Certificate",
    "Ed25519Algorithm",
    "InMemoryNonceStore",
    "IssuerProfile",
    "KeyEntry",
    "KeyRing",
    "NonceStore",
    "Notification",
    "PrivateKey",
    "PublicKey",
    "RSASHA256Algorithm",
    "RedisNonceStore",
    "RequestSigner",
    "ResponseSigner",
    "algorithm_for_key",
    "decrypt_resource",
    "encrypt_resource",
    "generate_certificate",
    "generate_private_key",
    "get_header",
    "is_public_key_id",
    "keyring_add_certificate",
    "load_certificate",
    "load_private_key",
    "load_public_key",
    "open_notification",
    "private_key_pem",
    "public_key_id_for",
    "public_key_pem",
    "request_message",
    "response_message",
    "seal_notification",
    "serial_for",
    "verify_request",
    "verify_response",
]
