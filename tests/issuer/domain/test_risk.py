"""Risk early warning: each rule fires on its scenario and takes its configured action;
alerts are listed at /_admin/alerts; the periodic limit review raises or cuts lines."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from paylater_sdk.errors import ConfigurationError, CreditDeclinedError
from paylater_sdk.issuer import Issuer, create_app, get_issuer
from paylater_sdk.issuer.domain.scorecard import Profile
from paylater_sdk.issuer.storage.schema import buyers
from paylater_sdk.lifecycle import BuyerStatus, Employment
from paylater_sdk.money import Money
from tests._support.issuer import (
    API_KEY,
    MERCHANT_ID,
    SignedClient,
    balances,
    database_url,
    merchant_config,
    new_checkout,
)


def _make(tmp_path: Any, merchant_key: Any, url: str | None = None, **settings: Any) -> Flask:
    application = create_app(
        {
            "TEST_MODE": True,
            "DATABASE_URL": url or database_url(tmp_path),
            "MERCHANTS": [merchant_config(MERCHANT_ID, merchant_key, API_KEY)],
            "NOTIFY_TRANSPORT": lambda url, headers, body, timeout: 200,
            **settings,
        }
    )
    application.testing = True
    return application


@pytest.fixture
def risky(tmp_path: Any, merchant_key: Any, request: Any) -> Iterator[Flask]:
    application = _make(tmp_path, merchant_key, RISK_RULES=request.param)
    yield application
    get_issuer(application).engine.dispose()


def _api(app: Flask, key: Any) -> SignedClient:
    return SignedClient(app.test_client(), get_issuer(app), MERCHANT_ID, key)


def _applicant(issuer: Issuer, phone: str, income: int = 20000, debt: int = 0) -> str:
    applied = issuer.lending.apply(
        phone=phone,
        monthly_income=Money(Decimal(income), "CNY"),
        monthly_debt_payments=Money(Decimal(debt), "CNY"),
        employment=Employment.SALARIED,
        consent=True,
        profile=Profile(95, 80, 0, 0),
    )
    assert applied.decision.approved
    return applied.buyer.id


def _status(issuer: Issuer, buyer_id: str) -> str:
    with issuer.engine.connect() as conn:
        return str(conn.execute(sa.select(buyers.c.status).where(buyers.c.id == buyer_id)).scalar())


@pytest.mark.parametrize("risky", [{"VELOCITY": {"action": "freeze"}}], indirect=True)
def test_velocity_freezes_after_five_authorizations_in_ten_minutes(
    risky: Flask, merchant_key: Any
) -> None:
    issuer, api = get_issuer(risky), _api(risky, merchant_key)
    buyer_id = _applicant(issuer, "13900000101")
    for n in range(5):
        checkout = new_checkout(api, f"V-{n}", 100_00)
        issuer.orders.authorize(checkout["id"], buyer_id=buyer_id, plan_id="fenfu-12")
    assert _status(issuer, buyer_id) == BuyerStatus.FROZEN
    (alert,) = issuer.lending.alerts(rule="VELOCITY")
    assert alert["subject"] == f"buyer:{buyer_id}"
    assert alert["evidence"] == {"authorizations": 5, "window_seconds": 600}
    assert (alert["action"], alert["severity"]) == ("freeze", "high")
    sixth = new_checkout(api, "V-6", 100_00)
    with pytest.raises(CreditDeclinedError) as declined:
        issuer.orders.authorize(sixth["id"], buyer_id=buyer_id, plan_id="fenfu-12")
    assert declined.value.reason == "ACCOUNT_FROZEN"


@pytest.mark.parametrize("risky", [{}], indirect=True)
def test_four_authorizations_or_five_spread_out_raise_nothing(
    risky: Flask, merchant_key: Any
) -> None:
    issuer, api = get_issuer(risky), _api(risky, merchant_key)
    buyer_id = _applicant(issuer, "13900000102")
    for n in range(5):
        checkout = new_checkout(api, f"S-{n}", 100_00)
        issuer.orders.authorize(checkout["id"], buyer_id=buyer_id, plan_id="fenfu-12")
        issuer.advance_clock(180)  # five in 12 minutes: never five within ten
    assert issuer.lending.alerts(rule="VELOCITY") == []
    assert _status(issuer, buyer_id) == BuyerStatus.ACTIVE


@pytest.mark.parametrize("risky", [{"UTILIZATION_SPIKE": {"action": "cut_limit"}}], indirect=True)
def test_utilization_spike_cuts_the_line_to_what_is_used(risky: Flask, merchant_key: Any) -> None:
    issuer, api = get_issuer(risky), _api(risky, merchant_key)
    buyer_id = _applicant(issuer, "13900000103", income=5000, debt=0)  # line ¥15,000
    assert balances(issuer, buyer_id)["limit"] == 15000_00
    first = new_checkout(api, "U-1", 13000_00)  # 86.7 %: no alert
    issuer.orders.authorize(first["id"], buyer_id=buyer_id, plan_id="fenfu-12")
    assert issuer.lending.alerts(rule="UTILIZATION_SPIKE") == []
    second = new_checkout(api, "U-2", 1000_00)  # 93.3 % within a day of opening
    issuer.orders.authorize(second["id"], buyer_id=buyer_id, plan_id="fenfu-12")
    (alert,) = issuer.lending.alerts(rule="UTILIZATION_SPIKE")
    assert alert["evidence"]["used_ratio"] == "0.9333"
    assert balances(issuer, buyer_id) == {
        "limit": 14000_00,  # cut to what is held, never below it
        "available": 0,
        "held": 14000_00,
        "outstanding": 0,
    }
    assert issuer.check_ledger() == []


@pytest.mark.parametrize("risky", [{"SHARED_DEVICE": {"action": "freeze"}}], indirect=True)
def test_one_device_on_three_buyers_freezes_them(risky: Flask, merchant_key: Any) -> None:
    issuer, api = get_issuer(risky), _api(risky, merchant_key)
    ids = [issuer.create_buyer(limit=Money("500.00", "CNY")) for _ in range(3)]
    for n, buyer in enumerate(ids):
        client = risky.test_client()
        client.set_cookie("paylater_device", "shared-device-0001")
        checkout = new_checkout(api, f"D-{n}", 100_00)
        page = client.get(f"/authorize/{checkout['id']}")
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        signed = client.post(
            f"/authorize/{checkout['id']}",
            data={"csrf_token": token, "step": "signin", "phone": buyer.phone, "code": "123456"},
        )
        assert signed.status_code == 200
    (alert,) = issuer.lending.alerts(rule="SHARED_DEVICE")
    assert sorted(alert["evidence"]["buyers"]) == sorted(b.id for b in ids)
    assert "shared-device-0001" not in str(alert)  # stored hashed
    assert [_status(issuer, b.id) for b in ids] == [BuyerStatus.FROZEN] * 3


@pytest.mark.parametrize(
    "risky", [{"MERCHANT_REFUND_RATE": {"min_captures": 3, "action": "review"}}], indirect=True
)
def test_a_merchant_refunding_over_30_percent_is_flagged(risky: Flask, merchant_key: Any) -> None:
    issuer, api = get_issuer(risky), _api(risky, merchant_key)
    buyer = issuer.create_buyer(limit=Money("10000.00", "CNY"))
    orders = []
    for n in range(3):
        checkout = new_checkout(api, f"R-{n}", 100_00)
        done = issuer.orders.authorize(checkout["id"], buyer_id=buyer.id, plan_id="fenfu-3")
        order_id = done["order"]["id"]
        assert api.post(f"/v1/orders/{order_id}/capture", {}).status_code == 200
        orders.append(order_id)
    refund = {"order_id": orders[0], "amount": {"value": 90_00, "currency": "CNY"}}
    assert api.post("/v1/refunds", {**refund, "out_refund_no": "RF-1"}).status_code == 201
    assert issuer.lending.alerts(rule="MERCHANT_REFUND_RATE") == []  # 30 % is not over 30 %
    refund = {"order_id": orders[1], "amount": {"value": 1_00, "currency": "CNY"}}
    assert api.post("/v1/refunds", {**refund, "out_refund_no": "RF-2"}).status_code == 201
    (alert,) = issuer.lending.alerts(rule="MERCHANT_REFUND_RATE")
    assert alert["subject"] == f"merchant:{MERCHANT_ID}"
    assert alert["evidence"] == {"captures": 3, "refund_rate": "0.3033"}
    listed = risky.test_client().get("/_admin/alerts?format=json&action=review").get_json()
    assert [a["id"] for a in listed["data"]] == [alert["id"]]
    page = risky.test_client().get("/_admin/alerts?rule=MERCHANT_REFUND_RATE")
    assert page.status_code == 200
    assert "merchant:m_shop" in page.text
    assert risky.test_client().get("/_admin/alerts?rule=NOPE").status_code == 400


def test_risk_settings_are_validated(tmp_path: Any, merchant_key: Any) -> None:
    for bad in (
        {"NOPE": {}},
        {"VELOCITY": {"action": "explode"}},
        {"VELOCITY": {"count": 0}},
        {"MERCHANT_REFUND_RATE": {"action": "freeze"}},  # a merchant has no line to freeze
        {"UTILIZATION_SPIKE": {"ratio": 0.9}},  # floats are refused
    ):
        with pytest.raises(ConfigurationError):
            _make(tmp_path, merchant_key, RISK_RULES=bad)


def test_the_periodic_review_cuts_and_raises_never_below_what_is_used(
    tmp_path: Any, merchant_key: Any
) -> None:
    url = database_url(tmp_path)
    ttl = 90 * 24 * 3600  # the hold outlives the review period
    first = _make(tmp_path, merchant_key, url, AUTHORIZATION_TTL=ttl)
    issuer = get_issuer(first)
    buyer_id = _applicant(issuer, "13900000104", income=5000, debt=1800)  # ¥8,400
    idle_id = _applicant(issuer, "13900000105", income=5000, debt=1800)  # ¥8,400, unused
    checkout = new_checkout(_api(first, merchant_key), "RV-1", 6000_00)
    issuer.orders.authorize(checkout["id"], buyer_id=buyer_id, plan_id="fenfu-12")
    issuer.engine.dispose()
    # a stricter policy: the review re-scores the same inputs, 1 x income = ¥5,000; the
    # idle line is cut to that, the other to the ¥6,000 it holds, not below
    strict = _make(tmp_path, merchant_key, url, AUTHORIZATION_TTL=ttl, CREDIT_INCOME_MULTIPLE=1)
    issuer = get_issuer(strict)
    issuer.advance_clock(29 * 24 * 3600)
    assert balances(issuer, buyer_id)["limit"] == 8400_00  # not due yet
    issuer.advance_clock(24 * 3600)
    assert balances(issuer, idle_id)["limit"] == 5000_00
    assert balances(issuer, buyer_id) == {
        "limit": 6000_00,
        "available": 0,
        "held": 6000_00,
        "outstanding": 0,
    }
    (review, _) = issuer.lending.decisions(buyer_id)
    assert review["kind"] == "REVIEW"
    assert review["note"] == "cut from 8400.00 CNY to 6000.00 CNY (re-scored)"
    issuer.engine.dispose()
    # back to the default policy: the next review raises the lines to ¥8,400 again
    loose = _make(tmp_path, merchant_key, url, AUTHORIZATION_TTL=ttl)
    issuer = get_issuer(loose)
    issuer.advance_clock(30 * 24 * 3600)
    assert balances(issuer, buyer_id)["limit"] == 8400_00
    assert balances(issuer, idle_id)["limit"] == 8400_00
    assert issuer.lending.latest_review(buyer_id) == (
        "raised from 6000.00 CNY to 8400.00 CNY (re-scored)"
    )
    client = loose.test_client()  # the buyer sees the review on /account
    page = client.get("/account")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    signin = {"csrf_token": token, "step": "signin", "phone": "13900000104", "code": "123456"}
    assert client.post("/account", data=signin).status_code == 303
    home = client.get("/account").text
    assert "Limit review: raised from 6000.00 CNY to 8400.00 CNY (re-scored)" in home
    assert issuer.check_ledger() == []
    issuer.engine.dispose()


def _captured(issuer: Issuer, api: SignedClient, buyer_id: str, trade_no: str) -> dict[str, Any]:
    checkout = new_checkout(api, trade_no, 300_00)
    done = issuer.orders.authorize(checkout["id"], buyer_id=buyer_id, plan_id="fenfu-3")
    captured = api.post(f"/v1/orders/{done['order']['id']}/capture", {})
    assert captured.status_code == 200
    order: dict[str, Any] = captured.get_json()
    return order


@pytest.mark.parametrize("risky", [{"FIRST_PAYMENT_DEFAULT": {"action": "freeze"}}], indirect=True)
def test_a_missed_first_installment_freezes_the_buyer_once_grace_is_over(
    risky: Flask, merchant_key: Any
) -> None:
    from datetime import UTC, datetime, time

    issuer, api = get_issuer(risky), _api(risky, merchant_key)
    missed = issuer.create_buyer(limit=Money("10000.00", "CNY"))
    payer = issuer.create_buyer(limit=Money("10000.00", "CNY"))
    late = _captured(issuer, api, missed.id, "FPD-1")
    paid = _captured(issuer, api, payer.id, "FPD-2")
    due = datetime.fromisoformat(late["schedule"]["installments"][0]["due_date"]).date()
    noon = datetime.combine(due, time(12), UTC)
    issuer.advance_clock(int((noon - issuer.now()).total_seconds()))
    repaid = risky.test_client().post(
        f"/_test/buyers/{payer.id}/repay", json={"order_id": paid["id"], "mode": "DUE"}
    )
    assert repaid.status_code == 200, repaid.get_json()
    issuer.advance_clock(3 * 86400)  # the last day of grace: not missed yet
    assert issuer.lending.alerts(rule="FIRST_PAYMENT_DEFAULT") == []
    assert _status(issuer, missed.id) == BuyerStatus.ACTIVE
    issuer.advance_clock(86400)  # grace is over
    (alert,) = issuer.lending.alerts(rule="FIRST_PAYMENT_DEFAULT")
    assert alert["subject"] == f"order:{late['id']}"
    assert alert["evidence"] == {"buyer_id": missed.id, "installment": 1, "days_past_due": 4}
    assert (alert["action"], alert["severity"]) == ("freeze", "high")
    assert _status(issuer, missed.id) == BuyerStatus.FROZEN
    assert _status(issuer, payer.id) == BuyerStatus.ACTIVE
    issuer.advance_clock(86400)  # once per order, not once a day
    assert len(issuer.lending.alerts(rule="FIRST_PAYMENT_DEFAULT")) == 1


@pytest.mark.parametrize("risky", [{}], indirect=True)
def test_by_default_a_missed_first_installment_is_flagged_for_review(
    risky: Flask, merchant_key: Any
) -> None:
    """The default action is review: the buyer's overdue freeze lifts when they repay, a
    risk freeze would not, so an operator decides (``/_admin/alerts?action=review``)."""
    from datetime import UTC, datetime, time

    issuer, api = get_issuer(risky), _api(risky, merchant_key)
    missed = issuer.create_buyer(limit=Money("10000.00", "CNY"))
    late = _captured(issuer, api, missed.id, "FPD-R")
    due = datetime.fromisoformat(late["schedule"]["installments"][0]["due_date"]).date()
    issuer.advance_clock(int((datetime.combine(due, time(12), UTC) - issuer.now()).total_seconds()))
    issuer.advance_clock(4 * 86400)
    (alert,) = issuer.lending.alerts(rule="FIRST_PAYMENT_DEFAULT")
    assert (alert["action"], alert["subject"]) == ("review", f"order:{late['id']}")
    assert _status(issuer, missed.id) == BuyerStatus.ACTIVE  # only the overdue freeze
    listed = risky.test_client().get("/_admin/alerts?format=json&action=review").get_json()
    assert [a["id"] for a in listed["data"]] == [alert["id"]]
