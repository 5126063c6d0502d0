"""``kill -9`` of the issuer in a burst of captures and refunds, and while notifications are
in flight; then a restart on the same database (issue 9, defect 5).

Every request carries its own Idempotency-Key. After the restart, every request is sent
again with its key: an acknowledged one must get its original answer (same status, same
body), one whose answer was lost must either run now or get the answer it had. Then the
books must balance: every operation applied exactly once, none half-applied, every
notification delivered.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest
import requests

from ._harness import Merchant, check_ledger, rows
from ._http import Answer, Api, authorized_orders, cny, control, create_buyer, retry_in_progress
from ._notify import admin_log, issuer_keyring, open_all
from ._procs import wait_until
from .conftest import StartIssuers
from .test_races import balances

pytestmark = pytest.mark.reliability

ORDERS = 12
AMOUNT = 300_00


def operations(order: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    """What the merchant does to one order, in order: (path, body, idempotency key)."""
    oid = order["id"]
    return [
        (f"/v1/orders/{oid}/capture", {}, f"cap-{oid}"),
        *(
            (
                "/v1/refunds",
                {"order_id": oid, "amount": cny(100_00), "out_refund_no": f"R-{oid}-{n}"},
                f"ref-{oid}-{n}",
            )
            for n in (1, 2)
        ),
    ]


def test_kill9_mid_burst_and_mid_delivery_then_restart(
    database_url: str, receiver: Any, start_issuers: StartIssuers, merchant_a: Merchant
) -> None:
    prefix = receiver.url + "/"
    [server] = start_issuers(database_url, prefix)
    api = Api(lambda: [server.url], merchant_a.id, merchant_a.key)
    limit = 100_000_00
    buyer = create_buyer(server.url, limit)
    orders = authorized_orders(
        api, server.url, buyer, prefix, count=ORDERS, amount=AMOUNT, prefix="KL"
    )
    # Hold every delivery for a second: when the kill comes, one is in flight.
    receiver.delay = 1.0
    wait_until("a notification in flight", lambda: receiver.in_flight >= 1, timeout=15)

    answers: dict[str, Answer | None] = {}  # None: sent, but the answer was lost
    lock = threading.Lock()
    acknowledged = threading.Event()

    def merchant(batch: list[dict[str, Any]]) -> None:
        for order in batch:
            for path, body, key in operations(order):
                try:
                    answer: Answer | None = api.post(path, body, key=key)
                except requests.RequestException:
                    answer = None
                with lock:
                    answers[key] = answer
                    if sum(a is not None for a in answers.values()) >= ORDERS:
                        acknowledged.set()
                if answer is None:
                    return  # the issuer is gone: this merchant stops, as a real one would

    batches = [orders[i::6] for i in range(6)]
    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(merchant, batch) for batch in batches]
        assert acknowledged.wait(60), "the burst never got going"
        server.kill9()
        for future in futures:
            future.result(timeout=60)
    lost = [k for k, a in answers.items() if a is None]
    assert lost, "the kill came after the burst: nothing was in flight"
    assert all(a is None or a.status in (200, 201) for a in answers.values()), [
        (k, a.status, a.body[:200]) for k, a in answers.items() if a is not None
    ]

    receiver.delay = 0.0
    server.start()
    server.wait_ready()
    for order in orders:
        for path, body, key in operations(order):
            again = retry_in_progress(partial(api.post, path, body, key=key))
            before = answers.get(key)
            if before is not None:
                assert (again.status, again.body) == (before.status, before.body), key
            else:
                assert again.status in (200, 201), (key, again.status, again.body[:300])

    for order in orders:
        final = api.get(f"/v1/checkouts/{order['checkout_id']}").json()["order"]
        assert (final["state"], final["captured_amount"], final["refunded_amount"]) == (
            "PARTIALLY_REFUNDED",
            cny(AMOUNT),
            cny(200_00),
        ), order["id"]
    refunds = rows(database_url, "SELECT order_id, amount FROM refunds")
    per_order: dict[str, list[int]] = defaultdict(list)
    for order_id, amount in refunds:
        per_order[order_id].append(amount)
    assert per_order == {o["id"]: [100_00, 100_00] for o in orders}
    assert balances(database_url, buyer["id"]) == {
        "limit": limit,
        "available": limit - ORDERS * 100_00,
        "held": 0,
        "outstanding": ORDERS * 100_00,
    }
    check_ledger(database_url)

    # A delivery claimed by the killed worker is due again once its lease runs out.
    assert control(server.url, "/clock/advance", {"seconds": 150}).status == 200
    expected = ORDERS * 4  # authorized, captured, two refunds
    wait_until(
        "every notification delivered after the restart",
        lambda: [e["state"] for e in admin_log(server.url)] == ["DELIVERED"] * expected,
        timeout=60,
    )
    log_ids = {e["id"] for e in admin_log(server.url)}
    events = open_all(receiver.snapshot(), merchant_a.api_key, issuer_keyring(database_url))
    assert {e.id for e in events} == log_ids
    kinds: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for event in events:
        kinds[event.id].add((event.event_type, event.resource["id"]))
    assert all(len(k) == 1 for k in kinds.values())
    check_ledger(database_url)
