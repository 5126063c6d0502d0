"""The buyer pages: /account/apply (sign in, declare, consent, a decision at once) and
/account; CSRF, CSP, bad input refused in words with nothing changed, phones masked."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from paylater_sdk.issuer import Issuer
from paylater_sdk.issuer.config import CreditPolicy
from paylater_sdk.issuer.domain.scorecard import Application, ScorecardModel, derived_profile
from paylater_sdk.lifecycle import Employment
from paylater_sdk.money import Money
from tests._support.issuer import new_checkout


def approved_phone(income: int = 8000, debt: int = 1500, prefix: str = "1395555") -> str:
    """A phone whose derived profile is approved for these figures (profiles are
    deterministic, so this is always the same phone)."""
    model = ScorecardModel(CreditPolicy())
    for n in range(10_000):
        phone = f"{prefix}{n:04d}"
        application = Application(
            Money.from_minor(income * 100, "CNY"),
            Money.from_minor(debt * 100, "CNY"),
            Employment.SALARIED,
            True,
            derived_profile(phone),
        )
        if model.decide(application).approved:
            return phone
    raise AssertionError("no approved phone")


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def sign_in(client: FlaskClient, phone: str, code: str = "123456") -> Any:
    page = client.get("/account/apply")
    return client.post(
        "/account/apply",
        data={"csrf_token": _csrf(page.text), "step": "signin", "phone": phone, "code": code},
    )


def submit(client: FlaskClient, page: Any, **form: str) -> Any:
    data = {
        "csrf_token": _csrf(page.text),
        "step": "apply",
        "monthly_income": "8000",
        "monthly_debt_payments": "1500",
        "employment": "SALARIED",
        "consent": "yes",
    }
    data.update(form)
    return client.post("/account/apply", data={k: v for k, v in data.items() if v != "-"})


def test_open_a_line_in_one_minute(app: Flask, issuer: Issuer) -> None:
    phone = approved_phone()
    client = app.test_client()
    first = client.get("/account/apply")
    assert first.status_code == 200
    assert "default-src 'none'" in first.headers["Content-Security-Policy"]
    assert 'name="viewport"' in first.text
    form = sign_in(client, phone)
    assert form.status_code == 200
    assert 'id="apply"' in form.text
    assert phone[:3] + "****" + phone[-4:] in form.text
    assert phone not in form.text
    for use in ("收入", "征信", "决策记录", "设备标识"):  # each data use named at the box
        assert use in form.text.split('id="consent"')[1]
    decided = submit(client, form)
    assert decided.status_code == 200
    assert 'data-approved="true"' in decided.text
    buyer = issuer.buyer_by_phone(phone)
    assert buyer is not None
    account = issuer.lending.account(buyer.id)
    limit = Money.from_json(account["limit"])
    assert limit.minor > 0
    assert f"¥{limit.amount:,.2f}" in decided.text
    home = client.get("/account")
    assert home.status_code == 200
    assert f"¥{limit.amount:,.2f}" in home.text
    assert phone not in home.text
    again = client.get("/account/apply")  # a line is open: no second application
    assert again.status_code == 303


@pytest.mark.parametrize(
    ("form", "field", "words"),
    [
        ({"monthly_income": "-100"}, "monthly_income", "Enter your monthly income"),
        ({"monthly_income": "99999999"}, "monthly_income", "cannot be over"),
        ({"monthly_income": "abc"}, "monthly_income", "Enter your monthly income"),
        ({"monthly_debt_payments": "1.234"}, "monthly_debt_payments", "Enter your monthly"),
        ({"consent": "-"}, "consent", "tick the consent box"),
        ({"employment": "ASTRONAUT"}, "employment", "Choose your employment"),
    ],
)
def test_bad_input_is_a_form_error_and_changes_nothing(
    app: Flask, issuer: Issuer, form: dict[str, str], field: str, words: str
) -> None:
    phone = approved_phone()
    client = app.test_client()
    page = sign_in(client, phone)
    answer = submit(client, page, **form)
    assert answer.status_code == 400
    assert words in answer.text
    assert 'class="error"' in answer.text
    assert issuer.buyer_by_phone(phone) is None  # nothing was created


def test_a_post_without_the_csrf_token_is_refused(app: Flask, issuer: Issuer) -> None:
    client = app.test_client()
    answer = client.post("/account/apply", data={"step": "signin", "phone": "13900000000"})
    assert answer.status_code == 403
    assert issuer.buyer_by_phone("13900000000") is None


def test_a_wrong_code_for_an_existing_buyer_is_refused(app: Flask, issuer: Issuer) -> None:
    buyer = issuer.create_buyer(limit=Money("100.00", "CNY"))
    answer = sign_in(app.test_client(), buyer.phone, "654321")
    assert answer.status_code == 401
    assert "The phone number or the code is wrong." in answer.text


def test_a_declined_applicant_sees_the_reasons_in_words(app: Flask, issuer: Issuer) -> None:
    client = app.test_client()
    page = sign_in(client, "13800001234")
    decided = submit(client, page, employment="STUDENT")
    assert 'data-approved="false"' in decided.text
    assert 'data-reason="STUDENT"' in decided.text
    assert "We do not lend to students." in decided.text
    home = client.get("/account")
    assert "开通分付" in home.text


def test_the_consent_page_offers_a_line_to_a_buyer_without_one(
    app: Flask, issuer: Issuer, api: Any
) -> None:
    checkout = new_checkout(api, "OPEN-1", 120_00)
    client = app.test_client()
    page = client.get(f"/authorize/{checkout['id']}")
    assert 'id="open-line"' in page.text
    assert "/account/apply?next=/authorize/" in page.text.replace("%2F", "/")
    no_line = "19900000001"  # the magic buyer whose limit is 0
    signed = client.post(
        f"/authorize/{checkout['id']}",
        data={"csrf_token": _csrf(page.text), "step": "signin", "phone": no_line, "code": "123456"},
    )
    assert 'id="open-line"' in signed.text
    assert "开通分付" in signed.text
