"""The ``paylater demo --walkthrough`` script: a buyer's browser and a shop operator.

It drives the running demo stack over real HTTP exactly as people would (forms, CSRF
tokens, redirects, HTTP Basic for the admin pages), so it proves the whole integration and
not just the SDK calls. Kept apart from ``demo.py`` so each module stays one idea.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import requests

    from .demo import DemoStack

_META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
_INPUT_CSRF = re.compile(r'<input[^>]*name="csrf_token"[^>]*>')
_VALUE = re.compile(r'value="([^"]+)"')


class WalkthroughError(Exception):
    """A step did not produce what it should have."""


def _find(pattern: str, html: str, what: str) -> str:
    match = re.search(pattern, html)
    if match is None:
        raise WalkthroughError(f"could not find {what} on the page")
    return match.group(1)


def _csrf(html: str) -> str:
    match = _META_CSRF.search(html)
    if match is not None:
        return match.group(1)
    tag = _INPUT_CSRF.search(html)
    value = _VALUE.search(tag.group(0)) if tag is not None else None
    if value is None:
        raise WalkthroughError("page has no CSRF token")
    return value.group(1)


def _yuan(minor: int) -> str:
    return f"¥{minor // 100:,}.{minor % 100:02d}"


def _wait_for(check: Callable[[], str | None], what: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise WalkthroughError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.25)


def run_walkthrough(stack: DemoStack, *, echo: Callable[[str], None]) -> bool:
    """Buy, authorize, get notified, capture, refund part, repay one installment; check."""
    import requests

    walk = _Walk(stack, echo)
    with requests.Session() as walk.browser, requests.Session() as walk.admin:
        walk.admin.auth = ("admin", stack.admin_password)
        try:
            walk.shop_and_consent()
            walk.operate_and_repay()
        except (WalkthroughError, requests.RequestException, KeyError, ValueError) as exc:
            echo(f"FAILED at step {walk.step + 1}: {exc}")
            return False

    problems = stack.issuer.check_ledger()
    if problems:
        echo("FAILED: ledger invariant broken:")
        for line in problems:
            echo(f"  {line}")
        return False
    walk.say("ledger: limit = available + held + outstanding principal holds for every buyer")
    echo("walkthrough OK")
    return True


class _Walk:
    """The walkthrough's steps, in order; each says one numbered line when it succeeds."""

    browser: requests.Session
    admin: requests.Session

    def __init__(self, stack: DemoStack, echo: Callable[[str], None]) -> None:
        self.stack, self.echo = stack, echo
        self.shop, self.issuer = stack.shop_url, stack.issuer_url
        self.step = 0

    def say(self, text: str) -> None:
        self.step += 1
        self.echo(f"[{self.step}] {text}")

    # --- the buyer --------------------------------------------------------------------------

    def shop_and_consent(self) -> None:
        page = self._quote_and_check_eligibility()
        plan_id, authorize_url = self._check_out(page)
        self._consent(authorize_url, plan_id)

    def _quote_and_check_eligibility(self) -> str:
        page = self.browser.get(f"{self.shop}/products/headphones", timeout=30)
        page.raise_for_status()
        low = int(_find(r'data-as-low-as-minor="(\d+)"', page.text, "the as-low-as line"))
        self.say(f"quote: 降噪蓝牙耳机 ¥1,299.00, as low as {_yuan(low)}/月 with 分付")
        self.browser.post(
            f"{self.shop}/cart/add",
            data={"csrf_token": _csrf(page.text), "product_id": "headphones", "quantity": "1"},
            timeout=30,
        ).raise_for_status()
        answer = self.browser.post(
            f"{self.shop}/checkout/eligibility",
            data={"csrf_token": _csrf(page.text), "buyer_token": self.stack.buyer.buyer_token},
            timeout=30,
        )
        answer.raise_for_status()
        if 'data-eligible="true"' not in answer.text:
            raise WalkthroughError("the test buyer is not eligible")
        self.say("eligibility: the test buyer is eligible (the shop never sees the limit)")
        return answer.text

    def _check_out(self, page: str) -> tuple[str, str]:
        plan_id = _find(r'value="([^"]+)" data-periods="6"', page, "the 6-period plan")
        answer = self.browser.post(
            f"{self.shop}/checkout/pay",
            data={"csrf_token": _csrf(page), "plan_id": plan_id},
            allow_redirects=False,
            timeout=30,
        )
        if answer.status_code != 303 or not answer.headers["Location"].startswith(self.issuer):
            raise WalkthroughError(
                f"checkout did not redirect to the issuer ({answer.status_code})"
            )
        authorize_url = answer.headers["Location"]
        self.say(f"checkout: created for plan {plan_id}, buyer sent to {authorize_url}")
        return plan_id, authorize_url

    def _consent(self, authorize_url: str, plan_id: str) -> None:
        buyer = self.stack.buyer
        page = self.browser.get(authorize_url, timeout=30)
        page.raise_for_status()
        signin = {"step": "signin", "phone": buyer.phone, "code": buyer.test_code}
        page = self.browser.post(
            authorize_url, data={"csrf_token": _csrf(page.text), **signin}, timeout=30
        )
        page.raise_for_status()
        answer = self.browser.post(
            authorize_url,
            data={"csrf_token": _csrf(page.text), "step": "confirm", "plan_id": plan_id},
            allow_redirects=False,
            timeout=30,
        )
        if answer.status_code != 303:
            raise WalkthroughError(f"consent was not accepted ({answer.status_code})")
        page = self.browser.get(answer.headers["Location"], timeout=30)
        page.raise_for_status()
        state = _find(r'id="order-state" data-state="([A-Z_]+)"', page.text, "order state")
        if state != "AUTHORIZED":
            raise WalkthroughError(f"order is {state} after consent, expected AUTHORIZED")
        self.out_trade_no = _find(r"<code>(SH[0-9A-F]+)</code>", page.text, "the order number")
        installments = page.text.count("data-paid=")
        self.say(
            f"consent: buyer signed in and confirmed; order {self.out_trade_no} is AUTHORIZED "
            f"with a {installments}-installment schedule"
        )

    # --- the shop operator, then the buyer repays -------------------------------------------

    def operate_and_repay(self) -> None:
        html = _wait_for(
            self._notified("CHECKOUT.AUTHORIZED"), "the CHECKOUT.AUTHORIZED notification"
        )
        self.say("notification: CHECKOUT.AUTHORIZED verified, decrypted and applied by the shop")
        order_id = self._refund_part(self._capture(html))
        self._repay(order_id)
        for event_type in ("ORDER.CAPTURED", "REFUND.SUCCEEDED"):
            _wait_for(self._notified(event_type), f"the {event_type} notification")
        self.say("notifications: ORDER.CAPTURED and REFUND.SUCCEEDED delivered too")
        self._check_delivery_log()

    @property
    def _admin_url(self) -> str:
        return f"{self.shop}/admin/orders/{self.out_trade_no}"

    def _notified(self, event_type: str) -> Callable[[], str | None]:
        def check() -> str | None:
            html = self.admin.get(self._admin_url, timeout=30).text
            return html if f'data-event-type="{event_type}"' in html else None

        return check

    def _capture(self, html: str) -> str:
        page = self.admin.post(
            f"{self._admin_url}/capture", data={"csrf_token": _csrf(html), "amount": ""}, timeout=30
        )
        page.raise_for_status()
        if 'data-state="CAPTURED"' not in page.text:
            raise WalkthroughError("capture did not leave the order CAPTURED")
        self.say("capture: shipped, full amount captured (the loan starts)")
        return page.text

    def _refund_part(self, html: str) -> str:
        refund_no = _find(r'name="out_refund_no" value="([^"]+)"', html, "refund form")
        page = self.admin.post(
            f"{self._admin_url}/refund",
            data={
                "csrf_token": _csrf(html),
                "out_refund_no": refund_no,
                "amount": "300.00",
                "reason": "demo: one accessory returned",
            },
            timeout=30,
        )
        page.raise_for_status()
        if 'data-refunded-minor="30000"' not in page.text or "PARTIALLY_REFUNDED" not in page.text:
            raise WalkthroughError("partial refund did not leave the order PARTIALLY_REFUNDED")
        self.say("refund: ¥300.00 refunded; the issuer re-planned the schedule")
        return _find(r"<code>(ord_[^<]+)</code>", page.text, "the issuer order id")

    def _repay(self, order_id: str) -> None:
        repaid = self.browser.post(
            f"{self.issuer}/_test/buyers/{self.stack.buyer.id}/repay",
            json={"order_id": order_id},
            timeout=30,
        )
        if repaid.status_code != 200:
            raise WalkthroughError(f"repayment failed ({repaid.status_code})")
        paid = sum(int(li["amount"]["value"]) for li in repaid.json()["allocated"])
        page = self.browser.get(f"{self.shop}/orders/{self.out_trade_no}", timeout=30)
        if page.text.count('data-paid="true"') != 1:
            raise WalkthroughError("the order page does not show one installment paid")
        self.say(f"repayment: the buyer repaid installment 1 ({_yuan(paid)})")

    def _check_delivery_log(self) -> None:
        log = self.admin.get(f"{self.shop}/admin/deliveries", timeout=30).text
        rows = re.findall(r'data-state="([A-Z]+)" data-processed="(true|false)"', log)
        if len(rows) < 3 or any(row != ("DELIVERED", "true") for row in rows):
            raise WalkthroughError(f"issuer log and shop disagree: {rows}")
        self.say(f"delivery log: the issuer delivered {len(rows)} notifications, all processed")
