"""The buyer's servicing pages in a real browser: Debian's headless Chromium via Playwright.

A buyer with a captured fenfu-6 order (120.00) signs in on a phone-sized screen, pays the
bill, prepays, then pays the order off from its page; every receipt and the schedule show
the amounts to the fen, nothing renders as tofu, and the ledger balances at the end.
Screenshots go to ``tmp_path`` (and ``$PAYLATER_SCREENSHOTS`` when set).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paylater_sdk.cli.demo import MERCHANT_ID, DemoStack
from paylater_sdk.money import Money
from tests.examples.test_browser import CHROMIUM, CHROMIUM_ARGS, _shot

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def stack() -> Iterator[DemoStack]:
    demo = DemoStack(issuer_port=0, merchant_port=0)
    yield demo
    demo.close()


@pytest.fixture(scope="module")
def phone() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = launched.new_context(
            viewport={"width": 390, "height": 844},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            locale="zh-CN",
        )
        context.set_default_timeout(20_000)
        yield context
        context.close()
        launched.close()


def _captured_order(stack: DemoStack) -> str:
    issuer = stack.issuer
    checkout = issuer.orders.create_checkout(
        MERCHANT_ID,
        out_trade_no="SERV-1",
        amount=Money("120.00", "CNY"),
        description="蓝牙耳机 Bluetooth earphones",
        notify_url=f"{stack.shop_url}/notify",
        return_url=f"{stack.shop_url}/return",
        plan_ids=["fenfu-6"],
        expires_in=None,
        base_url=stack.issuer_url,
    )
    authorized = issuer.orders.authorize(checkout["id"], buyer_id=stack.buyer.id, plan_id="fenfu-6")
    order_id: str = authorized["order"]["id"]
    issuer.orders.capture(MERCHANT_ID, order_id, None)
    return order_id


def checkout_of(stack: DemoStack, order_id: str) -> str:
    import sqlalchemy as sa

    from paylater_sdk.issuer.storage.schema import orders

    with stack.issuer.engine.connect() as conn:
        query = sa.select(orders.c.checkout_id).where(orders.c.id == order_id)
        return str(conn.execute(query).scalar_one())


def test_a_buyer_pays_a_bill_prepays_and_pays_off(
    stack: DemoStack, phone: Any, tmp_path: Path
) -> None:
    order_id = _captured_order(stack)
    month = stack.issuer.now().date().isoformat()[:7]
    page = phone.new_page()
    page.goto(f"{stack.issuer_url}/account/bills/{month}")
    assert "/account/servicing/signin" in page.url
    page.fill("#phone", stack.buyer.phone)
    page.fill("#code", stack.buyer.test_code)
    page.click("button[type=submit]")
    page.wait_for_url(f"**/account/bills/{month}")
    assert page.locator(".bill-line").count() == 0  # bought today: the first due is next month
    first_due = stack.issuer.orders.get_checkout(MERCHANT_ID, checkout_of(stack, order_id))[
        "order"
    ]["schedule"]["installments"][0]["due_date"]
    page.goto(f"{stack.issuer_url}/account/bills/{first_due[:7]}")
    assert page.locator(".bill-line").count() == 1
    assert page.locator("#amount-due").inner_text() == "¥20.72"
    assert "付款方式" in page.locator("#payment-source").inner_text()
    _shot(page, tmp_path, "account-bill.png")

    page.click("#pay-bill")
    page.wait_for_url("**/account/receipts/*")
    assert page.locator("#receipt-amount").inner_text() == "¥20.72"
    parts = [" ".join(p.split()) for p in page.locator("tr.allocated").all_inner_texts()]
    assert len(parts) == 2
    assert parts[0].endswith("¥0.72")  # the fee first, then the principal
    assert parts[1].endswith("¥20.00")
    _shot(page, tmp_path, "account-receipt.png")

    page.goto(f"{stack.issuer_url}/account/orders/{order_id}")
    assert page.locator("#principal-left").inner_text() == "¥100.00"
    page.fill("#amount", "30.00")
    page.click("#prepay")
    page.wait_for_url("**/account/receipts/*")
    assert page.locator("#receipt-amount").inner_text() == "¥30.00"

    page.goto(f"{stack.issuer_url}/account/orders/{order_id}")
    assert page.locator("#principal-left").inner_text() == "¥70.00"
    total = page.locator("#payoff-total").inner_text()
    _shot(page, tmp_path, "account-order.png")
    page.click("#pay-off")
    page.wait_for_url("**/account/receipts/*")
    assert page.locator("#receipt-amount").inner_text() == total
    page.goto(f"{stack.issuer_url}/account/orders/{order_id}")
    assert page.locator("#paid-off").count() == 1
    assert stack.issuer.check_ledger() == []
    page.close()
