"""Four issuer processes on one database, started at the same instant (issue 9, defects
3, 4 and 13), load-balanced round-robin by the test as docs/issuer.md "Running several
instances" describes: one database, a shared Redis nonce store, no per-process state.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from paylater_sdk.errors import PayLaterError

from ._harness import Merchant, check_ledger, remember_issuer_keys, rows, scalar
from ._http import Api, Browser, cny, control, create_buyer
from ._notify import admin_log, issuer_keyring, open_all
from ._procs import wait_until
from .conftest import StartIssuers
from .test_races import balances, race

pytestmark = pytest.mark.reliability


@pytest.mark.parametrize("secret", ["PAYLATER_SECRET_KEY", "in-database"])
def test_four_processes_share_one_database(
    secret: str,
    database_url: str,
    redis_url: str,
    receiver: Any,
    start_issuers: StartIssuers,
    merchant_a: Merchant,
) -> None:
    prefix = receiver.url + "/"
    # One secret for all from the environment (the documented deployment), or none at all:
    # then, in test mode, the processes must share one through the database.
    servers = start_issuers(
        database_url,
        prefix,
        count=4,
        extra=["--nonce-store", redis_url],
        shared_secret=secret == "PAYLATER_SECRET_KEY",
    )
    urls = [s.url for s in servers]
    remember_issuer_keys(database_url)
    api = Api(urls, merchant_a.id, merchant_a.key)

    # All started; exactly one active signing key; every process answers signed requests.
    assert scalar(database_url, "SELECT count(*) FROM issuer_keys WHERE active") == 1
    for url in urls:
        assert api.get("/v1/certificates", url=url).status == 200

    # The test clock is one clock: concurrent advances all succeed and every process sees them.
    advanced = race(4, lambda i: control(urls[i], "/clock/advance", {"seconds": 10}))
    assert [a.status for a in advanced] == [200] * 4
    nows = [
        datetime.fromisoformat(control(u, "/clock/advance", {"seconds": 0}).json()["now"])
        for u in urls
    ]
    ahead = [(now - datetime.now(UTC)).total_seconds() for now in nows]
    assert all(35 <= a <= 50 for a in ahead), ahead

    # A duplicated delivery must keep its id (armed through every process).
    for url in urls:
        fault = control(url, "/faults", {"kind": "duplicate_notification", "count": 1})
        assert fault.status == 201
    limit, price = 1000_00, 150_00
    buyer = create_buyer(urls[2], limit)

    def buy(i: int) -> str:
        checkout = api.checkout(f"MP{i}", price, prefix + "notify", prefix + "return")
        try:
            # Sign-in and confirm land on different processes than the page itself.
            Browser(urls[i % 4 :] + urls[: i % 4]).authorize(checkout["id"], buyer)
        except PayLaterError as exc:
            return f"{type(exc).__name__}:{getattr(exc, 'reason', None) or exc.code}"
        return "AUTHORIZED"

    outcomes = Counter(race(24, buy))
    allowed = limit // price
    assert outcomes == {"AUTHORIZED": allowed, "CreditDeclinedError:INSUFFICIENT_LIMIT": 18}
    held = balances(database_url, buyer["id"])
    assert held == {
        "limit": limit,
        "available": limit - allowed * price,
        "held": allowed * price,
        "outstanding": 0,
    }
    order_ids = [
        r[0] for r in rows(database_url, "SELECT id FROM orders WHERE buyer_id = :b", b=buyer["id"])
    ]
    with ThreadPoolExecutor(3) as pool:
        captured = list(pool.map(lambda o: api.post(f"/v1/orders/{o}/capture"), order_ids[:3]))
    assert [c.status for c in captured] == [200] * 3

    # A signed request accepted once is refused as a replay by every process.
    headers, data = api.signed("GET", f"/v1/plans/quote?amount={price}&currency=CNY")
    path = f"/v1/plans/quote?amount={price}&currency=CNY"
    assert api.send("GET", path, headers=headers, data=data, url=urls[0]).status == 200
    for url in urls[1:] + urls[:1]:
        replay = api.send("GET", path, headers=headers, data=data, url=url)
        assert (replay.status, replay.code) == (401, "REPLAYED"), url
    body = {
        "out_trade_no": "MP-REPLAY",
        "amount": cny(price),
        "description": "replayed",
        "notify_url": prefix + "notify",
        "return_url": prefix + "return",
    }
    headers, data = api.signed("POST", "/v1/checkouts", body)
    first = api.send("POST", "/v1/checkouts", headers=headers, data=data, url=urls[3])
    assert first.status == 201
    for url in urls:
        replay = api.send("POST", "/v1/checkouts", headers=headers, data=data, url=url)
        assert (replay.status, replay.code) == (401, "REPLAYED"), url
    made = "SELECT count(*) FROM checkouts WHERE out_trade_no = 'MP-REPLAY'"
    assert scalar(database_url, made) == 1

    # Every notification delivered, none lost; duplicates are the same event.
    expected = allowed + 3  # authorizations and captures
    wait_until(
        "every notification delivered",
        lambda: [e["state"] for e in admin_log(urls[3])] == ["DELIVERED"] * expected,
        timeout=40,
    )
    log = admin_log(urls[0])
    log_ids = {e["id"] for e in log}
    duplicated = sum(a["duplicated"] for e in log for a in e["attempts"])
    assert 1 <= duplicated <= 4
    time.sleep(1)  # a duplicate's second copy may still be on the wire
    events = open_all(receiver.snapshot(), merchant_a.api_key, issuer_keyring(database_url))
    assert {e.id for e in events} == log_ids
    by_id: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for event in events:
        by_id[event.id].add((event.event_type, event.resource["id"]))
    assert all(len(kinds) == 1 for kinds in by_id.values()), by_id
    assert len(events) == expected + duplicated  # each duplicate arrived, under its id
    types = Counter(next(iter(kinds))[0] for kinds in by_id.values())
    assert types == {"CHECKOUT.AUTHORIZED": allowed, "ORDER.CAPTURED": 3}
    assert cny(price) == events[0].resource["amount"]
    check_ledger(database_url)
