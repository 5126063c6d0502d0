"""Every service call against a signed fake issuer: the request sent and the model returned."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import responses

from paylater_sdk import Money
from paylater_sdk.client import (
    Checkout,
    CheckoutState,
    Eligibility,
    Order,
    PayLaterClient,
    Quote,
    Refund,
    RefundState,
)
from paylater_sdk.errors import InvalidRequestError, MoneyError
from tests._support.client_fakes import (
    FakeIssuer,
    checkout_json,
    money,
    order_json,
    plan_json,
    refund_json,
)

CNY = "CNY"


def test_eligibility_posts_token_and_amount(
    client: PayLaterClient, fake_issuer: FakeIssuer, mock: responses.RequestsMock
) -> None:
    answer = {"eligible": False, "reasons": ["INSUFFICIENT_LIMIT"], "plans": [plan_json()]}
    fake_issuer.route(mock, "POST", "/v1/credit/eligibility", [(200, answer)])

    result = client.credit.eligibility("bt_abcdef123456", Money("120.00", CNY))

    assert isinstance(result, Eligibility)
    assert result.eligible is False
    assert result.reasons == ("INSUFFICIENT_LIMIT",)
    assert result.plans[0].plan_id == "fenfu-6"
    sent = fake_issuer.seen[0]
    assert sent.path_and_query == "/v1/credit/eligibility"
    assert sent.json == {"buyer_token": "bt_abcdef123456", "amount": money(12000)}
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["Idempotency-Key"].startswith("idem_")


def test_plans_quote_sends_minor_units_in_the_query(
    client: PayLaterClient, fake_issuer: FakeIssuer, mock: responses.RequestsMock
) -> None:
    answer = {"amount": money(12000), "plans": [plan_json()], "as_low_as": money(2072)}
    fake_issuer.route(mock, "GET", "/v1/plans/quote", [(200, answer)])

    quote = client.plans.quote(Money("120.00", CNY))

    assert isinstance(quote, Quote)
    assert quote.amount == Money("120.00", CNY)
    assert quote.as_low_as == Money("20.72", CNY)
    plan = quote.plans[0]
    assert plan.apr == Decimal("0.1235")
    assert plan.effective_annual_rate == Decimal("0.1297")
    assert plan.total_cost == Money("4.32", CNY)
    assert plan.periods == 6
    sent = fake_issuer.seen[0]
    assert sent.path_and_query == "/v1/plans/quote?amount=12000&currency=CNY"
    assert sent.body == b""
    assert "Idempotency-Key" not in sent.headers


def test_checkouts_create_sends_the_documented_body(
    client: PayLaterClient, fake_issuer: FakeIssuer, mock: responses.RequestsMock
) -> None:
    fake_issuer.route(mock, "POST", "/v1/checkouts", [(201, checkout_json())])

    checkout = client.checkouts.create(
        out_trade_no="A1001",
        amount=Money("120.00", CNY),
        description="Tea set",
        notify_url="https://shop.example/notify",
        return_url="https://shop.example/return",
        plans=["fenfu-6"],
        expires_in=900,
        idempotency_key="order-A1001",
    )

    assert isinstance(checkout, Checkout)
    assert checkout.id == "co_1"
    assert checkout.state is CheckoutState.CREATED
    assert checkout.amount == Money("120.00", CNY)
    assert checkout.authorize_url.endswith("/authorize/co_1")
    assert checkout.created_at == datetime(2026, 11, 29, 19, 0, tzinfo=UTC)
    assert checkout.order is None
    sent = fake_issuer.seen[0]
    assert sent.json == {
        "out_trade_no": "A1001",
        "amount": money(12000),
        "description": "Tea set",
        "notify_url": "https://shop.example/notify",
        "return_url": "https://shop.example/return",
        "plans": ["fenfu-6"],
        "expires_in": 900,
    }
    assert sent.headers["Idempotency-Key"] == "order-A1001"


def test_checkouts_create_leaves_optional_fields_out(
    client: PayLaterClient, fake_issuer: FakeIssuer, mock: responses.RequestsMock
) -> None:
    fake_issuer.route(mock, "POST", "/v1/checkouts", [(201, checkout_json())])
    client.checkouts.create(
        out_trade_no="A1001",
        amount=Money("120.00", CNY),
        description="Tea set",
        notify_url="https://shop.example/notify",
        return_url="https://shop.example/return",
    )
    assert set(fake_issuer.seen[0].json) == {
        "out_trade_no",
        "amount",
        "description",
        "notify_url",
        "return_url",
    }


def test_checkouts_get_find_close(
    client: PayLaterClient, fake_issuer: FakeIssuer, mock: responses.RequestsMock
) -> None:
    authorized = checkout_json(state="AUTHORIZED", order=order_json())
    fake_issuer.route(mock, "GET", "/v1/checkouts/co_1", [(200, authorized)])
    fake_issuer.route(mock, "GET", "/v1/checkouts", [(200, authorized)])
    fake_issuer.route(
        mock, "POST", "/v1/checkouts/co_1/close", [(200, checkout_json(state="CLOSED"))]
    )

    got = client.checkouts.get("co_1")
    found = client.checkouts.find("A 1001/x")
    closed = client.checkouts.close("co_1")

    assert got.state is CheckoutState.AUTHORIZED
    assert got.state.is_paid
    assert isinstance(got.order, Order)
    assert got.order.state is CheckoutState.AUTHORIZED
    assert got.order.plan is not None
    assert got.order.plan.plan_id == "fenfu-6"
    assert got.order.authorization_expires_at == datetime(2026, 12, 6, 19, 2, 25, tzinfo=UTC)
    assert found == got
    assert closed.state is CheckoutState.CLOSED
    assert closed.state.is_final
    paths = [s.path_and_query for s in fake_issuer.seen]
    assert paths == [
        "/v1/checkouts/co_1",
        "/v1/checkouts?out_trade_no=A%201001%2Fx",
        "/v1/checkouts/co_1/close",
    ]
    assert fake_issuer.seen[2].body == b"{}"


def test_ids_are_quoted_into_the_path(
    client: PayLaterClient, fake_issuer: FakeIssuer, mock: responses.RequestsMock
) -> None:
    fake_issuer.route(mock, "GET", "/v1/refunds/rf_1%2F..", [(200, refund_json())])
    client.refunds.get("rf_1/..")
    assert fake_issuer.seen[0].path_and_query == "/v1/refunds/rf_1%2F.."


def test_orders_capture_full_and_partial_and_void(
    client: PayLaterClient, fake_issuer: FakeIssuer, mock: responses.RequestsMock
) -> None:
    captured = order_json(
        state="CAPTURED",
        captured_amount=money(10000),
        captured_at="2026-11-30T08:00:00+08:00",
    )
    fake_issuer.route(mock, "POST", "/v1/orders/ord_1/capture", [(200, captured)])
    fake_issuer.route(mock, "POST", "/v1/orders/ord_2/void", [(200, order_json(state="VOIDED"))])

    full = client.orders.capture("ord_1")
    partial = client.orders.capture("ord_1", Money("100.00", CNY))
    voided = client.orders.void("ord_2")

    assert full.state is CheckoutState.CAPTURED
    assert full.captured_amount == Money("100.00", CNY)
    assert full.captured_at is not None
    assert full.captured_at.utcoffset() is not None
    assert full.captured_at == datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
    assert partial.captured_amount == Money("100.00", CNY)
    assert voided.state is CheckoutState.VOIDED
    bodies = [s.json for s in fake_issuer.seen]
    assert bodies == [{}, {"amount": money(10000)}, {}]
    keys = {s.headers["Idempotency-Key"] for s in fake_issuer.seen}
    assert len(keys) == 3  # one key per logical call


def test_refunds_create_and_get(
    client: PayLaterClient, fake_issuer: FakeIssuer, mock: responses.RequestsMock
) -> None:
    fake_issuer.route(mock, "POST", "/v1/refunds", [(201, refund_json())])
    fake_issuer.route(mock, "GET", "/v1/refunds/rf_1", [(200, refund_json(reason=None))])

    refund = client.refunds.create("ord_1", Money("30.00", CNY), "R1", reason="damaged")
    again = client.refunds.get("rf_1")

    assert isinstance(refund, Refund)
    assert refund.amount == Money("30.00", CNY)
    assert refund.state is RefundState.SUCCEEDED
    assert refund.reason == "damaged"
    assert again.reason is None
    assert fake_issuer.seen[0].json == {
        "order_id": "ord_1",
        "amount": money(3000),
        "out_refund_no": "R1",
        "reason": "damaged",
    }


def test_refund_without_reason_omits_it(
    client: PayLaterClient, fake_issuer: FakeIssuer, mock: responses.RequestsMock
) -> None:
    fake_issuer.route(mock, "POST", "/v1/refunds", [(201, refund_json(reason=None))])
    client.refunds.create("ord_1", Money("30.00", CNY), "R2")
    assert "reason" not in fake_issuer.seen[0].json


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda c: c.plans.quote(12000), MoneyError),
        (lambda c: c.plans.quote(Money("0", CNY)), MoneyError),
        (lambda c: c.credit.eligibility("bt_x", Money("-1", CNY)), MoneyError),
        (lambda c: c.credit.eligibility("", Money("1", CNY)), InvalidRequestError),
        (lambda c: c.checkouts.get(""), InvalidRequestError),
        (lambda c: c.checkouts.get(None), InvalidRequestError),
        (lambda c: c.orders.capture("ord_1", "10.00"), MoneyError),
        (lambda c: c.refunds.create("ord_1", Money("1", CNY), ""), InvalidRequestError),
        (lambda c: c.refunds.create("ord_1", Money("1", CNY), "R", reason=5), InvalidRequestError),
        (
            lambda c: c.checkouts.create(
                out_trade_no="A",
                amount=Money("1", CNY),
                description="d",
                notify_url="ftp://x",
                return_url="https://r",
            ),
            InvalidRequestError,
        ),
        (
            lambda c: c.checkouts.create(
                out_trade_no="A" * 65,
                amount=Money("1", CNY),
                description="d",
                notify_url="https://n",
                return_url="https://r",
            ),
            InvalidRequestError,
        ),
        (
            lambda c: c.checkouts.create(
                out_trade_no="A",
                amount=Money("1", CNY),
                description="d",
                notify_url="https://n",
                return_url="https://r",
                plans="fenfu-6",
            ),
            InvalidRequestError,
        ),
        (
            lambda c: c.checkouts.create(
                out_trade_no="A",
                amount=Money("1", CNY),
                description="d",
                notify_url="https://n",
                return_url="https://r",
                expires_in=0,
            ),
            InvalidRequestError,
        ),
        (
            lambda c: c.checkouts.create(
                out_trade_no="A",
                amount=Money("1", CNY),
                description="d",
                notify_url="https://n",
                return_url="https://r",
                idempotency_key="key with ünicode",
            ),
            InvalidRequestError,
        ),
    ],
)
def test_bad_arguments_fail_before_anything_is_sent(
    client: PayLaterClient, fake_issuer: FakeIssuer, mock: responses.RequestsMock, call, error
) -> None:
    with pytest.raises(error):
        call(client)
    assert fake_issuer.seen == []
    assert len(mock.calls) == 0
