"""The example shop against a served issuer: duplicated, out-of-order, replayed, tampered
and concurrent notifications, and a shop killed mid-notification (issue 9, defect 7).

After the delivery retries and the shop's ``reconcile`` (which compares every non-final
order with the issuer), the shop's books must equal the issuer's: zero differences.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from paylater_sdk.signing import Notification, seal_notification

from ._harness import Merchant, check_ledger
from ._http import Api, cny, control, create_buyer
from ._notify import Delivery, admin_log, issuer_keyring, issuer_signer, open_all
from ._procs import Server, wait_until
from ._shop import (
    Proxy,
    differences,
    proxy,
    purchase,
    reconcile,
    shop_env,
    shop_orders,
    shop_server,
)
from .conftest import POSTGRES_URL, StartIssuers, wipe_postgres

pytestmark = pytest.mark.reliability

PRICE = 1299_00  # the headphones


@pytest.fixture
def shop_database_url(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'shop.sqlite3'}"
    assert POSTGRES_URL is not None
    wipe_postgres(POSTGRES_URL, "shop")  # the shop's own schema: its tables share names
    joiner = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{joiner}options=-csearch_path%3Dshop"


@pytest.fixture
def relay() -> Iterator[Proxy]:
    with proxy() as p:
        yield p


def settled(url: str) -> bool:
    """No notification is waiting for another attempt."""
    return all(e["state"] != "PENDING" for e in admin_log(url))


def events_of(deliveries: list[Delivery], merchant: Merchant, db: str) -> list[Notification]:
    return open_all(deliveries, merchant.api_key, issuer_keyring(db))


def send(shop: Server, headers: dict[str, str], body: bytes) -> int:
    answer = requests.post(shop.url + "/pay/notify", data=body, headers=headers, timeout=20)
    return answer.status_code


def fresh(
    event: Notification, merchant: Merchant, db: str, *, same_id: bool
) -> tuple[dict[str, str], bytes]:
    """The same news sealed and signed anew by the issuer's key (new id unless same_id)."""
    headers, body = seal_notification(
        {
            "id": event.id if same_id else f"evt_{secrets.token_hex(12)}",
            "event_type": event.event_type,
            "original_type": event.original_type,
            "summary": event.summary,
            "resource": event.resource,
        },
        merchant.api_key,
        issuer_signer(db),
    )
    return {**headers, "Content-Type": "application/json"}, body


def find(events: list[Notification], event_type: str, checkout_id: str) -> Notification:
    for event in events:
        resource = event.resource
        if event.event_type == event_type and checkout_id in (
            resource.get("id"),
            resource.get("checkout_id"),
        ):
            return event
    raise AssertionError(f"no {event_type} notification for {checkout_id}")


def test_shop_books_equal_the_issuers(
    database_url: str,
    shop_database_url: str,
    relay: Proxy,
    start_issuers: StartIssuers,
    merchant_a: Merchant,
    tmp_path: Path,
    logdir: Path,
    servers: list[Server],
) -> None:
    [issuer] = start_issuers(database_url, relay.url + "/")
    api = Api([issuer.url], merchant_a.id, merchant_a.key)
    env = shop_env(tmp_path, merchant_a, issuer.url, relay.url, shop_database_url)
    shop = shop_server("shop", logdir, env)
    servers.append(shop)
    shop.start()
    shop.wait_ready()
    relay.target = shop.url
    buyer = create_buyer(issuer.url, 100_000_00)
    assert control(issuer.url, "/faults", {"kind": "duplicate_notification", "count": 4}).status

    # Six orders through the shop's pages, then the merchant's back office at the issuer.
    ids = [purchase(relay.url, issuer.url, buyer, come_back=True) for _ in range(6)]
    order_of = {c: api.get(f"/v1/checkouts/{c}").json()["order"]["id"] for c in ids}

    def act(checkout_id: str, action: str, amount: int = 0) -> None:
        oid = order_of[checkout_id]
        if action == "refund":
            body = {"order_id": oid, "amount": cny(amount), "out_refund_no": secrets.token_hex(6)}
            assert api.post("/v1/refunds", body).status == 201
        else:
            assert api.post(f"/v1/orders/{oid}/{action}").status == 200

    for checkout_id in ids[:3] + ids[5:]:
        act(checkout_id, "capture")
    act(ids[1], "refund", 300_00)
    act(ids[2], "refund", PRICE)
    act(ids[3], "void")
    wait_until("deliveries to settle", lambda: settled(issuer.url), timeout=40)
    reconcile(env)
    assert differences(api, shop_database_url) == []
    books = shop_orders(shop_database_url)

    # Replayed, tampered, out-of-order and duplicated copies change nothing.
    events = events_of(relay.recorded(), merchant_a, database_url)
    captured = find(events, "ORDER.CAPTURED", ids[0])
    original = next(d for d in relay.recorded() if captured.id.encode() in d.body)
    assert send(shop, original.headers, original.body) == 401  # an exact replay
    headers, body = fresh(captured, merchant_a, database_url, same_id=True)
    tampered = body.replace(b'"ciphertext":"', b'"ciphertext":"A', 1)
    assert send(shop, headers, tampered) == 401  # the body is not what was signed
    stolen = {**headers, "Paylater-Signature": original.headers["Paylater-Signature"]}
    assert send(shop, stolen, body) == 401  # another message's signature
    assert send(shop, headers, body) == 204  # forgeries did not burn the genuine nonce
    older = find(events, "CHECKOUT.AUTHORIZED", ids[0])
    assert send(shop, *fresh(older, merchant_a, database_url, same_id=False)) == 204
    assert shop_orders(shop_database_url) == books

    # Concurrent notifications for one order: the newest news must win, without reconcile.
    relay.hold = True
    held = [purchase(relay.url, issuer.url, buyer, come_back=False) for _ in range(10)]
    order_of.update({c: api.get(f"/v1/checkouts/{c}").json()["order"]["id"] for c in held})
    for checkout_id in held:
        act(checkout_id, "capture")

    def both_held() -> bool:
        seen = events_of(relay.recorded(), merchant_a, database_url)
        return all(
            any(e.event_type == t and e.resource["id"] in (c, order_of[c]) for e in seen)
            for c in held
            for t in ("CHECKOUT.AUTHORIZED", "ORDER.CAPTURED")
        )

    wait_until("the held notifications", both_held, timeout=30)
    events = events_of(relay.recorded(), merchant_a, database_url)
    for checkout_id in held:
        # As many at once as the shop has threads (waitress' default 4): all in flight.
        copies = [
            fresh(find(events, kind, checkout_id), merchant_a, database_url, same_id=False)
            for _ in range(2)
            for kind in ("CHECKOUT.AUTHORIZED", "ORDER.CAPTURED")
        ]
        barrier = threading.Barrier(len(copies), timeout=30)

        def deliver(copy: tuple[dict[str, str], bytes], gate: threading.Barrier = barrier) -> int:
            gate.wait()
            return send(shop, *copy)

        with ThreadPoolExecutor(len(copies)) as pool:
            statuses = list(pool.map(deliver, copies, timeout=60))
        assert statuses == [204] * len(copies)
    rows = {r["checkout_id"]: r for r in shop_orders(shop_database_url)}
    assert [(rows[c]["state"], rows[c]["captured_minor"]) for c in held] == [
        ("CAPTURED", PRICE)
    ] * len(held)
    relay.hold = False

    # The shop dies while it handles a notification; it comes back on the same database.
    relay.kill_next = shop.kill9
    act(ids[4], "capture")
    act(ids[5], "refund", 100_00)
    act(held[0], "refund", PRICE)
    assert relay.killed.wait(20), "no notification reached the shop"
    shop = shop_server("shop-restarted", logdir, env)
    servers.append(shop)
    shop.start()
    shop.wait_ready()
    relay.target = shop.url
    wait_until("deliveries to settle", lambda: settled(issuer.url), timeout=40)
    reconcile(env)
    assert differences(api, shop_database_url) == []
    shop.stop()
    check_ledger(database_url)
