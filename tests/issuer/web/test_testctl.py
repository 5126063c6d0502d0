"""Test controls: buyers, the test clock, repayments, injected faults, reset."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from paylater_sdk.errors import CreditDeclinedError
from paylater_sdk.issuer import Issuer, TestBuyer, create_app, get_issuer
from paylater_sdk.issuer.storage.schema import buyers, checkouts, merchants
from paylater_sdk.money import Money
from tests._support.issuer import SignedClient, authorized, balances, checkout_body, cny


@pytest.fixture
def web(app: Flask) -> FlaskClient:
    return app.test_client()


def test_create_buyer(web: FlaskClient, issuer: Issuer) -> None:
    response = web.post(
        "/_test/buyers",
        json={"limit": cny(3000_00), "phone": "13800001111", "single_purchase_max": cny(500_00)},
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["id"].startswith("byr_")
    assert body["buyer_token"].startswith("bt_")
    assert body["phone"] == "13800001111"
    assert body["test_code"] == "123456"
    assert balances(issuer, body["id"]) == {
        "limit": 3000_00,
        "available": 3000_00,
        "held": 0,
        "outstanding": 0,
    }
    found = issuer.buyer_by_phone("13800001111")
    assert found is not None
    assert found.id == body["id"]
    assert response.headers["Request-Id"].startswith("req_")
    duplicate = web.post("/_test/buyers", json={"limit": cny(1), "phone": "13800001111"})
    assert duplicate.status_code == 409
    assert duplicate.get_json()["code"] == "DUPLICATE_PHONE"


def test_a_zero_limit_buyer_is_allowed(web: FlaskClient) -> None:
    assert web.post("/_test/buyers", json={"limit": cny(0)}).status_code == 201


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "MISSING_FIELD"),
        ({"limit": {"value": 1.5, "currency": "CNY"}}, "INVALID_AMOUNT"),
        ({"limit": {"value": -1, "currency": "CNY"}}, "INVALID_AMOUNT"),
        ({"limit": cny(1), "phone": "12345"}, "INVALID_FIELD"),
        ({"limit": cny(1), "status": "SLEEPING"}, "INVALID_FIELD"),
        ({"limit": cny(1), "overdue": "yes"}, "INVALID_FIELD"),
        ({"limit": cny(1), "colour": "red"}, "UNKNOWN_FIELD"),
        (
            {"limit": cny(1), "single_purchase_max": {"value": 1, "currency": "USD"}},
            "CURRENCY_MISMATCH",
        ),
    ],
)
def test_create_buyer_bad_input(
    web: FlaskClient, issuer: Issuer, body: dict[str, Any], code: str
) -> None:
    with issuer.engine.connect() as conn:
        before = conn.execute(sa.select(sa.func.count()).select_from(buyers)).scalar_one()
    response = web.post("/_test/buyers", json=body)
    assert response.status_code == 400
    assert response.get_json()["code"] == code
    with issuer.engine.connect() as conn:
        after = conn.execute(sa.select(sa.func.count()).select_from(buyers)).scalar_one()
    assert after == before


def test_advance_the_clock(web: FlaskClient, issuer: Issuer) -> None:
    before = issuer.now()
    response = web.post("/_test/clock/advance", json={"seconds": 86_400})
    assert response.status_code == 200
    moved = issuer.now()
    assert 86_400 <= (moved - before).total_seconds() < 86_460
    assert response.get_json()["now"][:10] == moved.date().isoformat()
    for bad in ({"seconds": -1}, {"seconds": 1.5}, {"seconds": "60"}, {}):
        assert web.post("/_test/clock/advance", json=bad).status_code == 400
    decade = {"seconds": 315_360_000}
    statuses = [web.post("/_test/clock/advance", json=decade).status_code for _ in range(11)]
    assert statuses == [200] * 10 + [400]  # at most 100 years ahead


def test_the_clock_offset_survives_a_restart(issuer: Issuer, app: Flask) -> None:
    issuer.advance_clock(3600)
    again = Issuer(issuer.config, issuer.engine)
    assert again.clock.offset == 3600


def test_repay_endpoint(
    web: FlaskClient, api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    order_id = authorized(api, issuer, buyer)["order"]["id"]
    api.post(f"/v1/orders/{order_id}/capture", {})
    response = web.post(f"/_test/buyers/{buyer.id}/repay", json={"order_id": order_id})
    assert response.status_code == 200
    body = response.get_json()
    assert body["repayment_id"].startswith("rp_")
    assert body["allocated"] == [
        {"order_id": order_id, "installment": 1, "part": "FEE", "amount": cny(72)},
        {"order_id": order_id, "installment": 1, "part": "PRINCIPAL", "amount": cny(20_00)},
    ]
    assert body["owed"] == cny(0)
    assert body["delinquency"] == {
        "days_past_due": 0,
        "bucket": "CURRENT",
        "past_due": cny(0),
        "frozen": False,
        "write_off": [],
    }
    assert balances(issuer, buyer.id)["outstanding"] == 100_00
    other = issuer.create_buyer(limit=Money("1", "CNY"))
    wrong = web.post(f"/_test/buyers/{other.id}/repay", json={"order_id": order_id})
    assert wrong.status_code == 404
    assert wrong.get_json()["code"] == "UNKNOWN_ORDER"
    assert web.post("/_test/buyers/byr_nope/repay", json={"order_id": "ord_x"}).status_code == 404
    assert balances(issuer, buyer.id)["outstanding"] == 100_00


def test_repay_before_capture_is_a_conflict(
    web: FlaskClient, api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    order_id = authorized(api, issuer, buyer)["order"]["id"]
    response = web.post(f"/_test/buyers/{buyer.id}/repay", json={"order_id": order_id})
    assert response.status_code == 409


def test_error_500_fault_hits_only_matching_requests_then_stops(
    web: FlaskClient, api: SignedClient
) -> None:
    armed = web.post(
        "/_test/faults",
        json={"kind": "error_500", "method": "post", "path_prefix": "/v1/checkouts", "count": 2},
    )
    assert armed.status_code == 201
    assert armed.get_json()["method"] == "POST"
    assert api.get("/v1/certificates").status_code == 200  # GET: does not match
    for _ in range(2):
        failed = api.post("/v1/checkouts", checkout_body())
        assert failed.status_code == 500  # and signed: the SignedClient verified it
        assert failed.get_json()["code"] == "INTERNAL_ERROR"
    assert api.post("/v1/checkouts", checkout_body()).status_code == 201


def test_timeout_fault_processes_the_request_but_delays_the_answer(
    web: FlaskClient, api: SignedClient, issuer: Issuer
) -> None:
    web.post("/_test/faults", json={"kind": "timeout", "path_prefix": "/v1/checkouts"})
    assert issuer.take_fault({"error_500"}, "POST", "/v1/checkouts") is None
    assert api.post("/v1/checkouts", checkout_body()).status_code == 201
    with issuer.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(checkouts)).scalar_one() == 1
    assert issuer.take_fault({"timeout"}, "POST", "/v1/checkouts") is None  # consumed


def test_notification_faults_are_consumed_by_the_outbox(issuer: Issuer, web: FlaskClient) -> None:
    web.post("/_test/faults", json={"kind": "drop_notification", "path_prefix": "/notify"})
    assert issuer.take_fault({"error_500"}, "POST", "/notify") is None
    assert issuer.take_fault({"drop_notification"}, "POST", "/elsewhere") is None
    assert issuer.take_fault({"drop_notification"}, "POST", "/notify") == "drop_notification"
    assert issuer.take_fault({"drop_notification"}, "POST", "/notify") is None


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "explode"},
        {"kind": "error_500", "count": 0},
        {"kind": "error_500", "count": 1001},
        {"kind": "error_500", "method": "BREW"},
        {},
    ],
)
def test_bad_fault_requests(web: FlaskClient, issuer: Issuer, body: dict[str, Any]) -> None:
    assert web.post("/_test/faults", json=body).status_code == 400
    assert issuer.take_fault({"error_500"}, "GET", "/v1/certificates") is None


def test_reset_forgets_everything_but_merchants_and_keys(
    web: FlaskClient, api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    authorized(api, issuer, buyer)
    issuer.advance_clock(600)
    issuer.inject_fault("error_500", path_prefix="/nowhere")
    serial_before = issuer.response_signer().serial
    response = web.post("/_test/reset", json={})
    assert response.status_code == 200
    assert issuer.clock.offset == 0
    with issuer.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(checkouts)).scalar_one() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(merchants)).scalar_one() == 2
        tokens = set(conn.execute(sa.select(buyers.c.buyer_token)).scalars())
    assert tokens == {
        "bt_decline_insufficient_limit",
        "bt_decline_frozen",
        "bt_decline_overdue",
        "bt_decline_over_single_purchase_limit",
    }
    assert issuer.take_fault({"error_500"}, "GET", "/nowhere") is None
    assert issuer.response_signer().serial == serial_before
    assert api.post("/v1/checkouts", checkout_body()).status_code == 201  # A1001 is free again
    assert issuer.check_ledger() == []


def test_magic_buyers_decline_on_the_consent_path_too(api: SignedClient, issuer: Issuer) -> None:
    checkout = api.post("/v1/checkouts", checkout_body()).get_json()
    for phone, reason in (
        ("19900000001", "INSUFFICIENT_LIMIT"),
        ("19900000002", "ACCOUNT_FROZEN"),
        ("19900000003", "OVERDUE"),
        ("19900000004", "OVER_SINGLE_PURCHASE_LIMIT"),
    ):
        magic = issuer.buyer_by_phone(phone)
        assert magic is not None
        with pytest.raises(CreditDeclinedError) as exc:
            issuer.orders.authorize(checkout["id"], buyer_id=magic.id, plan_id="fenfu-3")
        assert exc.value.reason == reason


def test_test_controls_only_exist_in_test_mode(tmp_path: Any) -> None:
    app = create_app({"SECRET_KEY": "k" * 32, "DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}"})
    client = app.test_client()
    for path in ("/_test/buyers", "/_test/reset", "/_test/clock/advance", "/_test/faults"):
        response = client.post(path, json={})
        assert response.status_code == 404
        assert response.get_json()["code"] == "NOT_FOUND"
    assert issuer_buyers(app) == 0


def issuer_buyers(app: Flask) -> int:
    with get_issuer(app).engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(buyers)).scalar_one())
