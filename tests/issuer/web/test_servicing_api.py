"""Repayments through the test API: bad input changes nothing, keys replay, write-off."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from paylater_sdk.issuer import Issuer, TestBuyer
from paylater_sdk.issuer.domain.messages import buyer_messages
from paylater_sdk.issuer.storage.schema import receivable_entries, repayment_lines, repayments
from paylater_sdk.money import Money
from tests._support.issuer import SignedClient, authorized, balances, cny

DAY = 24 * 3600


@pytest.fixture
def web(app: Flask) -> FlaskClient:
    return app.test_client()


def _captured(api: SignedClient, issuer: Issuer, buyer: TestBuyer, no: str = "A1001") -> str:
    order_id: str = authorized(api, issuer, buyer, no)["order"]["id"]
    assert api.post(f"/v1/orders/{order_id}/capture", {}).status_code == 200
    return order_id


def _state(issuer: Issuer, buyer: TestBuyer) -> dict[str, Any]:
    """Everything a repayment could change."""
    with issuer.engine.connect() as conn:
        counts = [
            conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in (repayments, repayment_lines, receivable_entries)
        ]
    return {"balances": balances(issuer, buyer.id), "rows": counts}


def _repay(web: FlaskClient, buyer: TestBuyer, body: Any, **headers: str) -> Any:
    return web.post(f"/_test/buyers/{buyer.id}/repay", json=body, headers=headers)


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"amount": {"value": -1, "currency": "CNY"}}, 400, "INVALID_AMOUNT", "amount"),
        ({"amount": {"value": 0, "currency": "CNY"}}, 400, "INVALID_AMOUNT", "amount"),
        ({"amount": {"value": 1.5, "currency": "CNY"}}, 400, "INVALID_AMOUNT", "amount"),
        ({"amount": cny(20_73)}, 400, "AMOUNT_EXCEEDS_OWED", "amount"),
        ({"amount": {"value": 100, "currency": "USD"}}, 400, "INVALID_AMOUNT", "amount"),
        ({"order_id": "ord_nope"}, 404, "UNKNOWN_ORDER", "order_id"),
        ({"mode": "PAYOFF"}, 400, "INVALID_FIELD", "order_id"),
        ({"mode": "SOMETIMES"}, 400, "INVALID_FIELD", "mode"),
        ({"prepay_keeps": "BOTH"}, 400, "INVALID_FIELD", "prepay_keeps"),
        ({"tip": 1}, 400, "UNKNOWN_FIELD", "tip"),
    ],
)
def test_bad_repayments_are_refused_and_change_nothing(
    web: FlaskClient,
    api: SignedClient,
    issuer: Issuer,
    buyer: TestBuyer,
    body: dict[str, Any],
    status: int,
    code: str,
    field: str,
) -> None:
    _captured(api, issuer, buyer)
    before = _state(issuer, buyer)
    answer = _repay(web, buyer, body)
    assert answer.status_code == status, answer.get_json()
    assert (answer.get_json()["code"], answer.get_json().get("field")) == (code, field)
    assert _state(issuer, buyer) == before
    assert issuer.check_ledger() == []


def test_a_payoff_of_the_wrong_amount_another_buyers_order_and_a_closed_line(
    web: FlaskClient, api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    order_id = _captured(api, issuer, buyer)
    before = _state(issuer, buyer)
    wrong = _repay(web, buyer, {"order_id": order_id, "mode": "PAYOFF", "amount": cny(1_00)})
    assert (wrong.status_code, wrong.get_json()["code"]) == (400, "PAYOFF_AMOUNT_MISMATCH")
    other = issuer.create_buyer(limit=Money("100.00", "CNY"))
    theirs = web.post(f"/_test/buyers/{other.id}/repay", json={"order_id": order_id})
    assert (theirs.status_code, theirs.get_json()["code"]) == (404, "UNKNOWN_ORDER")
    nothing = web.post(f"/_test/buyers/{other.id}/repay", json={})
    assert (nothing.status_code, nothing.get_json()["code"]) == (409, "NOTHING_OWED")
    assert _state(issuer, buyer) == before
    paid = _repay(web, buyer, {"order_id": order_id, "mode": "PAYOFF"})
    assert paid.status_code == 200
    after = _state(issuer, buyer)
    assert after["balances"]["available"] == 5000_00
    closed = _repay(web, buyer, {"order_id": order_id, "amount": cny(1)})
    assert (closed.status_code, closed.get_json()["code"]) == (409, "NOTHING_OWED")
    assert _state(issuer, buyer) == after
    assert issuer.check_ledger() == []


def test_an_idempotency_key_replays_the_repayment_and_refuses_another(
    web: FlaskClient, api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    _captured(api, issuer, buyer)
    first = _repay(web, buyer, {"amount": cny(5_00)}, **{"Idempotency-Key": "k1"})
    assert first.status_code == 200
    once = _state(issuer, buyer)
    again = _repay(web, buyer, {"amount": cny(5_00)}, **{"Idempotency-Key": "k1"})
    assert again.get_json() == first.get_json()
    assert _state(issuer, buyer) == once
    reused = _repay(web, buyer, {"amount": cny(6_00)}, **{"Idempotency-Key": "k1"})
    assert (reused.status_code, reused.get_json()["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    bad = _repay(web, buyer, {"amount": cny(1)}, **{"Idempotency-Key": "é"})
    assert (bad.status_code, bad.get_json()["field"]) == (400, "Idempotency-Key")
    assert _state(issuer, buyer) == once
    fresh = _repay(web, buyer, {"amount": cny(5_00)}, **{"Idempotency-Key": "k2"})
    assert fresh.get_json()["repayment_id"] != first.get_json()["repayment_id"]


def test_the_statement_endpoint(
    web: FlaskClient, api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    order_id = _captured(api, issuer, buyer)
    due = api.get("/v1/checkouts?out_trade_no=A1001").get_json()["order"]["schedule"]
    first = due["installments"][0]
    month = first["due_date"][:7]
    bill = web.get(f"/_test/buyers/{buyer.id}/statement?month={month}")
    assert bill.status_code == 200
    body = bill.get_json()
    assert [(i["order_id"], i["installment"]) for i in body["installments"]] == [(order_id, 1)]
    assert body["amount_due"] == first["amount"] == cny(20_72)
    for query, code in (("month=2026-13", "INVALID_FIELD"), ("", "INVALID_QUERY")):
        refused = web.get(f"/_test/buyers/{buyer.id}/statement?{query}")
        assert (refused.status_code, refused.get_json()["code"]) == (400, code)
    assert web.get("/_test/buyers/byr_nope/statement?month=2026-01").status_code == 404


def test_180_days_past_due_writes_the_order_off_and_closes_the_line(
    web: FlaskClient, api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    order_id = _captured(api, issuer, buyer)
    first_due = api.get("/v1/checkouts?out_trade_no=A1001").get_json()["order"]["schedule"][
        "installments"
    ][0]["due_date"]
    days = (date.fromisoformat(first_due) - issuer.now().date()).days + 179
    issuer.advance_clock(days * DAY)
    assert issuer.check_ledger() == []
    assert balances(issuer, buyer.id)["outstanding"] == 120_00  # 179 days: not yet
    issuer.advance_clock(DAY)
    assert balances(issuer, buyer.id) == {
        "limit": 5000_00 - 120_00,
        "available": 4880_00,
        "held": 0,
        "outstanding": 0,
    }
    view = web.get(f"/_admin/buyers/{buyer.id}/servicing?format=json").get_json()
    written = view["receivables"]["WRITTEN_OFF"]["value"]
    penalty_posted = sum(i["penalty"]["value"] for i in view["orders"][0]["installments"])
    assert penalty_posted > 0
    assert written == 120_00 + 6 * 72 + penalty_posted
    assert view["receivables"]["PENALTY"]["value"] == 0
    assert view["orders"][0]["written_off"] is True
    kinds = [m["type"] for m in buyer_messages(issuer.engine, buyer.id)]
    assert kinds.count("ORDER.WRITTEN_OFF") == 1
    closed = _repay(web, buyer, {"order_id": order_id})
    assert (closed.status_code, closed.get_json()["code"]) == (409, "NOTHING_OWED")
    refund = api.post(
        "/v1/refunds", {"order_id": order_id, "amount": cny(10_00), "out_refund_no": "WO1"}
    )
    assert (refund.status_code, refund.get_json()["code"]) == (409, "INVALID_STATE")
    assert issuer.check_ledger() == []
    issuer.advance_clock(DAY)  # a later sweep writes nothing off twice
    kinds = [m["type"] for m in buyer_messages(issuer.engine, buyer.id)]
    assert kinds.count("ORDER.WRITTEN_OFF") == 1
    assert issuer.check_ledger() == []
