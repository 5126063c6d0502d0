"""Servicing settings per product: ``SERVICING`` validated at start-up, and used everywhere.

The settings are checked once, with a message naming the product and the setting; a
product's ``due_day`` reaches both the checkout's quote and the schedule booked at capture
(the APR shown is the APR of the loan); each of a buyer's orders is held to its own
product's grace; every delinquency bucket move is a buyer message, never a merchant's event.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from paylater_sdk.errors import ConfigurationError
from paylater_sdk.installments import (
    STANDARD_OFFERS,
    Method,
    PlanOffer,
    PlanTerms,
    ServicingPolicy,
)
from paylater_sdk.issuer import Issuer, TestBuyer, create_app, get_issuer
from paylater_sdk.issuer.config import load_config
from paylater_sdk.issuer.domain.messages import buyer_messages
from paylater_sdk.issuer.storage.schema import notifications
from paylater_sdk.money import Money
from tests._support.issuer import (
    API_KEY,
    MERCHANT_ID,
    SignedClient,
    authorized,
    database_url,
    merchant_config,
)
from tests.issuer.web.test_servicing_pages import _sign_in

DAY = 24 * 3600
PAY4 = PlanOffer(
    "pay-4", "4期 pay in 4", PlanTerms(4, Method.PAY_IN_4), Money("10", "CNY"), Money("5000", "CNY")
)


def _config(servicing: object, offers: object = None) -> Any:
    return load_config({"TEST_MODE": True, "SERVICING": servicing, "PLAN_OFFERS": offers})


@pytest.mark.parametrize(
    ("servicing", "offers", "message"),
    [
        ([], None, "SERVICING must be a mapping of plan id to servicing settings"),
        ({"nope": {}}, None, "SERVICING['nope']: no offered plan has this id (offered: fenfu-12"),
        ({"fenfu-6": "ALL"}, None, "SERVICING['fenfu-6']: the settings must be a mapping"),
        ({"fenfu-6": {"colour": "red"}}, None, "SERVICING['fenfu-6'].colour: unknown setting"),
        ({"fenfu-6": {"payoff_fees": "SOME"}}, None, "SERVICING['fenfu-6'].payoff_fees: unknown"),
        ({"fenfu-6": {"grace_days": -1}}, None, "SERVICING['fenfu-6'].grace_days: grace_days"),
        ({"fenfu-6": {"write_off_days": 0}}, None, "SERVICING['fenfu-6'].write_off_days:"),
        ({"fenfu-6": {"due_day": 32}}, None, "SERVICING['fenfu-6'].due_day: due_day must be"),
        ({"fenfu-6": {"annual_cost_cap": 0.24}}, None, "SERVICING['fenfu-6'].annual_cost_cap:"),
        (
            {"fenfu-6": {"cap_table": [{"from": "2026-13-01", "rate": "0.124"}]}},
            None,
            "SERVICING['fenfu-6'].cap_table: cap_table 'from' must be a date",
        ),
        (
            {"fenfu-6": {"cap_table": [{"from": "2026-01-01", "rate": 0.124}]}},
            None,
            "SERVICING['fenfu-6'].cap_table:",
        ),
        ({"fenfu-6": {"late_fee": "-1"}}, None, "SERVICING['fenfu-6'].late_fee: late_fee must"),
        ({"fenfu-6": {"late_fee": "five"}}, None, "SERVICING['fenfu-6'].late_fee: late_fee must"),
        (
            {"fenfu-6": {"late_fee": {"value": 500, "currency": "USD"}}},
            None,
            "SERVICING['fenfu-6'].late_fee: the late fee must be in CNY",
        ),
        (
            {"fenfu-6": {"allocation_order": ["PENALTY"]}},
            None,
            "SERVICING['fenfu-6'].allocation_order: allocation_order must list",
        ),
        (
            {"pay-4": {"due_day": 10}},
            [PAY4],
            "SERVICING['pay-4'].due_day: due_day only applies to MONTHLY plans",
        ),
        ({}, ["fenfu-6"], "PLAN_OFFERS must be a list of installments.PlanOffer"),
    ],
)
def test_bad_settings_fail_at_start_up_naming_the_product_and_setting(
    servicing: object, offers: object, message: str
) -> None:
    with pytest.raises(ConfigurationError) as exc:
        _config(servicing, offers)
    assert str(exc.value).startswith(message), str(exc.value)


def test_settings_are_parsed_and_a_due_day_dates_the_products_offer() -> None:
    config = _config(
        {
            "fenfu-6": {
                "due_day": 10,
                "payoff_fees": "ALL",
                "late_fee": "5.00",
                "grace_days": 5,
                "cap_table": [{"from": "2026-01-01", "rate": "0.124"}],
            },
            "fenfu-3": ServicingPolicy(payoff_fees="DUE_ONLY"),
            "fenfu-12": {"late_fee": {"value": 2_00, "currency": "CNY"}},
        }
    )
    six = config.servicing["fenfu-6"]
    assert (six.due_day, six.payoff_fees.value, six.late_fee, six.grace_days) == (
        10,
        "ALL",
        Money("5.00", "CNY"),
        5,
    )
    assert six.cap_table == ((date(2026, 1, 1), Decimal("0.124")),)
    assert six.cap_on(date(2025, 12, 31)) == Decimal("0.24")
    assert six.cap_on(date(2026, 1, 1)) == Decimal("0.124")
    assert config.servicing["fenfu-3"].payoff_fees.value == "DUE_ONLY"
    assert config.servicing["fenfu-12"].late_fee == Money("2.00", "CNY")
    assert "free-3" not in config.servicing  # not named: the documented defaults
    by_id = {o.plan_id: o for o in config.plan_offers}
    assert by_id["fenfu-6"].terms.due_day == 10
    assert by_id["fenfu-6"].terms == PlanTerms(
        6, Method.FLAT_FEE, fee_rate_per_period="0.006", due_day=10
    )
    standard = {o.plan_id: o for o in STANDARD_OFFERS}
    assert by_id["fenfu-3"] == standard["fenfu-3"]  # no due_day: the same offer
    assert [o.plan_id for o in config.plan_offers] == [o.plan_id for o in STANDARD_OFFERS]


@pytest.fixture
def one_day_app(tmp_path: Any, merchant_key: Any) -> Any:
    """fenfu-6 repaid on the 10th with no grace, paid off with all its fees; fenfu-3 on the
    10th with 10 days of grace."""
    app: Flask = create_app(
        {
            "TEST_MODE": True,
            "DATABASE_URL": database_url(tmp_path),
            "MERCHANTS": [merchant_config(MERCHANT_ID, merchant_key, API_KEY)],
            "NOTIFY_TRANSPORT": lambda url, headers, body, timeout: 200,
            "SERVICING": {
                "fenfu-6": {"due_day": 10, "grace_days": 0, "payoff_fees": "ALL"},
                "fenfu-3": {"due_day": 10, "grace_days": 10},
            },
        }
    )
    app.testing = True
    yield app
    get_issuer(app).engine.dispose()


def _goto(issuer: Issuer, web: Any, day: date) -> None:
    now = issuer.now()
    target = now.replace(year=day.year, month=day.month, day=day.day, hour=12)
    seconds = int((target - now).total_seconds())
    assert seconds >= 0
    assert web.post("/_test/clock/advance", json={"seconds": seconds}).status_code == 200


def test_the_quote_at_checkout_is_the_schedule_booked_at_capture(
    one_day_app: Flask, merchant_key: Any
) -> None:
    issuer = get_issuer(one_day_app)
    web = one_day_app.test_client()
    api = SignedClient(one_day_app.test_client(), issuer, MERCHANT_ID, merchant_key)
    buyer = issuer.create_buyer(limit=Money("5000.00", "CNY"))
    _goto(issuer, web, date(2030, 1, 20))
    created = api.post(
        "/v1/checkouts",
        {
            "out_trade_no": "DUE-1",
            "amount": {"value": 600_00, "currency": "CNY"},
            "description": "耳机",
            "notify_url": "https://shop.example/notify",
            "return_url": "https://shop.example/return",
        },
    )
    assert created.status_code == 201, created.get_json()
    quote = next(p for p in created.get_json()["plans"] if p["plan_id"] == "fenfu-6")
    order = issuer.orders.authorize(created.get_json()["id"], buyer_id=buyer.id, plan_id="fenfu-6")
    captured = api.post(f"/v1/orders/{order['order']['id']}/capture", {})
    assert captured.status_code == 200, captured.get_json()
    schedule = captured.get_json()["schedule"]
    dues = [i["due_date"] for i in schedule["installments"]]
    assert dues == [f"2030-{m:02d}-10" for m in range(2, 8)]  # the 10th, from 20 January
    assert schedule["terms"]["due_day"] == 10
    # a 21-day first period: 13.40 %, not the 12.24 % of a plan dated on the 20th
    assert (quote["apr"], schedule["apr"]) == ("0.1340", "0.1340")
    assert quote["effective_annual_rate"] == schedule["effective_annual_rate"] == "0.1425"
    assert quote["first_payment"] == schedule["installments"][0]["amount"]
    assert quote["total_amount"] == schedule["total_amount"]


def _bought(issuer: Issuer, web: Any, api: SignedClient, buyer: TestBuyer) -> dict[str, str]:
    _goto(issuer, web, date(2030, 1, 20))
    ids = {}
    for no, plan in (("G-6", "fenfu-6"), ("G-3", "fenfu-3")):
        order_id = authorized(api, issuer, buyer, no, 300_00, plan)["order"]["id"]
        assert api.post(f"/v1/orders/{order_id}/capture", {}).status_code == 200
        ids[plan] = order_id
    return ids


def test_each_order_keeps_its_own_products_grace(one_day_app: Flask, merchant_key: Any) -> None:
    issuer = get_issuer(one_day_app)
    web = one_day_app.test_client()
    api = SignedClient(one_day_app.test_client(), issuer, MERCHANT_ID, merchant_key)
    buyer = issuer.create_buyer(limit=Money("5000.00", "CNY"))
    ids = _bought(issuer, web, api, buyer)
    _goto(issuer, web, date(2030, 2, 11))  # both missed the 10th, one day late
    view = web.get(f"/_admin/buyers/{buyer.id}?format=json").get_json()["servicing"]
    orders = {o["plan_id"]: o for o in view["orders"]}
    assert orders["fenfu-6"]["servicing"]["grace_days"] == 0
    assert orders["fenfu-3"]["servicing"]["grace_days"] == 10
    # fenfu-6 has no grace: a day of penalty already, and the buyer is frozen
    assert orders["fenfu-6"]["installments"][0]["penalty"]["value"] > 0
    assert orders["fenfu-3"]["installments"][0]["penalty"]["value"] == 0
    assert (view["frozen"], view["delinquency"]["frozen"]) == (True, True)
    # paying fenfu-6's past due cures the freeze: fenfu-3 is late but within its grace
    paid = web.post(f"/_test/buyers/{buyer.id}/repay", json={"order_id": ids["fenfu-6"]})
    assert paid.status_code == 200, paid.get_json()
    assert paid.get_json()["delinquency"]["frozen"] is False
    assert paid.get_json()["delinquency"]["bucket"] == "M1"  # fenfu-3: 1 day past due
    assert issuer.check_ledger() == []


def test_bucket_moves_are_buyer_messages_and_never_a_merchants_event(
    one_day_app: Flask, merchant_key: Any
) -> None:
    issuer = get_issuer(one_day_app)
    web = one_day_app.test_client()
    api = SignedClient(one_day_app.test_client(), issuer, MERCHANT_ID, merchant_key)
    buyer = issuer.create_buyer(limit=Money("5000.00", "CNY"))
    _bought(issuer, web, api, buyer)
    with issuer.engine.connect() as conn:
        sent_before = conn.execute(sa.select(notifications.c.event_type)).scalars().all()
    for day in (date(2030, 2, 11), date(2030, 2, 20), date(2030, 3, 13), date(2030, 5, 12)):
        _goto(issuer, web, day)
        issuer.sweep()  # a second sweep of the same day records nothing twice
    moves = [
        (m["date"], m["data"]["from"], m["data"]["to"], m["data"]["days_past_due"])
        for m in buyer_messages(issuer.engine, buyer.id)
        if m["type"] == "ACCOUNT.BUCKET_CHANGED"
    ]
    # one move per change, dated the day it was seen: a clock jump of two months is one
    assert moves == [
        ("2030-02-11", "CURRENT", "M1", 1),
        ("2030-03-13", "M1", "M2", 31),
        ("2030-05-12", "M2", "M3_PLUS", 91),
    ]
    admin = web.get(f"/_admin/buyers/{buyer.id}?format=json").get_json()["servicing"]
    assert [m["type"] for m in admin["messages"]].count("ACCOUNT.BUCKET_CHANGED") == 3
    assert admin["delinquency"]["bucket"] == "M3_PLUS"
    with issuer.engine.connect() as conn:
        sent = conn.execute(sa.select(notifications.c.event_type)).scalars().all()
    assert sent == sent_before  # merchants are not told
    # the cure: everything past due paid, one move back to CURRENT
    paid = web.post(f"/_test/buyers/{buyer.id}/repay", json={})
    assert paid.status_code == 200, paid.get_json()
    assert paid.get_json()["delinquency"]["bucket"] == "CURRENT"
    last = buyer_messages(issuer.engine, buyer.id)[-1]
    assert (last["type"], last["data"]["from"], last["data"]["to"]) == (
        "ACCOUNT.BUCKET_CHANGED",
        "M3_PLUS",
        "CURRENT",
    )
    assert issuer.check_ledger() == []


def test_the_buyer_pages_show_the_products_rule_and_the_bucket_moves(
    one_day_app: Flask, merchant_key: Any
) -> None:
    issuer = get_issuer(one_day_app)
    web = one_day_app.test_client()
    api = SignedClient(one_day_app.test_client(), issuer, MERCHANT_ID, merchant_key)
    buyer = issuer.create_buyer(limit=Money("5000.00", "CNY"))
    ids = _bought(issuer, web, api, buyer)
    _goto(issuer, web, date(2030, 2, 11))
    browser = one_day_app.test_client()
    bill = _sign_in(browser, buyer, "2030-02")
    assert 'data-type="ACCOUNT.BUCKET_CHANGED"' in bill
    assert "delinquency moved from CURRENT to M1 (days past due: 1)" in bill
    six = browser.get(f"/account/orders/{ids['fenfu-6']}").get_data(as_text=True)
    assert 'data-rule="ALL">提前还清收取剩余各期全部手续费' in six
    assert 'id="payoff-waived">¥0.00' in six  # ALL: no fee is waived
    three = browser.get(f"/account/orders/{ids['fenfu-3']}").get_data(as_text=True)
    assert 'data-rule="CURRENT_PERIOD"' in three


def test_a_subsidised_wechat_plan_keeps_its_products_repayment_day() -> None:
    from paylater_sdk.issuer.domain.wechat import v3_offers

    config = _config({"fenfu-3": {"due_day": 10}})
    offers = {o.plan_id: o for o in v3_offers(config.plan_offers, {3: 100})}
    assert offers["wx-free-3"].terms.method is Method.INTEREST_FREE
    assert offers["wx-free-3"].terms.due_day == 10
    assert offers["fenfu-6"].terms.due_day is None
