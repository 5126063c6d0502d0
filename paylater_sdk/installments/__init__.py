"""Installment plans: terms, fen-exact schedules, APR disclosure, offers and quotes.

This is the public face of the plan engine; the work is split over small private modules
(``_terms`` what a plan is, ``_amortization`` the integer arithmetic and due dates,
``_schedule`` schedules and re-planning, ``_quotes`` offers and quotes, ``_apr`` and
``_unit_periods`` the Regulation Z APR; servicing in ``_kinds``, ``_policy``, ``_payoff``,
``_account``, ``_overdue``, ``_allocation``, ``_replan``, ``_refund``, ``_capture`` and
``_statements``, see docs/servicing.md) and every public name is exported here.

>>> from datetime import date
>>> from paylater_sdk.money import Money
>>> terms = PlanTerms(12, Method.EQUAL_PAYMENT, annual_rate="0.0435")
>>> schedule = build_schedule(Money("100000", "CNY"), terms, start=date(2026, 1, 15))
>>> schedule.installments[0].amount
Money('8530.99', 'CNY')
"""

from __future__ import annotations

from ._account import InstallmentState, OrderAccount, Payment
from ._allocation import Allocation, AllocationLine, allocate, owed
from ._amortization import Installment, due_dates
from ._apr import actuarial_apr, effective_annual_rate
from ._capture import add_capture
from ._kinds import (
    DEFAULT_ALLOCATION_ORDER,
    AllocationPart,
    PayoffFees,
    PrepayKeeps,
    RepayMode,
    ServicingError,
)
from ._overdue import penalty_rate
from ._payoff import PayoffQuote
from ._policy import DEFAULT_POLICY, Policies, ServicingPolicy
from ._quotes import (
    DEFAULT_APR_CAP,
    STANDARD_OFFERS,
    CapBasis,
    PlanOffer,
    PlanQuote,
    as_low_as,
    quote_plans,
)
from ._refund import RefundResult, refund
from ._schedule import Schedule, build_schedule
from ._statements import (
    DelinquencyStatus,
    Statement,
    StatementLine,
    build_statement,
    delinquency,
)
from ._terms import MAX_PERIODS, FeePayer, Frequency, Method, PlanTerms
from ._unit_periods import UnitPeriod, common_unit_period

__all__ = [
    "DEFAULT_ALLOCATION_ORDER",
    "DEFAULT_APR_CAP",
    "DEFAULT_POLICY",
    "MAX_PERIODS",
    "STANDARD_OFFERS",
    "Allocation",
    "AllocationLine",
    "AllocationPart",
    "CapBasis",
    "DelinquencyStatus",
    "FeePayer",
    "Frequency",
    "Installment",
    "InstallmentState",
    "Method",
    "OrderAccount",
    "Payment",
    "PayoffFees",
    "PayoffQuote",
    "PlanOffer",
    "PlanQuote",
    "PlanTerms",
    "Policies",
    "PrepayKeeps",
    "RefundResult",
    "RepayMode",
    "Schedule",
    "ServicingError",
    "ServicingPolicy",
    "Statement",
    "StatementLine",
    "UnitPeriod",
    "actuarial_apr",
    "add_capture",
    "allocate",
    "as_low_as",
    "build_schedule",
    "build_statement",
    "common_unit_period",
    "delinquency",
    "due_dates",
    "effective_annual_rate",
    "owed",
    "penalty_rate",
    "quote_plans",
    "refund",
]
