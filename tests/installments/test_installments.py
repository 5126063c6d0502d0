"""Plan terms and schedules: reference values, rounding rules, due dates, bad input."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, getcontext

import pytest

from paylater_sdk import installments
from paylater_sdk.errors import PlanError
from paylater_sdk.installments import (
    FeePayer,
    Frequency,
    Method,
    PlanTerms,
    Schedule,
    build_schedule,
    due_dates,
)
from paylater_sdk.installments._amortization import equal_parts
from paylater_sdk.installments._terms import FRACTIONS_HINT
from paylater_sdk.money import Money

START = date(2026, 1, 15)


def cny(value: str) -> Money:
    return Money(value, "CNY")


def amounts(schedule: Schedule, field: str = "amount") -> list[str]:
    return [str(getattr(i, field).amount) for i in schedule.installments]


def level_payment(principal: str, annual: str, n: int) -> Decimal:
    """The textbook annuity formula in 50-digit Decimal, independent of the engine."""
    ctx = getcontext().copy()
    ctx.prec = 50
    r = ctx.divide(Decimal(annual), 12)
    growth = ctx.power(1 + r, n)
    exact = ctx.divide(Decimal(principal) * r * growth, growth - 1)
    return exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


class TestPublishedReferenceValues:
    def test_equal_payment_100k_at_4_35_percent_12_months(self) -> None:
        terms = PlanTerms(12, Method.EQUAL_PAYMENT, annual_rate="0.0435")
        schedule = build_schedule(cny("100000"), terms, start=START)
        assert schedule.installments[0].amount == cny("8530.99")
        assert amounts(schedule)[:11] == ["8530.99"] * 11
        # The last one pays the exact remaining balance plus its interest.
        last = schedule.installments[-1]
        assert last.principal == schedule.installments[-2].remaining_principal
        assert last.amount == cny("8531.01")
        assert last.remaining_principal == cny("0")
        assert schedule.installments[0].interest == cny("362.50")  # 100000 * 0.003625
        assert schedule.total_interest == cny("2371.90")

    def test_equal_payment_one_million_at_4_9_percent_60_months(self) -> None:
        terms = PlanTerms(60, "EQUAL_PAYMENT", annual_rate="0.049")
        schedule = build_schedule(cny("1000000"), terms, start=START)
        assert schedule.installments[0].amount == cny("18825.45")
        assert schedule.installments[0].amount.amount == level_payment("1000000", "0.049", 60)

    @pytest.mark.parametrize(
        ("principal", "annual", "n"),
        [("100000", "0.0435", 12), ("5000", "0.18", 24), ("12345.67", "0.0999", 7)],
    )
    def test_equal_payment_matches_the_annuity_formula(
        self, principal: str, annual: str, n: int
    ) -> None:
        terms = PlanTerms(n, Method.EQUAL_PAYMENT, annual_rate=annual)
        schedule = build_schedule(cny(principal), terms, start=START)
        assert schedule.installments[0].amount.amount == level_payment(principal, annual, n)

    def test_equal_principal_100k_at_4_35_percent_12_months(self) -> None:
        terms = PlanTerms(12, Method.EQUAL_PRINCIPAL, annual_rate="0.0435")
        schedule = build_schedule(cny("100000"), terms, start=START)
        assert amounts(schedule, "principal") == ["8333.33"] * 11 + ["8333.37"]
        assert schedule.installments[0].amount == cny("8695.83")  # 8333.33 + 362.50
        # Interest falls with the balance: 91666.67 * 0.003625 = 332.291... -> 332.29.
        assert schedule.installments[1].interest == cny("332.29")
        assert schedule.total_interest == cny("2356.26")
        assert schedule.apr.quantize(Decimal("0.0001")) == Decimal("0.0435")


class TestRoundingRules:
    def test_flat_fee_splits_principal_half_up_and_the_last_takes_the_remainder(self) -> None:
        terms = PlanTerms(3, Method.FLAT_FEE, fee_rate_per_period="0.0075")
        schedule = build_schedule(cny("100"), terms, start=START)
        assert amounts(schedule, "principal") == ["33.33", "33.33", "33.34"]
        assert amounts(schedule, "fee") == ["0.75", "0.75", "0.75"]
        assert amounts(schedule) == ["34.08", "34.08", "34.09"]
        assert schedule.total_fees == cny("2.25")
        assert schedule.total_interest == cny("0")

    def test_principal_share_rounds_half_up(self) -> None:
        # 0.05 / 2 = 0.025 -> 0.03 half-up; the last takes 0.02.
        schedule = build_schedule(cny("0.05"), PlanTerms(2, "INTEREST_FREE"), start=START)
        assert amounts(schedule, "principal") == ["0.03", "0.02"]

    def test_fee_per_period_rounds_half_up(self) -> None:
        # 12.50 * 0.006 = 0.075 -> 0.08
        terms = PlanTerms(2, Method.FLAT_FEE, fee_rate_per_period="0.006")
        schedule = build_schedule(cny("12.50"), terms, start=START)
        assert amounts(schedule, "fee") == ["0.08", "0.08"]

    def test_interest_rounds_half_up_on_the_balance(self) -> None:
        # 100 * 0.12 / 12 = 1.00; 66.67 * 0.01 = 0.6667 -> 0.67; 33.34 * 0.01 -> 0.33.
        terms = PlanTerms(3, Method.EQUAL_PRINCIPAL, annual_rate="0.12")
        schedule = build_schedule(cny("100"), terms, start=START)
        assert amounts(schedule, "interest") == ["1.00", "0.67", "0.33"]

    def test_jpy_has_no_minor_digits(self) -> None:
        terms = PlanTerms(3, Method.FLAT_FEE, fee_rate_per_period="0.01")
        schedule = build_schedule(Money("1000", "JPY"), terms, start=START)
        assert amounts(schedule, "principal") == ["333", "333", "334"]
        assert amounts(schedule, "fee") == ["10", "10", "10"]
        assert schedule.currency == "JPY"


class TestMethods:
    def test_interest_free_with_merchant_fees(self) -> None:
        terms = PlanTerms(
            3,
            Method.INTEREST_FREE,
            fee_rate_per_period="0.006",
            fee_payer=FeePayer.MERCHANT,
            merchant_fee_rate="0.01",
        )
        schedule = build_schedule(cny("100"), terms, start=START)
        assert schedule.total_amount == cny("100")
        assert schedule.merchant_fee == cny("2.80")  # 3 * 0.60 + 1.00
        assert schedule.apr == 0
        assert schedule.effective_annual_rate == 0

    def test_flat_fee_paid_by_the_merchant_is_free_for_the_buyer(self) -> None:
        terms = PlanTerms(6, Method.FLAT_FEE, fee_rate_per_period="0.0075", fee_payer="merchant")
        schedule = build_schedule(cny("600"), terms, start=START)
        assert amounts(schedule) == ["100.00"] * 6
        assert schedule.merchant_fee == cny("27.00")
        assert schedule.apr == 0

    def test_pay_in_4_starts_at_purchase_every_14_days(self) -> None:
        schedule = build_schedule(cny("100"), PlanTerms(4, Method.PAY_IN_4), start=START)
        assert [i.due_date for i in schedule.installments] == [
            date(2026, 1, 15),
            date(2026, 1, 29),
            date(2026, 2, 12),
            date(2026, 2, 26),
        ]
        assert amounts(schedule) == ["25.00"] * 4
        assert schedule.terms.frequency is Frequency.BIWEEKLY
        assert schedule.apr == 0

    def test_biweekly_equal_payment_uses_26_periods_a_year(self) -> None:
        terms = PlanTerms(4, Method.EQUAL_PAYMENT, annual_rate="0.26", frequency="biweekly")
        schedule = build_schedule(cny("100000"), terms, start=START)
        assert schedule.installments[0].interest == cny("1000.00")  # 100000 * 0.26 / 26
        assert schedule.installments[0].due_date == date(2026, 1, 29)
        assert schedule.apr.quantize(Decimal("0.0001")) == Decimal("0.2600")

    def test_single_period(self) -> None:
        terms = PlanTerms(1, Method.FLAT_FEE, fee_rate_per_period="0.01")
        schedule = build_schedule(cny("100"), terms, start=date(2026, 1, 15))
        assert amounts(schedule) == ["101.00"]
        assert schedule.apr == Decimal("0.12")  # 1 % for one month, 12 months a year

    def test_flat_fee_apr_is_far_above_the_nominal_fee(self) -> None:
        # PBOC 2021 No. 3: 0.6 % a month over 12 months is far above 7.2 % a year.
        terms = PlanTerms(12, Method.FLAT_FEE, fee_rate_per_period="0.006")
        schedule = build_schedule(cny("12000"), terms, start=date(2026, 1, 31))
        assert schedule.apr.quantize(Decimal("0.0001")) == Decimal("0.1303")
        assert schedule.effective_annual_rate.quantize(Decimal("0.0001")) == Decimal("0.1384")
        assert schedule.total_fees == cny("864.00")


class TestDueDates:
    def test_month_end_start_is_clamped_not_chained(self) -> None:
        terms = PlanTerms(4, Method.INTEREST_FREE)
        assert due_dates(terms, date(2024, 1, 31)) == [
            date(2024, 2, 29),
            date(2024, 3, 31),
            date(2024, 4, 30),
            date(2024, 5, 31),
        ]

    def test_due_day_fixes_the_day_of_month(self) -> None:
        terms = PlanTerms(3, Method.INTEREST_FREE, due_day=10)
        assert due_dates(terms, date(2026, 1, 31)) == [
            date(2026, 2, 10),
            date(2026, 3, 10),
            date(2026, 4, 10),
        ]
        terms31 = PlanTerms(3, Method.INTEREST_FREE, due_day=31)
        assert due_dates(terms31, date(2026, 1, 5)) == [
            date(2026, 2, 28),
            date(2026, 3, 31),
            date(2026, 4, 30),
        ]

    def test_due_day_with_an_odd_first_period_still_has_an_apr(self) -> None:
        terms = PlanTerms(6, Method.FLAT_FEE, fee_rate_per_period="0.006", due_day=10)
        odd = build_schedule(cny("1200"), terms, start=date(2026, 1, 31))
        regular = build_schedule(
            cny("1200"), PlanTerms(6, Method.FLAT_FEE, fee_rate_per_period="0.006"), start=START
        )
        # A shorter first period for the same fees costs more per year.
        assert odd.apr > regular.apr

    def test_datetime_start_is_taken_as_its_date(self) -> None:
        terms = PlanTerms(1, Method.INTEREST_FREE)
        assert due_dates(terms, datetime(2026, 1, 15, 23, 59)) == [date(2026, 2, 15)]


class TestTermsValidation:
    def test_enums_are_strings_equal_to_their_names(self) -> None:
        assert Method.FLAT_FEE.value == "FLAT_FEE"
        assert Frequency.MONTHLY.value == "MONTHLY"
        assert FeePayer.MERCHANT.value == "MERCHANT"
        assert PlanTerms(3, "flat-fee").method is Method.FLAT_FEE

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"periods": 0, "method": "FLAT_FEE"}, "between 1 and 60"),
            ({"periods": 61, "method": "FLAT_FEE"}, "between 1 and 60"),
            ({"periods": "12", "method": "FLAT_FEE"}, "periods must be an int"),
            ({"periods": True, "method": "FLAT_FEE"}, "periods must be an int"),
            ({"periods": 3, "method": "BALLOON"}, "unknown method 'BALLOON'"),
            ({"periods": 3, "method": 7}, "unknown method"),
            ({"periods": 3, "method": "FLAT_FEE", "frequency": "DAILY"}, "unknown frequency"),
            ({"periods": 3, "method": "FLAT_FEE", "fee_payer": "BANK"}, "unknown fee_payer"),
            ({"periods": 3, "method": "FLAT_FEE", "fee_rate_per_period": "-0.01"}, "negative"),
            ({"periods": 3, "method": "FLAT_FEE", "fee_rate_per_period": "1.5"}, "above 0.1"),
            ({"periods": 3, "method": "FLAT_FEE", "fee_rate_per_period": "abc"}, "not a decimal"),
            ({"periods": 3, "method": "FLAT_FEE", "fee_rate_per_period": "NaN"}, "finite"),
            ({"periods": 3, "method": "EQUAL_PAYMENT", "annual_rate": "13"}, "100 % a year"),
            ({"periods": 3, "method": "FLAT_FEE", "fee_rate_per_period": "1e-13"}, "12 decimal"),
            ({"periods": 3, "method": "FLAT_FEE", "annual_rate": "0.1"}, "annual_rate applies"),
            (
                {"periods": 3, "method": "EQUAL_PAYMENT", "fee_rate_per_period": "0.01"},
                "does not apply",
            ),
            (
                {"periods": 3, "method": "INTEREST_FREE", "fee_rate_per_period": "0.01"},
                "cannot charge the buyer",
            ),
            ({"periods": 3, "method": "FLAT_FEE", "merchant_fee_rate": "1"}, "below 1"),
            ({"periods": 3, "method": "PAY_IN_4"}, "exactly 4 periods"),
            ({"periods": 4, "method": "PAY_IN_4", "frequency": "MONTHLY"}, "14 days apart"),
            ({"periods": 3, "method": "FLAT_FEE", "due_day": 0}, "due_day"),
            ({"periods": 3, "method": "FLAT_FEE", "due_day": 32}, "due_day"),
            (
                {"periods": 3, "method": "FLAT_FEE", "due_day": 5, "frequency": "BIWEEKLY"},
                "only applies to MONTHLY",
            ),
        ],
    )
    def test_bad_terms(self, kwargs: dict[str, object], message: str) -> None:
        with pytest.raises(PlanError, match=message):
            PlanTerms(**kwargs)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("kwargs", "shown"),
        [
            ({"method": "EQUAL_PAYMENT", "annual_rate": "4.35"}, "annual_rate 4.35 is above 1"),
            ({"method": "EQUAL_PRINCIPAL", "annual_rate": "1.0001"}, "above 1 (100 % a year)"),
            ({"method": "EQUAL_PAYMENT", "annual_rate": "12", "frequency": "BIWEEKLY"}, "12"),
            ({"method": "FLAT_FEE", "fee_rate_per_period": "0.6"}, "above 0.1 (10 % a period)"),
            ({"method": "FLAT_FEE", "fee_rate_per_period": "0.1000001"}, "0.1000001"),
            (
                {"method": "INTEREST_FREE", "fee_rate_per_period": "0.5", "fee_payer": "MERCHANT"},
                "fee_rate_per_period 0.5",
            ),
        ],
    )
    def test_absurd_rates_say_rates_are_fractions(
        self, kwargs: dict[str, object], shown: str
    ) -> None:
        # The contract: above 100 % a year, or 10 % a period, is a percentage typed
        # where a fraction belongs, and the error says so in these words.
        assert FRACTIONS_HINT == "rates are fractions: 0.0435 is 4.35 %"
        with pytest.raises(PlanError, match=re.escape(FRACTIONS_HINT)) as info:
            PlanTerms(3, **kwargs)  # type: ignore[arg-type]
        assert shown in str(info.value)

    def test_the_limits_themselves_are_accepted(self) -> None:
        assert PlanTerms(3, "EQUAL_PAYMENT", annual_rate="1").annual_rate == 1
        assert PlanTerms(3, "FLAT_FEE", fee_rate_per_period="0.1").fee_rate_per_period == (
            Decimal("0.1")
        )
        # Trailing zeros are not decimal places; a zero with any exponent is zero.
        assert PlanTerms(
            3, "FLAT_FEE", fee_rate_per_period="0.00600000000000000"
        ).fee_rate_per_period == (Decimal("0.006"))
        assert PlanTerms(3, "FLAT_FEE", fee_rate_per_period="0E-999999").fee_rate_per_period == 0

    def test_float_rates_are_type_errors(self) -> None:
        with pytest.raises(TypeError, match="never a float"):
            PlanTerms(3, Method.FLAT_FEE, fee_rate_per_period=0.006)  # type: ignore[arg-type]

    def test_terms_json_round_trip(self) -> None:
        terms = PlanTerms(6, "FLAT_FEE", fee_rate_per_period="0.006", due_day=5)
        assert PlanTerms.from_json(terms.to_json()) == terms
        with pytest.raises(PlanError, match="unknown plan terms fields"):
            PlanTerms.from_json({**terms.to_json(), "x": 1})
        with pytest.raises(PlanError, match="decimal string"):
            PlanTerms.from_json({**terms.to_json(), "annual_rate": 0.1})
        with pytest.raises(PlanError, match="need 'periods'"):
            PlanTerms.from_json({"method": "FLAT_FEE"})


class TestBuildValidation:
    terms = PlanTerms(3, Method.FLAT_FEE, fee_rate_per_period="0.006")

    @pytest.mark.parametrize("principal", [cny("0"), cny("-1")])
    def test_non_positive_principal(self, principal: Money) -> None:
        with pytest.raises(PlanError, match="principal must be positive"):
            build_schedule(principal, self.terms, start=START)

    @pytest.mark.parametrize("principal", [100, "100", Decimal(100)])
    def test_non_money_principal(self, principal: object) -> None:
        with pytest.raises(PlanError, match="principal must be Money"):
            build_schedule(principal, self.terms, start=START)  # type: ignore[arg-type]

    def test_missing_or_bad_start(self) -> None:
        with pytest.raises(PlanError, match=r"start must be a datetime\.date"):
            build_schedule(cny("100"), self.terms, start=None)  # type: ignore[arg-type]
        with pytest.raises(PlanError, match="start must be"):
            build_schedule(cny("100"), self.terms, start="2026-01-01")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            build_schedule(cny("100"), self.terms)  # type: ignore[call-arg]

    def test_bad_terms_object(self) -> None:
        with pytest.raises(PlanError, match="terms must be PlanTerms"):
            build_schedule(cny("100"), {"periods": 3}, start=START)  # type: ignore[arg-type]

    def test_amount_too_small_to_split(self) -> None:
        with pytest.raises(PlanError, match="cannot be split into 12 installments"):
            build_schedule(cny("0.10"), PlanTerms(12, Method.INTEREST_FREE), start=START)
        with pytest.raises(PlanError, match="too small to amortize"):
            build_schedule(
                cny("0.02"), PlanTerms(12, Method.EQUAL_PAYMENT, annual_rate="0.5"), start=START
            )


def test_public_names_are_exported() -> None:
    for name in (
        "Method",
        "PlanTerms",
        "build_schedule",
        "Schedule",
        "Installment",
        "PlanOffer",
        "PlanQuote",
        "quote_plans",
        "as_low_as",
        "STANDARD_OFFERS",
        "FeePayer",
        "Frequency",
    ):
        assert name in installments.__all__
        assert getattr(installments, name) is not None


class TestSmallAmounts:
    """Issue item 4: an equal-principal split succeeds with one minor unit per period."""

    @pytest.mark.parametrize(
        ("amount", "periods", "expected"),
        [
            # half-up 5 fen x 13 leaves -2 for the last: rounded down, remainder spread last.
            ("0.63", 14, ["0.04"] * 7 + ["0.05"] * 7),
            ("10.00", 60, ["0.16"] * 20 + ["0.17"] * 40),
            ("17.70", 60, ["0.29"] * 30 + ["0.30"] * 30),
            ("0.12", 12, ["0.01"] * 12),
            # Where "the last takes the remainder" works, it still applies.
            ("100.00", 3, ["33.33", "33.33", "33.34"]),
            ("0.05", 3, ["0.02", "0.02", "0.01"]),
        ],
    )
    def test_splits_that_used_to_be_refused(
        self, amount: str, periods: int, expected: list[str]
    ) -> None:
        for method in (Method.INTEREST_FREE, Method.EQUAL_PRINCIPAL, Method.FLAT_FEE):
            schedule = build_schedule(cny(amount), PlanTerms(periods, method), start=START)
            assert [str(i.principal.amount) for i in schedule.installments] == expected
            assert schedule.installments[-1].remaining_principal == cny("0")

    def test_every_amount_with_a_minor_unit_per_period_splits(self) -> None:
        for periods in (2, 3, 6, 12, 14, 24, 36, 60):
            for minor in range(periods, periods * 3 + 2):
                parts = equal_parts(minor, periods)
                assert sum(parts) == minor
                assert min(parts) >= 1
                share = (2 * minor + periods) // (2 * periods)  # half-up, computed here
                if minor - share * (periods - 1) >= 1:
                    assert parts == [share] * (periods - 1) + [minor - share * (periods - 1)]
                else:
                    assert max(parts) - min(parts) <= 1
                    assert parts == sorted(parts)
            with pytest.raises(PlanError, match="at least one minor unit"):
                equal_parts(periods - 1, periods)
