"""The buyer's journey in a real browser: Debian's headless Chromium driven by Playwright.

Product page -> checkout -> the 6-period plan -> the issuer's consent page -> confirm ->
back at the shop with the order paid and its schedule. Both servers run for real on
loopback (the same stack as ``paylater demo``). Screenshots go to ``tmp_path``, and also to
``$PAYLATER_SCREENSHOTS`` when set (that is how docs/img/ is refreshed).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paylater_sdk.cli.demo import DemoStack

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def stack() -> Iterator[DemoStack]:
    demo = DemoStack(issuer_port=0, merchant_port=0)
    yield demo
    demo.close()


@pytest.fixture(scope="module")
def phone() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(
            viewport={"width": 390, "height": 844},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            locale="zh-CN",
        )
        context.set_default_timeout(20_000)
        yield context
        context.close()
        browser.close()


def _shot(page: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    target = os.environ.get("PAYLATER_SCREENSHOTS")
    if target:
        shutil.copyfile(path, Path(target) / name)
    return path


def test_buyer_pays_with_six_installments(stack: DemoStack, phone: Any, tmp_path: Path) -> None:
    page = phone.new_page()
    page.goto(f"{stack.shop_url}/products/headphones")
    assert page.locator("h1").inner_text().startswith("降噪蓝牙耳机")
    assert "低至" in page.locator(".asl").inner_text()
    _shot(page, tmp_path, "product.png")

    page.click("#add-to-cart")
    page.wait_for_url(f"{stack.shop_url}/cart")
    page.click("#go-checkout")
    page.wait_for_url(f"{stack.shop_url}/checkout")
    page.fill("#buyer_token", stack.buyer.buyer_token)
    page.click("#eligibility button[type=submit]")
    page.wait_for_selector('#eligible[data-eligible="true"]')

    six = page.locator('input[name="plan_id"][data-periods="6"]')
    six.check()
    assert six.is_checked()
    plan_id = six.get_attribute("value")
    plan_text = page.locator(f'label[for="plan-{plan_id}"]').inner_text()
    assert "APR" in plan_text
    assert "总费用" in plan_text
    assert _shot(page, tmp_path, "checkout.png").stat().st_size > 10_000

    page.click("#pay")
    page.wait_for_url(f"{stack.issuer_url}/authorize/*")
    page.fill("#phone", stack.buyer.phone)
    page.fill("#code", stack.buyer.test_code)
    page.click('form:has(input[name="step"][value="signin"]) button[type=submit]')
    radio = page.locator(f'input[name="plan_id"][value="{plan_id}"]')
    radio.check()
    assert _shot(page, tmp_path, "consent.png").stat().st_size > 10_000
    page.click('form:has(input[name="step"][value="confirm"]) button[type=submit]')

    page.wait_for_url(f"{stack.shop_url}/orders/*")
    state = page.locator("#order-state")
    assert state.get_attribute("data-state") == "AUTHORIZED"
    assert "已用分付支付" in state.inner_text()
    rows = page.locator("#schedule tbody tr")
    assert rows.count() == 6
    assert page.locator('#schedule tbody tr[data-paid="false"]').count() == 6
    _shot(page, tmp_path, "order.png")
    page.close()
    assert stack.issuer.check_ledger() == []
