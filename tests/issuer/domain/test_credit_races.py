"""Races on credit lines, with real threads, on the engine under test (SQLite, and
PostgreSQL when PAYLATER_TEST_POSTGRES_URL is set): one phone applying from several
places opens one line; a periodic review racing purchases never cuts below what is used."""

from __future__ import annotations

from decimal import Decimal

import pytest

from paylater_sdk.errors import ConflictError, CreditDeclinedError
from paylater_sdk.issuer import Issuer
from paylater_sdk.issuer.domain import review
from paylater_sdk.issuer.domain.scorecard import Profile
from paylater_sdk.lifecycle import Employment
from paylater_sdk.money import Money
from tests._support.issuer import SignedClient, balances, new_checkout
from tests.issuer.domain.test_concurrency import race

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")


def _apply(issuer: Issuer, phone: str = "13912345678") -> str:
    return issuer.lending.apply(
        phone=phone,
        monthly_income=Money(Decimal(5000), "CNY"),
        monthly_debt_payments=Money(Decimal(0), "CNY"),
        employment=Employment.SALARIED,
        consent=True,
        profile=Profile(95, 80, 0, 0),
    ).buyer.id


def test_one_phone_applying_eight_times_at_once_opens_one_line(issuer: Issuer) -> None:
    results, errors = race(8, lambda i: _apply(issuer))
    assert len(results) == 1
    assert len(errors) == 7
    assert all(isinstance(e, ConflictError) and e.code == "DUPLICATE_PHONE" for e in errors)
    assert len(issuer.lending.decisions(results[0])) == 1
    assert balances(issuer, results[0])["limit"] == 15000_00
    assert issuer.check_ledger() == []


def test_a_review_racing_purchases_never_cuts_below_what_is_used(
    issuer: Issuer, api: SignedClient
) -> None:
    buyer_id = _apply(issuer)
    checkouts = [new_checkout(api, f"RR-{n}", 2000_00)["id"] for n in range(6)]
    strict = issuer.config.credit.__class__(income_multiple=1)  # re-scored to ¥5,000

    def act(i: int) -> object:
        if i == 0:
            with issuer.engine.begin() as conn:
                return review.review_buyer(
                    conn, buyer_id, model=issuer.lending.model, policy=strict, now=issuer.now()
                )
        try:
            return issuer.orders.authorize(checkouts[i - 1], buyer_id=buyer_id, plan_id="fenfu-12")
        except CreditDeclinedError as exc:
            return exc.reason

    results, errors = race(7, act)
    assert errors == []
    after = balances(issuer, buyer_id)
    assert after["limit"] >= after["held"] + after["outstanding"]
    assert after["limit"] == max(5000_00, after["held"])  # cut, never below the holds
    assert issuer.check_ledger() == []
    assert len(results) == 7
