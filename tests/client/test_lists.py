"""client.checkouts.list, refunds.list and events.list (+ get, resend, notification):
pages, lazy auto paging that keeps the filters, sync and async, through the MockIssuer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from paylater_sdk import Money
from paylater_sdk.client import Checkout, Event, EventType, Page
from paylater_sdk.errors import InvalidRequestError, NotFoundError
from paylater_sdk.lifecycle import API_VERSION
from paylater_sdk.testing import MockIssuer


@pytest.fixture
def mock() -> Iterator[MockIssuer]:
    issuer = MockIssuer().start()
    try:
        yield issuer
    finally:
        issuer.stop()


def _create(client: Any, trade_no: str, **extra: Any) -> Checkout:
    result: Checkout = client.checkouts.create(
        out_trade_no=trade_no,
        amount=Money("300.00", "CNY"),
        description="Tea",
        notify_url="https://shop.example/paylater/notify",
        return_url="https://shop.example/paylater/return",
        **extra,
    )
    return result


def test_auto_paging_fetches_lazily_and_keeps_the_filters(mock: MockIssuer) -> None:
    client = mock.client()
    ids = [_create(client, f"P{i}").id for i in range(5)]
    closed = {ids[0], ids[2], ids[3]}
    for checkout_id in closed:
        client.checkouts.close(checkout_id)
    page = client.checkouts.list(limit=2, state="CLOSED")
    assert isinstance(page, Page)
    assert [c.id for c in page.data] == [ids[3], ids[2]]
    assert page.has_more is True
    before = len(mock._mock.calls)  # type: ignore[union-attr]
    walker = iter(page.auto_paging_iter())
    assert next(walker).id == ids[3]
    assert next(walker).id == ids[2]
    assert len(mock._mock.calls) == before  # type: ignore[union-attr]  # lazily: no request yet
    assert next(walker).id == ids[0]
    assert len(mock._mock.calls) == before + 1  # type: ignore[union-attr]
    last = mock._mock.calls[-1].request.url  # type: ignore[union-attr]
    assert "state=CLOSED" in last
    assert f"starting_after={ids[2]}" in last
    assert "limit=2" in last
    assert list(walker) == []
    everything = [c.id for c in client.checkouts.list(limit=2).auto_paging_iter()]
    assert everything == list(reversed(ids))


def test_a_list_by_out_trade_no_is_a_page_never_the_find_form(mock: MockIssuer) -> None:
    client = mock.client()
    made = _create(client, "T1", metadata={"sku": "tea-1"})
    page = client.checkouts.list(out_trade_no="T1")
    assert [c.id for c in page] == [made.id]
    assert page.data[0].metadata == {"sku": "tea-1"}
    assert client.checkouts.find("T1").id == made.id  # the find form still answers one
    assert client.checkouts.list(out_trade_no="NONE").data == ()


def test_ending_before_pages_towards_newer_objects_oldest_first(mock: MockIssuer) -> None:
    client = mock.client()
    ids = [_create(client, f"N{i}").id for i in range(5)]
    page = client.checkouts.list(limit=2, ending_before=ids[0])
    assert [c.id for c in page.data] == [ids[2], ids[1]]
    assert [c.id for c in page.auto_paging_iter()] == ids[1:]


def test_refunds_and_events_lists_get_and_resend(mock: MockIssuer) -> None:
    client = mock.client()
    buyer = mock.create_buyer(limit="5000.00")
    checkout = _create(client, "E1", metadata={"k": "v"})
    mock.authorize(checkout.id, buyer, "fenfu-3")
    order = client.checkouts.get(checkout.id).order
    assert order is not None
    assert order.metadata == {"k": "v"}
    client.orders.capture(order.id)
    refund = client.refunds.create(order.id, Money("10.00", "CNY"), "RF1", metadata={"why": "size"})
    assert refund.metadata == {"why": "size"}
    assert [r.id for r in client.refunds.list(out_trade_no="E1")] == [refund.id]
    events = client.events.list()
    kinds = [e.event_type for e in events]
    assert kinds == [
        EventType.REFUND_SUCCEEDED,
        EventType.ORDER_CAPTURED,
        EventType.CHECKOUT_AUTHORIZED,
    ]
    assert events.data[0].refund is not None
    assert events.data[0].refund.id == refund.id
    first = events.data[-1]
    assert isinstance(first, Event)
    assert first.checkout is not None
    assert client.events.get(first.id) == first
    mock.deliver_pending()
    resent = client.events.resend(first.id, idempotency_key="again-1")
    assert resent.id == first.id
    redelivered = mock.deliver_pending()
    assert len(redelivered) == 1
    parsed = client.notifications.parse(redelivered[0].headers, redelivered[0].body)
    assert parsed.id == first.id  # the same envelope id: merchants deduplicate it
    sealed = client.events.notification(first.id)
    assert client.notifications.parse(dict(sealed.headers), sealed.body).id == first.id
    with pytest.raises(NotFoundError):
        client.events.get("evt_nope")


def test_arguments_are_checked_before_any_request(mock: MockIssuer) -> None:
    client = mock.client()
    for bad in (
        {"limit": 0},
        {"limit": 101},
        {"limit": True},
        {"starting_after": "a", "ending_before": "b"},
        {"created_gte": "2026-12-01"},
    ):
        with pytest.raises(InvalidRequestError):
            client.checkouts.list(**bad)
    with pytest.raises(InvalidRequestError):
        _create(client, "M1", metadata={"k": 1})


def test_the_client_sends_the_version_header(mock: MockIssuer) -> None:
    client = mock.client()
    client.checkouts.list()
    sent = mock._mock.calls[-1]  # type: ignore[union-attr]
    assert sent.request.headers["Paylater-Version"] == API_VERSION
    assert sent.response.headers["Paylater-Version"] == API_VERSION


def test_a_sync_page_refuses_async_for(mock: MockIssuer) -> None:
    page = mock.client().checkouts.list()
    with pytest.raises(TypeError, match="with 'for'"):
        page.auto_paging_iter().__aiter__()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_the_async_client_pages_with_async_for() -> None:
    mock = MockIssuer()
    async with mock.async_client() as client:
        ids = []
        for i in range(5):
            made = await client.checkouts.create(
                out_trade_no=f"A{i}",
                amount=Money("300.00", "CNY"),
                description="Tea",
                notify_url="https://shop.example/paylater/notify",
                return_url="https://shop.example/paylater/return",
            )
            ids.append(made.id)
        page = await client.checkouts.list(limit=2)
        assert [c.id for c in page.data] == [ids[4], ids[3]]
        walked = [c.id async for c in page.auto_paging_iter()]
        assert walked == list(reversed(ids))
        with pytest.raises(TypeError, match="async for"):
            next(iter(page.auto_paging_iter()))
        await client.checkouts.close(ids[0])
        events = await client.events.list(limit=1)
        assert [e.event_type for e in events] == [EventType.CHECKOUT_CLOSED]
        refunds = await client.refunds.list()
        assert refunds.has_more is False
    mock.stop()
