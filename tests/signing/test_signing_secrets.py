"""Secrets hygiene: private keys, the API key and full signatures never appear in repr, str,
log records or exception messages."""

from __future__ import annotations

import base64
import json
import logging
import re

import pytest

from paylater_sdk.errors import PayLaterError
from paylater_sdk.signing import (
    InMemoryNonceStore,
    KeyRing,
    RequestSigner,
    ResponseSigner,
    decrypt_resource,
    generate_private_key,
    load_private_key,
    open_notification,
    private_key_pem,
    seal_notification,
    serial_for,
    verify_request,
    verify_response,
)

API_KEY = b"S3CRETAPIKEYS3CRETAPIKEYS3CRET32"
NOW = 1_796_000_000


@pytest.fixture(scope="module", params=["ed25519", "rsa"])
def key(request):
    return generate_private_key(request.param)


def _secret_fragments(key) -> list[str]:
    pem = private_key_pem(key).decode()
    body = "".join(pem.strip().splitlines()[1:-1])
    # Several slices of the base64 body: any of them showing up would be a leak.
    return [body[i : i + 24] for i in range(0, len(body) - 24, 24)]


def _assert_clean(text: str, secrets: list[str]) -> None:
    for fragment in secrets:
        assert fragment not in text


def _errors_of(call) -> PayLaterError:
    with pytest.raises(PayLaterError) as info:
        call()
    return info.value


def test_repr_and_str_of_signers_and_rings(key):
    secrets = _secret_fragments(key)
    signers = [RequestSigner("mch_1", key, serial_for(key)), ResponseSigner(key, serial_for(key))]
    ring = KeyRing()
    ring.add(key.public_key())
    for obj in (*signers, ring):
        for text in (repr(obj), str(obj)):
            _assert_clean(text, secrets)
            assert "PRIVATE" not in text
    assert repr(signers[0]).startswith("RequestSigner(merchant_id='mch_1', serial=")
    assert "private_key" not in repr(signers[0])


def test_exception_and_logs_never_show_signatures(key, caplog):
    caplog.set_level(logging.DEBUG, logger="paylater_sdk")
    ring = KeyRing()
    ring.add(key.public_key())
    signer = RequestSigner("mch_1", key, serial_for(key))
    auth = signer.authorization("POST", "/v1/x", b"{}", timestamp=NOW)
    signature = re.search(r'signature="([^"]+)"', auth).group(1)
    raw = base64.b64decode(signature)
    store = InMemoryNonceStore()
    failures = [
        lambda: verify_request(
            auth, "POST", "/v1/x", b"{ }", keyring=ring, nonce_store=store, now=NOW
        ),
        lambda: verify_request(
            auth, "POST", "/v1/x", b"{}", keyring=ring, nonce_store=store, now=NOW + 999
        ),
        lambda: verify_request(
            auth, "POST", "/v1/x", b"{}", keyring=KeyRing(), nonce_store=store, now=NOW
        ),
        lambda: verify_request(
            auth.replace(signature, base64.b64encode(raw[:-2]).decode()),
            "POST",
            "/v1/x",
            b"{}",
            keyring=ring,
            nonce_store=store,
            now=NOW,
        ),
        lambda: verify_request(
            auth.replace(signature, signature[:-3] + "!!!"),
            "POST",
            "/v1/x",
            b"{}",
            keyring=ring,
            nonce_store=store,
            now=NOW,
        ),
    ]
    rsigner = ResponseSigner(key, serial_for(key))
    headers = rsigner.headers(b"{}", timestamp=NOW)
    failures.append(lambda: verify_response(headers, b"{ }", keyring=ring, now=NOW))
    messages = []
    for call in failures:
        exc = _errors_of(call)
        messages += [str(exc), repr(exc), exc.message]
    messages += [r.getMessage() for r in caplog.records]
    assert len(caplog.records) == len(failures)  # each rejection is logged once, at DEBUG
    half = signature[: len(signature) // 2]
    for text in messages:
        assert signature not in text
        assert half not in text
        assert headers["Paylater-Signature"][:20] not in text
        assert auth not in text


def test_api_key_never_in_errors_reprs_or_logs(caplog):
    caplog.set_level(logging.DEBUG, logger="paylater_sdk")
    key = generate_private_key()
    ring = KeyRing()
    ring.add(key.public_key())
    signer = ResponseSigner(key, serial_for(key))
    headers, body = seal_notification(
        {"event_type": "X", "resource": {"a": 1}}, API_KEY, signer, now=None
    )
    note = open_notification(
        headers, body, api_key=API_KEY, keyring=ring, nonce_store=InMemoryNonceStore()
    )
    texts = [repr(note), str(note)]
    wrong = API_KEY[:-1] + b"X"
    texts.append(
        str(
            _errors_of(
                lambda: open_notification(
                    headers, body, api_key=wrong, keyring=ring, nonce_store=InMemoryNonceStore()
                )
            )
        )
    )
    texts.append(str(_errors_of(lambda: decrypt_resource(json.loads(body)["resource"], wrong))))
    texts.append(
        str(
            _errors_of(
                lambda: seal_notification({"event_type": "X", "resource": {}}, API_KEY[:20], signer)
            )
        )
    )
    texts += [r.getMessage() for r in caplog.records]
    for text in texts:
        assert API_KEY.decode() not in text
        assert API_KEY.decode()[:12] not in text
        assert wrong.decode()[:12] not in text


def test_pem_never_quoted_in_load_errors(key):
    pem = private_key_pem(key, password=b"pw")
    for call in (
        lambda: load_private_key(pem),
        lambda: load_private_key(pem, b"bad"),
        lambda: load_private_key(pem[:-40]),
    ):
        exc = _errors_of(call)
        assert exc.__cause__ is None  # nothing chained that could carry key bytes
        text = str(exc)
        assert "BEGIN" not in text
        for line in pem.decode().splitlines()[1:-1]:
            assert line[:16] not in text
