"""Concurrent and duplicated notifications over real HTTP, on SQLite and on PostgreSQL.

The issuer's notifications for one order (authorized, captured, refunds) are sealed again
and again (as retries and several issuer workers do) and POSTed to the shop served by
waitress, from many threads released at once. However they interleave, every one is
acknowledged exactly once and the shop ends in the issuer's state without reconciliation:
an acknowledged notification is never delivered again, so nothing else would repair it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from examples.merchant_flask import create_app, db, store
from examples.merchant_flask.reconcile import differences
from paylater_sdk.money import Money
from paylater_sdk.signing import seal_notification
from tests._support.shop_server import ShopServer

ORDERS = 8
COPIES = 3  # deliveries of each notification id, all in flight together
AMOUNT = Money("300.00", "CNY")


@pytest.fixture
def shop(mock_issuer: Any, shop_db_url: str) -> Iterator[Any]:
    client = mock_issuer.client()
    app = create_app(
        {
            "SECRET_KEY": "test-secret-key-0123456789",
            "ADMIN_PASSWORD": "admin-password",
            "PAYLATER_CLIENT": client,
            "DATABASE_URL": shop_db_url,
            "PUBLIC_URL": "https://shop.test",
        }
    )
    yield app
    client.close()
    app.extensions["shop"]["engine"].dispose()


def _engine(app: Any) -> Any:
    return app.extensions["shop"]["engine"]


def _paid_order(app: Any, mock_issuer: Any, buyer: Any, index: int, refunds: int) -> str:
    """An order the buyer authorized and the merchant captured (and refunded) at the issuer.

    The shop hears nothing yet: the notifications stay with the issuer (no notify_app).
    """
    no = f"SHRACE{index:04d}"
    store.create_order(_engine(app), out_trade_no=no, description="race", lines=[], amount=AMOUNT)
    client = app.extensions["shop"]["client"]
    checkout = client.checkouts.create(
        out_trade_no=no,
        amount=AMOUNT,
        description="race",
        notify_url="https://shop.test/pay/notify",
        return_url="https://shop.test/pay/return",
    )
    store.attach_checkout(_engine(app), no, checkout.id, checkout.authorize_url)
    mock_issuer.authorize(checkout.id, buyer, "fenfu-6")
    order_id = client.checkouts.get(checkout.id).order.id
    client.orders.capture(order_id)
    for n in range(refunds):
        client.refunds.create(order_id, Money("100.00", "CNY"), f"{no}-R{n}")
    return no


def _events(mock_issuer: Any) -> list[dict[str, Any]]:
    """Every pending notification as an event the issuer would seal again on a retry."""
    found = []
    for delivery in mock_issuer.deliver_pending():
        event = delivery.event
        assert event is not None
        found.append(
            {
                "id": event.id,
                "event_type": event.event_type.value,
                "original_type": event.original_type,
                "summary": event.summary,
                "create_time": event.create_time,
                "resource": dict(event.resource.raw),
            }
        )
    return found


def _deliver(
    url: str, event: dict[str, Any], seal: Any, start: threading.Barrier, statuses: list[int]
) -> None:
    """One delivery of one id: freshly sealed, retried on non-2xx as the issuer would."""
    start.wait()
    for _attempt in range(20):
        headers, body = seal(event)
        answer = requests.post(url, data=body, headers=headers, timeout=30)
        statuses.append(answer.status_code)
        if 200 <= answer.status_code < 300:
            return
        time.sleep(0.05)


def _send_all_at_once(url: str, events: list[dict[str, Any]], seal: Any) -> list[int]:
    statuses: list[int] = []
    jobs = [e for e in events for _ in range(COPIES)]
    start = threading.Barrier(len(jobs))
    threads = [
        threading.Thread(target=_deliver, args=(url, e, seal, start, statuses)) for e in jobs
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return statuses


@pytest.mark.parametrize("refunds", [0, 2], ids=["authorized+captured", "with-refunds"])
def test_concurrent_notifications_leave_the_issuers_state(
    shop: Any, mock_issuer: Any, refunds: int
) -> None:
    buyer = mock_issuer.create_buyer(limit=Money("5000.00", "CNY"))
    numbers = [_paid_order(shop, mock_issuer, buyer, i, refunds) for i in range(ORDERS)]
    events = _events(mock_issuer)
    assert len(events) == ORDERS * (2 + refunds)
    api_key = mock_issuer.api_key
    signer = mock_issuer.issuer.response_signer()

    def seal(event: dict[str, Any]) -> tuple[dict[str, str], bytes]:
        headers, body = seal_notification(event, api_key, signer)
        return {**headers, "Content-Type": "application/json"}, body

    with ShopServer(shop, threads=16) as server:
        statuses = _send_all_at_once(f"{server.url}/pay/notify", events, seal)

    assert len([s for s in statuses if 200 <= s < 300]) == len(events) * COPIES
    assert [s for s in statuses if s >= 500] == []
    # Each id recorded once, and the shop agrees with the issuer without reconciling.
    with _engine(shop).connect() as conn:
        recorded = conn.execute(sa.select(sa.func.count()).select_from(db.events)).scalar_one()
    assert recorded == len(events)
    assert differences(shop) == []
    captured, refunded = AMOUNT.minor, refunds * 10000
    state = "PARTIALLY_REFUNDED" if refunds else "CAPTURED"
    for no in numbers:
        row = store.get_order(_engine(shop), no)
        assert row is not None
        assert (row["state"], row["captured_minor"], row["refunded_minor"]) == (
            state,
            captured,
            refunded,
        )
        assert len(store.list_refunds(_engine(shop), no)) == refunds
