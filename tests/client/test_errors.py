"""Error answers map to one exception class each; forged or unsigned answers fail closed."""

from __future__ import annotations

import json

import pytest
import responses

from paylater_sdk import Money
from paylater_sdk.client import PayLaterClient
from paylater_sdk.errors import (
    APIError,
    AuthenticationError,
    ConflictError,
    CreditDeclinedError,
    IdempotencyError,
    InvalidRequestError,
    InvalidSignatureError,
    IssuerUnavailableError,
    NotFoundError,
    PayLaterError,
    RateLimitError,
    ReplayError,
    TimestampError,
)
from tests._support.client_fakes import BASE, FakeIssuer, checkout_json, make_client


def _error(code: str, message: str = "nope", **extra: str) -> dict[str, str]:
    return {"code": code, "message": message, "request_id": "req_body", **extra}


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "INVALID_FIELD", InvalidRequestError),
        (400, "PLAN_NOT_AVAILABLE", InvalidRequestError),
        (401, "SIGNATURE_INVALID", AuthenticationError),
        (401, "UNKNOWN_MERCHANT", AuthenticationError),
        (403, "FORBIDDEN", AuthenticationError),
        (404, "NOT_FOUND", NotFoundError),
        (409, "INVALID_STATE", ConflictError),
        (409, "DUPLICATE_OUT_TRADE_NO", ConflictError),
        (413, "BODY_TOO_LARGE", InvalidRequestError),
        (415, "UNSUPPORTED_MEDIA_TYPE", InvalidRequestError),
        (405, "METHOD_NOT_ALLOWED", InvalidRequestError),
        (422, "IDEMPOTENCY_KEY_REUSED", IdempotencyError),
        (418, "TEAPOT", APIError),
    ],
)
def test_each_error_status_maps_to_its_class(
    client: PayLaterClient,
    fake_issuer: FakeIssuer,
    mock: responses.RequestsMock,
    status: int,
    code: str,
    expected: type[APIError],
) -> None:
    fake_issuer.route(mock, "GET", "/v1/checkouts/co_1", [(status, _error(code, "what to fix"))])

    with pytest.raises(expected) as info:
        client.checkouts.get("co_1")

    err = info.value
    assert type(err) is expected
    assert err.http_status == status
    assert err.code == code
    assert err.message == "what to fix"
    assert err.request_id == "req_1"  # the Request-Id header wins over the body's copy
    assert len(fake_issuer.seen) == 1  # not retried
    assert isinstance(err, PayLaterError)


def test_credit_declined_carries_the_reason(
    client: PayLaterClient, fake_issuer: FakeIssuer, mock: responses.RequestsMock
) -> None:
    body = _error("CREDIT_DECLINED", "declined", reason="INSUFFICIENT_LIMIT")
    fake_issuer.route(mock, "POST", "/v1/credit/eligibility", [(402, body)])

    with pytest.raises(CreditDeclinedError) as info:
        client.credit.eligibility("bt_secret_token_123", Money("10.00", "CNY"))

    assert info.value.reason == "INSUFFICIENT_LIMIT"
    assert info.value.code == "CREDIT_DECLINED"
    assert info.value.http_status == 402
    assert "bt_secret_token_123" not in str(info.value)


def test_an_issuer_refusal_names_the_field_at_fault(
    client: PayLaterClient, fake_issuer: FakeIssuer, mock: responses.RequestsMock
) -> None:
    body = _error("URL_NOT_ALLOWED", "notify_url is not registered", field="notify_url")
    fake_issuer.route(mock, "GET", "/v1/checkouts/co_1", [(400, body)])
    fake_issuer.route(mock, "GET", "/v1/checkouts/co_2", [(400, _error("INVALID_FIELD"))])

    with pytest.raises(InvalidRequestError) as named:
        client.checkouts.get("co_1")
    with pytest.raises(InvalidRequestError) as unnamed:
        client.checkouts.get("co_2")

    assert named.value.field == "notify_url"
    assert "(field=notify_url)" in str(named.value)
    assert unnamed.value.field is None
    assert "field=" not in str(unnamed.value)


def test_a_non_string_field_in_a_refusal_is_ignored(
    client: PayLaterClient, fake_issuer: FakeIssuer, mock: responses.RequestsMock
) -> None:
    body = {"code": "INVALID_FIELD", "message": "nope", "field": {"nested": 1}}
    fake_issuer.route(mock, "GET", "/v1/checkouts/co_1", [(400, body)])

    with pytest.raises(InvalidRequestError) as info:
        client.checkouts.get("co_1")

    assert info.value.field is None
    assert info.value.code == "INVALID_FIELD"


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.orders.capture("ord_1", amount=Money("-1.00", "CNY")), "amount"),
        (lambda c: c.refunds.create(order_id="ord_1", amount="1.00", out_refund_no="r1"), "amount"),
        (
            lambda c: c.checkouts.create(
                amount=Money("10.00", "CNY"),
                out_trade_no="SH1",
                description="x",
                notify_url="ftp://shop.example/notify",
                return_url="https://shop.example/return",
            ),
            "notify_url",
        ),
        (
            lambda c: c.checkouts.create(
                amount=Money("10.00", "CNY"),
                out_trade_no="SH1",
                description="x",
                notify_url="https://shop.example/notify",
                return_url="https://shop.example/return",
                metadata={"color": 7},
            ),
            "metadata.color",
        ),
    ],
)
def test_a_local_check_names_the_argument_at_fault(
    client: PayLaterClient, fake_issuer: FakeIssuer, call: object, field: str
) -> None:
    with pytest.raises(PayLaterError) as info:
        call(client)  # type: ignore[operator]

    assert info.value.field == field
    assert fake_issuer.seen == []  # refused before anything was sent


def test_rate_limit_and_5xx_after_retries(
    client: PayLaterClient, fake_issuer: FakeIssuer, mock: responses.RequestsMock
) -> None:
    fake_issuer.route(mock, "GET", "/v1/checkouts/co_1", [(429, _error("RATE_LIMITED"))])
    fake_issuer.route(mock, "GET", "/v1/checkouts/co_2", [(503, _error("SERVICE_UNAVAILABLE"))])

    with pytest.raises(RateLimitError) as rate:
        client.checkouts.get("co_1")
    with pytest.raises(IssuerUnavailableError) as down:
        client.checkouts.get("co_2")

    assert rate.value.code == "RATE_LIMITED"
    assert down.value.http_status == 503
    assert len(fake_issuer.seen) == 6  # 1 + 2 retries each


def test_error_without_json_body_still_maps_by_status(
    client: PayLaterClient, fake_issuer: FakeIssuer, mock: responses.RequestsMock
) -> None:
    fake_issuer.route(
        mock, "GET", "/v1/checkouts/co_1", lambda seen: fake_issuer.signed(404, b"not json")
    )
    with pytest.raises(NotFoundError) as info:
        client.checkouts.get("co_1")
    assert info.value.code is None
    assert "HTTP 404" in info.value.message


def test_unsigned_success_is_treated_as_forged(
    client: PayLaterClient, mock: responses.RequestsMock
) -> None:
    mock.add("GET", f"{BASE}/v1/checkouts/co_1", json=checkout_json())
    with pytest.raises(InvalidSignatureError, match="not signed"):
        client.checkouts.get("co_1")


def test_unsigned_error_uses_the_status_only(
    client: PayLaterClient, mock: responses.RequestsMock
) -> None:
    # A proxy's error page: nothing in it is trusted, not even an error code.
    mock.add(
        "GET", f"{BASE}/v1/checkouts/co_1", status=404, json={"code": "FAKE", "message": "evil"}
    )
    with pytest.raises(NotFoundError) as info:
        client.checkouts.get("co_1")
    assert info.value.code is None
    assert "evil" not in str(info.value)
    assert "not trusted" in info.value.message


def test_body_altered_after_signing_is_rejected(
    client: PayLaterClient, fake_issuer: FakeIssuer, mock: responses.RequestsMock
) -> None:
    def tampered(seen: object) -> tuple[int, dict[str, str], bytes]:
        status, headers, body = fake_issuer.signed(200, checkout_json())
        return status, headers, body.replace(b'"value": 12000', b'"value": 12001')

    fake_issuer.route(mock, "GET", "/v1/checkouts/co_1", tampered)
    with pytest.raises(InvalidSignatureError):
        client.checkouts.get("co_1")


def test_signed_error_with_a_bad_signature_is_not_parsed(
    client: PayLaterClient, fake_issuer: FakeIssuer, mock: responses.RequestsMock
) -> None:
    def tampered(seen: object) -> tuple[int, dict[str, str], bytes]:
        status, headers, _ = fake_issuer.signed(409, _error("INVALID_STATE"))
        return status, headers, json.dumps(_error("IDEMPOTENCY_IN_PROGRESS")).encode()

    fake_issuer.route(mock, "GET", "/v1/checkouts/co_1", tampered)
    with pytest.raises(InvalidSignatureError):
        client.checkouts.get("co_1")
    assert len(fake_issuer.seen) == 1  # a forged "retry" hint is never obeyed


def test_stale_answer_is_a_timestamp_error(
    client: PayLaterClient, fake_issuer: FakeIssuer, mock: responses.RequestsMock
) -> None:
    def stale(seen: object) -> tuple[int, dict[str, str], bytes]:
        body = json.dumps(checkout_json()).encode()
        headers = fake_issuer.signer.headers(body, timestamp=1_000_000_000)
        return 200, headers, body

    fake_issuer.route(mock, "GET", "/v1/checkouts/co_1", stale)
    with pytest.raises(TimestampError):
        client.checkouts.get("co_1")


def test_replayed_answer_is_refused(
    client: PayLaterClient, fake_issuer: FakeIssuer, mock: responses.RequestsMock
) -> None:
    recorded = fake_issuer.signed(200, checkout_json())
    fake_issuer.route(mock, "GET", "/v1/checkouts/co_1", lambda seen: recorded)
    assert client.checkouts.get("co_1").id == "co_1"
    with pytest.raises(ReplayError):
        client.checkouts.get("co_1")


def test_success_that_is_not_a_json_object(
    client: PayLaterClient, fake_issuer: FakeIssuer, mock: responses.RequestsMock
) -> None:
    fake_issuer.route(mock, "GET", "/v1/checkouts/co_1", [(200, [1, 2])])
    with pytest.raises(APIError, match="not a JSON object"):
        client.checkouts.get("co_1")


def test_malformed_model_names_the_field(
    client: PayLaterClient, fake_issuer: FakeIssuer, mock: responses.RequestsMock
) -> None:
    fake_issuer.route(
        mock, "GET", "/v1/checkouts/co_1", [(200, checkout_json(amount={"value": 1.5}))]
    )
    with pytest.raises(APIError, match="'amount'"):
        client.checkouts.get("co_1")


def test_redirects_are_not_followed(sleeps: list[float], mock: responses.RequestsMock) -> None:
    client = make_client(sleeps)
    mock.add(
        "GET", f"{BASE}/v1/checkouts/co_1", status=302, headers={"Location": "https://evil.test/"}
    )
    with pytest.raises(APIError) as info:
        client.checkouts.get("co_1")
    assert info.value.http_status == 302
    assert len(mock.calls) == 1


_CNY = Money("30.00", "CNY")
_SERVICE_CALLS = [
    ("POST", "/v1/credit/eligibility", lambda c: c.credit.eligibility("bt_x1234", _CNY)),
    ("GET", "/v1/plans/quote", lambda c: c.plans.quote(_CNY)),
    (
        "POST",
        "/v1/checkouts",
        lambda c: c.checkouts.create(
            out_trade_no="A1",
            amount=_CNY,
            description="d",
            notify_url="https://shop.example/n",
            return_url="https://shop.example/r",
        ),
    ),
    ("GET", "/v1/checkouts/co_1", lambda c: c.checkouts.get("co_1")),
    ("GET", "/v1/checkouts", lambda c: c.checkouts.find("A1")),
    ("POST", "/v1/checkouts/co_1/close", lambda c: c.checkouts.close("co_1")),
    ("POST", "/v1/orders/ord_1/capture", lambda c: c.orders.capture("ord_1")),
    ("POST", "/v1/orders/ord_1/void", lambda c: c.orders.void("ord_1")),
    ("POST", "/v1/refunds", lambda c: c.refunds.create("ord_1", _CNY, "R1")),
    ("GET", "/v1/refunds/rf_1", lambda c: c.refunds.get("rf_1")),
]


@pytest.mark.parametrize(("method", "path", "call"), _SERVICE_CALLS)
@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "INVALID_FIELD", InvalidRequestError),
        (401, "SIGNATURE_INVALID", AuthenticationError),
        (402, "CREDIT_DECLINED", CreditDeclinedError),
        (404, "NOT_FOUND", NotFoundError),
        (409, "INVALID_STATE", ConflictError),
        (422, "IDEMPOTENCY_KEY_REUSED", IdempotencyError),
        (429, "RATE_LIMITED", RateLimitError),
        (500, "INTERNAL_ERROR", IssuerUnavailableError),
    ],
)
def test_every_service_call_maps_every_error(
    client: PayLaterClient,
    fake_issuer: FakeIssuer,
    mock: responses.RequestsMock,
    method: str,
    path: str,
    call,
    status: int,
    code: str,
    expected: type[APIError],
) -> None:
    fake_issuer.route(mock, method, path, [(status, _error(code, "m", reason="OVERDUE"))])
    with pytest.raises(expected) as info:
        call(client)
    assert (info.value.http_status, info.value.code) == (status, code)
    assert fake_issuer.seen[0].method == method


@pytest.mark.parametrize(("method", "path", "call"), _SERVICE_CALLS)
def test_every_service_call_refuses_a_forged_answer(
    client: PayLaterClient,
    fake_issuer: FakeIssuer,
    mock: responses.RequestsMock,
    method: str,
    path: str,
    call,
) -> None:
    def forged(seen: object) -> tuple[int, dict[str, str], bytes]:
        status, headers, body = fake_issuer.signed(200, {"anything": True})
        return status, headers, body + b" "

    fake_issuer.route(mock, method, path, forged)
    with pytest.raises(InvalidSignatureError):
        call(client)
