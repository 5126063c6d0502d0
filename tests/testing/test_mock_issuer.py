"""The testing kit against the real issuer: the full flow, faults, clock and notifications."""

from __future__ import annotations

import pytest

from paylater_sdk import Money
from paylater_sdk.client import CheckoutState, EventType, PayLaterClient
from paylater_sdk.testing import MockIssuer

CNY = "CNY"


def _checkout(client: PayLaterClient, out_trade_no: str = "A1001", amount: str = "120.00"):
    return client.checkouts.create(
        out_trade_no=out_trade_no,
        amount=Money(amount, CNY),
        description="Tea set 茶具",
        notify_url="https://shop.example/paylater/notify",
        return_url="https://shop.example/paylater/return",
    )


def test_full_flow(mock_issuer: MockIssuer, paylater_client: PayLaterClient) -> None:
    buyer = mock_issuer.create_buyer(limit="5000.00")
    quote = paylater_client.plans.quote(Money("120.00", CNY))
    assert quote.plans
    checkout = _checkout(paylater_client)
    assert checkout.state is CheckoutState.CREATED
    assert checkout.authorize_url.startswith("https://issuer.paylater.test/authorize/")

    plan_id = checkout.plans[-1].plan_id
    back = mock_issuer.authorize(checkout.id, buyer, plan_id)
    assert back.startswith("https://shop.example/paylater/return?")
    assert f"checkout_id={checkout.id}" in back

    authorized = paylater_client.checkouts.get(checkout.id)
    assert authorized.state is CheckoutState.AUTHORIZED
    assert authorized.order is not None
    delivered = mock_issuer.deliver_pending()
    assert [n.event.event_type for n in delivered if n.event] == [EventType.CHECKOUT_AUTHORIZED]

    order = paylater_client.orders.capture(authorized.order.id)
    assert order.state is CheckoutState.CAPTURED
    assert order.schedule is not None
    refund = paylater_client.refunds.create(order.id, Money("20.00", CNY), "R1")
    assert refund.amount == Money("20.00", CNY)
    mock_issuer.assert_ledger_ok()


def _authorized(mock_issuer: MockIssuer, client: PayLaterClient, limit: str = "5000.00"):
    buyer = mock_issuer.create_buyer(limit=limit)
    checkout = _checkout(client)
    mock_issuer.authorize(checkout.id, buyer, checkout.plans[0].plan_id)
    order = client.checkouts.get(checkout.id).order
    assert order is not None
    return buyer, checkout, order


def _reasons(mock_issuer: MockIssuer, buyer) -> list[str]:
    return [reason for reason, _, _ in mock_issuer.ledger(buyer)]


def test_checkout_retried_after_the_connection_dropped_exists_once(
    mock_issuer: MockIssuer, paylater_client: PayLaterClient
) -> None:
    mock_issuer.inject_fault(
        "connection_drop_after_commit", method="POST", path_prefix="/v1/checkouts"
    )

    checkout = _checkout(paylater_client)

    assert mock_issuer.sleeps == [0.5]
    assert paylater_client.checkouts.find("A1001").id == checkout.id
    buyer = mock_issuer.create_buyer(limit="5000.00")
    mock_issuer.authorize(checkout.id, buyer, checkout.plans[0].plan_id)
    assert _reasons(mock_issuer, buyer) == ["OPEN", "HOLD"]
    assert mock_issuer.balances(buyer)["held"] == Money("120.00", CNY)
    mock_issuer.assert_ledger_ok()


def test_capture_retried_after_a_timeout_captures_once(
    mock_issuer: MockIssuer, paylater_client: PayLaterClient
) -> None:
    buyer, _, order = _authorized(mock_issuer, paylater_client)
    mock_issuer.inject_fault("timeout", path_prefix=f"/v1/orders/{order.id}/capture")

    captured = paylater_client.orders.capture(order.id)

    assert captured.state is CheckoutState.CAPTURED
    assert captured.captured_amount == Money("120.00", CNY)
    assert _reasons(mock_issuer, buyer).count("CAPTURE") == 1
    assert mock_issuer.balances(buyer)["outstanding"] == Money("120.00", CNY)
    assert mock_issuer.balances(buyer)["held"] == Money("0.00", CNY)
    mock_issuer.assert_ledger_ok()


def test_refund_retried_after_the_connection_dropped_refunds_once(
    mock_issuer: MockIssuer, paylater_client: PayLaterClient
) -> None:
    buyer, checkout, order = _authorized(mock_issuer, paylater_client)
    paylater_client.orders.capture(order.id)
    mock_issuer.inject_fault("connection_drop_after_commit", path_prefix="/v1/refunds")

    refund = paylater_client.refunds.create(order.id, Money("20.00", CNY), "R1")

    assert refund.amount == Money("20.00", CNY)
    after = paylater_client.checkouts.get(checkout.id)
    assert after.order is not None
    assert after.order.refunded_amount == Money("20.00", CNY)
    assert after.state is CheckoutState.PARTIALLY_REFUNDED
    assert mock_issuer.balances(buyer)["outstanding"] == Money("100.00", CNY)
    mock_issuer.assert_ledger_ok()


def test_server_errors_are_retried(
    mock_issuer: MockIssuer, paylater_client: PayLaterClient
) -> None:
    mock_issuer.inject_fault("error_500", method="GET", path_prefix="/v1/plans", count=2)
    quote = paylater_client.plans.quote(Money("120.00", CNY))
    assert quote.plans
    assert mock_issuer.sleeps == [0.5, 1.0]


def test_connection_errors_surface_as_network_error(
    mock_issuer: MockIssuer, paylater_client: PayLaterClient
) -> None:
    from paylater_sdk.errors import NetworkError

    paylater_client.issuer_keys  # noqa: B018 - fetch keys first
    mock_issuer.inject_fault("connection_error", count=3)
    with pytest.raises(NetworkError):
        paylater_client.plans.quote(Money("120.00", CNY))
    assert paylater_client.plans.quote(Money("120.00", CNY)).plans  # the 4th goes through


def test_declines_raise_with_the_reason(
    mock_issuer: MockIssuer, paylater_client: PayLaterClient
) -> None:
    from paylater_sdk.errors import CreditDeclinedError

    poor = mock_issuer.create_buyer(limit="50.00")
    checkout = _checkout(paylater_client)
    with pytest.raises(CreditDeclinedError) as info:
        mock_issuer.authorize(checkout.id, poor, checkout.plans[0].plan_id)
    assert info.value.reason == "INSUFFICIENT_LIMIT"
    assert paylater_client.checkouts.get(checkout.id).state is CheckoutState.CREATED
    eligibility = paylater_client.credit.eligibility(poor.buyer_token, Money("120.00", CNY))
    assert eligibility.eligible is False
    assert eligibility.reasons == ("INSUFFICIENT_LIMIT",)
    frozen = paylater_client.credit.eligibility("bt_decline_frozen", Money("120.00", CNY))
    assert "ACCOUNT_FROZEN" in frozen.reasons


def test_the_clock_expires_checkouts(
    mock_issuer: MockIssuer, paylater_client: PayLaterClient
) -> None:
    checkout = _checkout(paylater_client)
    start = mock_issuer.now()
    moved = mock_issuer.advance_clock(minutes=31)
    assert (moved - start).total_seconds() >= 31 * 60
    assert paylater_client.checkouts.get(checkout.id).state is CheckoutState.EXPIRED
    mock_issuer.deliver_pending()
    assert [e.event_type for e in mock_issuer.events()] == [EventType.CHECKOUT_EXPIRED]


def test_notifications_into_a_merchant_app(mock_issuer: MockIssuer) -> None:
    from flask import Flask, request

    client = mock_issuer.client()
    seen: list[str] = []
    shop = Flask("shop")

    @shop.post("/paylater/notify")
    def notify() -> tuple[str, int]:
        try:
            event = client.notifications.parse(request.headers, request.get_data())
        except Exception:
            return "bad signature", 400
        if event.id not in seen:
            seen.append(event.id)
        return "", 204

    mock_issuer.notify_app = shop
    mock_issuer.inject_fault("drop_notification")
    mock_issuer.inject_fault("duplicate_notification")
    _authorized(mock_issuer, client)

    assert mock_issuer.deliver_pending() == []  # dropped: counts as a failed attempt
    mock_issuer.advance_clock(seconds=15)
    delivered = mock_issuer.deliver_pending()
    assert [n.status for n in delivered] == [204, 204]  # duplicated, same id
    assert delivered[0].event is not None
    assert delivered[0].event.id == delivered[1].event.id  # type: ignore[union-attr]
    assert seen == [delivered[0].event.id]
    assert mock_issuer.deliver_pending() == []


def test_rotated_issuer_key_is_picked_up(
    mock_issuer: MockIssuer, paylater_client: PayLaterClient
) -> None:
    paylater_client.plans.quote(Money("120.00", CNY))
    assert len(paylater_client.issuer_keys) == 1
    mock_issuer.issuer.rotate_signing_key()
    assert paylater_client.plans.quote(Money("120.00", CNY)).plans
    assert len(paylater_client.issuer_keys) == 2


def test_api_errors_from_the_real_issuer(
    mock_issuer: MockIssuer, paylater_client: PayLaterClient
) -> None:
    from paylater_sdk.errors import ConflictError, InvalidRequestError, NotFoundError

    with pytest.raises(NotFoundError) as missing:
        paylater_client.checkouts.get("co_nope")
    assert missing.value.code == "NOT_FOUND"
    assert missing.value.request_id
    checkout = _checkout(paylater_client)
    with pytest.raises(ConflictError) as dup:
        _checkout(paylater_client)
    assert dup.value.code == "DUPLICATE_OUT_TRADE_NO"
    closed = paylater_client.checkouts.close(checkout.id)
    assert closed.state is CheckoutState.CLOSED
    with pytest.raises(ConflictError) as state:
        paylater_client.checkouts.close(checkout.id)
    assert state.value.code == "INVALID_STATE"
    with pytest.raises(InvalidRequestError):
        paylater_client.checkouts.create(
            out_trade_no="A2",
            amount=Money("120.00", CNY),
            description="x",
            notify_url="https://shop.example/n",
            return_url="https://shop.example/r",
            plans=["no-such-plan"],
        )


def test_a_refusal_names_its_field_from_the_issuer_to_the_client() -> None:
    from paylater_sdk.errors import InvalidRequestError

    with MockIssuer(notify_prefixes=["https://shop.example/"]) as issuer:
        client = issuer.client()
        with pytest.raises(InvalidRequestError) as refused:
            client.checkouts.create(
                out_trade_no="F1",
                amount=Money("120.00", CNY),
                description="x",
                notify_url="https://elsewhere.example/n",
                return_url="https://shop.example/r",
            )
    assert (refused.value.code, refused.value.field) == ("URL_NOT_ALLOWED", "notify_url")
    assert refused.value.http_status == 400


def test_a_client_with_the_wrong_key_is_refused(mock_issuer: MockIssuer) -> None:
    from paylater_sdk.errors import AuthenticationError
    from paylater_sdk.signing import generate_private_key, serial_for

    stranger = generate_private_key()
    client = mock_issuer.client(private_key=stranger, key_serial=serial_for(stranger))
    with pytest.raises(AuthenticationError) as info:
        client.plans.quote(Money("120.00", CNY))
    assert info.value.http_status == 401


def test_client_config_builds_an_equivalent_client(mock_issuer: MockIssuer) -> None:
    config = mock_issuer.client_config()
    assert set(config) == {"merchant_id", "private_key", "key_serial", "api_key"}
    with PayLaterClient(mock_issuer.base_url, **config) as client:
        assert client.plans.quote(Money("300.00", CNY)).as_low_as is not None
    assert config["api_key"] not in repr(mock_issuer)


def test_events_filter_and_list_acknowledgement(
    mock_issuer: MockIssuer, paylater_client: PayLaterClient
) -> None:
    buyer, checkout, order = _authorized(mock_issuer, paylater_client)
    paylater_client.orders.void(order.id)
    delivered = mock_issuer.deliver_pending()
    assert [d.status for d in delivered] == [204, 204]
    assert [d.url for d in delivered] == ["https://shop.example/paylater/notify"] * 2
    voided = mock_issuer.events("ORDER.VOIDED")
    assert len(voided) == 1
    assert voided[0].checkout is not None
    assert voided[0].checkout.id == checkout.id
    assert mock_issuer.balances(buyer)["held"] == Money("0.00", CNY)
    assert mock_issuer.ledger(buyer)[1:] == [
        ("HOLD", order.id, Money("120.00", CNY)),
        ("VOID", order.id, Money("120.00", CNY)),
    ]


def test_authorize_refusals(mock_issuer: MockIssuer, paylater_client: PayLaterClient) -> None:
    from paylater_sdk.errors import ConflictError, NotFoundError

    buyer = mock_issuer.create_buyer(limit="5000.00", phone="13800000001")
    checkout = _checkout(paylater_client)
    with pytest.raises(NotFoundError, match="phone"):
        mock_issuer.authorize(checkout.id, "13999999999", "fenfu-6")
    with pytest.raises(NotFoundError):
        mock_issuer.authorize("co_missing", buyer, "fenfu-6")
    with pytest.raises(ConflictError, match="plan"):
        mock_issuer.authorize(checkout.id, "13800000001", "no-such-plan")
    paylater_client.checkouts.close(checkout.id)
    with pytest.raises(ConflictError):
        mock_issuer.authorize(checkout.id, buyer, "fenfu-6")


def test_configuration_and_fault_validation() -> None:
    from paylater_sdk.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        MockIssuer(base_url="https://issuer.test/with/path")
    with MockIssuer(base_url="https://other-issuer.test", config={"CHECKOUT_TTL": 60}) as mock:
        client = mock.client()
        checkout = _checkout(client)
        assert checkout.authorize_url.startswith("https://other-issuer.test/authorize/")
        assert (checkout.expires_at - checkout.created_at).total_seconds() == 60
        with pytest.raises(ValueError, match="unknown fault"):
            mock.inject_fault("meteor_strike")
        with pytest.raises(ConfigurationError):
            mock.inject_fault("timeout", count=0)
    mock.stop()  # stopping twice is harmless
