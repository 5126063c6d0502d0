"""Annual percentage rates by the actuarial method of US Regulation Z, Appendix J.

A plan's price is only comparable across lenders when every cost (interest *and* fees) is
expressed as one annual rate over the money actually outstanding. Appendix J (12 CFR 1026)
defines that rate precisely, and the PBOC 2021 No. 3 announcement and the EU consumer-credit
directive ask for the same idea, so :func:`actuarial_apr` implements the appendix literally:

* the term begins on the date of the first advance; every advance and payment is placed at
  ``t`` whole unit-periods plus a fraction ``f`` of one from there, counted back from the
  later date as (b)(5) says (months are all equal; a leftover is ``days / 30`` for a
  monthly unit-period);
* the general equation (b)(8) discounts each amount by ``(1 + f*i) * (1 + i)**t``: simple
  interest for the odd fraction, compound for whole periods;
* the APR is the unit-period rate ``i`` times the unit-periods per year.

The root is found with a Newton iteration in binary floating point (bracketed, with a
bisection fallback) that uses only IEEE-754 ``+ - * /``, never the platform's ``pow()``, so
the result is the same on every machine; it is accurate to about 1e-15 and returned as a
``Decimal`` rounded to 12 places. Money never passes through a float: amounts enter the
solver as integer minor units and the result is a rate, not an amount.

Unit-periods and the placing of dates are in :mod:`paylater_sdk.installments._unit_periods`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal, localcontext
from fractions import Fraction

from ..errors import CurrencyMismatchError, NoAPRError, PlanError
from ..money import Money
from ._unit_periods import (
    PeriodKind,
    UnitPeriod,
    anchored_monthly_positions,
    months_back,
    on_series,
    position,
    positions,
    series_day,
    unit_period_of,
)

_PLACES = Decimal("1e-12")
_PREC = 34


# --- input validation ---------------------------------------------------------------------


def _pair(item: object, what: str) -> tuple[date, Money]:
    """Validate one (date, Money) pair; the slow path, only for anything unusual."""
    if not isinstance(item, tuple | list) or len(item) != 2:
        raise PlanError(f"each of the {what} must be a (date, Money) pair, got {item!r}")
    when, amount = item
    if isinstance(when, datetime):
        when = when.date()
    if not isinstance(when, date):
        raise PlanError(f"{what} dates must be datetime.date, not {type(when).__name__}")
    if not isinstance(amount, Money):
        if isinstance(amount, float):
            raise TypeError(f"{what} amounts must be Money, never float")
        raise PlanError(f"{what} amounts must be Money, not {type(amount).__name__}")
    return when, amount


def _flows(
    advances: Sequence[tuple[date, Money]], payments: Sequence[tuple[date, Money]]
) -> tuple[list[tuple[date, int]], list[tuple[date, int]]]:
    """Validate both sides and convert them to (date, positive minor units)."""
    currency: str | None = None
    sides: list[list[tuple[date, int]]] = []
    for pairs, what in ((advances, "advances"), (payments, "payments")):
        if isinstance(pairs, str | bytes) or not isinstance(pairs, Iterable):
            raise PlanError(f"{what} must be a sequence of (date, Money) pairs")
        out: list[tuple[date, int]] = []
        for item in pairs:
            # Fast path: an exact (date, Money) tuple; anything else is checked in full.
            if type(item) is tuple and len(item) == 2 and type(item[0]) is date:
                when, amount = item
                if type(amount) is not Money:
                    when, amount = _pair(item, what)
            else:
                when, amount = _pair(item, what)
            if amount.currency != currency:
                if currency is not None:
                    raise CurrencyMismatchError(
                        f"all cash flows must share one currency ({currency}), "
                        f"got {amount.currency}"
                    )
                currency = amount.currency
            minor = amount.minor
            if minor < 0:
                raise PlanError(f"{what} amounts must not be negative, got {amount}")
            if minor:
                out.append((when, minor))
        sides.append(out)
    return sides[0], sides[1]


# --- solving ------------------------------------------------------------------------------


def _power(x: float, n: int) -> float:
    """``x ** n`` by squaring: only IEEE-754 multiplications, never the platform's pow()."""
    result = 1.0
    while n:
        if n & 1:
            result *= x
        x *= x
        n >>= 1
    return result


def _residual(flows: list[tuple[int, float, float]], i: float) -> tuple[float, float]:
    """The general equation's value and derivative at ``i`` (flows sorted by ``t``)."""
    v = 1.0 / (1.0 + i)
    value = slope = 0.0
    last_t, discount = 0, 1.0
    for t, f, amount in flows:
        if t != last_t:
            discount *= v if t - last_t == 1 else _power(v, t - last_t)
            last_t = t
        if f:
            simple = 1.0 + f * i
            term = amount * discount / simple
            slope -= term * (f / simple + t * v)
        else:
            term = amount * discount
            slope -= term * t * v
        value += term
    return value, slope


def _solve(flows: list[tuple[int, int, int, int]], total_adv: int, total_pay: int) -> Decimal:
    """The unit-period rate ``i`` >= 0 solving the general equation (b)(8).

    ``flows`` are ``(t, f_num, f_den, amount)`` with payments positive, advances negative.
    Newton steps inside a shrinking bracket ``[lo, hi]`` (``F(lo) > 0 > F(hi)``), bisecting
    whenever a step would leave it, so it always converges. Only +, -, *, / are used, all
    correctly rounded by IEEE-754, so the digits are the same on every platform.
    """
    fast = sorted((t, num / den, float(a)) for t, num, den, a in flows)
    duration = sum(a * (t + f) for t, f, a in fast if a > 0) / total_pay
    i = max((total_pay / total_adv - 1.0) / max(duration, 1e-9), 1e-9)
    lo, hi = 0.0, math.inf  # F(lo) > 0 > F(hi); hi unknown until a step overshoots
    for _ in range(400):
        value, slope = _residual(fast, i)
        if value > 0.0:
            lo = i
        elif value < 0.0:
            hi = i
        else:
            break
        step = value / slope if slope < 0.0 else math.nan
        nxt = i - step
        if not lo < nxt < hi:  # a step out of the bracket (or no usable slope): bisect
            nxt = (lo + hi) / 2.0 if hi < math.inf else 4.0 * i
        elif abs(step) <= 1e-11 * i + 1e-18:
            # Quadratic convergence: this step leaves an error near (1e-11)^2 relative.
            i = nxt
            break
        i = nxt
        if hi < math.inf and hi - lo <= 1e-15 * hi:  # down to float resolution
            break
        if lo > 1e9:
            raise NoAPRError("no rate solves the payments against the advances (no APR exists)")
    else:
        raise NoAPRError("the APR iteration did not converge for these cash flows")
    return Decimal(repr(i))


@functools.lru_cache(maxsize=128)
def _per_year(unit: UnitPeriod) -> Decimal:
    """Unit-periods per year as a Decimal (52/3 to 34 digits); cached per unit-period."""
    fraction = unit.per_year
    with localcontext() as ctx:
        ctx.prec = _PREC
        return Decimal(fraction.numerator) / Decimal(fraction.denominator)


def periodic_rate(
    adv: list[tuple[date, int]],
    pay: list[tuple[date, int]],
    unit_period: UnitPeriod | None,
    known: dict[date, tuple[int, int, int]] | None = None,
    series: int | None = None,
) -> tuple[Decimal, Decimal]:
    """(unit-period rate, unit-periods per year) for flows in positive minor units.

    The engine behind :func:`actuarial_apr` for callers (schedules) whose flows are
    already validated integers. ``known`` may give positions the caller knows exactly
    (a due date ``k`` months after the start is ``(k, 0, 1)`` by (b)(5)(ii)); ``series``
    the day of month the payments keep (a ``due_day``), else it is read off the payments.
    """
    start, total_adv, total_pay = _checked_totals(adv, pay)
    if total_pay == total_adv:
        return Decimal(0), _per_year(unit_period) if unit_period else Decimal(1)
    if all(d == start for d, _ in pay):
        raise NoAPRError(
            "every payment falls on the advance date: a cost with no time to accrue has no rate"
        )
    if unit_period is None and len(adv) == 1 and len(pay) == 1:
        single = _single_term(start, pay[0][0], total_adv, total_pay)
        if single is not None:
            return single
        if (pay[0][0] - start).days > 0:
            unit_period = UnitPeriod.YEAR
    complete = False  # True when ``known`` places every payment
    if unit_period is None and len(adv) == 1 and known is None:
        # Most plans: one advance repaid monthly on the purchase day (clamped).
        known = anchored_monthly_positions(start, [d for d, _ in pay])
        if known is not None:
            unit_period, complete = UnitPeriod.MONTH, True
    if unit_period is None:
        unit_period = unit_period_of([d for d, _ in adv], [d for d, _ in pay])
    flows: list[tuple[int, int, int, int]] = []
    if known is None:
        # Every position at once, cached for the same dates ((b)(3)(iv) series included).
        dates = tuple(d for d, _ in adv), tuple(d for d, _ in pay)
        placed = positions(start, *dates, unit_period, series)
        for (_, amount), place in zip(adv, placed, strict=False):
            flows.append((*place, -amount))
        for (_, amount), place in zip(pay, placed[len(adv) :], strict=True):
            flows.append((*place, amount))
        return _solve(flows, total_adv, total_pay), _per_year(unit_period)
    cache = dict(known)
    day = series
    unknown = not complete and any(d not in cache for d, _ in pay)
    if day is None and unknown and unit_period.kind is PeriodKind.MONTH:
        day = series_day([d for d, _ in pay])  # (b)(3)(iv), for the dates not known
    for sign, pairs in ((-1, adv), (1, pay)):
        for when, amount in pairs:
            pos = cache.get(when)
            if pos is None:
                keep = day if day is not None and on_series(when, day) else None
                pos = cache[when] = position(start, when, unit_period, keep)
            flows.append((*pos, sign * amount))
    return _solve(flows, total_adv, total_pay), _per_year(unit_period)


def _checked_totals(
    adv: list[tuple[date, int]], pay: list[tuple[date, int]]
) -> tuple[date, int, int]:
    """(the first advance's date, total advanced, total paid), or why no APR exists."""
    if not adv:
        raise NoAPRError("no advance: an APR needs at least one positive advance")
    if not pay:
        raise NoAPRError("no payment: payments that never repay the advance have no APR")
    start = min(d for d, _ in adv)
    if any(d < start for d, _ in pay):
        raise PlanError("a payment falls before the first advance; the term starts at the advance")
    total_adv = sum(a for _, a in adv)
    total_pay = sum(a for _, a in pay)
    if total_pay < total_adv:
        raise NoAPRError(
            f"payments total {total_pay} minor units, less than the {total_adv} advanced: "
            "they never repay the advance, so no APR exists"
        )
    return start, total_adv, total_pay


def _single_term(
    start: date, end: date, total_adv: int, total_pay: int
) -> tuple[Decimal, Decimal] | None:
    """(b)(4)(ii) and (b)(5)(vi)/(vii): one advance and one payment within a year make the
    term itself the unit-period; ``None`` when the term is longer (a year unit-period)."""
    term_days = (end - start).days
    months, boundary = months_back(start, end)
    if term_days <= 0 or not (months < 12 or (months == 12 and boundary == start)):
        return None
    whole_months = boundary == start and months > 0
    per_year = Fraction(12, months) if whole_months else Fraction(365, term_days)
    with localcontext() as ctx:
        ctx.prec = _PREC
        rate = Decimal(total_pay - total_adv) / Decimal(total_adv)
        return rate, Decimal(per_year.numerator) / Decimal(per_year.denominator)


def nominal(rate: Decimal, per_year: Decimal) -> Decimal:
    """The APR: unit-period rate times unit-periods per year, to 12 places."""
    if not rate:
        return Decimal(0)
    with localcontext() as ctx:
        ctx.prec = _PREC
        return (rate * per_year).quantize(_PLACES)


def compound(rate: Decimal, per_year: Decimal) -> Decimal:
    """The effective annual rate ``(1 + rate) ** per_year - 1``, to 12 places."""
    if not rate:
        return Decimal(0)
    with localcontext() as ctx:
        ctx.prec = _PREC
        one = Decimal(1)
        if per_year == per_year.to_integral_value():
            grown = (one + rate) ** int(per_year)
        else:
            grown = ((one + rate).ln() * per_year).exp()
        return (grown - one).quantize(_PLACES)


def _check_unit(unit_period: object) -> UnitPeriod | None:
    if unit_period is not None and not isinstance(unit_period, UnitPeriod):
        raise PlanError(f"unknown unit_period {unit_period!r}: use a UnitPeriod member or None")
    return unit_period


def actuarial_apr(
    advances: Sequence[tuple[date, Money]],
    payments: Sequence[tuple[date, Money]],
    *,
    unit_period: UnitPeriod | None = None,
) -> Decimal:
    """The nominal APR of Regulation Z Appendix J as a fraction (``0.0969`` is 9.69 %).

    ``advances`` and ``payments`` are ``(date, Money)`` pairs in one currency.
    ``unit_period=None`` picks the most common period as (b)(4) says (any multiple of a
    week or a month; and, for a single advance repaid by a single payment, the term
    itself); a series of payments on one day of the month (the last day, the 29th or
    30th) is counted series day to series day ((b)(3)(iv)). Raises :class:`NoAPRError` when
    the payments never repay the advances, :class:`PlanError` for malformed input.
    """
    unit = _check_unit(unit_period)
    return nominal(*periodic_rate(*_flows(advances, payments), unit))


def effective_annual_rate(
    advances: Sequence[tuple[date, Money]],
    payments: Sequence[tuple[date, Money]],
    *,
    unit_period: UnitPeriod | None = None,
) -> Decimal:
    """The compound annual rate ``(1 + i) ** periods_per_year - 1`` of the same cash flows.

    This is the IRR-based figure of the PBOC 2021 No. 3 announcement and, for regular
    schedules, the EU directive's APRC: it counts interest on interest, so it is never below
    :func:`actuarial_apr` for the same flows.
    """
    unit = _check_unit(unit_period)
    return compound(*periodic_rate(*_flows(advances, payments), unit))
