"""The kinds servicing speaks in: payoff fee rules, repayment modes, allocation parts, errors.

No dependencies inside the package, so the schedule (payoff) and the servicing modules can
all import them without a cycle.
"""

from __future__ import annotations

import enum
from typing import TypeVar

from ..errors import PlanError

_E = TypeVar("_E", bound=enum.Enum)


class ServicingError(PlanError):
    """A servicing input that cannot be applied; ``code`` and ``field`` say which and why.

    Codes: ``AMOUNT_EXCEEDS_OWED``, ``INVALID_AMOUNT``, ``NOTHING_OWED``,
    ``PAYOFF_AMOUNT_MISMATCH``, ``UNKNOWN_ORDER``, ``INVALID_DATE``, ``INVALID_FIELD``.
    """

    def __init__(self, message: str, *, code: str, field: str | None = None) -> None:
        super().__init__(message, code=code, field=field)


class PayoffFees(enum.Enum):
    """Which ``FLAT_FEE`` fees an early payoff charges (disclosed on the quote)."""

    CURRENT_PERIOD = "CURRENT_PERIOD"  # fees due so far plus the period in progress
    DUE_ONLY = "DUE_ONLY"  # only fees of installments already due
    ALL = "ALL"  # every remaining fee of the plan

    __hash__ = object.__hash__


class PrepayKeeps(enum.Enum):
    """What a prepayment keeps when it re-plans an order (the test API's ``prepay_keeps``)."""

    PAYMENT = "PAYMENT"  # keep the installment amount: fewer periods (the default)
    PERIODS = "PERIODS"  # keep the number of periods: a lower installment

    __hash__ = object.__hash__


class RepayMode(enum.Enum):
    """What a repayment is for (the test API's ``mode``)."""

    DUE = "DUE"  # what is owed now: penalty, late fees, past due, the installment due now
    PAYOFF = "PAYOFF"  # settle one order early (the payoff quote)
    PREPAY = "PREPAY"  # what is owed now, then principal of one order (re-planned)

    __hash__ = object.__hash__


class AllocationPart(enum.Enum):
    """What an allocation line pays (the wire's ``part``)."""

    PENALTY = "PENALTY"  # penalty interest of an installment
    LATE_FEE = "LATE_FEE"  # the flat late fee of an installment
    FEE = "FEE"
    INTEREST = "INTEREST"
    PRINCIPAL = "PRINCIPAL"
    PREPAYMENT = "PREPAYMENT"  # principal paid ahead; the order is re-planned

    __hash__ = object.__hash__


#: Penalty interest, late fees, then each installment's fee, interest and principal.
DEFAULT_ALLOCATION_ORDER = (
    AllocationPart.PENALTY,
    AllocationPart.LATE_FEE,
    AllocationPart.FEE,
    AllocationPart.INTEREST,
    AllocationPart.PRINCIPAL,
)


def parse_enum(kind: type[_E], value: object, field: str) -> _E:
    """``value`` as a member of ``kind`` (member or its wire string), else ServicingError."""
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        try:
            return kind[value.strip().upper()]
        except KeyError:
            pass
    allowed = ", ".join(str(m.value) for m in kind)
    raise ServicingError(
        f"unknown {field} {value!r}: use one of {allowed}", code="INVALID_FIELD", field=field
    )
