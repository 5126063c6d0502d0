"""The plain-monthly shortcut of unit_periods agrees with the general (b)(4)/(b)(5) rules."""

from __future__ import annotations

from datetime import date, timedelta

from dateutil.relativedelta import relativedelta
from hypothesis import given
from hypothesis import strategies as st

from paylater_sdk.installments import _apr as apr_module
from paylater_sdk.installments import actuarial_apr
from paylater_sdk.installments._unit_periods import (
    UnitPeriod,
    anchored_monthly_positions,
    common_unit_period,
    position,
)
from paylater_sdk.money import Money

starts = st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31))


def _monthly(start: date, n: int) -> list[date]:
    return [start + relativedelta(months=k) for k in range(1, n + 1)]


@given(starts, st.integers(min_value=2, max_value=60))
def test_plain_monthly_dates_take_the_shortcut_and_match_the_general_rules(
    start: date, n: int
) -> None:
    dates = _monthly(start, n)
    known = anchored_monthly_positions(start, dates)
    assert known is not None
    assert common_unit_period([start, *dates]) is UnitPeriod.MONTH
    for k, when in enumerate(dates, start=1):
        whole, num, _ = position(start, when, UnitPeriod.MONTH)
        assert (whole, num) == (k, 0)
        assert known[when] == (k, 0, 1)


@given(starts, st.integers(min_value=2, max_value=24), st.data())
def test_anything_else_is_left_to_the_general_path(
    start: date, n: int, data: st.DataObject
) -> None:
    dates = _monthly(start, n)
    i = data.draw(st.integers(min_value=0, max_value=n - 1))
    shift = data.draw(st.sampled_from([-1, 1, 7, -3]))
    broken = list(dates)
    broken[i] = dates[i] + timedelta(days=shift)
    assert anchored_monthly_positions(start, broken) is None


def test_out_of_order_repeated_or_single_dates_are_not_plain_monthly() -> None:
    start = date(2026, 1, 31)
    dates = _monthly(start, 3)
    assert anchored_monthly_positions(start, list(reversed(dates))) is None
    assert anchored_monthly_positions(start, [dates[0], dates[0], dates[1]]) is None
    assert anchored_monthly_positions(start, dates[:1]) is None  # (b)(4)(ii) handles one
    assert anchored_monthly_positions(start, []) is None
    assert anchored_monthly_positions(start, dates) == {
        date(2026, 2, 28): (1, 0, 1),
        date(2026, 3, 31): (2, 0, 1),
        date(2026, 4, 30): (3, 0, 1),
    }


@given(
    starts,
    st.integers(min_value=2, max_value=36),
    st.integers(min_value=1_000, max_value=10_000_000),
    st.integers(min_value=0, max_value=3_000),
)
def test_the_apr_is_the_same_with_and_without_the_shortcut(
    start: date, n: int, principal: int, fee_per_mille: int
) -> None:
    dates = _monthly(start, n)
    part, rest = divmod(principal, n)
    fee = principal * fee_per_mille // 100_000
    amounts = [part + fee] * (n - 1) + [part + rest + fee]
    advances = [(start, Money.from_minor(principal, "CNY"))]
    payments = [(d, Money.from_minor(a, "CNY")) for d, a in zip(dates, amounts, strict=True)]
    fast = actuarial_apr(advances, payments)
    general = apr_module.nominal(
        *apr_module.periodic_rate(
            [(start, principal)],
            list(zip(dates, amounts, strict=True)),
            common_unit_period([start, *dates]),
        )
    )
    assert fast == general
