"""Responsible lending at purchase time: the new plan's regular payment added to the
buyer's debt-to-income (over 50 % declines ``DEBT_TO_INCOME``), with coarse reasons."""

from __future__ import annotations

from decimal import Decimal

import pytest

from paylater_sdk.errors import CreditDeclinedError
from paylater_sdk.issuer import Issuer
from paylater_sdk.issuer.domain.scorecard import Profile
from paylater_sdk.lifecycle import Employment
from paylater_sdk.money import Money
from tests._support.issuer import SignedClient, balances, cny, new_checkout


def _applicant(issuer: Issuer, phone: str = "13912345678") -> str:
    """Income ¥5,000, debts ¥1,800 a month: ¥700 of monthly room, a line of ¥8,400."""
    applied = issuer.lending.apply(
        phone=phone,
        monthly_income=Money(Decimal(5000), "CNY"),
        monthly_debt_payments=Money(Decimal(1800), "CNY"),
        employment=Employment.SALARIED,
        consent=True,
        profile=Profile(95, 80, 0, 0),
    )
    assert applied.decision.limit == Money(Decimal(8400), "CNY")
    return applied.buyer.id


def _eligibility(api: SignedClient, token: str, amount: int) -> dict[str, object]:
    response = api.post("/v1/credit/eligibility", {"buyer_token": token, "amount": cny(amount)})
    assert response.status_code == 200, response.get_json()
    result: dict[str, object] = response.get_json()
    return result


def test_only_plans_within_debt_to_income_are_offered(api: SignedClient, issuer: Issuer) -> None:
    buyer_id = _applicant(issuer)
    token = issuer.buyer_by_phone("13912345678").buyer_token  # type: ignore[union-attr]
    answer = _eligibility(api, token, 6000_00)
    # ¥537.50 a month (fenfu-12) fits in ¥700; ¥1,036 (fenfu-6) and the 3-month plans do not
    assert answer["eligible"] is True
    assert [p["plan_id"] for p in answer["plans"]] == ["fenfu-12"]  # type: ignore[attr-defined]
    assert "limit" not in str(answer)
    assert "available" not in str(answer)
    checkout = new_checkout(api, "DTI-1", 6000_00)
    with pytest.raises(CreditDeclinedError) as declined:
        issuer.orders.authorize(checkout["id"], buyer_id=buyer_id, plan_id="fenfu-6")
    assert declined.value.reason == "DEBT_TO_INCOME"
    assert balances(issuer, buyer_id)["held"] == 0  # the decline changed nothing
    issuer.orders.authorize(checkout["id"], buyer_id=buyer_id, plan_id="fenfu-12")
    assert balances(issuer, buyer_id)["available"] == 2400_00


def test_open_plans_count_and_the_dti_binds_before_the_limit(
    api: SignedClient, issuer: Issuer
) -> None:
    buyer_id = _applicant(issuer)
    token = issuer.buyer_by_phone("13912345678").buyer_token  # type: ignore[union-attr]
    first = new_checkout(api, "DTI-1", 6000_00)
    issuer.orders.authorize(first["id"], buyer_id=buyer_id, plan_id="fenfu-12")
    # ¥162.50 of room is left; ¥2,000 over 12 months is ¥179.17 a month: declined although
    # ¥2,400 of the line is still available
    answer = _eligibility(api, token, 2000_00)
    assert answer == {"eligible": False, "reasons": ["DEBT_TO_INCOME"], "plans": []}
    second = new_checkout(api, "DTI-2", 2000_00)
    with pytest.raises(CreditDeclinedError) as declined:
        issuer.orders.authorize(second["id"], buyer_id=buyer_id, plan_id="fenfu-12")
    assert declined.value.reason == "DEBT_TO_INCOME"
    third = new_checkout(api, "DTI-3", 1000_00)  # ¥89.58 a month fits
    issuer.orders.authorize(third["id"], buyer_id=buyer_id, plan_id="fenfu-12")
    assert balances(issuer, buyer_id)["available"] == 1400_00
    assert issuer.check_ledger() == []


def test_buyers_created_with_a_typed_in_limit_keep_the_old_checks(
    api: SignedClient, issuer: Issuer
) -> None:
    buyer = issuer.create_buyer(limit=Money("10000.00", "CNY"))
    answer = _eligibility(api, buyer.buyer_token, 6000_00)
    assert answer["eligible"] is True
    assert len(answer["plans"]) == 4  # type: ignore[arg-type]


def test_a_frozen_applicant_is_declined_first_with_account_frozen(
    api: SignedClient, issuer: Issuer
) -> None:
    from paylater_sdk.issuer.storage.schema import buyers

    buyer_id = _applicant(issuer)
    with issuer.engine.begin() as conn:
        conn.execute(buyers.update().where(buyers.c.id == buyer_id).values(status="FROZEN"))
    token = issuer.buyer_by_phone("13912345678").buyer_token  # type: ignore[union-attr]
    answer = _eligibility(api, token, 2000_00)
    assert answer["reasons"] == ["ACCOUNT_FROZEN"]
