"""The buyer's servicing pages over the Flask test client: sign-in, CSRF, bills, repay."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from paylater_sdk.issuer import Issuer, TestBuyer
from paylater_sdk.money import Money
from tests._support.issuer import SignedClient, authorized, balances

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def browser(app: Flask) -> FlaskClient:
    return app.test_client()


def _captured(api: SignedClient, issuer: Issuer, buyer: TestBuyer) -> str:
    order_id: str = authorized(api, issuer, buyer)["order"]["id"]
    assert api.post(f"/v1/orders/{order_id}/capture", {}).status_code == 200
    return order_id


def _csrf(html: str) -> str:
    match = _CSRF.search(html)
    assert match is not None
    return match.group(1)


def _sign_in(browser: FlaskClient, buyer: TestBuyer, month: str) -> str:
    page = browser.get(f"/account/bills/{month}")
    assert page.status_code == 303
    form = browser.get(page.headers["Location"])
    assert form.status_code == 200
    token = _csrf(form.get_data(as_text=True))
    done = browser.post(
        "/account/servicing/signin",
        data={
            "csrf_token": token,
            "phone": buyer.phone,
            "code": buyer.test_code,
            "next": f"/account/bills/{month}",
        },
    )
    assert done.status_code == 303
    assert done.headers["Location"].endswith(f"/account/bills/{month}")
    bill = browser.get(f"/account/bills/{month}")
    assert bill.status_code == 200
    return bill.get_data(as_text=True)


def test_a_buyer_pays_a_bill_and_gets_a_receipt(
    browser: FlaskClient, api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    order_id = _captured(api, issuer, buyer)
    month = issuer.now().date().isoformat()[:7]
    html = _sign_in(browser, buyer, month)
    assert "¥20.72" in html  # due now: installment 1 (20.00 + the 0.72 fee)
    page = browser.get(f"/account/orders/{order_id}")
    assert page.status_code == 200
    assert "Content-Security-Policy" in page.headers
    assert "script-src" not in page.headers["Content-Security-Policy"]
    body = page.get_data(as_text=True)
    assert 'id="payoff-total">¥120.00' in body  # on the purchase day: the principal only
    assert 'data-rule="CURRENT_PERIOD">提前还清收取当期手续费' in body  # the rule, disclosed
    assert 'id="payoff-waived">¥4.32' in body  # no period has begun: all six 0.72 fees
    token = _csrf(html)
    forged = browser.post("/account/repay", data={"action": "bill", "csrf_token": "x" * 40})
    assert forged.status_code == 403
    assert balances(issuer, buyer.id)["outstanding"] == 120_00
    paid = browser.post("/account/repay", data={"action": "bill", "csrf_token": token})
    assert paid.status_code == 303
    receipt = browser.get(paid.headers["Location"])
    assert receipt.status_code == 200
    assert 'id="receipt-amount">¥20.72' in receipt.get_data(as_text=True)
    assert balances(issuer, buyer.id)["outstanding"] == 100_00
    excess = browser.post(
        "/account/repay",
        data={"action": "amount", "order_id": order_id, "amount": "1.00", "csrf_token": token},
    )
    assert excess.status_code == 409  # nothing is due now: paying ahead is "prepay"
    bad = browser.post(
        "/account/repay",
        data={"action": "prepay", "order_id": order_id, "amount": "-1", "csrf_token": token},
    )
    assert bad.status_code == 400
    assert balances(issuer, buyer.id)["outstanding"] == 100_00
    prepaid = browser.post(
        "/account/repay",
        data={"action": "prepay", "order_id": order_id, "amount": "30.00", "csrf_token": token},
    )
    assert prepaid.status_code == 303
    assert balances(issuer, buyer.id)["outstanding"] == 70_00
    assert issuer.check_ledger() == []


def test_another_buyers_order_and_receipt_are_not_shown(
    browser: FlaskClient, api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    order_id = _captured(api, issuer, buyer)
    other = issuer.create_buyer(limit=Money("100.00", "CNY"))
    _sign_in(browser, other, issuer.now().date().isoformat()[:7])
    assert browser.get(f"/account/orders/{order_id}").status_code == 404
    assert browser.get("/account/receipts/rp_nope").status_code == 404
    assert browser.get("/account/bills/2026-13").status_code == 404


def test_one_sign_in_serves_the_credit_and_the_servicing_pages(
    app: Flask, api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    """/account and /account/bills share one session: signing in on either is enough,
    and signing in on one never signs the buyer out of the other."""
    month = issuer.now().date().isoformat()[:7]
    servicing_first = app.test_client()
    _sign_in(servicing_first, buyer, month)
    home = servicing_first.get("/account")
    assert home.status_code == 200
    assert 'name="code"' not in home.get_data(as_text=True)  # no second sign-in form

    credit_first = app.test_client()
    form = credit_first.get("/account/apply")
    signed = credit_first.post(
        "/account/apply",
        data={
            "csrf_token": _csrf(form.get_data(as_text=True)),
            "step": "signin",
            "phone": buyer.phone,
            "code": buyer.test_code,
        },
    )
    assert signed.status_code in (200, 303)
    bill = credit_first.get(f"/account/bills/{month}")
    assert bill.status_code == 200
    assert credit_first.get("/account").status_code == 200
