"""Races on one object, with real threads, on the engine under test (SQLite, and
PostgreSQL when PAYLATER_TEST_POSTGRES_URL is set, as in CI).

Each test would lose money without explicit concurrency control: on PostgreSQL the old
code let 16-17 refunds of 100 succeed on a 300 capture, and repaid one installment
several times. Over real HTTP with several processes: tests/reliability/.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from paylater_sdk.errors import PayLaterError
from paylater_sdk.issuer import Issuer, TestBuyer
from paylater_sdk.money import Money
from tests._support.issuer import MERCHANT_ID, SignedClient, authorized, balances

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")


def race(count: int, action: Callable[[int], Any]) -> tuple[list[Any], list[BaseException]]:
    """Run ``action(i)`` in ``count`` threads released at the same instant."""
    barrier = threading.Barrier(count)
    results: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        barrier.wait(30)
        try:
            value = action(i)
        except BaseException as exc:
            with lock:
                errors.append(exc)
        else:
            with lock:
                results.append(value)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results, errors


def _codes(errors: list[BaseException]) -> set[str | None]:
    assert all(isinstance(e, PayLaterError) for e in errors), errors
    return {getattr(e, "code", None) for e in errors}


def test_16_concurrent_partial_refunds_never_exceed_the_capture(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    order_id = authorized(api, issuer, buyer, amount=300_00)["order"]["id"]
    issuer.orders.capture(MERCHANT_ID, order_id, None)
    results, errors = race(
        16,
        lambda i: issuer.orders.create_refund(
            MERCHANT_ID,
            order_id=order_id,
            amount=Money("100.00", "CNY"),
            out_refund_no=f"R{i}",
            reason=None,
        ),
    )
    assert len(results) == 3
    # the late ones find the order fully refunded (INVALID_STATE) or too little left
    assert _codes(errors) <= {"AMOUNT_EXCEEDS_AVAILABLE", "INVALID_STATE"}
    assert len(errors) == 13
    order = issuer.orders.get_checkout(MERCHANT_ID, authorized_checkout(issuer, order_id))["order"]
    assert order["state"] == "REFUNDED"
    assert order["refunded_amount"] == {"value": 300_00, "currency": "CNY"}
    assert balances(issuer, buyer.id) == {
        "limit": 5000_00,
        "available": 5000_00,
        "held": 0,
        "outstanding": 0,
    }
    assert issuer.check_ledger() == []


def authorized_checkout(issuer: Issuer, order_id: str) -> str:
    import sqlalchemy as sa

    from paylater_sdk.issuer.storage.schema import orders

    with issuer.engine.connect() as conn:
        return str(
            conn.execute(sa.select(orders.c.checkout_id).where(orders.c.id == order_id)).scalar()
        )


def test_concurrent_repayments_of_one_installment_restore_credit_once(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    """Eight "pay what is due" repayments at once: one pays installment 1, the others find
    nothing owed (paying ahead needs PREPAY); the credit moves by that principal once."""
    order_id = authorized(api, issuer, buyer, amount=600_00)["order"]["id"]
    issuer.orders.capture(MERCHANT_ID, order_id, None)
    before = balances(issuer, buyer.id)
    results, errors = race(8, lambda i: issuer.orders.repay(buyer.id, order_id))
    assert len(results) == 1
    assert _codes(errors) == {"NOTHING_OWED"}
    principal = sum(
        li["amount"]["value"] for li in results[0]["allocated"] if li["part"] == "PRINCIPAL"
    )
    assert principal == 100_00  # 600 / 6, interest-free
    after = balances(issuer, buyer.id)
    assert after["outstanding"] == before["outstanding"] - principal
    assert after["available"] == before["available"] + principal
    assert issuer.check_ledger() == []


def test_concurrent_repayments_of_the_last_installment_pay_it_once(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    order_id = authorized(api, issuer, buyer, amount=600_00)["order"]["id"]
    issuer.orders.capture(MERCHANT_ID, order_id, None)
    issuer.orders.repay(buyer.id, order_id)
    issuer.orders.repay(buyer.id, order_id, Money("400.00", "CNY"), mode="PREPAY")
    results, errors = race(8, lambda i: issuer.orders.repay(buyer.id, order_id, mode="PAYOFF"))
    assert len(results) == 1
    assert _codes(errors) == {"NOTHING_OWED"}
    assert balances(issuer, buyer.id)["outstanding"] == 0
    assert balances(issuer, buyer.id)["available"] == 5000_00
    assert issuer.check_ledger() == []


def test_capture_void_capture_race_has_one_winner(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    order_id = authorized(api, issuer, buyer)["order"]["id"]

    def act(i: int) -> str:
        if i % 3 == 1:
            issuer.orders.void(MERCHANT_ID, order_id)
            return "void"
        issuer.orders.capture(MERCHANT_ID, order_id, None)
        return "capture"

    results, errors = race(9, act)
    assert len(results) == 1
    assert _codes(errors) == {"INVALID_STATE"}
    state = balances(issuer, buyer.id)
    if results == ["void"]:
        assert state == {"limit": 5000_00, "available": 5000_00, "held": 0, "outstanding": 0}
    else:
        assert state == {"limit": 5000_00, "available": 4880_00, "held": 0, "outstanding": 120_00}
    assert issuer.check_ledger() == []


def test_64_threads_never_overspend_one_buyer(api: SignedClient, issuer: Issuer) -> None:
    buyer = issuer.create_buyer(limit=Money("1000.00", "CNY"))
    checkouts = [
        api.post(
            "/v1/checkouts",
            {
                "out_trade_no": f"O{i}",
                "amount": {"value": 300_00, "currency": "CNY"},
                "description": "x",
                "notify_url": "https://shop.example/notify",
                "return_url": "https://shop.example/return",
            },
        ).get_json()["id"]
        for i in range(64)
    ]
    results, errors = race(
        64, lambda i: issuer.orders.authorize(checkouts[i], buyer_id=buyer.id, plan_id="fenfu-6")
    )
    assert len(results) == 3  # 3 x 300 <= 1000 < 4 x 300
    assert _codes(errors) == {"CREDIT_DECLINED"}
    assert balances(issuer, buyer.id)["held"] == 900_00
    assert issuer.check_ledger() == []


def test_concurrent_sweeps_expire_each_authorization_once(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    from paylater_sdk.issuer.domain import lifecycle

    for i in range(6):
        authorized(api, issuer, buyer, out_trade_no=f"E{i}", amount=100_00)
    issuer.clock.advance(8 * 24 * 3600)  # past the 7-day authorization, no sweep yet
    now = issuer.now()
    results, errors = race(4, lambda i: lifecycle.expire_due(issuer.engine, now))
    assert errors == []
    assert sum(results) == 6  # each authorization expired by exactly one sweep
    assert balances(issuer, buyer.id)["held"] == 0
    assert issuer.check_ledger() == []


def test_a_failing_sweep_never_fails_the_request(
    api: SignedClient, issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from paylater_sdk.issuer.domain import lifecycle

    checkout = api.post(
        "/v1/checkouts",
        {
            "out_trade_no": "S1",
            "amount": {"value": 100_00, "currency": "CNY"},
            "description": "x",
            "notify_url": "https://shop.example/notify",
            "return_url": "https://shop.example/return",
        },
    ).get_json()

    def conflict(*args: Any) -> int:
        raise PayLaterError("order ord_other changed meanwhile")

    monkeypatch.setattr(lifecycle, "expire_due", conflict)
    issuer.clock.advance(5)  # a new second: the next request sweeps
    answer = api.get(f"/v1/checkouts/{checkout['id']}")
    assert answer.status_code == 200
    assert answer.get_json()["id"] == checkout["id"]
