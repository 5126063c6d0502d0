"""notifications.parse takes any framework's headers and fails closed on anything else."""

from __future__ import annotations

from typing import Any

import pytest
import requests.structures
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paylater_sdk.client import PayLaterClient
from paylater_sdk.errors import (
    InvalidRequestError,
    InvalidSignatureError,
    MalformedNotificationError,
    ReplayError,
    SignatureError,
)
from paylater_sdk.signing import seal_notification
from tests._support.client_fakes import API_KEY, FakeIssuer, checkout_json, make_client


def _sealed(fake_issuer: FakeIssuer) -> tuple[dict[str, str], bytes]:
    return seal_notification(
        {
            "event_type": "CHECKOUT.AUTHORIZED",
            "original_type": "checkout",
            "summary": "authorized",
            "resource": checkout_json(state="AUTHORIZED"),
        },
        API_KEY,
        fake_issuer.signer,
    )


def _werkzeug(headers: dict[str, str]) -> Any:
    from werkzeug.datastructures import Headers

    return Headers(list(headers.items()))


def _environ(headers: dict[str, str]) -> dict[str, Any]:
    environ: dict[str, Any] = {"REQUEST_METHOD": "POST", "wsgi.input": object()}
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def _django(headers: dict[str, str]) -> Any:
    from django.http.request import HttpHeaders

    return HttpHeaders(_environ(headers))


def _starlette(headers: dict[str, str]) -> Any:
    from starlette.datastructures import Headers

    return Headers(raw=[(k.lower().encode(), v.encode()) for k, v in headers.items()])


SHAPES = {
    "dict": dict,
    "lower-case dict": lambda h: {k.lower(): v for k, v in h.items()},
    "requests": requests.structures.CaseInsensitiveDict,
    "werkzeug Headers": _werkzeug,
    "Django request.headers": _django,
    "Django request.META": _environ,
    "Starlette Headers": _starlette,
    "ASGI bytes pairs": lambda h: [(k.lower().encode(), v.encode()) for k, v in h.items()],
    "str pairs": lambda h: list(h.items()),
    "tuple of lists": lambda h: tuple([k, v] for k, v in h.items()),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_every_header_shape_verifies(
    client: PayLaterClient, fake_issuer: FakeIssuer, shape: str
) -> None:
    headers, body = _sealed(fake_issuer)
    event = client.notifications.parse(SHAPES[shape](headers), body)
    assert event.checkout is not None
    assert event.checkout.id == "co_1"


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview, lambda b: b.decode()])
def test_body_as_bytes_or_text(client: PayLaterClient, fake_issuer: FakeIssuer, kind: Any) -> None:
    headers, body = _sealed(fake_issuer)
    assert client.notifications.parse(headers, kind(body)).summary == "authorized"


def test_a_header_twice_with_different_values_is_refused(
    client: PayLaterClient, fake_issuer: FakeIssuer
) -> None:
    headers, body = _sealed(fake_issuer)
    pairs = [*headers.items(), ("paylater-nonce", "another")]
    with pytest.raises(InvalidSignatureError, match="twice"):
        client.notifications.parse(pairs, body)
    same = [*headers.items(), *headers.items()]  # repeated identically: harmless
    assert client.notifications.parse(same, body).id


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        (None, b"{}"),
        ("Paylater-Signature: x", b"{}"),
        (b"raw", b"{}"),
        (42, b"{}"),
        ([1, 2, 3], b"{}"),
        ([("a", "b", "c")], b"{}"),
        ({}, None),
        ({}, 12),
        ({}, {"id": "evt_1"}),
        ({}, "\ud800"),  # a lone surrogate: not encodable text
    ],
)
def test_malformed_input_is_a_signature_error(
    client: PayLaterClient, headers: Any, body: Any
) -> None:
    with pytest.raises(SignatureError):
        client.notifications.parse(headers, body)


def test_malformed_is_also_the_callers_invalid_request(client: PayLaterClient) -> None:
    with pytest.raises(MalformedNotificationError) as info:
        client.notifications.parse(None, b"{}")
    assert isinstance(info.value, InvalidSignatureError)
    assert isinstance(info.value, InvalidRequestError)


def test_non_utf8_body_signed_by_the_issuer_is_refused(
    client: PayLaterClient, fake_issuer: FakeIssuer
) -> None:
    body = b"\xff\xfe{not json"
    headers = fake_issuer.signer.headers(body)
    with pytest.raises(SignatureError):
        client.notifications.parse(headers, body)


def test_signed_json_that_is_not_an_envelope_is_refused(
    client: PayLaterClient, fake_issuer: FakeIssuer
) -> None:
    for body in (b"[]", b'{"id": 1}', b"null", b'{"resource": "x"}', b"[" * 5000):
        with pytest.raises(SignatureError):
            client.notifications.parse(fake_issuer.signer.headers(body), body)


def test_parse_makes_no_request_when_keys_are_known(
    client: PayLaterClient, fake_issuer: FakeIssuer
) -> None:
    # no route is registered: any HTTP call would fail with a ConnectionError
    headers, body = _sealed(fake_issuer)
    client.notifications.parse(headers, body)
    with pytest.raises(ReplayError):
        client.notifications.parse(headers, body)
    assert fake_issuer.seen == []


# --- fuzz -------------------------------------------------------------------------------

_text = st.text(max_size=40)
_value = st.one_of(st.none(), st.integers(), _text, st.binary(max_size=40), st.floats())
_header_names = st.sampled_from(
    [
        "Paylater-Signature",
        "Paylater-Signature-Type",
        "Paylater-Timestamp",
        "Paylater-Nonce",
        "Paylater-Serial",
        "HTTP_PAYLATER_SERIAL",
        "Content-Type",
    ]
)
_headers = st.one_of(
    _value,
    st.dictionaries(st.one_of(_header_names, _text, st.binary(max_size=10)), _value, max_size=8),
    st.lists(st.tuples(st.one_of(_header_names, st.binary(max_size=10)), _value), max_size=8),
    st.lists(_value, max_size=5),
    st.lists(st.lists(_value, max_size=3), max_size=5),
)
_body = st.one_of(
    _value,
    st.binary(max_size=200),
    st.text(max_size=200),
    st.dictionaries(_text, _value, max_size=3),
    st.recursive(st.none() | st.integers() | _text, st.lists, max_leaves=10).map(
        lambda v: repr(v).encode()
    ),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(headers=_headers, body=_body)
def test_fuzz_garbage_raises_signature_error(
    client: PayLaterClient, headers: Any, body: Any
) -> None:
    with pytest.raises(SignatureError):
        client.notifications.parse(headers, body)


@st.composite
def _mutated(draw: st.DrawFn, sealed: tuple[dict[str, str], bytes]) -> tuple[Any, Any]:
    headers, body = dict(sealed[0]), sealed[1]
    action = draw(st.sampled_from(["drop", "replace", "body", "truncate", "type"]))
    name = draw(st.sampled_from(sorted(headers)))
    if action == "drop":
        del headers[name]
    elif action == "replace":
        headers[name] = draw(st.one_of(_text, st.binary(max_size=20).map(bytes.hex)))
    elif action == "body":
        position = draw(st.integers(0, len(body) - 1))
        body = body[:position] + bytes([(body[position] + 1) % 256]) + body[position + 1 :]
    elif action == "truncate":
        body = body[: draw(st.integers(0, len(body) - 1))]
    else:
        headers[name] = draw(_value.filter(lambda v: not isinstance(v, str)))  # type: ignore[assignment]
    return headers, body


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_a_tampered_real_notification_raises_signature_error(
    fake_issuer: FakeIssuer, data: st.DataObject
) -> None:
    client = make_client([])
    headers, body = data.draw(_mutated(_sealed(fake_issuer)))
    try:
        client.notifications.parse(headers, body)
    except SignatureError:
        return
    # a replaced header can only pass if it was replaced by an equal value
    raise AssertionError(f"accepted a tampered notification: {headers!r}")
