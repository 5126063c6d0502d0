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
def playwright() -> Iterator[Any]:
    """One Playwright per module: its sync API allows only one at a time in a thread."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Any) -> Iterator[Any]:
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield launched
    launched.close()


@pytest.fixture(scope="module")
def phone(browser: Any) -> Iterator[Any]:
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


# Every distinct Han character on the page is drawn on a canvas in its element's own font,
# beside U+10FFFD (a code point no font has, drawn as the missing-glyph box). A character
# whose pixels equal that box, or a page whose Chinese characters all look the same, is
# "tofu": no CJK font is installed. (Widths do not tell: a CJK font's box is 1 em wide too.)
_GLYPH_PIXELS = r"""() => {
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 64;
  const ctx = canvas.getContext("2d", {willReadFrequently: true});
  const draw = (ch) => {
    ctx.clearRect(0, 0, 64, 64);
    ctx.fillText(ch, 8, 48);
    return Array.from(ctx.getImageData(0, 0, 64, 64).data).join(",");
  };
  const found = {};
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || !el.getClientRects().length) continue;
    const style = getComputedStyle(el);
    ctx.font = `${style.fontStyle} ${style.fontWeight} 32px ${style.fontFamily}`;
    const box = draw("\u{10FFFD}");
    for (const ch of node.textContent.match(/\p{Script=Han}/gu) || []) {
      if (!(ch in found)) {
        const pixels = draw(ch);
        found[ch] = {tofu: pixels === box, pixels: pixels.length > 0 ? pixels : ""};
      }
    }
  }
  const distinct = new Set(Object.values(found).map((v) => v.pixels)).size;
  const tofu = Object.keys(found).filter((ch) => found[ch].tofu);
  return {count: Object.keys(found).length, distinct, tofu};
}"""


def assert_no_tofu(page: Any) -> int:
    """Fail if the page's Chinese characters render as missing-glyph boxes."""
    seen: dict[str, Any] = page.evaluate(_GLYPH_PIXELS)
    hint = "install a CJK font (Debian: fonts-noto-cjk)"
    assert not seen["tofu"], f"rendered as tofu boxes, {hint}: {''.join(seen['tofu'])}"
    if seen["count"] > 1:
        assert seen["distinct"] > 1, f"every Chinese character looks the same, {hint}"
    count: int = seen["count"]
    return count


def _shot(page: Any, tmp_path: Path, name: str) -> Path:
    assert assert_no_tofu(page) > 0, f"{name}: a page of this shop shows some Chinese"
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


@pytest.fixture(scope="module")
def narrow(browser: Any) -> Iterator[Any]:
    """The narrowest common phone: 360 CSS pixels."""
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, is_mobile=True, locale="zh-CN"
    )
    context.set_default_timeout(20_000)
    yield context
    context.close()


def _fits_360(page: Any) -> None:
    assert page.locator('meta[name="viewport"]').count() == 1, page.url
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"{page.url} scrolls sideways at 360 px ({width} px wide)"
    assert assert_no_tofu(page) > 0, page.url


def test_issuer_and_shop_pages_fit_360_px(stack: DemoStack, narrow: Any) -> None:
    page = narrow.new_page()
    for url in (
        f"{stack.issuer_url}/",
        f"{stack.issuer_url}/_admin/notifications",
        f"{stack.shop_url}/",
        f"{stack.shop_url}/products/headphones",
    ):
        page.goto(url)
        _fits_360(page)
    page.click("#add-to-cart")
    page.wait_for_url(f"{stack.shop_url}/cart")
    _fits_360(page)
    page.click("#go-checkout")
    page.wait_for_url(f"{stack.shop_url}/checkout")
    _fits_360(page)
    page.fill("#buyer_token", stack.buyer.buyer_token)
    page.click("#eligibility button[type=submit]")
    page.wait_for_selector('#eligible[data-eligible="true"]')
    page.click("#pay")
    page.wait_for_url(f"{stack.issuer_url}/authorize/*")
    _fits_360(page)
    assert f"phone {stack.buyer.phone}, code {stack.buyer.test_code}" in page.inner_text("body")
    page.fill("#phone", stack.buyer.phone)
    page.fill("#code", stack.buyer.test_code)
    page.click('form:has(input[name="step"][value="signin"]) button[type=submit]')
    page.wait_for_selector('form:has(input[name="step"][value="confirm"])')
    _fits_360(page)  # the plans with their disclosures
    page.close()


def test_the_tofu_check_fails_without_a_cjk_font(playwright: Any, tmp_path: Path) -> None:
    """The check itself can fail: the same Chromium with only DejaVu fonts visible."""
    conf = tmp_path / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
        f"<dir>/usr/share/fonts/truetype/dejavu</dir><cachedir>{tmp_path}/cache</cachedir>"
        "</fontconfig>"
    )
    env = {**os.environ, "FONTCONFIG_FILE": str(conf)}
    bare = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, env=env)
    try:
        page = bare.new_page()
        page.set_content('<h1 style="font-family:sans-serif">降噪蓝牙耳机 低至 ¥116.37/月</h1>')
        with pytest.raises(AssertionError, match="tofu"):
            assert_no_tofu(page)
    finally:
        bare.close()
