"""Split captures and the one extension raced over real HTTP, real threads, on SQLite and
PostgreSQL (issue #15): the captures never exceed the authorization, one key captures
once, and an authorization extends exactly once."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from ._harness import Merchant, check_ledger, rows
from ._http import Answer, Api, authorized_orders, cny, create_buyer, retry_in_progress
from .conftest import StartIssuers
from .test_races import balances, no_server_errors, race

pytestmark = pytest.mark.reliability


@pytest.fixture
def issuer(
    database_url: str, receiver: Any, start_issuers: StartIssuers, merchant_a: Merchant
) -> tuple[str, Api, str]:
    """(issuer URL, signed API as merchant A, notify prefix) of one fresh issuer."""
    prefix = receiver.url + "/"
    [server] = start_issuers(database_url, prefix)
    return server.url, Api([server.url], merchant_a.id, merchant_a.key), prefix


def test_16_partial_captures_never_exceed_the_authorization(
    issuer: tuple[str, Api, str], database_url: str
) -> None:
    url, api, prefix = issuer
    buyer = create_buyer(url, 1000_00)
    [order] = authorized_orders(api, url, buyer, prefix, count=1, amount=300_00, prefix="PC")
    path = f"/v1/orders/{order['id']}/capture"

    def capture(i: int) -> Answer:
        body = {"amount": cny(50_00), "final": False}
        return api.post(path, body, key=f"ship-{i}")

    answers: list[Answer] = race(16, capture)
    no_server_errors(answers)
    outcomes = Counter((a.status, a.code) for a in answers)
    assert outcomes[(200, None)] == 6, outcomes  # 6 x 50.00 = the 300.00 authorized
    assert set(outcomes) <= {(200, None), (409, "AMOUNT_EXCEEDS_AVAILABLE"), (409, "INVALID_STATE")}
    final = api.get(f"/v1/checkouts/{order['checkout_id']}").json()["order"]
    assert final["captured_amount"] == cny(300_00)
    assert final["capturable_amount"] == cny(0)
    captured = rows(database_url, "SELECT amount FROM captures WHERE order_id = :o", o=order["id"])
    assert sorted(r[0] for r in captured) == [50_00] * 6
    assert balances(database_url, buyer["id"]) == {
        "limit": 1000_00,
        "available": 700_00,
        "held": 0,
        "outstanding": 300_00,
    }
    check_ledger(database_url)


def test_one_capture_key_from_8_threads_captures_once(
    issuer: tuple[str, Api, str], database_url: str
) -> None:
    url, api, prefix = issuer
    buyer = create_buyer(url, 1000_00)
    [order] = authorized_orders(api, url, buyer, prefix, count=1, amount=300_00, prefix="CK")
    path = f"/v1/orders/{order['id']}/capture"
    body = {"amount": cny(70_00), "final": False}

    answers: list[Answer] = race(8, lambda i: api.post(path, body, key="ship-once"))
    no_server_errors(answers)
    settled = [
        a
        if a.code != "IDEMPOTENCY_IN_PROGRESS"
        else retry_in_progress(lambda: api.post(path, body, key="ship-once"))
        for a in answers
    ]
    assert {(a.status, a.body) for a in settled} == {(settled[0].status, settled[0].body)}
    assert settled[0].status == 200
    captured = rows(database_url, "SELECT amount FROM captures WHERE order_id = :o", o=order["id"])
    assert [r[0] for r in captured] == [70_00]
    assert balances(database_url, buyer["id"])["held"] == 230_00
    check_ledger(database_url)


def test_8_extensions_at_once_extend_once(issuer: tuple[str, Api, str], database_url: str) -> None:
    url, api, prefix = issuer
    buyer = create_buyer(url, 1000_00)
    [order] = authorized_orders(api, url, buyer, prefix, count=1, amount=100_00, prefix="EX")
    path = f"/v1/orders/{order['id']}/extend"

    answers: list[Answer] = race(8, lambda i: api.post(path, {"days": 1 + i}, key=f"ext-{i}"))
    no_server_errors(answers)
    outcomes = Counter((a.status, a.code) for a in answers)
    assert outcomes == {(200, None): 1, (409, "AUTHORIZATION_ALREADY_EXTENDED"): 7}, outcomes
    [winner] = [a for a in answers if a.status == 200]
    [[expires, extended]] = rows(
        database_url,
        "SELECT authorization_expires_at, authorization_extended_at FROM orders WHERE id = :o",
        o=order["id"],
    )
    assert extended is not None
    assert winner.json()["authorization_expires_at"] == order_time(expires)
    check_ledger(database_url)


def order_time(epoch: int) -> str:
    from paylater_sdk.issuer.storage.schema import rfc3339

    value = rfc3339(epoch)
    assert value is not None
    return value


def test_captures_racing_a_void_of_the_rest(
    issuer: tuple[str, Api, str], database_url: str
) -> None:
    """Four shipments and a void of the rest at once: whatever was captured before the void
    stays captured, the rest is released exactly once, nothing after the void captures."""
    url, api, prefix = issuer
    buyer = create_buyer(url, 1000_00)
    [order] = authorized_orders(api, url, buyer, prefix, count=1, amount=300_00, prefix="CV")
    first = api.post(f"/v1/orders/{order['id']}/capture", {"amount": cny(100_00), "final": False})
    assert first.status == 200, first.body[:300]

    def act(i: int) -> Answer:
        if i == 4:
            return api.post(f"/v1/orders/{order['id']}/void", {}, key="void-rest")
        body = {"amount": cny(50_00), "final": False}
        return api.post(f"/v1/orders/{order['id']}/capture", body, key=f"ship-{i}")

    answers: list[Answer] = race(5, act)
    no_server_errors(answers)
    won = [a for a in answers[:4] if a.status == 200]
    if len(won) == 4:  # every shipment came first: 300 captured, nothing is left to void
        assert (answers[4].status, answers[4].code) == (409, "INVALID_STATE")
    else:
        assert answers[4].status == 200, answers[4].body[:300]
    assert {(a.status, a.code) for a in answers[:4] if a.status != 200} <= {(409, "INVALID_STATE")}
    final = api.get(f"/v1/checkouts/{order['checkout_id']}").json()["order"]
    captured = 100_00 + 50_00 * len(won)
    assert final["captured_amount"] == cny(captured)
    assert final["capturable_amount"] == cny(0)
    assert balances(database_url, buyer["id"]) == {
        "limit": 1000_00,
        "available": 1000_00 - captured,
        "held": 0,
        "outstanding": captured,
    }
    check_ledger(database_url)
