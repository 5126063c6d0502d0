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
    from .demo import DemoStack

__all__ = ["WalkthroughError", "run_walkthrough"]

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

    shop, issuer = stack.shop_url, stack.issuer_url
    step = 0

    def say(text: str) -> None:
        nonlocal step
        step += 1
        echo(f"[{step}] {text}")

    with requests.Session() as browser, requests.Session() as admin:
        admin.auth = ("admin", stack.admin_password)
        try:
            page = browser.get(f"{shop}/products/headphones", timeout=30)
            page.raise_for_status()
            low = int(_find(r'data-as-low-as-minor="(\d+)"', page.text, "the as-low-as line"))
            say(f"quote: 降噪蓝牙耳机 ¥1,299.00, as low as {_yuan(low)}/月 with 分付")

            browser.post(
                f"{shop}/cart/add",
                data={"csrf_token": _csrf(page.text), "product_id": "headphones", "quantity": "1"},
                timeout=30,
            ).raise_for_status()
            page = browser.post(
                f"{shop}/checkout/eligibility",
                data={"csrf_token": _csrf(page.text), "buyer_token": stack.buyer.buyer_token},
                timeout=30,
            )
            page.raise_for_status()
            if 'data-eligible="true"' not in page.text:
                raise WalkthroughError("the test buyer is not eligible")
            say("eligibility: the test buyer is eligible (the shop never sees the limit)")

            plan_id = _find(r'value="([^"]+)" data-periods="6"', page.text, "the 6-period plan")
            answer = browser.post(
                f"{shop}/checkout/pay",
                data={"csrf_token": _csrf(page.text), "plan_id": plan_id},
                allow_redirects=False,
                timeout=30,
            )
            if answer.status_code != 303 or not answer.headers["Location"].startswith(issuer):
                raise WalkthroughError(
                    f"checkout did not redirect to the issuer ({answer.status_code})"
                )
            authorize_url = answer.headers["Location"]
            say(f"checkout: created for plan {plan_id}, buyer sent to {authorize_url}")

            page = browser.get(authorize_url, timeout=30)
            page.raise_for_status()
            page = browser.post(
                authorize_url,
                data={
                    "csrf_token": _csrf(page.text),
                    "step": "signin",
                    "phone": stack.buyer.phone,
                    "code": stack.buyer.test_code,
                },
                timeout=30,
            )
            page.raise_for_status()
            answer = browser.post(
                authorize_url,
                data={"csrf_token": _csrf(page.text), "step": "confirm", "plan_id": plan_id},
                allow_redirects=False,
                timeout=30,
            )
            if answer.status_code != 303:
                raise WalkthroughError(f"consent was not accepted ({answer.status_code})")
            page = browser.get(answer.headers["Location"], timeout=30)
            page.raise_for_status()
            state = _find(r'id="order-state" data-state="([A-Z_]+)"', page.text, "order state")
            if state != "AUTHORIZED":
                raise WalkthroughError(f"order is {state} after consent, expected AUTHORIZED")
            out_trade_no = _find(r"<code>(SH[0-9A-F]+)</code>", page.text, "the order number")
            installments = page.text.count("data-paid=")
            say(
                f"consent: buyer signed in and confirmed; order {out_trade_no} is AUTHORIZED "
                f"with a {installments}-installment schedule"
            )

            admin_url = f"{shop}/admin/orders/{out_trade_no}"

            def notified(event_type: str) -> Callable[[], str | None]:
                def check() -> str | None:
                    html = admin.get(admin_url, timeout=30).text
                    return html if f'data-event-type="{event_type}"' in html else None

                return check

            html = _wait_for(
                notified("CHECKOUT.AUTHORIZED"), "the CHECKOUT.AUTHORIZED notification"
            )
            say("notification: CHECKOUT.AUTHORIZED verified, decrypted and applied by the shop")

            page = admin.post(
                f"{admin_url}/capture", data={"csrf_token": _csrf(html), "amount": ""}, timeout=30
            )
            page.raise_for_status()
            if 'data-state="CAPTURED"' not in page.text:
                raise WalkthroughError("capture did not leave the order CAPTURED")
            say("capture: shipped, full amount captured (the loan starts)")

            refund_no = _find(r'name="out_refund_no" value="([^"]+)"', page.text, "refund form")
            page = admin.post(
                f"{admin_url}/refund",
                data={
                    "csrf_token": _csrf(page.text),
                    "out_refund_no": refund_no,
                    "amount": "300.00",
                    "reason": "demo: one accessory returned",
                },
                timeout=30,
            )
            page.raise_for_status()
            if (
                'data-refunded-minor="30000"' not in page.text
                or "PARTIALLY_REFUNDED" not in page.text
            ):
                raise WalkthroughError("partial refund did not leave the order PARTIALLY_REFUNDED")
            order_id = _find(r"<code>(ord_[^<]+)</code>", page.text, "the issuer order id")
            say("refund: ¥300.00 refunded; the issuer re-planned the schedule")

            repaid = browser.post(
                f"{issuer}/_test/buyers/{stack.buyer.id}/repay",
                json={"order_id": order_id},
                timeout=30,
            )
            if repaid.status_code != 200:
                raise WalkthroughError(f"repayment failed ({repaid.status_code})")
            paid = sum(int(li["amount"]["value"]) for li in repaid.json()["allocated"])
            page = browser.get(f"{shop}/orders/{out_trade_no}", timeout=30)
            if page.text.count('data-paid="true"') != 1:
                raise WalkthroughError("the order page does not show one installment paid")
            say(f"repayment: the buyer repaid installment 1 ({_yuan(paid)})")

            for event_type in ("ORDER.CAPTURED", "REFUND.SUCCEEDED"):
                _wait_for(notified(event_type), f"the {event_type} notification")
            say("notifications: ORDER.CAPTURED and REFUND.SUCCEEDED delivered too")

            log = admin.get(f"{shop}/admin/deliveries", timeout=30).text
            rows = re.findall(r'data-state="([A-Z]+)" data-processed="(true|false)"', log)
            if len(rows) < 3 or any(row != ("DELIVERED", "true") for row in rows):
                raise WalkthroughError(f"issuer log and shop disagree: {rows}")
            say(f"delivery log: the issuer delivered {len(rows)} notifications, all processed")
        except (WalkthroughError, requests.RequestException, KeyError, ValueError) as exc:
            echo(f"FAILED at step {step + 1}: {exc}")
            return False

    problems = stack.issuer.check_ledger()
    if problems:
        echo("FAILED: ledger invariant broken:")
        for line in problems:
            echo(f"  {line}")
        return False
    say("ledger: limit = available + held + outstanding principal holds for every buyer")
    echo("walkthrough OK")
    return True
