"""Split captures and the one extension through the merchant client, sync and async,
against the testing kit's issuer (the real mock issuer behind both HTTP stacks)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import anyio
import pytest
import responses

from paylater_sdk import Money
from paylater_sdk.client import EventType, OrderState, PayLaterClient
from paylater_sdk.errors import ConflictError, InvalidRequestError
from paylater_sdk.testing import MockIssuer
from tests._support.client_fakes import FakeIssuer, money, order_json

CNY = "CNY"


@pytest.fixture
def issuer() -> Iterator[MockIssuer]:
    with MockIssuer() as issuer:
        yield issuer


def _authorized(issuer: MockIssuer, client: PayLaterClient, no: str, buyer: Any) -> str:
    checkout = client.checkouts.create(
        out_trade_no=no,
        amount=Money("1200.00", CNY),
        description="Tea set 茶具",
        notify_url="https://shop.example/notify",
        return_url="https://shop.example/return",
    )
    issuer.authorize(checkout.id, buyer, "fenfu-6")
    order = client.checkouts.get(checkout.id).order
    assert order is not None
    return order.id


def test_sync_split_captures_and_extension(issuer: MockIssuer) -> None:
    client = issuer.client()
    buyer = issuer.create_buyer(limit="5000.00")
    order_id = _authorized(issuer, client, "SC1", buyer)
    extended = client.orders.extend(order_id, 3)
    assert extended.authorization_extended_at is not None
    assert extended.authorization_expires_at is not None
    assert extended.authorized_at is not None
    assert extended.authorization_expires_at - extended.authorized_at == timedelta(days=10)
    with pytest.raises(ConflictError) as twice:
        client.orders.extend(order_id)
    assert twice.value.code == "AUTHORIZATION_ALREADY_EXTENDED"

    first = client.orders.capture(order_id, Money("400.00", CNY), final=False)
    assert first.state is OrderState.CAPTURED
    assert first.capturable_amount == Money("800.00", CNY)
    again = client.orders.capture(
        order_id, Money("500.00", CNY), final=False, idempotency_key="ship-2"
    )
    replay = client.orders.capture(
        order_id, Money("500.00", CNY), final=False, idempotency_key="ship-2"
    )
    assert replay.captured_amount == again.captured_amount == Money("900.00", CNY)
    with pytest.raises(ConflictError) as over:
        client.orders.capture(order_id, Money("300.01", CNY))
    assert over.value.code == "AMOUNT_EXCEEDS_AVAILABLE"
    last = client.orders.capture(order_id, Money("100.00", CNY))  # no final: final
    assert last.captured_amount == Money("1000.00", CNY)
    assert last.capturable_amount == Money("0.00", CNY)
    assert last.schedule is not None
    assert sum(i.principal.minor for i in last.schedule.installments) == 1000_00
    delivered = issuer.deliver_pending()
    types = [d.event.event_type for d in delivered if d.event is not None]
    assert types.count(EventType.ORDER_CAPTURED) == 3
    issuer.assert_ledger_ok()
    reasons = [reason for reason, _, _ in issuer.ledger(buyer)]
    assert reasons.count("CAPTURE") == 3


def test_client_checks_final_and_days_before_sending(issuer: MockIssuer) -> None:
    client = issuer.client()
    with pytest.raises(InvalidRequestError):
        client.orders.capture("ord_x", final="no")  # type: ignore[arg-type]
    for days in (0, 366, True, "3"):
        with pytest.raises(InvalidRequestError):
            client.orders.extend("ord_x", days)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError):
        client.orders.capture("ord_x", idempotency_key="ключ")


def test_async_split_captures_and_extension(issuer: MockIssuer) -> None:
    order_id = _authorized(issuer, issuer.client(), "SC2", issuer.create_buyer(limit="5000.00"))

    async def run() -> None:
        async with issuer.async_client() as client:
            extended = await client.orders.extend(order_id)
            assert extended.authorization_extended_at is not None
            part = await client.orders.capture(order_id, Money("200.00", CNY), final=False)
            assert part.capturable_amount == Money("1000.00", CNY)
            done = await client.orders.capture(order_id, Money("300.00", CNY), final=True)
            assert done.captured_amount == Money("500.00", CNY)
            assert done.capturable_amount == Money("0.00", CNY)

    anyio.run(run)
    issuer.assert_ledger_ok()


def test_the_wire_bodies_and_keys_of_capture_and_extend(
    client: PayLaterClient, fake_issuer: FakeIssuer, mock: responses.RequestsMock
) -> None:
    captured = order_json(state="CAPTURED", captured_amount=money(4000))
    fake_issuer.route(mock, "POST", "/v1/orders/ord_1/capture", [(200, captured)] * 3)
    fake_issuer.route(mock, "POST", "/v1/orders/ord_1/extend", [(200, order_json())] * 2)

    old = client.orders.capture("ord_1")  # an older issuer's answer: no capturable_amount
    client.orders.capture("ord_1", Money("40.00", CNY), final=False, idempotency_key="ship-1")
    client.orders.capture("ord_1", Money("40.00", CNY), final=True)
    client.orders.extend("ord_1")
    client.orders.extend("ord_1", 5, idempotency_key="ext-1")

    assert old.capturable_amount is None
    assert old.authorization_extended_at is None
    assert [s.json for s in fake_issuer.seen] == [
        {},
        {"amount": money(4000), "final": False},
        {"amount": money(4000), "final": True},
        {},
        {"days": 5},
    ]
    keys = [s.headers["Idempotency-Key"] for s in fake_issuer.seen]
    assert keys[1] == "ship-1"
    assert keys[4] == "ext-1"
    assert len(set(keys)) == 5
