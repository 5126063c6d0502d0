"""Sealed notifications: seal on the issuer side, open on the merchant side, every bad input."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from paylater_sdk.errors import (
    ConfigurationError,
    DecryptionError,
    InvalidSignatureError,
    ReplayError,
    TimestampError,
    UnknownKeyError,
)
from paylater_sdk.signing import (
    InMemoryNonceStore,
    KeyRing,
    Notification,
    ResponseSigner,
    decrypt_resource,
    encrypt_resource,
    generate_private_key,
    open_notification,
    seal_notification,
    serial_for,
)

API_KEY = b"0123456789abcdef0123456789abcdef"
NOW = datetime(2026, 11, 29, 19, 2, 25, tzinfo=UTC)
CHECKOUT = {"id": "co_1", "state": "AUTHORIZED", "amount": {"value": 12000, "currency": "CNY"}}
EVENT = {
    "event_type": "CHECKOUT.AUTHORIZED",
    "resource": CHECKOUT,
    "original_type": "checkout",
    "summary": "checkout authorized",
}


@pytest.fixture(scope="module")
def key():
    return generate_private_key()


@pytest.fixture
def signer(key):
    return ResponseSigner(key, serial_for(key))


@pytest.fixture
def ring(key):
    r = KeyRing()
    r.add(key.public_key())
    return r


def _open(headers, body, ring, store=None, **kw):
    kw.setdefault("now", NOW)
    kw.setdefault("api_key", API_KEY)
    return open_notification(
        headers, body, keyring=ring, nonce_store=store or InMemoryNonceStore(), **kw
    )


def _resign(signer, envelope: dict) -> tuple[dict[str, str], bytes]:
    body = json.dumps(envelope).encode()
    return signer.headers(body, timestamp=NOW), body


# --- normal path ---------------------------------------------------------------------------


def test_seal_then_open(signer, ring):
    headers, body = seal_notification(EVENT, API_KEY, signer, now=NOW)
    envelope = json.loads(body)
    assert list(envelope) == [
        "id",
        "create_time",
        "resource_type",
        "event_type",
        "summary",
        "resource",
    ]
    assert envelope["id"].startswith("evt_")
    assert envelope["create_time"] == "2026-11-29T19:02:25+00:00"
    assert envelope["resource_type"] == "encrypt-resource"
    res = envelope["resource"]
    assert res["algorithm"] == "AEAD_AES_256_GCM"
    assert res["original_type"] == "checkout"
    assert res["associated_data"] == "checkout"
    assert len(res["nonce"]) == 12
    assert b"co_1" not in body  # the resource is encrypted
    assert headers["Paylater-Timestamp"] == str(int(NOW.timestamp()))

    note = _open(headers, body, ring)
    assert isinstance(note, Notification)
    assert note.id == envelope["id"]
    assert note.event_type == "CHECKOUT.AUTHORIZED"
    assert note.create_time == NOW
    assert note.summary == "checkout authorized"
    assert note.resource_type == "encrypt-resource"
    assert note.original_type == "checkout"
    assert note.resource == CHECKOUT


def test_defaults_and_redelivery_keeps_id(signer, ring):
    h1, b1 = seal_notification(
        {"event_type": "ORDER.CAPTURED", "resource": {"id": "ord_1"}}, API_KEY, signer
    )
    n1 = _open(h1, b1, ring, now=None)
    assert n1.original_type == "object"
    assert n1.summary == ""
    assert abs(n1.create_time - datetime.now(UTC)) < timedelta(minutes=1)
    store = InMemoryNonceStore()
    event = {**EVENT, "id": "evt_fixed", "create_time": NOW - timedelta(minutes=3)}
    first = seal_notification(event, API_KEY, signer, now=NOW)
    retry = seal_notification(event, API_KEY, signer, now=NOW + timedelta(seconds=15))
    assert first[0]["Paylater-Nonce"] != retry[0]["Paylater-Nonce"]
    a = _open(*first, ring, store)
    b = _open(*retry, ring, store, now=NOW + timedelta(seconds=15))
    assert a.id == b.id == "evt_fixed"
    assert a.create_time == b.create_time == NOW - timedelta(minutes=3)
    with pytest.raises(ReplayError):  # the same delivery twice is a replay, a retry is not
        _open(*retry, ring, store, now=NOW + timedelta(seconds=15))


def test_create_time_with_offset_and_string(signer, ring):
    cst = timezone(timedelta(hours=8))
    event = {**EVENT, "create_time": "2026-11-30T03:02:25+08:00"}
    note = _open(*seal_notification(event, API_KEY, signer, now=NOW), ring)
    assert note.create_time == datetime(2026, 11, 30, 3, 2, 25, tzinfo=cst)
    assert note.create_time == NOW


def test_lower_case_header_names(signer, ring):
    headers, body = seal_notification(EVENT, API_KEY, signer, now=NOW)
    lower = {k.lower(): v for k, v in headers.items()}
    assert _open(lower, body, ring).resource == CHECKOUT


def test_api_key_as_str(signer, ring):
    headers, body = seal_notification(EVENT, API_KEY.decode(), signer, now=NOW)
    assert _open(headers, body, ring, api_key=API_KEY.decode()).resource == CHECKOUT


def test_non_ascii_resource(signer, ring):
    event = {**EVENT, "resource": {"description": "分付 ¥120 测试"}, "summary": "授权成功"}
    note = _open(*seal_notification(event, API_KEY, signer, now=NOW), ring)
    assert note.resource == {"description": "分付 ¥120 测试"}
    assert note.summary == "授权成功"


# --- verification first -------------------------------------------------------------------


def test_signature_checked_before_decryption(signer, ring):
    headers, body = seal_notification(EVENT, API_KEY, signer, now=NOW)
    altered = body.replace(b"CHECKOUT.AUTHORIZED", b"CHECKOUT.CLOSED")
    with pytest.raises(InvalidSignatureError):
        _open(headers, altered, ring)
    with pytest.raises(TimestampError):
        _open(headers, body, ring, now=NOW + timedelta(seconds=301))
    with pytest.raises(UnknownKeyError):
        _open(headers, body, KeyRing())
    store = InMemoryNonceStore()
    _open(headers, body, ring, store)
    with pytest.raises(ReplayError):
        _open(headers, body, ring, store)


def test_reserialized_body_fails(signer, ring):
    headers, body = seal_notification(EVENT, API_KEY, signer, now=NOW)
    reserialized = json.dumps(json.loads(body)).encode()  # spaces after separators
    assert reserialized != body
    with pytest.raises(InvalidSignatureError):
        _open(headers, reserialized, ring)


def test_failed_signature_never_burns_the_nonce(signer, ring):
    headers, body = seal_notification(EVENT, API_KEY, signer, now=NOW)
    store = InMemoryNonceStore()
    with pytest.raises(InvalidSignatureError):
        _open(headers, body + b" ", ring, store)
    assert _open(headers, body, ring, store).id


# --- decryption failures -----------------------------------------------------------------


def test_wrong_api_key(signer, ring):
    headers, body = seal_notification(EVENT, API_KEY, signer, now=NOW)
    with pytest.raises(DecryptionError, match="wrong API key"):
        _open(headers, body, ring, api_key=b"X" * 32)


def _tamper(signer, ring, change):
    _headers, body = seal_notification(EVENT, API_KEY, signer, now=NOW)
    envelope = json.loads(body)
    change(envelope)
    return _open(*_resign(signer, envelope), ring)


def test_tag_mismatch(signer, ring):
    def flip(env):
        raw = bytearray(base64.b64decode(env["resource"]["ciphertext"]))
        raw[-1] ^= 1
        env["resource"]["ciphertext"] = base64.b64encode(raw).decode()

    with pytest.raises(DecryptionError, match="does not decrypt"):
        _tamper(signer, ring, flip)


def test_wrong_associated_data(signer, ring):
    def change(env):
        env["resource"]["associated_data"] = "refund"

    with pytest.raises(DecryptionError, match="associated data"):
        _tamper(signer, ring, change)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda r: r.update(
                ciphertext=base64.b64encode(base64.b64decode(r["ciphertext"])[:10]).decode()
            ),
            "truncated",
        ),
        (lambda r: r.update(ciphertext=""), "truncated"),
        (lambda r: r.update(ciphertext="%%%not base64"), "base64"),
        (lambda r: r.update(nonce="short"), "12 printable"),
        (lambda r: r.update(nonce="0123456789abc"), "12 printable"),
        (lambda r: r.update(nonce="0123456789a\u00e9"), "12 printable"),
        (lambda r: r.update(nonce=123456789012), "12 printable"),
        (lambda r: r.update(algorithm="AEAD_CHACHA20"), "unsupported"),
        (lambda r: r.update(ciphertext=5), "string"),
        (lambda r: r.pop("nonce"), "lacks nonce"),
        (lambda r: r.pop("original_type"), "lacks original_type"),
        (lambda r: r.update(original_type=3), "original_type"),
    ],
)
def test_bad_resource(signer, ring, change, message):
    with pytest.raises(DecryptionError, match=message):
        _tamper(signer, ring, lambda env: change(env["resource"]))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda e: e.pop("id"), "lacks id"),
        (lambda e: e.pop("resource"), "lacks resource"),
        (lambda e: e.pop("event_type"), "lacks event_type"),
        (lambda e: e.pop("create_time"), "lacks create_time"),
        (lambda e: e.pop("summary"), "lacks summary"),
        (lambda e: e.update(id=7), "'id' must be a string"),
        (lambda e: e.update(resource_type="plain"), "encrypt-resource"),
        (lambda e: e.update(create_time="yesterday"), "RFC 3339"),
        (lambda e: e.update(create_time="2026-11-29T19:02:25"), "RFC 3339"),
        (lambda e: e.update(create_time="2026-11-29"), "RFC 3339"),
        (lambda e: e.update(resource="x"), "must be an object"),
    ],
)
def test_bad_envelope(signer, ring, change, message):
    with pytest.raises(DecryptionError, match=message):
        _tamper(signer, ring, change)


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"not json", "not JSON"), (b"[1,2]", "JSON object"), (b"\xff\xfe", "not JSON")],
)
def test_non_json_envelope(signer, ring, body, message):
    with pytest.raises(DecryptionError, match=message):
        _open(signer.headers(body, timestamp=NOW), body, ring)


@pytest.mark.parametrize(
    ("plaintext", "message"), [(b"not json", "not JSON"), (b"[1]", "JSON object")]
)
def test_decrypted_resource_must_be_json_object(signer, ring, plaintext, message):
    def change(env):
        env["resource"] = encrypt_resource(
            plaintext, API_KEY, associated_data="checkout", original_type="checkout"
        )

    with pytest.raises(DecryptionError, match=message):
        _tamper(signer, ring, change)


# --- the API key and resource helpers --------------------------------------------------------


@pytest.mark.parametrize("bad", [b"short", b"x" * 31, b"x" * 33, "x" * 31, "分" * 11, None, 12])
def test_api_key_must_be_32_bytes(signer, ring, bad):
    with pytest.raises(ConfigurationError, match="exactly 32 bytes"):
        seal_notification(EVENT, bad, signer, now=NOW)
    with pytest.raises(ConfigurationError, match="exactly 32 bytes"):
        encrypt_resource(b"{}", bad, associated_data="x")
    with pytest.raises(ConfigurationError, match="exactly 32 bytes"):
        decrypt_resource({}, bad)
    headers, body = seal_notification(EVENT, API_KEY, signer, now=NOW)
    with pytest.raises(ConfigurationError, match="exactly 32 bytes"):
        _open(headers, body, ring, api_key=bad)


def test_encrypt_decrypt_resource_roundtrip_for_certificates(key):
    from paylater_sdk.signing import load_public_key, public_key_pem

    pem = public_key_pem(key)
    resource = encrypt_resource(pem, API_KEY, associated_data="certificate")
    assert set(resource) == {"algorithm", "ciphertext", "associated_data", "nonce"}
    assert resource["associated_data"] == "certificate"
    plain = decrypt_resource(resource, API_KEY)
    assert plain == pem
    assert serial_for(load_public_key(plain)) == serial_for(key)
    other = encrypt_resource(pem, API_KEY, associated_data="certificate")
    assert other["nonce"] != resource["nonce"]
    assert other["ciphertext"] != resource["ciphertext"]


def test_decrypt_resource_rejects_non_mapping_and_missing_ciphertext():
    with pytest.raises(DecryptionError, match="JSON object"):
        decrypt_resource("x", API_KEY)  # type: ignore[arg-type]
    with pytest.raises(DecryptionError, match="ciphertext"):
        decrypt_resource({"algorithm": "AEAD_AES_256_GCM", "nonce": "0123456789ab"}, API_KEY)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"nonce": "short"}, "12 printable"),
        ({"associated_data": 5}, "associated_data"),
    ],
)
def test_encrypt_resource_bad_arguments(kwargs, message):
    args = {"associated_data": "x", **kwargs}
    with pytest.raises(ConfigurationError, match=message):
        encrypt_resource(b"{}", API_KEY, **args)
    with pytest.raises(ConfigurationError, match="bytes"):
        encrypt_resource("text", API_KEY, associated_data="x")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"resource": {}}, "event_type"),
        ({"event_type": "", "resource": {}}, "event_type"),
        ({"event_type": "X"}, "resource"),
        ({"event_type": "X", "resource": [1]}, "resource"),
        ({"event_type": "X", "resource": {"v": 1.5j}}, "JSON-able"),
        ({"event_type": "X", "resource": {}, "extra": 1}, "unknown event keys"),
        ({"event_type": "X", "resource": {}, "summary": 5}, "summary"),
        ({"event_type": "X", "resource": {}, "create_time": "now"}, "create_time"),
        ({"event_type": "X", "resource": {}, "create_time": datetime(2026, 1, 1)}, "aware"),
    ],
)
def test_seal_bad_events(signer, event, message):
    with pytest.raises(ConfigurationError, match=message):
        seal_notification(event, API_KEY, signer, now=NOW)
