"""Key refreshes are rate-limited: a flood of made-up serials costs one fetch, not one each."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
import responses

from paylater_sdk.client import _requester
from paylater_sdk.errors import ConfigurationError, UnknownKeyError
from paylater_sdk.signing import ResponseSigner, generate_private_key, seal_notification
from paylater_sdk.testing import MockIssuer
from tests._support.client_fakes import (
    API_KEY,
    FakeIssuer,
    certificates_body,
    checkout_json,
    issuer_key,
    make_client,
)

_STRANGER = generate_private_key("ed25519")


def _forged(serial: str) -> tuple[dict[str, str], bytes]:
    """A well-formed notification signed by a key nobody published, under ``serial``."""
    payload = {"event_type": "CHECKOUT.CLOSED", "original_type": "checkout"}
    return seal_notification(
        {**payload, "resource": checkout_json(state="CLOSED")},
        API_KEY,
        ResponseSigner(_STRANGER, serial),
    )


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    now = [1000.0]
    monkeypatch.setattr(_requester, "_monotonic", lambda: now[0])
    return now


def _certificate_fetches(fake_issuer: FakeIssuer) -> int:
    return [s.path_and_query for s in fake_issuer.seen].count("/v1/certificates")


def test_a_flood_of_random_serials_makes_one_fetch(
    sleeps: list[float], fake_issuer: FakeIssuer, mock: responses.RequestsMock, clock: Any
) -> None:
    fake_issuer.route(mock, "GET", "/v1/certificates", [(200, certificates_body(issuer_key()))])
    client = make_client(sleeps, issuer_keys=None)
    client.issuer_keys  # noqa: B018 - the first load, not a refresh
    assert _certificate_fetches(fake_issuer) == 1

    failures = []
    for _ in range(50):
        with pytest.raises(UnknownKeyError) as info:
            client.notifications.parse(*_forged(secrets.token_hex(20).upper()))
        failures.append(info.value)

    assert _certificate_fetches(fake_issuer) == 2  # one refresh for fifty serials
    assert all("at most one refresh per 60s" in f.message for f in failures[1:])
    assert len(client.issuer_keys) == 1


def test_the_next_refresh_is_allowed_after_the_interval(
    sleeps: list[float], fake_issuer: FakeIssuer, mock: responses.RequestsMock, clock: Any
) -> None:
    fake_issuer.route(mock, "GET", "/v1/certificates", [(200, certificates_body(issuer_key()))])
    client = make_client(sleeps, issuer_keys=None, key_refresh_interval=30)
    client.issuer_keys  # noqa: B018
    for step in (0, 10, 19.9):  # 0 s, 10 s and 29.9 s after the refresh
        clock[0] += step
        with pytest.raises(UnknownKeyError):
            client.notifications.parse(*_forged(secrets.token_hex(8)))
    assert _certificate_fetches(fake_issuer) == 2
    clock[0] += 0.2  # 30.1 s after the refresh
    with pytest.raises(UnknownKeyError):
        client.notifications.parse(*_forged(secrets.token_hex(8)))
    assert _certificate_fetches(fake_issuer) == 3


def test_a_fresh_client_does_not_refresh_what_it_just_loaded(
    sleeps: list[float], fake_issuer: FakeIssuer, mock: responses.RequestsMock, clock: Any
) -> None:
    fake_issuer.route(mock, "GET", "/v1/certificates", [(200, certificates_body(issuer_key()))])
    client = make_client(sleeps, issuer_keys=None)
    for _ in range(5):
        with pytest.raises(UnknownKeyError):
            client.notifications.parse(*_forged(secrets.token_hex(8)))
    # the load for the first notification, then one refresh for the second
    assert _certificate_fetches(fake_issuer) == 2


def test_the_limit_also_covers_answers(
    sleeps: list[float], fake_issuer: FakeIssuer, mock: responses.RequestsMock, clock: Any
) -> None:
    fake_issuer.route(mock, "GET", "/v1/certificates", [(200, certificates_body(issuer_key()))])
    client = make_client(sleeps, issuer_keys=None)
    client.issuer_keys  # noqa: B018
    with pytest.raises(UnknownKeyError):
        client.notifications.parse(*_forged("AA01"))
    fake_issuer.signer = ResponseSigner(_STRANGER, "AA02")
    fake_issuer.route(mock, "GET", "/v1/checkouts/co_1", [(200, checkout_json())])
    with pytest.raises(UnknownKeyError, match="at most one refresh"):
        client.checkouts.get("co_1")
    assert _certificate_fetches(fake_issuer) == 2


def test_an_explicit_refresh_is_never_limited(
    sleeps: list[float], fake_issuer: FakeIssuer, mock: responses.RequestsMock, clock: Any
) -> None:
    fake_issuer.route(mock, "GET", "/v1/certificates", [(200, certificates_body(issuer_key()))])
    client = make_client(sleeps, issuer_keys=None)
    with pytest.raises(UnknownKeyError):
        client.notifications.parse(*_forged("AA01"))
    client.refresh_issuer_keys()
    client.refresh_issuer_keys()
    assert _certificate_fetches(fake_issuer) == 3


@pytest.mark.parametrize("value", [-1, "60", None, True, 86401])
def test_the_interval_is_checked(sleeps: list[float], value: object) -> None:
    with pytest.raises(ConfigurationError, match="key_refresh_interval"):
        make_client(sleeps, key_refresh_interval=value)


@pytest.mark.anyio
async def test_concurrent_tasks_with_random_serials_make_one_fetch(clock: Any) -> None:
    issuer = MockIssuer()
    paths: list[str] = []
    inner = issuer.async_transport()

    async def counting(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return await inner.handle_async_request(request)

    sealed = [
        seal_notification(
            {"event_type": "CHECKOUT.CLOSED", "original_type": "checkout", "resource": {}},
            issuer.api_key,
            ResponseSigner(_STRANGER, secrets.token_hex(16)),
        )
        for _ in range(40)
    ]
    errors: list[BaseException] = []
    try:
        session = httpx.AsyncClient(transport=httpx.MockTransport(counting))
        async with issuer.async_client(session=session) as client:
            await client.issuer_keys()

            async def one(headers: dict[str, str], body: bytes) -> None:
                try:
                    await client.notifications.parse(headers, body)
                except UnknownKeyError as exc:
                    errors.append(exc)

            async with anyio.create_task_group() as tasks:
                for headers, body in sealed:
                    tasks.start_soon(one, headers, body)
    finally:
        issuer.stop()
    assert len(errors) == 40
    assert paths == ["/v1/certificates", "/v1/certificates"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
