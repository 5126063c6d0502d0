"""The async_paylater_client fixture, as docs/testing.md shows it (anyio's plugin)."""

from __future__ import annotations

import pytest

from paylater_sdk import Money
from paylater_sdk.client import AsyncPayLaterClient
from paylater_sdk.testing import MockIssuer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_checkout_async(
    mock_issuer: MockIssuer, async_paylater_client: AsyncPayLaterClient
) -> None:
    buyer = mock_issuer.create_buyer(limit="5000.00")
    checkout = await async_paylater_client.checkouts.create(
        out_trade_no="A9001",
        amount=Money("300.00", "CNY"),
        description="Tea",
        notify_url="https://shop.example/paylater/notify",
        return_url="https://shop.example/paylater/return",
    )
    mock_issuer.authorize(checkout.id, buyer, "fenfu-3")
    paid = await async_paylater_client.checkouts.get(checkout.id)
    assert paid.state.is_paid
    deliveries = await mock_issuer.adeliver_pending()
    event = await async_paylater_client.notifications.parse(
        deliveries[0].headers, deliveries[0].body
    )
    assert event.checkout is not None
    assert event.checkout.id == checkout.id


def test_the_fixture_works_without_an_async_runner(
    mock_issuer: MockIssuer, async_paylater_client: AsyncPayLaterClient
) -> None:
    import asyncio

    quote = asyncio.run(async_paylater_client.plans.quote(Money("300.00", "CNY")))
    assert quote.as_low_as is not None
    assert quote.as_low_as.currency == "CNY"
