"""The issuer's keys: fetched from /v1/certificates, authenticated, refreshed on rotation."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses

from paylater_sdk.errors import (
    AuthenticationError,
    DecryptionError,
    InvalidSignatureError,
    UnknownKeyError,
)
from paylater_sdk.signing import ResponseSigner, generate_private_key, serial_for
from tests._support.client_fakes import (
    FakeIssuer,
    certificates_body,
    checkout_json,
    issuer_key,
    make_client,
)


def _fetching_client(sleeps: list[float]) -> Any:
    return make_client(sleeps, issuer_keys=None)


def test_keys_are_fetched_once_and_cached(
    sleeps: list[float], fake_issuer: FakeIssuer, mock: responses.RequestsMock
) -> None:
    key = issuer_key()
    fake_issuer.route(mock, "GET", "/v1/certificates", [(200, certificates_body(key))])
    fake_issuer.route(mock, "GET", "/v1/checkouts/co_1", [(200, checkout_json())])
    client = _fetching_client(sleeps)

    client.checkouts.get("co_1")
    client.checkouts.get("co_1")

    paths = [s.path_and_query for s in fake_issuer.seen]
    assert paths == ["/v1/certificates", "/v1/checkouts/co_1", "/v1/checkouts/co_1"]
    assert client.issuer_keys.serials() == [serial_for(key)]


def test_unknown_serial_triggers_one_refresh_then_succeeds(
    sleeps: list[float], fake_issuer: FakeIssuer, mock: responses.RequestsMock
) -> None:
    old, new = issuer_key(), generate_private_key("ed25519")
    certs = [(200, certificates_body(old)), (200, certificates_body(old, new))]
    fake_issuer.route(mock, "GET", "/v1/certificates", certs)
    client = _fetching_client(sleeps)
    assert client.issuer_keys.serials() == [serial_for(old)]

    # The issuer rotates: answers are now signed by the new key.
    fake_issuer.signer = ResponseSigner(new, serial_for(new))
    fake_issuer.route(mock, "GET", "/v1/checkouts/co_1", [(200, checkout_json())])
    assert client.checkouts.get("co_1").id == "co_1"

    assert set(client.issuer_keys.serials()) == {serial_for(old), serial_for(new)}
    paths = [s.path_and_query for s in fake_issuer.seen]
    assert paths == ["/v1/certificates", "/v1/checkouts/co_1", "/v1/certificates"]


def test_unknown_serial_after_the_refresh_is_unknown_key(
    sleeps: list[float], fake_issuer: FakeIssuer, mock: responses.RequestsMock
) -> None:
    real_signer = fake_issuer.signer

    def honest_certs(seen: object) -> tuple[int, dict[str, str], bytes]:
        body = json.dumps(certificates_body(issuer_key())).encode()
        return 200, real_signer.headers(body), body

    fake_issuer.route(mock, "GET", "/v1/certificates", [honest_certs])
    client = _fetching_client(sleeps)
    client.issuer_keys  # noqa: B018 - first fetch

    stranger = generate_private_key("ed25519")
    fake_issuer.signer = ResponseSigner(stranger, serial_for(stranger))
    fake_issuer.route(mock, "GET", "/v1/checkouts/co_1", [(200, checkout_json())])

    with pytest.raises(UnknownKeyError) as info:
        client.checkouts.get("co_1")
    assert info.value.serial == serial_for(stranger)
    paths = [s.path_and_query for s in fake_issuer.seen]
    assert paths == ["/v1/certificates", "/v1/checkouts/co_1", "/v1/certificates"]


def test_certificates_encrypted_to_another_api_key_are_refused(
    sleeps: list[float], fake_issuer: FakeIssuer, mock: responses.RequestsMock
) -> None:
    forged = certificates_body(issuer_key(), api_key=b"x" * 32)
    fake_issuer.route(mock, "GET", "/v1/certificates", [(200, forged)])
    with pytest.raises(DecryptionError):
        _fetching_client(sleeps).issuer_keys  # noqa: B018


def test_certificate_whose_serial_does_not_match_its_key(
    sleeps: list[float], fake_issuer: FakeIssuer, mock: responses.RequestsMock
) -> None:
    body = certificates_body(issuer_key(), serial_no="DEADBEEF")
    fake_issuer.route(mock, "GET", "/v1/certificates", [(200, body)])
    with pytest.raises(InvalidSignatureError, match="DEADBEEF"):
        _fetching_client(sleeps).issuer_keys  # noqa: B018


def test_certificates_answer_signed_by_a_key_it_does_not_list(
    sleeps: list[float], fake_issuer: FakeIssuer, mock: responses.RequestsMock
) -> None:
    other = generate_private_key("ed25519")
    fake_issuer.route(mock, "GET", "/v1/certificates", [(200, certificates_body(other))])
    with pytest.raises(UnknownKeyError):
        _fetching_client(sleeps).issuer_keys  # noqa: B018


@pytest.mark.parametrize(
    "body",
    [{"data": []}, {"nothing": 1}, {"data": [{"serial_no": "X"}]}, {"data": ["x"]}],
)
def test_malformed_certificates_fail_closed(
    sleeps: list[float], fake_issuer: FakeIssuer, mock: responses.RequestsMock, body: Any
) -> None:
    fake_issuer.route(mock, "GET", "/v1/certificates", [(200, body)])
    with pytest.raises(InvalidSignatureError):
        _fetching_client(sleeps).issuer_keys  # noqa: B018


def test_certificates_error_before_keys_are_known_maps_by_status(
    sleeps: list[float], fake_issuer: FakeIssuer, mock: responses.RequestsMock
) -> None:
    error = {"code": "UNKNOWN_MERCHANT", "message": "who?", "request_id": "req_x"}
    fake_issuer.route(mock, "GET", "/v1/certificates", [(401, error)])
    with pytest.raises(AuthenticationError) as info:
        _fetching_client(sleeps).issuer_keys  # noqa: B018
    assert info.value.http_status == 401
    assert info.value.code is None  # unverifiable: the body is not trusted


def test_expired_certificate_is_not_used(
    sleeps: list[float], fake_issuer: FakeIssuer, mock: responses.RequestsMock
) -> None:
    body = certificates_body(issuer_key(), expire_time="2021-01-01T00:00:00+00:00")
    fake_issuer.route(mock, "GET", "/v1/certificates", [(200, body)])
    with pytest.raises(UnknownKeyError, match="expired"):
        _fetching_client(sleeps).issuer_keys  # noqa: B018


def test_pinned_keys_and_no_certificates_endpoint_is_still_unknown_key(
    client: Any, fake_issuer: FakeIssuer, mock: responses.RequestsMock
) -> None:
    stranger = generate_private_key("ed25519")
    fake_issuer.signer = ResponseSigner(stranger, serial_for(stranger))
    fake_issuer.route(mock, "GET", "/v1/checkouts/co_1", [(200, checkout_json())])
    fake_issuer.route(mock, "GET", "/v1/certificates", [(404, {"code": "NOT_FOUND"})])

    with pytest.raises(UnknownKeyError, match="refreshing the issuer's keys failed") as info:
        client.checkouts.get("co_1")

    assert info.value.serial == serial_for(stranger)
    assert info.value.__cause__ is not None


def test_refresh_issuer_keys_merges_into_a_pinned_ring(
    client: Any, fake_issuer: FakeIssuer, mock: responses.RequestsMock
) -> None:
    announced = generate_private_key("ed25519")
    body = certificates_body(issuer_key(), announced)
    fake_issuer.route(mock, "GET", "/v1/certificates", [(200, body)])

    ring = client.refresh_issuer_keys()

    assert set(ring.serials()) == {serial_for(issuer_key()), serial_for(announced)}
    assert client.issuer_keys is ring


def test_concurrent_first_calls_fetch_the_keys_once(
    sleeps: list[float], fake_issuer: FakeIssuer, mock: responses.RequestsMock
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    fake_issuer.route(mock, "GET", "/v1/certificates", [(200, certificates_body(issuer_key()))])
    fake_issuer.route(mock, "GET", "/v1/checkouts/co_1", [(200, checkout_json())])
    client = _fetching_client(sleeps)

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(lambda _: client.checkouts.get("co_1").id, range(16)))

    assert ids == ["co_1"] * 16
    paths = [s.path_and_query for s in fake_issuer.seen]
    assert paths.count("/v1/certificates") == 1
    assert paths.count("/v1/checkouts/co_1") == 16
