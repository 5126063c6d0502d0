"""Open a line, buy, see the limit move: the buyer pages in Debian's headless Chromium.

A new buyer opens a pay-later line at /account/apply (sign in, declare, consent: a
decision at once), buys the headphones in the example shop with it, and finds the
purchase on /account with the available credit down by its price. Both servers run for
real on loopback (the ``paylater demo`` stack).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from paylater_sdk.cli.demo import DemoStack
from paylater_sdk.money import Money
from tests.issuer.web.test_account_pages import approved_phone

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
PRICE = Money("1299.00", "CNY")  # the headphones


@pytest.fixture(scope="module")
def stack() -> Iterator[DemoStack]:
    demo = DemoStack(issuer_port=0, merchant_port=0)
    yield demo
    demo.close()


@pytest.fixture(scope="module")
def phone_browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(
            viewport={"width": 390, "height": 844}, is_mobile=True, locale="zh-CN"
        )
        context.set_default_timeout(20_000)
        yield context
        context.close()
        browser.close()


def _yuan(text: str) -> Money:
    return Money(Decimal(text.strip().lstrip("¥").replace(",", "")), "CNY")


def test_open_a_line_buy_and_see_the_limit_move(stack: DemoStack, phone_browser: Any) -> None:
    phone = approved_phone(prefix="1396666")
    page = phone_browser.new_page()
    page.goto(f"{stack.issuer_url}/account/apply")
    page.fill("#phone", phone)
    page.fill("#code", "123456")
    page.click('form:has(input[name="step"][value="signin"]) button[type=submit]')
    page.fill("#monthly_income", "8000")
    page.fill("#monthly_debt_payments", "1500")
    page.select_option("#employment", "SALARIED")
    page.check("#consent")
    page.click("#apply button[type=submit]")
    decision = page.locator("#decision")
    assert decision.get_attribute("data-approved") == "true"
    limit = _yuan(page.locator('[data-field="limit"]').inner_text())
    assert limit.minor > PRICE.minor

    page.goto(f"{stack.issuer_url}/account")
    assert _yuan(page.locator('[data-field="available"]').inner_text()) == limit
    assert phone not in page.inner_text("body")  # masked
    assert f"{phone[:3]}****{phone[-4:]}" in page.inner_text("body")

    buyer = stack.issuer.buyer_by_phone(phone)
    assert buyer is not None
    page.goto(f"{stack.shop_url}/products/headphones")
    page.click("#add-to-cart")
    page.wait_for_url(f"{stack.shop_url}/cart")
    page.click("#go-checkout")
    page.wait_for_url(f"{stack.shop_url}/checkout")
    page.fill("#buyer_token", buyer.buyer_token)
    page.click("#eligibility button[type=submit]")
    page.wait_for_selector('#eligible[data-eligible="true"]')
    page.locator('input[name="plan_id"][data-periods="6"]').check()
    page.click("#pay")
    page.wait_for_url(f"{stack.issuer_url}/authorize/*")
    page.fill("#phone", phone)
    page.fill("#code", "123456")
    page.click('form:has(input[name="step"][value="signin"]) button[type=submit]')
    page.click('form:has(input[name="step"][value="confirm"]) button[type=submit]')
    page.wait_for_url(f"{stack.shop_url}/orders/*")
    assert page.locator("#order-state").get_attribute("data-state") == "AUTHORIZED"

    page.goto(f"{stack.issuer_url}/account")
    assert _yuan(page.locator('[data-field="available"]').inner_text()) == limit - PRICE
    assert _yuan(page.locator('[data-field="limit"]').inner_text()) == limit
    assert page.locator("#orders li").count() == 1
    page.close()
    assert stack.issuer.check_ledger() == []
