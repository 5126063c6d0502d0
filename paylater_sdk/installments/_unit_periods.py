"""Unit-periods of US Regulation Z, Appendix J: which period, and where a date falls.

(b)(4) picks the unit-period of a transaction (the most common interval between its
dates); (b)(5) places every advance and payment at ``t`` whole unit-periods plus an odd
fraction from the start of the term, counting back from the later date. ``_apr``
solves the general equation on these positions.

Series of payments ((b)(3)(iv)): when the payments keep one day of the month (the last
day, or the 29th/30th with February's last day standing in), every count back lands on that
series day, so the first period has one odd-day count and every later payment sits a whole
number of months after it (:func:`series_day`, ``position(..., day=...)``).

Month-end refinement, for dates outside such a series: counting back ``k`` months from a
date that is the last day of its month may land on any day from the clamped day to that
month's end (01-31, 02-29, 03-31 are one month apart each).
"""

from __future__ import annotations

import calendar
import enum
import functools
from collections.abc import Iterable
from datetime import date
from fractions import Fraction
from itertools import pairwise
from typing import ClassVar

from dateutil.relativedelta import relativedelta

from ..errors import PlanError


class PeriodKind(enum.Enum):
    """The standard intervals of Appendix J (b)(3)(iii) a unit-period is a multiple of."""

    DAY = "DAY"
    WEEK = "WEEK"
    SEMIMONTH = "SEMIMONTH"
    MONTH = "MONTH"

    __hash__ = object.__hash__


_MAX_COUNT = {PeriodKind.DAY: 1, PeriodKind.WEEK: 52, PeriodKind.SEMIMONTH: 1, PeriodKind.MONTH: 12}
# Unit-periods per year of one unit ((b)(5)(ii)-(v)); a week's multiple is 52 / weeks.
_PER_YEAR = {
    PeriodKind.DAY: 365,
    PeriodKind.WEEK: 52,
    PeriodKind.SEMIMONTH: 24,
    PeriodKind.MONTH: 12,
}
_NAMES = {
    (PeriodKind.WEEK, 2): "TWO_WEEKS",
    (PeriodKind.WEEK, 4): "FOUR_WEEKS",
    (PeriodKind.MONTH, 2): "TWO_MONTHS",
    (PeriodKind.MONTH, 3): "QUARTER",
    (PeriodKind.MONTH, 6): "HALF_YEAR",
    (PeriodKind.MONTH, 12): "YEAR",
}


class UnitPeriod:
    """A unit-period: a day, a semimonth, or 1-52 weeks, or 1-12 months ((b)(3)(iii)).

    "A standard interval of time is a day, week, semimonth, month, or a multiple of a week
    or a month up to, but not exceeding, 1 year", so three weeks and four months are unit
    periods as much as a month is. Instances are interned (``UnitPeriod.weeks(2) is
    UnitPeriod.TWO_WEEKS``); the common ones have names (``UnitPeriod.MONTH``).
    """

    __slots__ = ("_count", "_kind", "_name")
    _interned: ClassVar[dict[tuple[PeriodKind, int], UnitPeriod]] = {}
    _kind: PeriodKind
    _count: int
    _name: str

    DAY: ClassVar[UnitPeriod]
    WEEK: ClassVar[UnitPeriod]
    TWO_WEEKS: ClassVar[UnitPeriod]
    SEMIMONTH: ClassVar[UnitPeriod]
    FOUR_WEEKS: ClassVar[UnitPeriod]
    MONTH: ClassVar[UnitPeriod]
    TWO_MONTHS: ClassVar[UnitPeriod]
    QUARTER: ClassVar[UnitPeriod]
    HALF_YEAR: ClassVar[UnitPeriod]
    YEAR: ClassVar[UnitPeriod]

    def __new__(cls, kind: PeriodKind, count: int = 1) -> UnitPeriod:
        if type(count) is int:  # not True, 2.0 or "2", which would look up like ints
            found = cls._interned.get((kind, count))
            if found is not None:
                return found
        if not isinstance(kind, PeriodKind):
            raise PlanError(f"unknown period kind {kind!r}: use a PeriodKind member")
        top = _MAX_COUNT[kind]
        if type(count) is not int or not 1 <= count <= top:
            raise PlanError(
                f"a {kind.value.lower()} unit-period counts 1..{top}, got {count!r} "
                "(Appendix J (b)(3)(iii): multiples up to, but not exceeding, 1 year)"
            )
        obj = object.__new__(cls)
        object.__setattr__(obj, "_kind", kind)
        object.__setattr__(obj, "_count", count)
        name = kind.value if count == 1 else f"{kind.value}S_{count}"
        object.__setattr__(obj, "_name", _NAMES.get((kind, count), name))
        cls._interned[(kind, count)] = obj
        return obj

    @classmethod
    def weeks(cls, count: int) -> UnitPeriod:
        """The unit-period of ``count`` weeks (1..52)."""
        return cls(PeriodKind.WEEK, count)

    @classmethod
    def months(cls, count: int) -> UnitPeriod:
        """The unit-period of ``count`` months (1..12)."""
        return cls(PeriodKind.MONTH, count)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("UnitPeriod is immutable")

    def __reduce__(self) -> tuple[type[UnitPeriod], tuple[PeriodKind, int]]:
        return UnitPeriod, (self._kind, self._count)

    def __repr__(self) -> str:
        if hasattr(UnitPeriod, self._name):
            return f"UnitPeriod.{self._name}"
        return f"UnitPeriod.{self._kind.value.lower()}s({self._count})"

    @property
    def kind(self) -> PeriodKind:
        """Day, week, semimonth or month: what ``count`` counts."""
        return self._kind

    @property
    def count(self) -> int:
        """How many of ``kind`` make one unit-period (1 for a day or a semimonth)."""
        return self._count

    @property
    def name(self) -> str:
        """``"MONTH"``, ``"QUARTER"``, ``"WEEKS_3"``, ...: stable, for logs and errors."""
        return self._name

    @property
    def per_year(self) -> Fraction:
        """Unit-periods per year: 365 (a day), 24 (a semimonth), 52 / weeks, 12 / months."""
        return Fraction(_PER_YEAR[self._kind], self._count)

    @property
    def approx_days(self) -> Fraction:
        """Length in days for comparing periods (a month is 365/12 days)."""
        return (
            365 / self.per_year if self._kind is not PeriodKind.WEEK else Fraction(7 * self._count)
        )


UnitPeriod.DAY = UnitPeriod(PeriodKind.DAY)
UnitPeriod.WEEK = UnitPeriod.weeks(1)
UnitPeriod.TWO_WEEKS = UnitPeriod.weeks(2)
UnitPeriod.SEMIMONTH = UnitPeriod(PeriodKind.SEMIMONTH)
UnitPeriod.FOUR_WEEKS = UnitPeriod.weeks(4)
UnitPeriod.MONTH = UnitPeriod.months(1)
UnitPeriod.TWO_MONTHS = UnitPeriod.months(2)
UnitPeriod.QUARTER = UnitPeriod.months(3)
UnitPeriod.HALF_YEAR = UnitPeriod.months(6)
UnitPeriod.YEAR = UnitPeriod.months(12)

#: Every standard interval (b)(3)(iii), shortest first: what an average rounds to.
STANDARD_INTERVALS: tuple[UnitPeriod, ...] = tuple(
    sorted(
        [UnitPeriod.DAY, UnitPeriod.SEMIMONTH]
        + [UnitPeriod.weeks(n) for n in range(1, 53)]
        + [UnitPeriod.months(n) for n in range(1, 13)],
        key=lambda u: u.approx_days,
    )
)


# --- dates -> unit-periods ----------------------------------------------------------------


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _month_len(year: int, month: int) -> int:
    return 29 if month == 2 and calendar.isleap(year) else _MONTH_DAYS[month - 1]


def _is_month_end(d: date) -> bool:
    return d.day == _month_len(d.year, d.month)


def months_back(start: date, later: date, day: int | None = None) -> tuple[int, date]:
    """Whole months counted back from ``later`` while staying on or after ``start``.

    Returns ``(months, boundary)``: the odd part of the interval runs from ``start`` to
    ``boundary``. Implements (b)(5)(ii). Without ``day``, counting back ``k`` months is
    ``later - relativedelta(months=k)`` (day clamped to the month's end) with the month-end
    refinement described above; it is spelled out here because it runs once per cash flow
    on the hot path, and the tests check it against dateutil for every day of several
    years. With ``day`` (a series day, see :func:`series_day`) every count lands on that
    day of the month, or on the month's last day where the month is shorter ((b)(3)(iv)).
    """
    k = max(0, (later.year - start.year) * 12 + later.month - start.month)
    month_end = day is None and _is_month_end(later)
    target = later.day if day is None else day
    base = later.year * 12 + later.month - 1
    while k > 0:
        year, month0 = divmod(base - k, 12)
        length = _month_len(year, month0 + 1)
        low = date(year, month0 + 1, min(target, length))
        high = date(year, month0 + 1, length) if month_end else low
        if high >= start:
            return k, max(low, start)
        k -= 1
    return 0, later


def on_series(when: date, day: int) -> bool:
    """True if ``when`` is the ``day``-th of its month, or the last day of a shorter month."""
    return when.day == min(day, _month_len(when.year, when.month))


def series_day(dates: Iterable[date]) -> int | None:
    """The day of month a series of (two or more) payment dates keeps, or None.

    (b)(3)(iv): a series on the last day of the month counts last day to last day, and a
    series on the 29th or 30th uses February's last day for those days. So a date stands
    for its own day, and a month's last day also for every later day: 02-28, 03-30, 04-30
    keep the 30th; 02-28, 03-31, 04-30 keep the last day (31). With several candidates
    (only month-ends), the last day wins.
    """
    exact = 0  # the one day a date that is no month-end pins the series to
    lowest = 0  # a month-end on day d stands for any series day d..31
    count = 0
    for when in dates:
        count += 1
        if when.day == _month_len(when.year, when.month):
            lowest = max(lowest, when.day)
        elif exact and when.day != exact:
            return None
        else:
            exact = when.day
    if count < 2:
        return None
    if not exact:
        return 31  # month-ends only: last day to last day
    return exact if exact >= lowest else None


# A position is (whole unit-periods, odd-fraction numerator, odd-fraction denominator):
# plain ints, because Fractions cost more than the whole solve on the hot path.
_Position = tuple[int, int, int]


@functools.lru_cache(maxsize=8192)
def position(start: date, when: date, unit: UnitPeriod, day: int | None = None) -> _Position:
    """(whole unit-periods, fraction as num/den) from the term start to ``when`` per (b)(5).

    ``day`` is the series day of month-based units ((b)(3)(iv)); ``when`` must be on it.
    """
    days = (when - start).days
    kind, count = unit.kind, unit.count
    if kind is PeriodKind.DAY:
        return days, 0, 1
    if kind is PeriodKind.WEEK:
        whole, rest = divmod(days, 7 * count)
        return whole, rest, 7 * count
    months, boundary = months_back(start, when, day)
    odd_days = (boundary - start).days
    if unit is UnitPeriod.MONTH:
        return months, odd_days, 30
    if unit is UnitPeriod.YEAR:
        years, rest_months = divmod(months, 12)
        if odd_days == 0:
            return years, rest_months, 12
        # (b)(5)(v)(B): the days left once whole years are counted back, over 365.
        if day is None:
            year_boundary = when - relativedelta(months=12 * years)
        else:
            year_boundary = _months_before(when, 12 * years, day)
        return years, (max(start, year_boundary) - start).days, 365
    span = 15 if kind is PeriodKind.SEMIMONTH else 30 * count
    whole, rest = divmod(30 * months + odd_days, span)
    return whole, rest, span


@functools.lru_cache(maxsize=2048)
def positions(
    start: date,
    advance_dates: tuple[date, ...],
    payment_dates: tuple[date, ...],
    unit: UnitPeriod,
    series: int | None = None,
) -> tuple[_Position, ...]:
    """Positions of every advance, then every payment: :func:`position` for each date.

    For month-based unit-periods the payments' series day ((b)(3)(iv)) is ``series`` or,
    when None, read off the payment dates; dates off the series count back as usual.
    """
    day = series
    if day is None and unit.kind is PeriodKind.MONTH:
        day = series_day(payment_dates)
    return tuple(
        position(start, when, unit, day if day is not None and on_series(when, day) else None)
        for when in (*advance_dates, *payment_dates)
    )


def _months_before(when: date, months: int, day: int) -> date:
    """The series date ``months`` months before ``when`` (day clamped to the month's end)."""
    year, month0 = divmod(when.year * 12 + when.month - 1 - months, 12)
    return date(year, month0 + 1, min(day, _month_len(year, month0 + 1)))


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
    """The standard interval (b)(3)(iii) that the period from ``a`` to ``b`` is, if any.

    Whole months (1-12) first, so February's 28 days are a month rather than four weeks;
    then whole weeks (1-52), a day, or a semimonth. Anything else is no standard interval.
    """
    days = (b - a).days
    if days >= 28:
        months, boundary = months_back(a, b)
        if boundary == a and 1 <= months <= 12:
            return UnitPeriod.months(months)
    if days % 7 == 0 and 0 < days <= 364:
        return UnitPeriod.weeks(days // 7)
    if days == 1:
        return UnitPeriod.DAY
    if 13 <= days <= 16 and _is_semimonth(a, b):
        return UnitPeriod.SEMIMONTH
    return None


def unit_period_of(advance_dates: Iterable[date], payment_dates: Iterable[date]) -> UnitPeriod:
    """The unit-period of (b)(4)(i) for a transaction's advances and payments.

    Its periods ((b)(3)(i)) run between advances and between payments, counting from the
    first advance (the start of the term) to the next advance and to the first payment.
    "The unit-period shall be that common period, not to exceed 1 year, that occurs most
    frequently in the transaction": a common period occurs more than once; of two equally
    frequent ones the smaller is taken; with none, the average of all periods rounded to
    the nearest whole standard interval (midway: the lower).
    """
    advances = sorted(set(advance_dates))
    if not advances:
        raise PlanError("a unit-period needs the date of the first advance")
    start = advances[0]
    payments = sorted({d for d in payment_dates if d > start})
    periods = list(pairwise(advances)) + list(pairwise([start, *payments]))
    if not periods:
        raise PlanError("a unit-period needs at least two distinct dates")
    counts: dict[UnitPeriod, int] = {}
    for a, b in periods:
        unit = _classify(a, b)
        if unit is not None:
            counts[unit] = counts.get(unit, 0) + 1
    common = {u: c for u, c in counts.items() if c > 1}
    if common:
        best = max(common.values())
        return min((u for u, c in common.items() if c == best), key=lambda u: u.approx_days)
    average = Fraction(sum((b - a).days for a, b in periods), len(periods))
    return min(STANDARD_INTERVALS, key=lambda u: (abs(u.approx_days - average), u.approx_days))


def common_unit_period(dates: Iterable[date]) -> UnitPeriod:
    """The unit-period of (b)(4)(i) for one series of dates (the start, then payments).

    Ties go to the smaller period; with no common period (none occurs more than once),
    the average interval rounded to the nearest standard interval (midway: the smaller).
    Never longer than a year. See :func:`unit_period_of` for advances and payments.
    """
    ordered = sorted(set(dates))
    if len(ordered) < 2:
        raise PlanError("a unit-period needs at least two distinct dates")
    return unit_period_of(ordered[:1], ordered[1:])


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
