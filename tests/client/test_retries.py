"""Retries: which failures, how long, and that a retried POST reuses its idempotency key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import responses

from paylater_sdk import Money
from paylater_sdk.client import PayLaterClient, RetryPolicy
from paylater_sdk.client._retry import default_jitter, parse_retry_after
from paylater_sdk.errors import (
    ConfigurationError,
    ConflictError,
    IssuerUnavailableError,
    NetworkError,
    RateLimitError,
)
from tests._support.client_fakes import FakeIssuer, Seen, checkout_json, make_client


def _create(client: PayLaterClient) -> Any:
    return client.checkouts.create(
        out_trade_no="A1001",
        amount=Money("120.00", "CNY"),
        description="Tea set",
        notify_url="https://shop.example/notify",
        return_url="https://shop.example/return",
    )


def _error(code: str) -> dict[str, str]:
    return {"code": code, "message": code.lower(), "request_id": "req_x"}


def test_connection_drop_after_commit_is_retried_with_the_same_key(
    client: PayLaterClient, fake_issuer: FakeIssuer, mock: responses.RequestsMock, sleeps: list
) -> None:
    """The issuer acts, the answer is lost; the retry gets the stored answer, not a 2nd act."""
    created: dict[str, dict[str, Any]] = {}

    def idempotent(seen: Seen) -> tuple[int, dict[str, str], bytes]:
        key = seen.headers["Idempotency-Key"]
        first = key not in created
        created.setdefault(key, checkout_json(id=f"co_{len(created) + 1}"))
        if first:
            raise requests.ConnectionError("connection reset by peer")
        return fake_issuer.signed(201, created[key])

    fake_issuer.route(mock, "POST", "/v1/checkouts", idempotent)

    checkout = _create(client)

    assert checkout.id == "co_1"
    assert len(created) == 1
    first, second = fake_issuer.seen
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    assert first.body == second.body
    # Every attempt is signed anew: the issuer's replay protection would refuse a copy.
    assert first.headers["Authorization"] != second.headers["Authorization"]
    assert sleeps == [0.5]


def test_timeout_is_retried_then_reported_as_network_error(
    client: PayLaterClient, fake_issuer: FakeIssuer, mock: responses.RequestsMock, sleeps: list
) -> None:
    fake_issuer.route(mock, "GET", "/v1/checkouts/co_1", [requests.ReadTimeout("slow")])

    with pytest.raises(NetworkError, match="timed out") as info:
        client.checkouts.get("co_1")

    assert isinstance(info.value.__cause__, requests.ReadTimeout)
    assert len(fake_issuer.seen) == 3
    assert sleeps == [0.5, 1.0]


def test_connection_errors_exhaust_into_network_error(
    client: PayLaterClient, fake_issuer: FakeIssuer, mock: responses.RequestsMock, sleeps: list
) -> None:
    fake_issuer.route(mock, "POST", "/v1/checkouts", [requests.ConnectionError("refused")])
    with pytest.raises(NetworkError, match="could not reach") as info:
        _create(client)
    assert isinstance(info.value.__cause__, requests.ConnectionError)
    assert len({s.headers["Idempotency-Key"] for s in fake_issuer.seen}) == 1
    assert len(fake_issuer.seen) == 3


def test_5xx_then_success(
    client: PayLaterClient, fake_issuer: FakeIssuer, mock: responses.RequestsMock, sleeps: list
) -> None:
    answers = [(500, _error("INTERNAL_ERROR")), (201, checkout_json())]
    fake_issuer.route(mock, "POST", "/v1/checkouts", answers)
    assert _create(client).id == "co_1"
    assert len(fake_issuer.seen) == 2
    assert sleeps == [0.5]


def test_429_honours_retry_after(
    client: PayLaterClient, fake_issuer: FakeIssuer, mock: responses.RequestsMock, sleeps: list
) -> None:
    def limited(seen: Seen) -> tuple[int, dict[str, str], bytes]:
        return fake_issuer.signed(429, _error("RATE_LIMITED"), headers={"Retry-After": "3"})

    fake_issuer.route(mock, "GET", "/v1/checkouts/co_1", [limited, (200, checkout_json())])
    assert client.checkouts.get("co_1").id == "co_1"
    assert sleeps == [3.0]


def test_retry_after_over_a_minute_is_not_waited_for(
    client: PayLaterClient, fake_issuer: FakeIssuer, mock: responses.RequestsMock, sleeps: list
) -> None:
    def limited(seen: Seen) -> tuple[int, dict[str, str], bytes]:
        return fake_issuer.signed(429, _error("RATE_LIMITED"), headers={"Retry-After": "3600"})

    fake_issuer.route(mock, "GET", "/v1/checkouts/co_1", limited)
    with pytest.raises(RateLimitError):
        client.checkouts.get("co_1")
    assert sleeps == []
    assert len(fake_issuer.seen) == 1


def test_409_in_progress_is_retried_other_409_are_not(
    client: PayLaterClient, fake_issuer: FakeIssuer, mock: responses.RequestsMock, sleeps: list
) -> None:
    def busy(seen: Seen) -> tuple[int, dict[str, str], bytes]:
        return fake_issuer.signed(
            409, _error("IDEMPOTENCY_IN_PROGRESS"), headers={"Retry-After": "1"}
        )

    fake_issuer.route(mock, "POST", "/v1/checkouts", [busy, (201, checkout_json())])
    fake_issuer.route(mock, "POST", "/v1/orders/ord_1/void", [(409, _error("INVALID_STATE"))])

    assert _create(client).id == "co_1"
    assert sleeps == [1.0]
    with pytest.raises(ConflictError) as info:
        client.orders.void("ord_1")
    assert info.value.code == "INVALID_STATE"
    assert sleeps == [1.0]


def test_max_retries_zero_never_retries(
    sleeps: list, fake_issuer: FakeIssuer, mock: responses.RequestsMock
) -> None:
    client = make_client(sleeps, retry_policy=None, max_retries=0)
    fake_issuer.route(mock, "GET", "/v1/checkouts/co_1", [(503, _error("SERVICE_UNAVAILABLE"))])
    with pytest.raises(IssuerUnavailableError):
        client.checkouts.get("co_1")
    assert len(fake_issuer.seen) == 1


def test_timeout_is_always_passed(
    client: PayLaterClient, fake_issuer: FakeIssuer, mock: responses.RequestsMock
) -> None:
    fake_issuer.route(mock, "GET", "/v1/checkouts/co_1", [(200, checkout_json())])
    client.checkouts.get("co_1")
    assert mock.calls[0].request.req_kwargs["timeout"] == (3.05, 10.0)
    assert client.timeout == (3.05, 10.0)


def test_backoff_doubles_and_is_capped() -> None:
    policy = RetryPolicy(max_retries=7, jitter=lambda d: d)
    delays = [policy.delay(n) for n in range(1, 9)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0, None]


def test_retry_after_raises_the_delay_but_never_lowers_it() -> None:
    policy = RetryPolicy(jitter=lambda d: d)
    assert policy.delay(2, retry_after=0.1) == 1.0
    assert policy.delay(1, retry_after=7) == 7
    assert policy.delay(1, retry_after=61) is None


def test_default_jitter_stays_between_half_and_full_delay() -> None:
    samples = [default_jitter(4.0) for _ in range(200)]
    assert all(2.0 <= s <= 4.0 for s in samples)
    assert len(set(samples)) > 1


def test_parse_retry_after_forms() -> None:
    now = datetime(2026, 11, 29, 19, 0, 0, tzinfo=UTC)
    assert parse_retry_after({"Retry-After": "2"}) == 2.0
    assert parse_retry_after({"Retry-After": "Sun, 29 Nov 2026 19:00:30 GMT"}, now=now) == 30.0
    assert parse_retry_after({"Retry-After": "Sun, 29 Nov 2026 18:00:00 GMT"}, now=now) == 0.0
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None
    # Unicode digits pass str.isdigit() but are no HTTP delta-seconds (a proxy's garbage).
    assert parse_retry_after({"Retry-After": "\u00b2"}) is None
    assert parse_retry_after({"Retry-After": "\u0663"}) is None


@pytest.mark.parametrize(
    "kwargs",
    [{"max_retries": -1}, {"max_retries": 11}, {"max_retries": True}, {"initial_delay": -1}],
)
def test_retry_policy_validation(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        RetryPolicy(**kwargs)


def test_tls_errors_are_not_retried(
    client: PayLaterClient, fake_issuer: FakeIssuer, mock: responses.RequestsMock, sleeps: list
) -> None:
    fake_issuer.route(mock, "GET", "/v1/checkouts/co_1", [requests.exceptions.SSLError("bad cert")])
    with pytest.raises(NetworkError, match="TLS") as info:
        client.checkouts.get("co_1")
    assert isinstance(info.value.__cause__, requests.exceptions.SSLError)
    assert len(fake_issuer.seen) == 1
    assert sleeps == []


def test_a_body_cut_short_is_retried(
    client: PayLaterClient, fake_issuer: FakeIssuer, mock: responses.RequestsMock, sleeps: list
) -> None:
    answers = [requests.exceptions.ChunkedEncodingError("cut"), (200, checkout_json())]
    fake_issuer.route(mock, "GET", "/v1/checkouts/co_1", answers)
    assert client.checkouts.get("co_1").id == "co_1"
    assert sleeps == [0.5]


def test_other_transport_errors_fail_without_retry(
    client: PayLaterClient, fake_issuer: FakeIssuer, mock: responses.RequestsMock, sleeps: list
) -> None:
    fake_issuer.route(mock, "GET", "/v1/checkouts/co_1", [requests.exceptions.TooManyRedirects()])
    with pytest.raises(NetworkError, match="TooManyRedirects"):
        client.checkouts.get("co_1")
    assert sleeps == []
