"""Offers, quotes, the APR ceiling and the "as low as" line."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest

from paylater_sdk.errors import PlanError
from paylater_sdk.installments import (
    STANDARD_OFFERS,
    CapBasis,
    FeePayer,
    Frequency,
    Method,
    PlanOffer,
    PlanQuote,
    PlanTerms,
    as_low_as,
    quote_plans,
)
from paylater_sdk.money import Money

START = date(2026, 11, 29)


def cny(value: str) -> Money:
    return Money(value, "CNY")


def offer(plan_id: str, terms: PlanTerms, low: str = "1", high: str = "50000") -> PlanOffer:
    return PlanOffer(plan_id, plan_id.upper(), terms, cny(low), cny(high))


class TestStandardCatalogue:
    def test_every_standard_offer_is_quotable_under_the_default_cap(self) -> None:
        quotes = quote_plans(cny("1000"), STANDARD_OFFERS, start=START)
        assert [q.plan_id for q in quotes] == ["fenfu-3", "free-3", "fenfu-6", "fenfu-12"]
        for quote in quotes:
            assert Decimal(0) <= quote.apr < Decimal("0.24")

    def test_the_catalogue_matches_its_description(self) -> None:
        by_id = {o.plan_id: o for o in STANDARD_OFFERS}
        free = by_id["free-3"].terms
        assert (free.method, free.periods, free.fee_payer) == (
            Method.INTEREST_FREE,
            3,
            FeePayer.MERCHANT,
        )
        for plan_id, periods in (("fenfu-3", 3), ("fenfu-6", 6), ("fenfu-12", 12)):
            terms = by_id[plan_id].terms
            assert terms.method is Method.FLAT_FEE
            assert terms.periods == periods
        for item in STANDARD_OFFERS:
            assert item.min_amount <= cny("100")
            assert item.max_amount == cny("50000")

    def test_quote_json_is_the_documented_plan_quote(self) -> None:
        quotes = quote_plans(cny("120"), STANDARD_OFFERS, start=START)
        six = next(q for q in quotes if q.plan_id == "fenfu-6")
        assert six.to_json() == {
            "plan_id": "fenfu-6",
            "name": "6期 6 installments",
            "method": "FLAT_FEE",
            "periods": 6,
            "frequency": "MONTHLY",
            "fee_payer": "BUYER",
            "first_payment": {"value": 2072, "currency": "CNY"},
            "regular_payment": {"value": 2072, "currency": "CNY"},
            "total_amount": {"value": 12432, "currency": "CNY"},
            "total_cost": {"value": 432, "currency": "CNY"},
            "apr": str(six.apr.quantize(Decimal("0.0001"))),
            "effective_annual_rate": str(six.effective_annual_rate.quantize(Decimal("0.0001"))),
        }
        assert six.to_json()["apr"] == "0.1224"
        assert six.apr != Decimal("0.1224")  # the object keeps the full figure
        free = next(q for q in quotes if q.plan_id == "free-3")
        assert free.total_cost == cny("0")
        assert free.to_json()["apr"] == "0.0000"


class TestQuotePlans:
    def test_range_and_currency_filtering(self) -> None:
        offers = [
            offer("small", PlanTerms(3, "FLAT_FEE", fee_rate_per_period="0.005"), "1", "100"),
            offer("big", PlanTerms(6, "FLAT_FEE", fee_rate_per_period="0.005"), "100", "5000"),
            PlanOffer(
                "usd", "USD", PlanTerms(4, "PAY_IN_4"), Money("1", "USD"), Money("999", "USD")
            ),
        ]
        assert [q.plan_id for q in quote_plans(cny("50"), offers, start=START)] == ["small"]
        assert [q.plan_id for q in quote_plans(cny("100"), offers, start=START)] == [
            "small",
            "big",
        ]
        assert [q.plan_id for q in quote_plans(cny("100.01"), offers, start=START)] == ["big"]
        assert [q.plan_id for q in quote_plans(Money("50", "USD"), offers, start=START)] == ["usd"]

    def test_apr_cap_drops_expensive_plans_and_is_configurable(self) -> None:
        dear = offer("dear", PlanTerms(3, "FLAT_FEE", fee_rate_per_period="0.03"))
        cheap = offer("cheap", PlanTerms(3, "FLAT_FEE", fee_rate_per_period="0.005"))
        quotes = quote_plans(cny("1000"), [dear, cheap], start=START)
        assert [q.plan_id for q in quotes] == ["cheap"]
        # dear: 53.2 % nominal, 68.3 % effective; the default cap basis is effective.
        loose = quote_plans(cny("1000"), [dear, cheap], start=START, apr_cap=Decimal("0.70"))
        assert [q.plan_id for q in loose] == ["cheap", "dear"]
        assert loose[1].apr > Decimal("0.24")
        tight = quote_plans(cny("1000"), [dear, cheap], start=START, apr_cap=Decimal("0.60"))
        assert [q.plan_id for q in tight] == ["cheap"]
        uncapped = quote_plans(cny("1000"), [dear], start=START, apr_cap=None)
        assert [q.plan_id for q in uncapped] == ["dear"]

    def test_sorted_by_periods_then_plan_id(self) -> None:
        offers = [
            offer("b-6", PlanTerms(6, "INTEREST_FREE")),
            offer("z-3", PlanTerms(3, "INTEREST_FREE")),
            offer("a-6", PlanTerms(6, "INTEREST_FREE")),
        ]
        assert [q.plan_id for q in quote_plans(cny("600"), offers, start=START)] == [
            "z-3",
            "a-6",
            "b-6",
        ]

    def test_quote_figures(self) -> None:
        terms = PlanTerms(3, Method.FLAT_FEE, fee_rate_per_period="0.0075")
        (quote,) = quote_plans(cny("100"), [offer("f3", terms)], start=START)
        assert isinstance(quote, PlanQuote)
        assert quote.amount == cny("100")
        assert quote.first_payment == cny("34.08")
        assert quote.regular_payment == cny("34.08")  # two of the three
        assert quote.total_amount == cny("102.25")
        assert quote.total_cost == cny("2.25")
        assert quote.schedule.installments[-1].amount == cny("34.09")

    def test_plans_that_cannot_split_the_amount_are_left_out(self) -> None:
        tiny = offer("sixty", PlanTerms(60, "INTEREST_FREE"), "0.01", "100")
        assert quote_plans(cny("0.10"), [tiny], start=START) == []

    @pytest.mark.parametrize(
        ("amount", "offers", "kwargs", "message"),
        [
            ("100", STANDARD_OFFERS, {"start": START}, "amount must be Money"),
            (cny("0"), STANDARD_OFFERS, {"start": START}, "must be positive"),
            (cny("10"), STANDARD_OFFERS, {"start": None}, "start"),
            (cny("1000"), STANDARD_OFFERS, {"start": "2026-11-29"}, "start must be"),
            (cny("10"), STANDARD_OFFERS[0], {"start": START}, "iterable of PlanOffer"),
            (cny("10"), [{"plan_id": "x"}], {"start": START}, "must be PlanOffer"),
            (cny("10"), STANDARD_OFFERS, {"start": START, "apr_cap": "-1"}, "negative"),
            (cny("10"), STANDARD_OFFERS, {"start": START, "cap_basis": "simple"}, "cap_basis"),
            (cny("10"), STANDARD_OFFERS, {"start": START, "cap_basis": None}, "'effective'"),
        ],
    )
    def test_bad_input(
        self, amount: object, offers: object, kwargs: dict[str, object], message: str
    ) -> None:
        with pytest.raises(PlanError, match=message):
            quote_plans(amount, offers, **kwargs)  # type: ignore[arg-type]


class TestCapBasis:
    """Issue item 7: the cap is compared with the rate it names (default: effective)."""

    # 12 x 1.1 % a month on the original principal: 23.53 % nominal, 26.24 % effective.
    near = offer("near", PlanTerms(12, "FLAT_FEE", fee_rate_per_period="0.011"))

    def test_the_issue_offer_is_under_24_nominal_and_over_24_effective(self) -> None:
        (quote,) = quote_plans(cny("12000"), [self.near], start=START, apr_cap=None)
        assert quote.to_json()["apr"] == "0.2353"
        assert quote.to_json()["effective_annual_rate"] == "0.2624"
        # Independently: the effective rate compounds the monthly rate APR / 12.
        monthly = Fraction(quote.apr) / 12
        assert abs(Fraction(quote.effective_annual_rate) - ((1 + monthly) ** 12 - 1)) < 1e-11

    def test_default_basis_is_effective_so_the_offer_is_dropped(self) -> None:
        assert quote_plans(cny("12000"), [self.near], start=START) == []
        effective = quote_plans(cny("12000"), [self.near], start=START, cap_basis="effective")
        assert effective == []
        assert as_low_as(cny("12000"), [self.near], start=START) is None

    def test_nominal_basis_compares_the_apr(self) -> None:
        quotes = quote_plans(cny("12000"), [self.near], start=START, cap_basis="nominal")
        assert [q.plan_id for q in quotes] == ["near"]
        same = quote_plans(cny("12000"), [self.near], start=START, cap_basis=CapBasis.NOMINAL)
        assert [q.plan_id for q in same] == ["near"]
        assert as_low_as(cny("12000"), [self.near], start=START, cap_basis="nominal") == (
            cny("1132.00")
        )
        # At or under the cap passes on either basis: 26.24 % effective passes a 27 % cap.
        assert len(quote_plans(cny("12000"), [self.near], start=START, apr_cap="0.27")) == 1

    def test_standard_offers_pass_the_default_effective_cap(self) -> None:
        quotes = quote_plans(cny("3000"), STANDARD_OFFERS, start=START)
        assert len(quotes) == len(STANDARD_OFFERS)
        assert all(q.effective_annual_rate < Decimal("0.24") for q in quotes)


class TestAsLowAs:
    def test_smallest_regular_monthly_payment(self) -> None:
        assert as_low_as(cny("1200"), STANDARD_OFFERS, start=START) == cny("107.50")

    def test_biweekly_plans_do_not_count_as_monthly(self) -> None:
        pay4 = offer("pay4", PlanTerms(4, "PAY_IN_4"))
        assert pay4.terms.frequency is Frequency.BIWEEKLY
        assert as_low_as(cny("100"), [pay4], start=START) is None
        three = offer("three", PlanTerms(3, "INTEREST_FREE"))
        assert as_low_as(cny("100"), [pay4, three], start=START) == cny("33.33")

    def test_no_applicable_offer(self) -> None:
        assert as_low_as(cny("99999"), STANDARD_OFFERS, start=START) is None

    def test_defaults_to_today(self) -> None:
        assert as_low_as(cny("300"), STANDARD_OFFERS) == cny("26.88")


class TestOfferValidation:
    terms = PlanTerms(3, "INTEREST_FREE")

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (("", "n", terms, cny("1"), cny("2")), "plan_id"),
            (("bad id!", "n", terms, cny("1"), cny("2")), "plan_id"),
            (("ok", " ", terms, cny("1"), cny("2")), "display name"),
            (("ok", "n", {"periods": 3}, cny("1"), cny("2")), "terms must be PlanTerms"),
            (("ok", "n", terms, "1", cny("2")), "min_amount must be Money"),
            (("ok", "n", terms, cny("0"), cny("2")), "min_amount must be positive"),
            (("ok", "n", terms, cny("3"), cny("2")), "above max_amount"),
            (("ok", "n", terms, cny("1"), Money("2", "USD")), "same currency"),
        ],
    )
    def test_bad_offers(self, args: tuple[object, ...], message: str) -> None:
        with pytest.raises(PlanError, match=message):
            PlanOffer(*args)  # type: ignore[arg-type]

    def test_accepts(self) -> None:
        item = offer("x", self.terms, "10", "20")
        assert item.accepts(cny("10"))
        assert item.accepts(cny("20"))
        assert not item.accepts(cny("20.01"))
        assert not item.accepts(Money("15", "USD"))
        assert item.currency == "CNY"
