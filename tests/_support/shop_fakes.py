"""Helpers for the example shop tests: issuer JSON builders and a scripted fake client."""

from __future__ import annotations

import re
from typing import Any

from paylater_sdk.client.models import Checkout, Eligibility, Quote
from paylater_sdk.money import Money

CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def money(minor: int) -> dict[str, Any]:
    return {"value": minor, "currency": "CNY"}


def plan_json(amount_minor: int, periods: int = 6) -> dict[str, Any]:
    per = -(-amount_minor * 103 // 100 // periods)
    total = per * periods
    return {
        "plan_id": f"fenfu-{periods}",
        "name": f"{periods}期 {periods} installments",
        "method": "FLAT_FEE",
        "periods": periods,
        "frequency": "MONTHLY",
        "fee_payer": "BUYER",
        "first_payment": money(per),
        "regular_payment": money(per),
        "total_amount": money(total),
        "total_cost": money(total - amount_minor),
        "apr": "0.1235",
        "effective_annual_rate": "0.1297",
    }


def checkout_json(
    out_trade_no: str,
    amount_minor: int,
    *,
    checkout_id: str = "co_test1",
    state: str = "CREATED",
    captured: int = 0,
    refunded: int = 0,
    schedule: dict[str, Any] | None = None,
) -> dict[str, Any]:
    order = None
    if state != "CREATED" and state not in ("CLOSED",):
        order = {
            "id": "ord_test1",
            "checkout_id": checkout_id,
            "out_trade_no": out_trade_no,
            "state": state,
            "amount": money(amount_minor),
            "captured_amount": money(captured),
            "refunded_amount": money(refunded),
            "plan": plan_json(amount_minor),
            "schedule": schedule,
            "authorized_at": "2026-11-29T19:00:00+00:00",
            "authorization_expires_at": "2026-12-06T19:00:00+00:00",
            "captured_at": None,
        }
    return {
        "id": checkout_id,
        "out_trade_no": out_trade_no,
        "state": state,
        "amount": money(amount_minor),
        "description": "test",
        "notify_url": "http://shop.test/pay/notify",
        "return_url": "http://shop.test/pay/return",
        "plans": [plan_json(amount_minor)],
        "authorize_url": f"http://issuer.test/authorize/{checkout_id}",
        "created_at": "2026-11-29T19:00:00+00:00",
        "expires_at": "2026-11-29T19:30:00+00:00",
        "order": order,
    }


class _Plans:
    def __init__(self, owner: FakeClient) -> None:
        self.owner = owner

    def quote(self, amount: Money) -> Quote:
        self.owner.calls.append(("quote", amount))
        plans = [plan_json(amount.minor, 3), plan_json(amount.minor, 6)]
        return Quote.from_api(
            {"amount": amount.to_json(), "plans": plans, "as_low_as": plans[1]["regular_payment"]}
        )


class _Credit:
    def __init__(self, owner: FakeClient) -> None:
        self.owner = owner

    def eligibility(self, buyer_token: str, amount: Money) -> Eligibility:
        self.owner.calls.append(("eligibility", buyer_token, amount))
        ok = not buyer_token.startswith("bt_decline")
        return Eligibility.from_api(
            {"eligible": ok, "reasons": [] if ok else ["INSUFFICIENT_LIMIT"], "plans": []}
        )


class _Checkouts:
    def __init__(self, owner: FakeClient) -> None:
        self.owner = owner

    def create(self, **kwargs: Any) -> Checkout:
        self.owner.calls.append(("create", kwargs))
        self.owner.created.append(kwargs)
        return Checkout.from_api(checkout_json(kwargs["out_trade_no"], kwargs["amount"].minor))

    def get(self, checkout_id: str) -> Checkout:
        self.owner.calls.append(("get", checkout_id))
        return Checkout.from_api(self.owner.truth[checkout_id])


class FakeClient:
    """Just enough of PayLaterClient for page-level unit tests (no signing involved)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.created: list[dict[str, Any]] = []
        self.truth: dict[str, dict[str, Any]] = {}
        self.plans = _Plans(self)
        self.credit = _Credit(self)
        self.checkouts = _Checkouts(self)


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match is not None, "page has no csrf meta tag"
    return match.group(1)
