"""Unit-periods of US Regulation Z, Appendix J: which period, and where a date falls.

(b)(4) picks the unit-period of a transaction (the most common interval between its
dates); (b)(5) places every advance and payment at ``t`` whole unit-periods plus an odd
fraction from the start of the term, counting back from the later date. :mod:`paylater_sdk.apr`
solves the general equation on these positions.

Month-end refinement: counting back ``k`` months from a date that is the last day of its
month may land on any day from the clamped day to that month's end (01-31, 02-29, 03-31 are
one month apart each), so a schedule anchored on the 31st is regular rather than a chain of
odd periods.
"""

from __future__ import annotations

import calendar
import enum
import functools
from collections.abc import Iterable
from datetime import date
from fractions import Fraction
from itertools import pairwise

from dateutil.relativedelta import relativedelta

from .errors import PlanError

__all__ = [
    "UnitPeriod",
    "anchored_monthly_positions",
    "common_unit_period",
    "months_back",
    "position",
]


class UnitPeriod(enum.Enum):
    """The standard unit-periods of Appendix J (b)(3), shortest first."""

    DAY = "DAY"
    WEEK = "WEEK"
    TWO_WEEKS = "TWO_WEEKS"
    SEMIMONTH = "SEMIMONTH"
    FOUR_WEEKS = "FOUR_WEEKS"
    MONTH = "MONTH"
    TWO_MONTHS = "TWO_MONTHS"
    QUARTER = "QUARTER"
    HALF_YEAR = "HALF_YEAR"
    YEAR = "YEAR"

    # Members are singletons compared by identity; the C-level identity hash keeps the
    # lru_cache and table lookups on the hot path cheap (Enum's default hashes the name).
    __hash__ = object.__hash__

    @property
    def per_year(self) -> int:
        """Unit-periods per year as (b)(5)(ii)-(v) fix them (52 weeks, 365 days)."""
        return _PER_YEAR[self]

    @property
    def _approx_days(self) -> Fraction:
        return _APPROX_DAYS[self]


_PER_YEAR = {
    UnitPeriod.DAY: 365,
    UnitPeriod.WEEK: 52,
    UnitPeriod.TWO_WEEKS: 26,
    UnitPeriod.SEMIMONTH: 24,
    UnitPeriod.FOUR_WEEKS: 13,
    UnitPeriod.MONTH: 12,
    UnitPeriod.TWO_MONTHS: 6,
    UnitPeriod.QUARTER: 4,
    UnitPeriod.HALF_YEAR: 2,
    UnitPeriod.YEAR: 1,
}
_WEEK_DAYS = {UnitPeriod.WEEK: 7, UnitPeriod.TWO_WEEKS: 14, UnitPeriod.FOUR_WEEKS: 28}
_MONTHS = {UnitPeriod.TWO_MONTHS: 2, UnitPeriod.QUARTER: 3, UnitPeriod.HALF_YEAR: 6}
_APPROX_DAYS = {
    UnitPeriod.DAY: Fraction(1),
    UnitPeriod.WEEK: Fraction(7),
    UnitPeriod.TWO_WEEKS: Fraction(14),
    UnitPeriod.SEMIMONTH: Fraction(365, 24),
    UnitPeriod.FOUR_WEEKS: Fraction(28),
    UnitPeriod.MONTH: Fraction(365, 12),
    UnitPeriod.TWO_MONTHS: Fraction(365, 6),
    UnitPeriod.QUARTER: Fraction(365, 4),
    UnitPeriod.HALF_YEAR: Fraction(365, 2),
    UnitPeriod.YEAR: Fraction(365),
}
_BY_MONTHS = {
    1: UnitPeriod.MONTH,
    2: UnitPeriod.TWO_MONTHS,
    3: UnitPeriod.QUARTER,
    6: UnitPeriod.HALF_YEAR,
    12: UnitPeriod.YEAR,
}
_BY_DAYS = {
    1: UnitPeriod.DAY,
    7: UnitPeriod.WEEK,
    14: UnitPeriod.TWO_WEEKS,
    28: UnitPeriod.FOUR_WEEKS,
}
_ORDER = list(UnitPeriod)


# --- dates -> unit-periods ----------------------------------------------------------------


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _month_len(year: int, month: int) -> int:
    return 29 if month == 2 and calendar.isleap(year) else _MONTH_DAYS[month - 1]


def _is_month_end(d: date) -> bool:
    return d.day == _month_len(d.year, d.month)


def months_back(start: date, later: date) -> tuple[int, date]:
    """Whole months counted back from ``later`` while staying on or after ``start``.

    Returns ``(months, boundary)``: the odd part of the interval runs from ``start`` to
    ``boundary``. Implements (b)(5)(ii) with the month-end refinement described above.
    Counting back ``k`` months is ``later - relativedelta(months=k)`` (day clamped to the
    month's end); it is spelled out here because it runs once per cash flow on the hot
    path, and the tests check it against dateutil for every day of several years.
    """
    k = max(0, (later.year - start.year) * 12 + later.month - start.month)
    month_end = _is_month_end(later)
    base = later.year * 12 + later.month - 1
    while k > 0:
        year, month0 = divmod(base - k, 12)
        length = _month_len(year, month0 + 1)
        low = date(year, month0 + 1, min(later.day, length))
        high = date(year, month0 + 1, length) if month_end else low
        if high >= start:
            return k, max(low, start)
        k -= 1
    return 0, later


# A position is (whole unit-periods, odd-fraction numerator, odd-fraction denominator):
# plain ints, because Fractions cost more than the whole solve on the hot path.
_Position = tuple[int, int, int]


@functools.lru_cache(maxsize=8192)
def position(start: date, when: date, unit: UnitPeriod) -> _Position:
    """(whole unit-periods, fraction as num/den) from the term start to ``when`` per (b)(5)."""
    days = (when - start).days
    if unit is UnitPeriod.DAY:
        return days, 0, 1
    if unit in _WEEK_DAYS:
        whole, rest = divmod(days, _WEEK_DAYS[unit])
        return whole, rest, _WEEK_DAYS[unit]
    months, boundary = months_back(start, when)
    odd_days = (boundary - start).days
    if unit is UnitPeriod.MONTH:
        return months, odd_days, 30
    if unit is UnitPeriod.YEAR:
        years, rest_months = divmod(months, 12)
        if odd_days == 0:
            return years, rest_months, 12
        year_boundary = max(start, when - relativedelta(months=12 * years))
        return years, (year_boundary - start).days, 365
    span = 15 if unit is UnitPeriod.SEMIMONTH else 30 * _MONTHS[unit]
    whole, rest = divmod(30 * months + odd_days, span)
    return whole, rest, span


def _is_semimonth(a: date, b: date) -> bool:
    """Half-month steps: 15 days, or 1st<->16th and 15th<->month-end patterns."""
    if (b - a).days == 15:
        return True
    if a.day == 1:
        return b == a.replace(day=16)
    if a.day == 16:
        return b == (a + relativedelta(months=1)).replace(day=1)
    if a.day == 15:
        return b == a + relativedelta(day=31)
    if _is_month_end(a):
        return b == (a + relativedelta(months=1)).replace(day=15)
    return False


@functools.lru_cache(maxsize=8192)
def _classify(a: date, b: date) -> UnitPeriod | None:
    days = (b - a).days
    if days in _BY_DAYS:
        if days == 28 and months_back(a, b) == (1, a):
            return UnitPeriod.MONTH  # February is both four weeks and a month
        return _BY_DAYS[days]
    if 13 <= days <= 16:
        return UnitPeriod.SEMIMONTH if _is_semimonth(a, b) else None
    if days < 29:
        return None
    months, boundary = months_back(a, b)
    if boundary == a and months in _BY_MONTHS:
        return _BY_MONTHS[months]
    return None


def common_unit_period(dates: Iterable[date]) -> UnitPeriod:
    """The unit-period of (b)(4)(i): the most frequent common period between the dates.

    Ties go to the smaller period; with no common period, the average interval rounded to
    the nearest standard unit (midway: the smaller). Never longer than a year.
    """
    ordered = sorted(set(dates))
    if len(ordered) < 2:
        raise PlanError("a unit-period needs at least two distinct dates")
    counts: dict[UnitPeriod, int] = {}
    for a, b in pairwise(ordered):
        unit = _classify(a, b)
        if unit is not None:
            counts[unit] = counts.get(unit, 0) + 1
    if counts:
        best = max(counts.values())
        return min((u for u, c in counts.items() if c == best), key=_ORDER.index)
    average = Fraction((ordered[-1] - ordered[0]).days, len(ordered) - 1)
    return min(_ORDER, key=lambda u: (abs(u._approx_days - average), _ORDER.index(u)))


def anchored_monthly_positions(
    start: date, dates: Iterable[date]
) -> dict[date, tuple[int, int, int]] | None:
    """Positions of a plain monthly schedule, or None if ``dates`` are not one.

    A plain monthly schedule has its k-th date exactly k months after ``start``, the day
    clamped to the month's end (what ``start + relativedelta(months=k)`` gives, and what
    most installment plans are). For such dates (b)(4) yields MONTH (every interval counts
    back exactly one month, month-end refinement included) and (b)(5) puts date k at k
    whole months, so both follow from one comparison per date instead of a month count
    and an interval class each. Anything else returns None and takes the general path;
    the tests check the shortcut against the general rules.
    """
    anchor_day = start.day
    index = start.year * 12 + start.month - 1
    known: dict[date, tuple[int, int, int]] = {}
    k = 0
    for when in dates:
        k += 1
        year, month0 = divmod(index + k, 12)
        month = month0 + 1
        if when.year != year or when.month != month:
            return None
        length = _month_len(year, month)
        if when.day != (anchor_day if anchor_day <= length else length):
            return None
        known[when] = (k, 0, 1)
    return known if k >= 2 else None
