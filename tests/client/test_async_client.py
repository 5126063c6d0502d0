"""AsyncPayLaterClient: the whole merchant lifecycle, retries and signing, awaited."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import httpx
import pytest

from paylater_sdk import Money
from paylater_sdk.client import (
    AsyncPayLaterClient,
    CheckoutState,
    EventType,
    OrderState,
    PayLaterClient,
    RefundState,
)
from paylater_sdk.errors import (
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    CreditDeclinedError,
    InvalidRequestError,
    MoneyError,
    NetworkError,
    NotFoundError,
)
from paylater_sdk.signing import generate_private_key, serial_for
from paylater_sdk.testing import MockIssuer

pytestmark = pytest.mark.anyio
CNY = "CNY"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def issuer() -> Iterator[MockIssuer]:
    # Not started: the async client reaches the issuer through httpx only, so a call that
    # went through requests would fail instead of passing unnoticed.
    issuer = MockIssuer()
    yield issuer
    issuer.stop()


async def _checkout(client: AsyncPayLaterClient, no: str = "A1", amount: str = "1200.00"):  # type: ignore[no-untyped-def]
    return await client.checkouts.create(
        out_trade_no=no,
        amount=Money(amount, CNY),
        description="Tea set 茶具",
        notify_url="https://shop.example/notify",
        return_url="https://shop.example/return",
    )


async def test_full_lifecycle(issuer: MockIssuer) -> None:
    buyer = issuer.create_buyer(limit="5000.00")
    async with issuer.async_client() as client:
        quote = await client.plans.quote(Money("1200.00", CNY))
        assert quote.as_low_as == Money("107.50", CNY)
        answer = await client.credit.eligibility(buyer.buyer_token, Money("1200.00", CNY))
        assert answer.eligible
        assert answer.reasons == ()

        checkout = await _checkout(client)
        assert checkout.state is CheckoutState.CREATED
        issuer.authorize(checkout.id, buyer, "fenfu-6")
        paid = await client.checkouts.find("A1")
        assert paid.id == checkout.id
        assert paid.state is CheckoutState.AUTHORIZED
        assert paid.order is not None

        order = await client.orders.capture(paid.order.id, Money("1000.00", CNY))
        assert order.state is OrderState.CAPTURED
        assert order.captured_amount == Money("1000.00", CNY)
        refund = await client.refunds.create(order.id, Money("300.00", CNY), "R1", "damaged")
        assert refund.state is RefundState.SUCCEEDED
        assert (await client.refunds.get(refund.id)).amount == Money("300.00", CNY)

        spare = await _checkout(client, "A2", "199.00")
        assert (await client.checkouts.close(spare.id)).state is CheckoutState.CLOSED

        other = await _checkout(client, "A3", "150.00")
        issuer.authorize(other.id, buyer, "fenfu-3")
        got = await client.checkouts.get(other.id)
        assert got.order is not None
        assert (await client.orders.void(got.order.id)).state is OrderState.VOIDED

        delivered = await issuer.adeliver_pending()
        types = [d.event.event_type for d in delivered if d.event is not None]
        assert types.count(EventType.REFUND_SUCCEEDED) == 1
        event = await client.notifications.parse(delivered[0].headers, delivered[0].body)
        assert event.id == delivered[0].event.id  # type: ignore[union-attr]
    issuer.assert_ledger_ok()
    assert [reason for reason, _, _ in issuer.ledger(buyer)].count("CAPTURE") == 1


async def test_errors_are_the_sync_clients(issuer: MockIssuer) -> None:
    async with issuer.async_client() as client:
        with pytest.raises(NotFoundError) as missing:
            await client.checkouts.get("co_nope")
        assert missing.value.http_status == 404
        assert missing.value.request_id
    # local checks happen on await, before anything is signed or sent
    async with issuer.async_client() as client:
        with pytest.raises(MoneyError):
            await client.plans.quote(1200)  # type: ignore[arg-type]
        with pytest.raises(InvalidRequestError):
            await client.checkouts.get("")


async def test_a_decline_and_a_conflict(issuer: MockIssuer) -> None:
    stranger = issuer.create_buyer(limit="100.00")
    buyer = issuer.create_buyer(limit="5000.00")
    async with issuer.async_client() as client:
        answer = await client.credit.eligibility("bt_decline_overdue", Money("1200.00", CNY))
        assert answer.reasons == ("OVERDUE",)
        checkout = await _checkout(client)
        issuer.authorize(checkout.id, buyer, "fenfu-6")
        with pytest.raises(ConflictError):
            await client.checkouts.close(checkout.id)
        second = await _checkout(client, "A2")
        with pytest.raises(CreditDeclinedError):
            issuer.authorize(second.id, stranger, "fenfu-6")


async def test_retry_after_a_dropped_connection_creates_one_checkout(issuer: MockIssuer) -> None:
    issuer.inject_fault("connection_drop_after_commit", method="POST", path_prefix="/v1/checkouts")
    async with issuer.async_client() as client:
        checkout = await _checkout(client)
        assert (await client.checkouts.find("A1")).id == checkout.id
    assert issuer.sleeps == [0.5]  # one backoff, slept through the policy


async def test_timeouts_and_server_errors_are_retried(issuer: MockIssuer) -> None:
    buyer = issuer.create_buyer(limit="5000.00")
    async with issuer.async_client() as client:
        checkout = await _checkout(client)
        issuer.authorize(checkout.id, buyer, "fenfu-6")
        order_id = (await client.checkouts.get(checkout.id)).order.id  # type: ignore[union-attr]
        issuer.inject_fault("timeout", path_prefix="/v1/orders")
        issuer.inject_fault("error_500", path_prefix="/v1/orders")
        order = await client.orders.capture(order_id)
    assert order.state is OrderState.CAPTURED
    assert [r for r, _, _ in issuer.ledger(buyer)].count("CAPTURE") == 1
    assert issuer.sleeps == [0.5]  # both faults hit the first attempt


async def test_unreachable_issuer_is_a_network_error(issuer: MockIssuer) -> None:
    async with issuer.async_client() as client:
        await client.issuer_keys()
        issuer.inject_fault("connection_error", count=3)
        with pytest.raises(NetworkError, match="could not reach") as info:
            await client.checkouts.get("co_1")
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert issuer.sleeps == [0.5, 1.0]


async def test_a_merchant_key_the_issuer_does_not_know_is_refused(issuer: MockIssuer) -> None:
    stranger = generate_private_key("ed25519")
    client = issuer.async_client(private_key=stranger, key_serial=serial_for(stranger))
    async with client:
        with pytest.raises(AuthenticationError):
            await client.plans.quote(Money("100.00", CNY))


async def test_rotated_issuer_key_is_picked_up(issuer: MockIssuer) -> None:
    async with issuer.async_client() as client:
        await client.plans.quote(Money("120.00", CNY))
        assert len(await client.issuer_keys()) == 1
        issuer.issuer.rotate_signing_key()
        assert (await client.plans.quote(Money("120.00", CNY))).plans
        assert len(await client.issuer_keys()) == 2
        ring = await client.refresh_issuer_keys()
        assert len(ring) == 2


async def test_concurrent_tasks_fetch_the_keys_once(issuer: MockIssuer) -> None:
    paths: list[str] = []
    inner = issuer.async_transport()

    async def counting(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return await inner.handle_async_request(request)

    session = httpx.AsyncClient(transport=httpx.MockTransport(counting))
    async with issuer.async_client(session=session) as client:
        quotes: list[object] = []

        async def one() -> None:
            quotes.append(await client.plans.quote(Money("120.00", CNY)))

        async with anyio.create_task_group() as tasks:
            for _ in range(8):
                tasks.start_soon(one)
    assert len(quotes) == 8
    assert paths.count("/v1/certificates") == 1
    assert paths.count("/v1/plans/quote") == 8


async def test_same_answers_as_the_sync_client(issuer: MockIssuer) -> None:
    with issuer:
        sync = issuer.client()
        async with issuer.async_client() as client:
            assert await client.plans.quote(Money("640.00", CNY)) == sync.plans.quote(
                Money("640.00", CNY)
            )


async def test_async_with_closes_the_httpx_client_it_made() -> None:
    issuer = MockIssuer()
    try:
        client = AsyncPayLaterClient(issuer.base_url, **issuer.client_config())
        async with client as entered:
            assert entered is client
            session = client._async.session
            assert not session.is_closed
        assert session.is_closed
        mine = httpx.AsyncClient()
        async with AsyncPayLaterClient(issuer.base_url, session=mine, **issuer.client_config()):
            pass
        assert not mine.is_closed  # yours stays open
        await mine.aclose()
    finally:
        issuer.stop()


def test_constructor_is_the_sync_clients() -> None:
    issuer = MockIssuer()
    try:
        config = issuer.client_config()
        for bad in ({"timeout": 0}, {"max_retries": 11}, {"key_refresh_interval": -1}):
            with pytest.raises(ConfigurationError):
                AsyncPayLaterClient(issuer.base_url, **config, **bad)  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match=r"httpx\.AsyncClient"):
            AsyncPayLaterClient(issuer.base_url, session=object(), **config)  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match="https"):
            AsyncPayLaterClient("http://issuer.example.com", **config)
        client = AsyncPayLaterClient(issuer.base_url, **config, timeout=5, key_refresh_interval=30)
        sync = PayLaterClient(issuer.base_url, **config, timeout=5, key_refresh_interval=30)
        assert client.timeout == sync.timeout == (5.0, 5.0)
        assert client.key_refresh_interval == sync.key_refresh_interval == 30.0
        assert repr(client) == repr(sync).replace("PayLaterClient", "AsyncPayLaterClient")
        assert issuer.api_key not in repr(client)
    finally:
        issuer.stop()


async def test_parse_refreshes_rotated_keys_without_blocking_the_loop(issuer: MockIssuer) -> None:
    buyer = issuer.create_buyer(limit="5000.00")
    inner = issuer.async_transport()
    other_task_ran = anyio.Event()
    certificate_fetches: list[str] = []

    async def gated(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/certificates" and certificate_fetches:
            # The refresh waits here until another task runs: a parse that blocked the
            # event loop (a synchronous fetch) would never let it.
            await other_task_ran.wait()
        if request.url.path == "/v1/certificates":
            certificate_fetches.append(request.url.path)
        return await inner.handle_async_request(request)

    session = httpx.AsyncClient(transport=httpx.MockTransport(gated))
    async with issuer.async_client(session=session) as client:
        checkout = await _checkout(client)
        issuer.issuer.rotate_signing_key()  # notifications are now signed by a new key
        issuer.authorize(checkout.id, buyer, "fenfu-6")
        delivery = (await issuer.adeliver_pending())[0]
        events: list[object] = []

        async def parse() -> None:
            events.append(await client.notifications.parse(delivery.headers, delivery.body))

        async def other() -> None:
            other_task_ran.set()

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(parse)
                tasks.start_soon(other)
    assert len(certificate_fetches) == 2  # the first load, then the refresh for the new key
    assert len(events) == 1
    assert len(await client.issuer_keys()) == 2
