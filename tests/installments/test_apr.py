"""Regulation Z Appendix J actuarial APR, checked against the appendix's own examples."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import numpy_financial as npf
import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import given
from hypothesis import strategies as st

from paylater_sdk.errors import CurrencyMismatchError, NoAPRError, PlanError
from paylater_sdk.installments import (
    UnitPeriod,
    actuarial_apr,
    common_unit_period,
    effective_annual_rate,
)
from paylater_sdk.installments._unit_periods import months_back
from paylater_sdk.money import Money

Flows = list[tuple[date, Money]]


def usd(value: str) -> Money:
    return Money(value, "USD")


def monthly(first: date, count: int, amount: str, step: int = 1) -> Flows:
    return [(first + relativedelta(months=step * k), usd(amount)) for k in range(count)]


def every(first: date, days: int, count: int, amount: str) -> Flows:
    return [(first + timedelta(days=days * k), usd(amount)) for k in range(count)]


def semimonthly(first: date, count: int, amount: str) -> Flows:
    out: Flows = []
    month = first
    while len(out) < count:
        out += [(month, usd(amount)), (month.replace(day=16), usd(amount))]
        month += relativedelta(months=1)
    return out[:count]


# Appendix J (c): the regulation's worked examples and the APR it states for each.
EXAMPLES = {
    "(c)(1)(i) monthly, regular first period": (
        date(1978, 1, 10),
        "5000",
        monthly(date(1978, 2, 10), 24, "230"),
        "9.69",
    ),
    "(c)(1)(ii) monthly, long first period": (
        date(1978, 2, 10),
        "6000",
        monthly(date(1978, 4, 1), 36, "200"),
        "11.82",
    ),
    "(c)(1)(iii) semimonthly, short first period": (
        date(1978, 2, 23),
        "5000",
        semimonthly(date(1978, 3, 1), 24, "219.17"),
        "10.34",
    ),
    "(c)(1)(iv) quarterly, long first period": (
        date(1978, 5, 23),
        "10000",
        monthly(date(1978, 10, 1), 40, "385", step=3),
        "8.97",
    ),
    "(c)(1)(v) weekly, long first period": (
        date(1978, 3, 20),
        "500",
        every(date(1978, 4, 21), 7, 30, "17.60"),
        "14.96",
    ),
    "(c)(2)(i) monthly, odd first payment": (
        date(1978, 1, 10),
        "5000",
        [(date(1978, 2, 10), usd("250")), *monthly(date(1978, 3, 10), 23, "230")],
        "10.08",
    ),
    "(c)(2)(ii) every 4 weeks, long first period, odd first payment": (
        date(1978, 3, 18),
        "400",
        [(date(1978, 4, 20), usd("39.50")), *every(date(1978, 5, 18), 28, 11, "38.31")],
        "28.50",
    ),
    "(c)(3)(i) monthly, odd final payment": (
        date(1978, 1, 10),
        "5000",
        [*monthly(date(1978, 2, 10), 23, "230"), (date(1980, 1, 10), usd("280"))],
        "10.50",
    ),
    "(c)(3)(ii) every 2 weeks, short first period, odd final payment": (
        date(1978, 4, 3),
        "200",
        [
            *every(date(1978, 4, 11), 14, 19, "9.50"),
            (date(1978, 4, 11) + timedelta(days=14 * 19), usd("30")),
        ],
        "12.22",
    ),
    "(c)(4)(i) monthly, odd first and final payments": (
        date(1978, 1, 10),
        "5000",
        [
            (date(1978, 2, 10), usd("250")),
            *monthly(date(1978, 3, 10), 22, "230"),
            (date(1980, 1, 10), usd("280")),
        ],
        "10.90",
    ),
    "(c)(4)(ii) every 2 months, short first period, odd first and final payments": (
        date(1978, 1, 10),
        "8000",
        [
            (date(1978, 3, 1), usd("449.36")),
            *monthly(date(1978, 5, 1), 18, "465", step=2),
            (date(1981, 5, 1), usd("200")),
        ],
        "7.30",
    ),
    "(c)(5)(i) single advance, single payment, term in days": (
        date(1978, 1, 3),
        "1000",
        [(date(1978, 9, 15), usd("1080"))],
        "11.45",
    ),
}


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_regulation_z_appendix_j_examples(name: str) -> None:
    start, advance, payments, percent = EXAMPLES[name]
    apr = actuarial_apr([(start, usd(advance))], payments)
    assert isinstance(apr, Decimal)
    assert (apr * 100).quantize(Decimal("0.01")) == Decimal(percent)


def test_example_unit_periods_are_detected_per_b4() -> None:
    def unit(name: str) -> UnitPeriod:
        start, _, payments, _ = EXAMPLES[name]
        return common_unit_period([start, *(d for d, _ in payments)])

    assert unit("(c)(1)(i) monthly, regular first period") is UnitPeriod.MONTH
    assert unit("(c)(1)(iii) semimonthly, short first period") is UnitPeriod.SEMIMONTH
    assert unit("(c)(1)(iv) quarterly, long first period") is UnitPeriod.QUARTER
    assert unit("(c)(1)(v) weekly, long first period") is UnitPeriod.WEEK
    assert unit("(c)(2)(ii) every 4 weeks, long first period, odd first payment") is (
        UnitPeriod.FOUR_WEEKS
    )
    assert unit("(c)(3)(ii) every 2 weeks, short first period, odd final payment") is (
        UnitPeriod.TWO_WEEKS
    )
    assert unit("(c)(4)(ii) every 2 months, short first period, odd first and final payments") is (
        UnitPeriod.TWO_MONTHS
    )


def test_unit_period_ties_and_averages() -> None:
    # (b)(4)(i)(A): months and quarters twice each, equally often: the smaller wins.
    dates = [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1), date(2026, 6, 1)]
    assert common_unit_period([*dates, date(2026, 9, 1)]) is UnitPeriod.MONTH
    # (b)(3)(ii): a period that occurs once is not common; one month and one quarter
    # average two months ((b)(4)(i)(B)).
    assert common_unit_period([date(2026, 1, 1), date(2026, 2, 1), date(2026, 5, 1)]) is (
        UnitPeriod.TWO_MONTHS
    )
    # No common period: 40-day steps average 40 days, nearest standard interval 6 weeks.
    assert common_unit_period([date(2026, 1, 1), date(2026, 2, 10), date(2026, 3, 22)]) is (
        UnitPeriod.weeks(6)
    )
    # Yearly steps; daily steps.
    assert common_unit_period([date(2020, 1, 1), date(2021, 1, 1), date(2022, 1, 1)]) is (
        UnitPeriod.YEAR
    )
    assert common_unit_period([date(2020, 1, 1), date(2020, 1, 2), date(2020, 1, 3)]) is (
        UnitPeriod.DAY
    )
    with pytest.raises(PlanError, match="two distinct dates"):
        common_unit_period([date(2020, 1, 1)])


def test_explicit_unit_period_overrides_detection() -> None:
    start = date(2026, 1, 1)
    payments = [(start + relativedelta(months=k), usd("100")) for k in range(1, 13)]
    monthly_apr = actuarial_apr([(start, usd("1100"))], payments, unit_period=UnitPeriod.MONTH)
    daily_apr = actuarial_apr([(start, usd("1100"))], payments, unit_period=UnitPeriod.DAY)
    assert monthly_apr == actuarial_apr([(start, usd("1100"))], payments)
    assert monthly_apr != daily_apr
    assert abs(monthly_apr - daily_apr) < Decimal("0.005")


@pytest.mark.parametrize("periods", [3, 6, 12, 24])
@pytest.mark.parametrize("payment", ["8530.99", "9000", "12000"])
def test_regular_monthly_flows_agree_with_numpy_financial_irr(periods: int, payment: str) -> None:
    start = date(2026, 1, 15)
    advance = Decimal(payment) * periods * Decimal("0.9")
    advance_money = Money.rounded(advance, "CNY", rounding="ROUND_HALF_UP")
    flows = [
        (start + relativedelta(months=k), Money(payment, "CNY")) for k in range(1, periods + 1)
    ]
    apr = actuarial_apr([(start, advance_money)], flows)
    irr = npf.irr([-float(advance_money.amount)] + [float(payment)] * periods)
    assert abs(apr - Decimal(repr(irr)) * 12) < Decimal("1e-9")
    ear = effective_annual_rate([(start, advance_money)], flows)
    assert abs(ear - Decimal(repr((1 + irr) ** 12 - 1))) < Decimal("1e-9")


def test_zero_cost_flows_have_exactly_zero_rates() -> None:
    start = date(2026, 3, 31)
    flows = [(start + relativedelta(months=k), usd("33.33")) for k in range(1, 4)]
    flows[-1] = (flows[-1][0], usd("33.34"))
    assert actuarial_apr([(start, usd("100"))], flows) == 0
    assert str(actuarial_apr([(start, usd("100"))], flows)) == "0"
    assert effective_annual_rate([(start, usd("100"))], flows) == 0


def test_payment_on_the_advance_date_counts_at_time_zero() -> None:
    start = date(2026, 1, 1)
    flows = [(start + timedelta(days=14 * k), usd("26")) for k in range(4)]
    apr = actuarial_apr([(start, usd("100"))], flows)
    assert apr > 0
    assert apr.quantize(Decimal("0.0001")) == actuarial_apr(
        [(start, usd("74"))], flows[1:]
    ).quantize(Decimal("0.0001"))


def test_single_payment_whole_months_uses_the_term_as_unit_period() -> None:
    # (b)(5)(vi): 6 months, 2 unit-periods a year: 8 % for half a year is 16 %.
    apr = actuarial_apr([(date(1978, 1, 3), usd("1000"))], [(date(1978, 7, 3), usd("1080"))])
    assert apr == Decimal("0.16")
    ear = effective_annual_rate(
        [(date(1978, 1, 3), usd("1000"))], [(date(1978, 7, 3), usd("1080"))]
    )
    assert ear == Decimal("0.1664")


def test_single_payment_longer_than_a_year_uses_yearly_unit_period() -> None:
    apr = actuarial_apr([(date(2020, 1, 1), usd("1000"))], [(date(2022, 1, 1), usd("1210"))])
    assert apr == Decimal("0.1")


def test_effective_rate_is_never_below_the_nominal_one() -> None:
    start, advance, payments, _ = EXAMPLES["(c)(1)(i) monthly, regular first period"]
    nominal = actuarial_apr([(start, usd(advance))], payments)
    effective = effective_annual_rate([(start, usd(advance))], payments)
    assert effective == ((1 + nominal / 12) ** 12 - 1).quantize(Decimal("1e-12"))
    assert effective > nominal


class TestBadInput:
    start = date(2026, 1, 1)

    def test_payments_that_never_repay_have_no_apr(self) -> None:
        with pytest.raises(NoAPRError, match="never repay"):
            actuarial_apr([(self.start, usd("100"))], [(date(2026, 2, 1), usd("99.99"))])
        assert issubclass(NoAPRError, PlanError)
        assert issubclass(NoAPRError, ValueError)

    def test_no_payments_or_no_advances(self) -> None:
        with pytest.raises(NoAPRError, match="no payment"):
            actuarial_apr([(self.start, usd("100"))], [])
        with pytest.raises(NoAPRError, match="no advance"):
            actuarial_apr([], [(self.start, usd("100"))])
        with pytest.raises(NoAPRError, match="no advance"):
            actuarial_apr([(self.start, usd("0"))], [(self.start, usd("100"))])

    def test_more_than_the_advance_on_the_same_day_has_no_rate(self) -> None:
        with pytest.raises(NoAPRError, match="no time to accrue"):
            actuarial_apr([(self.start, usd("100"))], [(self.start, usd("101"))])
        with pytest.raises(NoAPRError, match="no rate solves"):
            actuarial_apr(
                [(self.start, usd("100")), (date(2026, 2, 1), usd("100"))],
                [(self.start, usd("150")), (date(2026, 3, 1), usd("60"))],
            )

    def test_payment_before_the_advance(self) -> None:
        with pytest.raises(PlanError, match="before the first advance"):
            actuarial_apr([(self.start, usd("100"))], [(date(2025, 12, 1), usd("101"))])

    def test_malformed_pairs(self) -> None:
        with pytest.raises(PlanError, match=r"\(date, Money\) pair"):
            actuarial_apr([(self.start,)], [(self.start, usd("1"))])  # type: ignore[list-item]
        with pytest.raises(PlanError, match=r"datetime\.date"):
            actuarial_apr([("2026-01-01", usd("1"))], [])  # type: ignore[list-item]
        with pytest.raises(PlanError, match="must be Money"):
            actuarial_apr([(self.start, Decimal(1))], [])  # type: ignore[list-item]
        with pytest.raises(TypeError, match="never float"):
            actuarial_apr([(self.start, 1.0)], [])  # type: ignore[list-item]
        with pytest.raises(PlanError, match="sequence"):
            actuarial_apr("nope", [])  # type: ignore[arg-type]
        with pytest.raises(PlanError, match="negative"):
            actuarial_apr([(self.start, usd("-1"))], [])

    def test_mixed_currencies(self) -> None:
        with pytest.raises(CurrencyMismatchError, match="one currency"):
            actuarial_apr([(self.start, usd("1"))], [(self.start, Money("2", "CNY"))])

    def test_unknown_unit_period(self) -> None:
        with pytest.raises(PlanError, match="unknown unit_period"):
            actuarial_apr(
                [(self.start, usd("1"))],
                [(date(2026, 2, 1), usd("2"))],
                unit_period="MONTH",  # type: ignore[arg-type]
            )


class TestMonthsBack:
    def test_anchored_dates_are_whole_months_even_at_month_end(self) -> None:
        day = date(2023, 1, 1)
        while day < date(2025, 1, 1):
            for k in (1, 2, 3, 11, 12, 13, 25):
                assert months_back(day, day + relativedelta(months=k)) == (k, day), (day, k)
            day += timedelta(days=1)

    def test_odd_periods_count_back_from_the_later_date(self) -> None:
        assert months_back(date(1978, 2, 10), date(1978, 4, 1)) == (1, date(1978, 3, 1))
        assert months_back(date(2026, 1, 20), date(2026, 2, 10)) == (0, date(2026, 2, 10))
        assert months_back(date(2026, 1, 10), date(2026, 1, 10)) == (0, date(2026, 1, 10))

    @given(
        st.dates(date(1990, 1, 1), date(2100, 1, 1)),
        st.integers(0, 800),
    )
    def test_agrees_with_dateutil_counting_back(self, start: date, days: int) -> None:
        later = start + timedelta(days=days)
        months, boundary = months_back(start, later)
        assert start <= boundary <= later
        if months:
            assert later - relativedelta(months=months) <= boundary
            assert later - relativedelta(months=months + 1) < start
        if later.day != (later + relativedelta(day=31)).day and months:
            assert boundary == max(start, later - relativedelta(months=months))


def test_tiny_and_huge_rates_converge() -> None:
    start = date(2026, 1, 1)
    advance = [(start, Money.from_minor(10**12, "CNY"))]
    payments = [
        (start + relativedelta(months=k), Money.from_minor(10**12 // 2, "CNY")) for k in (1, 2)
    ]
    payments[-1] = (payments[-1][0], Money.from_minor(10**12 // 2 + 1, "CNY"))
    tiny = actuarial_apr(advance, payments)
    assert Decimal(0) < tiny < Decimal("1e-10")
    # 1000 % a month: far outside any guess, found by expanding the bracket.
    huge = actuarial_apr([(start, usd("1"))], [(date(2026, 2, 1), usd("11"))])
    assert huge == Decimal(120)


def test_multiple_advances_are_discounted_too() -> None:
    # A construction-loan shape: two advances, repaid monthly afterwards.
    start = date(2026, 1, 1)
    advances = [(start, usd("500")), (date(2026, 3, 1), usd("500"))]
    payments = [(date(2026, 3, 1) + relativedelta(months=k), usd("260")) for k in range(1, 5)]
    apr = actuarial_apr(advances, payments)
    later = actuarial_apr([(start, usd("1000"))], payments)
    assert Decimal(0) < later < apr
