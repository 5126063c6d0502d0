"""Installment plans: terms, fen-exact schedules, APR disclosure, offers and quotes.

This is the public face of the plan engine; the work is split over small modules
(:mod:`paylater_sdk.plan_terms` what a plan is, :mod:`paylater_sdk.amortization` the integer
arithmetic and due dates, :mod:`paylater_sdk.schedule` schedules and re-planning,
:mod:`paylater_sdk.quotes` offers and quotes, :mod:`paylater_sdk.apr` and
:mod:`paylater_sdk.unit_periods` the Regulation Z APR) and every public name is re-exported
here.

>>> from datetime import date
>>> from paylater_sdk.money import Money
>>> terms = PlanTerms(12, Method.EQUAL_PAYMENT, annual_rate="0.0435")
>>> schedule = build_schedule(Money("100000", "CNY"), terms, start=date(2026, 1, 15))
>>> schedule.installments[0].amount
Money('8530.99', 'CNY')
"""

from __future__ import annotations

from .apr import UnitPeriod, actuarial_apr, effective_annual_rate
from .plan_terms import MAX_PERIODS, FeePayer, Frequency, Method, PlanTerms
from .quotes import STANDARD_OFFERS, CapBasis, PlanOffer, PlanQuote, as_low_as, quote_plans
from .schedule import Installment, Schedule, build_schedule, due_dates

__all__ = [
    "MAX_PERIODS",
    "STANDARD_OFFERS",
    "CapBasis",
    "FeePayer",
    "Frequency",
    "Installment",
    "Method",
    "PlanOffer",
    "PlanQuote",
    "PlanTerms",
    "Schedule",
    "UnitPeriod",
    "actuarial_apr",
    "as_low_as",
    "build_schedule",
    "due_dates",
    "effective_annual_rate",
    "quote_plans",
]
