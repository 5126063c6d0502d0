"""Fuzzing: whatever arrives on the wire is refused with the library's own error, or
(where the mutation happened to leave the message intact) verifies as the original; only
PayLaterError subclasses ever escape, and nothing forged is ever accepted."""

from __future__ import annotations

import contextlib
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paylater_sdk.errors import PayLaterError, SignatureError
from paylater_sdk.signing import (
    InMemoryNonceStore,
    KeyRing,
    RequestSigner,
    ResponseSigner,
    decrypt_resource,
    generate_private_key,
    get_header,
    open_notification,
    seal_notification,
    serial_for,
    verify_request,
    verify_response,
)

NOW = 1_796_000_000
API_KEY = b"k" * 32
KEY = generate_private_key()
SERIAL = serial_for(KEY)
RING = KeyRing()
RING.add(KEY.public_key())
RSIGNER = ResponseSigner(KEY, SERIAL)
VALID_AUTH = RequestSigner("mch_1", KEY, SERIAL).authorization(
    "POST", "/v1/x", b"{}", timestamp=NOW
)
HEADER_NAMES = [
    "Paylater-Timestamp",
    "Paylater-Nonce",
    "Paylater-Serial",
    "Paylater-Signature",
    "Paylater-Signature-Type",
    "paylater-signature",
    "HTTP_PAYLATER_NONCE",
    "Content-Type",
]

FUZZ = settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
header_text = st.text(max_size=120) | st.sampled_from(
    ["", " ", "PAYLATER-ED25519", SERIAL, str(NOW), "A" * 5000, "AAAA", "==", "１２３"]
)


def _only_paylater_errors(call) -> None:
    # Anything but a PayLaterError (KeyError, TypeError, UnicodeError, ...) fails the test.
    with contextlib.suppress(PayLaterError):
        call()


def _mchid(auth: str) -> str | None:
    found = re.search(r'(?:^|[\s,])mchid="([^"]*)"', auth)
    return found.group(1) if found else None


def _refused_or(call, accept=lambda result: False, error=SignatureError) -> None:
    """``call`` raises ``error``, or returns a result that ``accept`` recognises as the
    untouched original. Any other exception, or an accepted forgery, fails the test."""
    try:
        result = call()
    except error:
        return
    assert accept(result), f"accepted: {result!r}"


def test_harness_baseline_opens():
    """The fuzzed notifications below start from a valid one: make sure it really is."""
    headers, body = seal_notification(
        {"event_type": "X", "resource": {"a": 1}}, API_KEY, RSIGNER, now=None
    )
    note = open_notification(
        RSIGNER.headers(body, timestamp=NOW),
        body,
        api_key=API_KEY,
        keyring=RING,
        nonce_store=InMemoryNonceStore(),
        now=NOW,
    )
    assert note.resource == {"a": 1}
    assert headers["Paylater-Serial"] == SERIAL


@FUZZ
@given(
    auth=st.text(max_size=300)
    | st.binary(max_size=50).map(lambda b: VALID_AUTH + b.decode("latin-1")),
    method=st.text(max_size=10),
    path=st.text(max_size=40),
    body=st.binary(max_size=200) | st.text(max_size=50),
)
def test_verify_request_random_input(auth, method, path, body):
    _refused_or(
        lambda: verify_request(
            auth, method, path, body, keyring=RING, nonce_store=InMemoryNonceStore(), now=NOW
        ),
        accept=lambda merchant: (
            merchant == "mch_1" and (method, path, body) == ("POST", "/v1/x", b"{}")
        ),
    )


@FUZZ
@given(
    cut=st.integers(0, len(VALID_AUTH)),
    insert=st.text(max_size=8),
    field=st.sampled_from(["mchid", "nonce_str", "timestamp", "serial_no", "signature"]),
    value=header_text,
)
def test_verify_request_mutated_authorization(cut, insert, field, value):
    mutated = VALID_AUTH[:cut] + insert + VALID_AUTH[cut:]
    replaced = VALID_AUTH.replace(f'{field}="', f'{field}="{value}', 1)
    for auth in (mutated, replaced):
        _refused_or(
            lambda auth=auth: verify_request(
                auth,
                "POST",
                "/v1/x",
                b"{}",
                keyring=RING,
                nonce_store=InMemoryNonceStore(),
                now=NOW,
            ),
            # Intact where it matters: the mchid is not signed (WeChat Pay v3 neither), so
            # a verifier picks the key ring by the mchid the header names (the issuer does,
            # and another merchant's ring refuses the signature): what verifies is the
            # merchant the header names, never another one.
            accept=lambda merchant, auth=auth: merchant == _mchid(auth),
        )


@FUZZ
@given(
    headers=st.dictionaries(
        st.sampled_from(HEADER_NAMES) | st.text(max_size=20), header_text, max_size=8
    ),
    body=st.binary(max_size=200),
)
def test_verify_response_random_headers(headers, body):
    _refused_or(lambda: verify_response(headers, body, keyring=RING, now=NOW))
    _only_paylater_errors(lambda: get_header(headers, "Paylater-Nonce"))


@FUZZ
@given(
    name=st.sampled_from(HEADER_NAMES[:5]),
    value=header_text,
    body=st.binary(max_size=100),
)
def test_verify_response_one_header_mutated(name, value, body):
    original = RSIGNER.headers(b"{}", timestamp=NOW)
    headers = {**original, name: value}
    intact = body == b"{}" and value == original[name]
    _refused_or(
        lambda: verify_response(headers, body, keyring=RING, now=NOW),
        accept=lambda _: intact,
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
envelope_field = st.sampled_from(
    ["id", "create_time", "resource_type", "event_type", "summary", "resource"]
)
resource_field = st.sampled_from(
    ["algorithm", "ciphertext", "nonce", "associated_data", "original_type"]
)


@FUZZ
@given(
    drop=st.sets(envelope_field, max_size=2),
    replace=st.dictionaries(envelope_field, json_values, max_size=2),
    res_replace=st.dictionaries(resource_field, json_values | header_text, max_size=3),
    raw=st.none() | st.binary(max_size=120),
)
def test_open_notification_with_signed_garbage(drop, replace, res_replace, raw):
    """Signed correctly, so the fuzzing reaches the envelope parser and the decryption."""
    _, good = seal_notification(
        {"event_type": "X", "resource": {"a": 1}}, API_KEY, RSIGNER, now=None
    )
    envelope = json.loads(good)
    envelope["resource"].update(res_replace)
    envelope.update(replace)
    for name in drop:
        envelope.pop(name, None)
    body = raw if raw is not None else json.dumps(envelope).encode()
    headers = RSIGNER.headers(body, timestamp=NOW)
    # Signed, so only the authenticated encryption stands between garbage and the merchant:
    # whatever opens must carry the sealed resource, anything else is a PayLaterError.
    _refused_or(
        lambda: open_notification(
            headers, body, api_key=API_KEY, keyring=RING, nonce_store=InMemoryNonceStore(), now=NOW
        ),
        accept=lambda note: note.resource == {"a": 1},
        error=PayLaterError,
    )


@FUZZ
@given(
    resource=st.dictionaries(
        resource_field | st.text(max_size=5), json_values | header_text, max_size=6
    )
)
def test_decrypt_resource_random(resource):
    _refused_or(lambda: decrypt_resource(resource, API_KEY))  # nothing random authenticates


@pytest.mark.parametrize("depth", [10_000, 100_000])
def test_deeply_nested_json_is_a_decryption_error(depth):
    body = b"[" * depth + b"]" * depth
    headers = RSIGNER.headers(body, timestamp=NOW)
    with pytest.raises(PayLaterError, match="not JSON"):
        open_notification(
            headers, body, api_key=API_KEY, keyring=RING, nonce_store=InMemoryNonceStore(), now=NOW
        )


def test_surrogates_in_path_are_rejected_cleanly():
    with pytest.raises(PayLaterError, match="UTF-8"):
        verify_request(
            VALID_AUTH,
            "POST",
            "/v1/\udcff",
            b"{}",
            keyring=RING,
            nonce_store=InMemoryNonceStore(),
            now=NOW,
        )
