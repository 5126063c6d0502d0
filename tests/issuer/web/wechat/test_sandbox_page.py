"""The buyer pays 6 期免息 on the sandbox page in headless Chromium, and the unmodified
``wechatpayv3`` client sees the payment (callback and query) like any other."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reliability._procs import wait_until

from .test_wechatpayv3_acceptance import Stack, _prepay

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    made = Stack(tmp_path_factory.mktemp("wechat-page"), "certificate")
    yield made
    made.close()


@pytest.fixture(scope="module")
def phone() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 375, "height": 740}, locale="zh-CN")
        yield context.new_page()
        browser.close()


def test_buyer_pays_six_installments_interest_free_on_the_page(
    stack: Stack, phone: Any, tmp_path: Path
) -> None:
    buyer = stack.buyer()
    prepay_id = _prepay(stack, "PAGE000001", buyer)
    phone.goto(f"{stack.base}/v3/sandbox/pay?prepay_id={prepay_id}")
    assert phone.locator("h1").inner_text().startswith("分付")
    six = phone.locator("label.plan", has_text="× 6期")
    assert "免息" in six.inner_text()
    assert "免息" not in phone.locator("label.plan", has_text="× 3期").inner_text()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375
    six.locator("input").check()
    phone.locator("button[value=pay]").click()
    assert "支付成功" in phone.locator("#result").inner_text()
    phone.screenshot(path=str(tmp_path / "paid.png"))
    wait_until("TRANSACTION.SUCCESS", lambda: stack.receiver.events("TRANSACTION.SUCCESS"), 30)
    note = stack.wxpay.callback(*stack.receiver.events("TRANSACTION.SUCCESS")[-1])
    assert note is not None
    assert note["resource"]["paylater_installment"]["installment_num"] == 6
    assert note["resource"]["paylater_installment"]["free_of_interest"] is True
    code, text = stack.wxpay.query(out_trade_no="PAGE000001")
    assert code == 200
    assert json.loads(text)["trade_state"] == "SUCCESS"
    # the page again: nothing left to pay; a forged form post without the CSRF token fails
    phone.goto(f"{stack.base}/v3/sandbox/pay?prepay_id={prepay_id}")
    assert "已无法支付" in phone.locator(".error").inner_text()


def test_the_page_refuses_a_post_without_its_csrf_token(stack: Stack) -> None:
    import requests

    buyer = stack.buyer()
    prepay_id = _prepay(stack, "PAGE000002", buyer)
    url = f"{stack.base}/v3/sandbox/pay?prepay_id={prepay_id}"
    answer = requests.post(url, data={"action": "pay", "installments": "6"}, timeout=10)
    assert answer.status_code == 400
    assert "页面已过期" in answer.text
    code, text = stack.wxpay.query(out_trade_no="PAGE000002")
    assert code == 200
    assert json.loads(text)["trade_state"] == "NOTPAY"
    stack.cli("check-ledger", "--database", stack.db)
