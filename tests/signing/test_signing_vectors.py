"""The published test vectors of docs/protocol.md, and the page's runnable examples."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from paylater_sdk.signing import (
    InMemoryNonceStore,
    KeyRing,
    RequestSigner,
    ResponseSigner,
    decrypt_resource,
    encrypt_resource,
    load_private_key,
    load_public_key,
    open_notification,
    private_key_pem,
    public_key_pem,
    request_message,
    seal_notification,
    serial_for,
    verify_request,
    verify_response,
)

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")

SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"  # RFC 8032 test 1
PRIVATE_PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
    "-----END PRIVATE KEY-----\n"
)
PUBLIC_PEM = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n"
    "-----END PUBLIC KEY-----\n"
)
SERIAL = "06E3FD8FDA29BB60AB59557DE61EDB0AECDB2311"
TS = 1796000000
NONCE = "593BEC0C930BF1AFEB40B4A08C8FB242"
BODY = b'{"out_trade_no":"A1001","amount":{"value":12000,"currency":"CNY"}}'
STRING_TO_SIGN = (
    b"POST\n/v1/checkouts\n1796000000\n593BEC0C930BF1AFEB40B4A08C8FB242\n"
    b'{"out_trade_no":"A1001","amount":{"value":12000,"currency":"CNY"}}\n'
)
AUTHORIZATION = (
    'PAYLATER-ED25519 mchid="mch_vector",nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242",'
    'timestamp="1796000000",serial_no="06E3FD8FDA29BB60AB59557DE61EDB0AECDB2311",'
    'signature="oxxDzYS0ptXXpYxM4AKx3hpg3PhrNI6laoi/3Hrt0ZTsPRYhh8xd9SWRcf5qFEH5Xsh+uVIo6vYed7EpZ6yPCg=="'
)
GET_SIGNATURE = (
    "BrftePlmjj355n/HWkPwZIQJjp1Cef6RtAUr77eE2uXJWFvh2LhK7GycOwya/62YZk/I1cPtTNhLaxLxpIjCDQ=="
)
RESPONSE_NONCE = "7C5D4A7F2B0E4C1D8E9F0A1B2C3D4E5F"
RESPONSE_HEADERS = {
    "Paylater-Timestamp": "1796000000",
    "Paylater-Nonce": RESPONSE_NONCE,
    "Paylater-Serial": SERIAL,
    "Paylater-Signature": (
        "L7eoQA9zblzOxop7XRXw/2iV/VeHiPaz+cj2rN5dxhyOwttK9gt/TU0P4ccWncCiokAcLnYnHkPv/oiKTCW2Aw=="
    ),
    "Paylater-Signature-Type": "PAYLATER-ED25519",
}
API_KEY = "0123456789abcdef0123456789abcdef"
AES_CIPHERTEXT = "4ouOXmHwuniaWlXY0HATVWD7nyyzjb+spOs+10UJBR3X+Q=="
NOTIFICATION_BODY = (
    '{"id":"evt_vector","create_time":"2026-11-30T00:53:20+00:00","resource_type":"encrypt-resource",'
    '"event_type":"CHECKOUT.AUTHORIZED","summary":"checkout authorized","resource":'
    '{"original_type":"checkout","algorithm":"AEAD_AES_256_GCM","ciphertext":'
    '"Hxa0MXXGJW9gfIydjZKBdoMd5MkOZUtPEFzbHUYeVrhZiqtQPa6uikp4sRJrl+x2OT2ACBFb7Q==",'
    '"associated_data":"checkout","nonce":"fedcba987654"}}'
)
NOTIFICATION_SIGNATURE = (
    "1VCYBD1kXuqNLJcL7NPI79PUpTCALly3OpE+uxD+ajWNutrkZIOTxfc33F7NofXQlUWf02n38BFJfVrj0IKSBQ=="
)


@pytest.fixture(scope="module")
def key():
    return ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(SEED))


@pytest.fixture(scope="module")
def ring(key):
    r = KeyRing()
    r.add(load_public_key(PUBLIC_PEM))
    return r


def test_key_vector(key):
    assert private_key_pem(key).decode() == PRIVATE_PEM
    assert public_key_pem(key).decode() == PUBLIC_PEM
    assert serial_for(key) == SERIAL
    assert serial_for(load_private_key(PRIVATE_PEM)) == SERIAL


def test_request_vector(key, ring):
    assert request_message("POST", "/v1/checkouts", TS, NONCE, BODY) == STRING_TO_SIGN
    signer = RequestSigner("mch_vector", key, SERIAL)
    assert (
        signer.authorization("POST", "/v1/checkouts", BODY, timestamp=TS, nonce=NONCE)
        == AUTHORIZATION
    )
    assert (
        verify_request(
            AUTHORIZATION,
            "POST",
            "/v1/checkouts",
            BODY,
            keyring=ring,
            nonce_store=InMemoryNonceStore(),
            now=TS,
        )
        == "mch_vector"
    )


def test_empty_body_request_vector(key):
    path = "/v1/checkouts?out_trade_no=A1001"
    assert request_message("GET", path, TS, NONCE, b"").endswith(b"\n\n")
    auth = RequestSigner("mch_vector", key, SERIAL).authorization(
        "GET", path, b"", timestamp=TS, nonce=NONCE
    )
    assert auth.endswith(f'signature="{GET_SIGNATURE}"')


def test_response_vector(key, ring):
    assert ResponseSigner(key, SERIAL).headers(
        b'{"id":"co_vector"}', timestamp=TS, nonce=RESPONSE_NONCE
    ) == (RESPONSE_HEADERS)
    assert verify_response(RESPONSE_HEADERS, b'{"id":"co_vector"}', keyring=ring, now=TS) == SERIAL


def test_aes_gcm_vector():
    resource = encrypt_resource(
        b'{"id":"co_vector"}',
        API_KEY,
        associated_data="checkout",
        original_type="checkout",
        nonce="0123456789ab",
    )
    assert resource["ciphertext"] == AES_CIPHERTEXT
    assert decrypt_resource(resource, API_KEY) == b'{"id":"co_vector"}'


def test_notification_vector(key, ring):
    event = {
        "id": "evt_vector",
        "event_type": "CHECKOUT.AUTHORIZED",
        "original_type": "checkout",
        "summary": "checkout authorized",
        "resource": {"id": "co_vector", "state": "AUTHORIZED"},
    }
    headers, body = seal_notification(
        event,
        API_KEY,
        ResponseSigner(key, SERIAL),
        now=datetime.fromtimestamp(TS, UTC),
        nonce="0F1E2D3C4B5A69788796A5B4C3D2E1F0",
        resource_nonce="fedcba987654",
    )
    assert body.decode() == NOTIFICATION_BODY
    assert headers["Paylater-Signature"] == NOTIFICATION_SIGNATURE
    note = open_notification(
        headers, body, api_key=API_KEY, keyring=ring, nonce_store=InMemoryNonceStore(), now=TS
    )
    assert note.resource == {"id": "co_vector", "state": "AUTHORIZED"}


@pytest.mark.parametrize(
    "value",
    [
        PRIVATE_PEM.splitlines()[1],
        PUBLIC_PEM.splitlines()[1],
        SERIAL,
        STRING_TO_SIGN.decode().replace("\n", "\\n"),
        AUTHORIZATION,
        GET_SIGNATURE,
        *RESPONSE_HEADERS.values(),
        AES_CIPHERTEXT,
        NOTIFICATION_BODY,
        NOTIFICATION_SIGNATURE,
    ],
)
def test_published_vectors_match_the_docs(value):
    assert value in DOC
