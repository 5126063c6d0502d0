"""Overdue arithmetic: the penalty rate under the cap, exact daily accrual, late fees, buckets.

Penalty interest accrues, from the day after the grace period, on each day's past-due
principal at a daily rate of ``min(max_daily_penalty, max(0, cap - plan rate) / 365)``: the
plan's annual rate plus the annualized penalty never exceeds the cap. A day's penalty is
charged on the principal unpaid at the **start** of that day (a repayment dated ``d`` counts
from ``d + 1``). Accrual is exact (a :class:`~fractions.Fraction` of a minor unit); what is
*posted* on a day is the exact total through that day rounded half-up to the minor unit, so
posting at every repayment and statement never drifts from posting once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal
from fractions import Fraction

from ._policy import ServicingPolicy
from ._schedule import Schedule

_YEAR_DAYS = 365
_RATE_PLACES = Decimal("1E-8")
_ONE_DAY = timedelta(days=1)


def penalty_rate(schedule: Schedule, policy: ServicingPolicy) -> Decimal:
    """The order's annual penalty rate (the daily rate is this / 365), fixed at purchase.

    ``min(365 x max_daily_penalty, max(0, cap - plan rate))``, rounded *down* to 8 places so
    that the plan rate plus the penalty stays within the cap. The cap is the one in force on
    the purchase date; the plan rate is ``policy.cap_basis`` of the schedule (its compound
    rate by default). Store it with the order: re-planning later changes the schedule's
    rate, and the penalty already accrued must not move.
    """
    cap = policy.cap_on(schedule.start)
    room = max(Decimal(0), cap - policy.cap_basis.rate_of(schedule))
    rate = min(policy.max_daily_penalty * _YEAR_DAYS, room)
    return rate.quantize(_RATE_PLACES, rounding=ROUND_DOWN)


def principal_days(
    principal: int, payments: Iterable[tuple[date, int]], first: date, last: date
) -> int:
    """Sum over the days ``first..last`` of the principal unpaid at the start of each day.

    ``principal`` is what was owed before any of ``payments`` (``(date, minor)`` pairs);
    a payment dated ``d`` lowers the balance from ``d + 1`` on.
    """
    if last < first:
        return 0
    ordered = sorted(payments)
    balance = principal - sum(m for d, m in ordered if d < first)
    total = 0
    day = first
    for on, minor in ordered:
        if on < first:
            continue
        if on >= last:
            break
        total += balance * ((on - day).days + 1)
        day = on + _ONE_DAY
        balance -= minor
    if day <= last:
        total += balance * ((last - day).days + 1)
    return total


def exact_penalty(minor_days: int, annual_rate: Decimal) -> Fraction:
    """Penalty of ``minor_days`` principal-days at ``annual_rate / 365``, unrounded."""
    return Fraction(minor_days) * Fraction(annual_rate) / _YEAR_DAYS


def posted(exact: Fraction) -> int:
    """An exact non-negative amount posted: rounded half-up to the minor unit."""
    return int((exact * 2 + 1) // 2)
