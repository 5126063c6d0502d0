"""The shop explains itself: the cheapest plan first, the APR beside "低至", an optional
buyer token with errors on the page, a cancel that restores the cart, and an order page in
words (refunds included), against the real mock issuer in-process."""

from __future__ import annotations

import re
from typing import Any

from examples.merchant_flask import store
from examples.merchant_flask.labels import ORDER_STATES
from tests._support.shop_fakes import csrf_of
from tests.examples.test_flow import (
    admin_post,
    buyer,
    come_back,
    engine,
    order_row,
    shop,
    start_checkout,
)

__all__ = ["buyer", "shop"]  # fixtures used by the tests below


def _cart(app: Any) -> tuple[Any, str]:
    browser = app.test_client()
    token = csrf_of(browser.get("/products/headphones").text)
    browser.post("/cart/add", data={"csrf_token": token, "product_id": "headphones"})
    return browser, token


def test_checkout_preselects_the_cheapest_plan(shop: Any) -> None:
    browser, _ = _cart(shop)
    page = browser.get("/checkout").text
    checked = re.findall(
        r'<input type="radio" name="plan_id" [^>]*value="([^"]+)"[^>]*checked', page
    )
    assert checked == ["free-3"]  # the 0 % plan the issuer offers for this amount
    label = page.split('for="plan-free-3"', 1)[1].split("</label>", 1)[0]
    assert "免息" in label
    assert "¥433.00" in label  # per period
    assert "总费用" in label
    assert "¥0.00" in label  # total cost
    assert "0.00%" in label  # APR


def test_the_as_low_as_line_carries_its_apr(shop: Any) -> None:
    browser = shop.test_client()
    card = browser.get("/").text.split('href="/products/headphones"', 1)[1]
    for html in (browser.get("/products/headphones").text, card):
        line = html.split('class="asl"', 1)[1].split("</p>", 1)[0].split("</span></span>")[0]
        assert "低至" in line
        assert "¥116.37/月" in line
        assert "年化利率 13.57%" in line  # the 12-period plan behind ¥116.37
        assert "APR 13.57%" in line


def test_the_buyer_token_is_optional_and_explained(shop: Any, mock_issuer: Any) -> None:
    browser, _ = _cart(shop)
    page = browser.get("/checkout").text
    assert "可选" in page
    assert "optional" in page
    assert "sign in at 分付" in page
    # Paying without a token works: the buyer identifies at the issuer.
    _, checkout_id, _ = start_checkout(shop)
    assert checkout_id.startswith("co_")


def test_an_unknown_token_is_an_error_on_the_page(shop: Any, caplog: Any) -> None:
    browser, token = _cart(shop)
    page = browser.post(
        "/checkout/eligibility",
        data={"csrf_token": token, "buyer_token": "bt_nobody_has_this"},
        follow_redirects=True,
    )
    assert page.status_code == 200
    error = page.text.split('id="eligibility-error"', 1)[1].split("</p>", 1)[0]
    assert "找不到这个分付账户令牌" in error
    assert "unknown buyer token" in error
    assert "Traceback" not in caplog.text
    assert "bt_nobody_has_this" not in caplog.text


def test_a_cancel_at_the_issuer_restores_the_cart_and_closes_the_checkout(
    shop: Any, mock_issuer: Any
) -> None:
    browser, checkout_id, no = start_checkout(shop)
    assert browser.get("/cart").text.count('name="product_id"') == 0  # emptied by pay
    # The consent page's cancel button sends the buyer back without authorizing.
    page = come_back(
        browser, f"https://shop.test/pay/return?checkout_id={checkout_id}&out_trade_no={no}"
    )
    assert page.status_code == 200
    assert 'id="cancelled"' in page.text
    assert "你在分付取消了付款" in page.text
    assert 'id="try-again"' in page.text
    assert 'data-state="CLOSED"' in page.text
    assert order_row(shop, no)["state"] == "CLOSED"
    assert mock_issuer.client().checkouts.get(checkout_id).state.value == "CLOSED"
    cart = browser.get("/cart").text
    assert "降噪蓝牙耳机" in cart
    again = browser.get(f"/orders/{no}").text  # a reload does not restore twice
    assert 'id="cancelled"' not in again
    assert browser.get("/checkout").status_code == 200  # try again: the cart is there


def test_the_order_page_shows_refunds_and_states_in_words(
    shop: Any, mock_issuer: Any, buyer: Any
) -> None:
    browser, checkout_id, no = start_checkout(shop)
    come_back(browser, mock_issuer.authorize(checkout_id, buyer, "fenfu-6"))
    admin_post(shop, no, "capture")
    admin_post(shop, no, "refund", amount="300.00", reason="one earbud missing")
    page = browser.get(f"/orders/{no}").text
    state = page.split('id="order-state"', 1)[1].split("</p>", 1)[0]
    assert "已用分付支付，部分退款" in state
    assert "Paid with 分付, partly refunded" in state
    assert state.index("已用分付") < state.index("Paid with")  # Chinese first
    words = set(re.sub(r"<[^>]*>", " ", page).replace("(", " ").replace(")", " ").split())
    assert words.isdisjoint({*ORDER_STATES, "SUCCEEDED", "PENDING", "FAILED"})
    refunds = page.split('id="refunds"', 1)[1].split("</ul>", 1)[0]
    assert "退款成功" in refunds
    assert "−¥300.00" in refunds
    assert "one earbud missing" in refunds
    assert 'id="refunded" data-minor="30000"' in page
    assert "¥999.00" in page.split('id="net"', 1)[1].split("</dd>", 1)[0]
    rows = store.list_refunds(engine(shop), no)
    assert [r["amount_minor"] for r in rows] == [30000]
    schedule = order_row(shop, no)["schedule"]
    total = schedule["total_amount"]["value"]
    assert f"¥{total / 100:,.2f}" in page.split('id="schedule"', 1)[1]


def test_admin_errors_are_sentences_with_the_code_in_a_detail(
    shop: Any, mock_issuer: Any, buyer: Any
) -> None:
    _, checkout_id, no = start_checkout(shop)
    mock_issuer.authorize(checkout_id, buyer, "fenfu-6")
    admin_post(shop, no, "capture")
    page = admin_post(shop, no, "refund", amount="5000.00").text
    flash = page.split('class="flash error"', 1)[1].split("</div>", 1)[0]
    sentence = flash.split("<details>", 1)[0]
    assert "金额超过了可以收款或退款的余额。" in sentence
    assert "The amount is more than what is left to capture or refund." in sentence
    assert "AMOUNT_EXCEEDS_AVAILABLE" not in sentence
    detail = flash.split("<details>", 1)[1]
    assert "code AMOUNT_EXCEEDS_AVAILABLE" in detail
    assert "request req_" in detail


def test_admin_amounts_use_the_page_format_both_ways(
    shop: Any, mock_issuer: Any, buyer: Any
) -> None:
    _, checkout_id, no = start_checkout(shop)
    mock_issuer.authorize(checkout_id, buyer, "fenfu-6")
    page = admin_post(shop, no, "capture", amount="¥1,299.00").text  # as the placeholder shows
    assert "已确认收款 ¥1,299.00 captured" in page
    page = admin_post(shop, no, "refund", amount="¥1,000.00").text
    assert "已退款 ¥1,000.00 refunded" in page
    assert " CNY" not in page.split('class="flash success"', 1)[1].split("</p>", 1)[0]
    assert order_row(shop, no)["refunded_minor"] == 100000
