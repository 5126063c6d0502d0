"""Races over real HTTP, real threads, on SQLite and PostgreSQL (issue 9, defects 1-2).

Each race ends with the ledger check. Under a correct issuer the outcome of every race is
fully determined (who wins may vary, how many win may not), so the asserts are exact.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest

from paylater_sdk.errors import PayLaterError

from ._harness import Merchant, check_ledger, rows, scalar
from ._http import (
    Answer,
    Api,
    Browser,
    authorized_orders,
    capture,
    cny,
    create_buyer,
    retry_in_progress,
)
from .conftest import StartIssuers

pytestmark = pytest.mark.reliability


def race(count: int, job: Callable[[int], Any]) -> list[Any]:
    """Run ``job(i)`` in ``count`` threads released together by a barrier."""
    barrier = threading.Barrier(count, timeout=60)

    def run(i: int) -> Any:
        barrier.wait()
        return job(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count), timeout=180))


def balances(database_url: str, buyer_id: str) -> dict[str, int]:
    [row] = rows(
        database_url,
        "SELECT credit_limit, available, held, outstanding FROM buyers WHERE id = :id",
        id=buyer_id,
    )
    return {"limit": row[0], "available": row[1], "held": row[2], "outstanding": row[3]}


@pytest.fixture
def issuer(
    database_url: str, receiver: Any, start_issuers: StartIssuers, merchant_a: Merchant
) -> tuple[str, Api, str]:
    """(issuer URL, signed API as merchant A, notify prefix) of one fresh issuer."""
    prefix = receiver.url + "/"
    [server] = start_issuers(database_url, prefix)
    return server.url, Api([server.url], merchant_a.id, merchant_a.key), prefix


def post_nth(api: Api, paths: list[str], i: int) -> Answer:
    return api.post(paths[i])


def no_server_errors(answers: list[Answer]) -> None:
    bad = [(a.status, a.body[:200]) for a in answers if a.status >= 500 or b"Traceback" in a.body]
    assert bad == []


def test_64_threads_cannot_overspend_one_buyer(
    issuer: tuple[str, Api, str], database_url: str
) -> None:
    url, api, prefix = issuer
    limit, price = 1000_00, 150_00
    buyer = create_buyer(url, limit)
    checkouts = [
        api.checkout(f"OS{n}", price, prefix + "notify", prefix + "return") for n in range(64)
    ]

    def authorize(i: int) -> str:
        try:
            Browser([url]).authorize(checkouts[i]["id"], buyer)
        except PayLaterError as exc:
            return f"{type(exc).__name__}:{getattr(exc, 'reason', None) or exc.code}"
        return "AUTHORIZED"

    outcomes = Counter(race(64, authorize))
    states = Counter(api.get(f"/v1/checkouts/{c['id']}").json()["state"] for c in checkouts)
    allowed = limit // price
    assert outcomes["AUTHORIZED"] == allowed, outcomes
    assert set(outcomes) <= {"AUTHORIZED", "CreditDeclinedError:INSUFFICIENT_LIMIT"}, outcomes
    assert states == {"AUTHORIZED": allowed, "CREATED": 64 - allowed}
    assert balances(database_url, buyer["id"]) == {
        "limit": limit,
        "available": limit - allowed * price,
        "held": allowed * price,
        "outstanding": 0,
    }
    check_ledger(database_url)


def test_capture_void_capture_exactly_one_wins(
    issuer: tuple[str, Api, str], database_url: str
) -> None:
    url, api, prefix = issuer
    buyer = create_buyer(url, 100_000_00)
    orders = authorized_orders(api, url, buyer, prefix, count=6, amount=300_00, prefix="CV")
    actions = ("capture", "void", "capture")
    for order in orders:
        paths = [f"/v1/orders/{order['id']}/{action}" for action in actions]
        answers: list[Answer] = race(3, partial(post_nth, api, paths))
        no_server_errors(answers)
        winners = [actions[i] for i, a in enumerate(answers) if a.status == 200]
        assert len(winners) == 1, [(a.status, a.body[:120]) for a in answers]
        losers = {(a.status, a.code) for a in answers if a.status != 200}
        assert losers == {(409, "INVALID_STATE")}
        final = api.get(f"/v1/checkouts/{order['checkout_id']}").json()["order"]
        assert final["state"] == ("CAPTURED" if winners == ["capture"] else "VOIDED")
        assert final["captured_amount"]["value"] == (300_00 if winners == ["capture"] else 0)
    check_ledger(database_url)


def test_16_partial_refunds_of_a_300_capture(
    issuer: tuple[str, Api, str], database_url: str
) -> None:
    url, api, prefix = issuer
    buyer = create_buyer(url, 100_000_00)
    [order] = authorized_orders(api, url, buyer, prefix, count=1, amount=300_00, prefix="RF")
    capture(api, order["id"])

    def refund(i: int) -> Answer:
        body = {"order_id": order["id"], "amount": cny(100_00), "out_refund_no": f"RF-{i}"}
        return api.post("/v1/refunds", body, key=f"refund-key-{i}")

    answers: list[Answer] = race(16, refund)
    no_server_errors(answers)
    statuses = Counter(a.status for a in answers)
    assert statuses == {201: 3, 409: 13}, [(a.status, a.code) for a in answers]
    final = api.get(f"/v1/checkouts/{order['checkout_id']}").json()["order"]
    assert final["state"] == "REFUNDED"
    assert final["refunded_amount"] == cny(300_00)
    refunded = scalar(
        database_url, "SELECT sum(amount) FROM refunds WHERE order_id = :o", o=order["id"]
    )
    assert refunded == 300_00
    assert balances(database_url, buyer["id"])["outstanding"] == 0
    check_ledger(database_url)


def test_concurrent_repayments_restore_credit_once(
    issuer: tuple[str, Api, str], database_url: str
) -> None:
    """Eight early payoffs of one order at once (issue #14's test API): one pays it off,
    seven find nothing owed, and the credit comes back exactly once."""
    url, api, prefix = issuer
    limit = 1000_00
    buyer = create_buyer(url, limit)
    [order] = authorized_orders(api, url, buyer, prefix, count=1, amount=300_00, prefix="RP")
    capture(api, order["id"])
    assert balances(database_url, buyer["id"])["outstanding"] == 300_00

    def repay(i: int) -> Answer:
        body = {"order_id": order["id"], "mode": "PAYOFF"}
        from ._http import control

        return control(url, f"/buyers/{buyer['id']}/repay", body)

    answers: list[Answer] = race(8, repay)
    no_server_errors(answers)
    assert Counter(a.status for a in answers) == {200: 1, 409: 7}, [
        (a.status, a.code) for a in answers
    ]
    assert {a.code for a in answers if a.status == 409} == {"NOTHING_OWED"}
    assert balances(database_url, buyer["id"]) == {
        "limit": limit,
        "available": limit,
        "held": 0,
        "outstanding": 0,
    }
    repaid = scalar(
        database_url,
        "SELECT count(*) FROM ledger_entries WHERE buyer_id = :b AND reason = 'REPAY'",
        b=buyer["id"],
    )
    assert repaid == 1
    check_ledger(database_url)


def test_concurrent_partial_repayments_never_over_pay(
    issuer: tuple[str, Api, str], database_url: str
) -> None:
    """Eight repayments of 40 yuan against a 50 yuan installment due now: exactly one fits
    (the second would exceed what is owed), so the buyer pays 40 and the credit line gets
    back exactly the principal the allocations name."""
    url, api, prefix = issuer
    limit = 1000_00
    buyer = create_buyer(url, limit)
    [order] = authorized_orders(api, url, buyer, prefix, count=1, amount=300_00, prefix="PR")
    captured = capture(api, order["id"])
    first = captured["schedule"]["installments"][0]["amount"]["value"]
    amount = first * 4 // 5

    def repay(i: int) -> Answer:
        from ._http import control

        return control(url, f"/buyers/{buyer['id']}/repay", {"amount": cny(amount)})

    answers: list[Answer] = race(8, repay)
    no_server_errors(answers)
    assert Counter(a.status for a in answers) == {200: 1, 400: 7}, [
        (a.status, a.code) for a in answers
    ]
    assert {a.code for a in answers if a.status == 400} == {"AMOUNT_EXCEEDS_OWED"}
    [ok] = [a for a in answers if a.status == 200]
    allocated = ok.json()["allocated"]
    assert sum(li["amount"]["value"] for li in allocated) == amount
    principal = sum(li["amount"]["value"] for li in allocated if li["part"] == "PRINCIPAL")
    assert balances(database_url, buyer["id"])["outstanding"] == 300_00 - principal
    assert (
        scalar(database_url, "SELECT count(*) FROM repayments WHERE buyer_id = :b", b=buyer["id"])
        == 1
    )
    check_ledger(database_url)


def test_one_repayment_idempotency_key_from_8_threads(
    issuer: tuple[str, Api, str], database_url: str
) -> None:
    """The same keyed repayment sent by 8 threads at once is applied once; every answer
    that is not a refusal is the one stored answer."""
    url, api, prefix = issuer
    buyer = create_buyer(url, 1000_00)
    [order] = authorized_orders(api, url, buyer, prefix, count=1, amount=300_00, prefix="RK")
    capture(api, order["id"])

    def repay(i: int) -> Answer:
        from ._http import control

        return control(
            url,
            f"/buyers/{buyer['id']}/repay",
            {"amount": cny(10_00)},
            headers={"Idempotency-Key": "repay-once"},
        )

    answers: list[Answer] = race(8, repay)
    no_server_errors(answers)
    assert {a.status for a in answers} == {200}
    assert len({a.json()["repayment_id"] for a in answers}) == 1
    assert (
        scalar(database_url, "SELECT count(*) FROM repayments WHERE buyer_id = :b", b=buyer["id"])
        == 1
    )
    assert balances(database_url, buyer["id"])["outstanding"] < 300_00
    check_ledger(database_url)


def test_one_idempotency_key_from_20_threads(
    issuer: tuple[str, Api, str], database_url: str
) -> None:
    url, api, prefix = issuer
    buyer = create_buyer(url, 100_000_00)
    [order] = authorized_orders(api, url, buyer, prefix, count=1, amount=300_00, prefix="IK")
    capture(api, order["id"])
    body = {"order_id": order["id"], "amount": cny(100_00), "out_refund_no": "IK-R1"}

    answers: list[Answer] = race(20, lambda i: api.post("/v1/refunds", body, key="one-key"))
    no_server_errors(answers)
    done = [a for a in answers if a.code != "IDEMPOTENCY_IN_PROGRESS"]
    waiting = [a for a in answers if a.code == "IDEMPOTENCY_IN_PROGRESS"]
    assert done, "no request with the key finished"
    first = done[0]
    assert first.status == 201, first.body[:300]
    assert all((a.status, a.body) == (first.status, first.body) for a in done)
    assert all(a.status == 409 and a.headers.get("Retry-After") for a in waiting)
    retried = [
        retry_in_progress(lambda: api.post("/v1/refunds", body, key="one-key")) for _ in waiting
    ]
    assert all((a.status, a.body) == (first.status, first.body) for a in retried)
    refunds = rows(database_url, "SELECT amount FROM refunds WHERE order_id = :o", o=order["id"])
    assert [r[0] for r in refunds] == [100_00]
    final = api.get(f"/v1/checkouts/{order['checkout_id']}").json()["order"]
    assert final["refunded_amount"] == cny(100_00)
    check_ledger(database_url)
