"""Early payoff: what settling a plan on a given day costs, part by part.

The rule (docs/servicing.md, "Payoff"): everything already due and unpaid; the remaining
principal; for ``EQUAL_PAYMENT`` and ``EQUAL_PRINCIPAL`` the interest accrued **by days**
since the last due date (or the purchase) at ``annual_rate / 365`` on the remaining
principal, rounded half-up to the minor unit and never more than the period's scheduled
interest; for fee plans the fees the product's :class:`PayoffFees` names. The same charges
serve :meth:`Schedule.payoff_quote` (paid flags only) and an :class:`OrderAccount`'s payoff
(partial payments, penalty and late fees too).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

import attrs

from ..money import Money
from ._amortization import Installment, _half_up, _ratio
from ._kinds import AllocationPart, PayoffFees
from ._terms import Method

if TYPE_CHECKING:
    from ._schedule import Schedule

_EQUAL = (Method.EQUAL_PAYMENT, Method.EQUAL_PRINCIPAL)
_DISCLOSURE = {
    PayoffFees.CURRENT_PERIOD: "fees due so far and the fee of the period in progress; "
    "later fees are waived",
    PayoffFees.DUE_ONLY: "only fees already due; every later fee is waived",
    PayoffFees.ALL: "every remaining fee of the plan",
}


@attrs.frozen
class Rest:
    """What is left of one installment: the unpaid fee, interest and principal (minor units).

    ``paid_fee`` and ``paid_interest`` are what was paid of them already: a payoff in the
    period in progress charges the accrued interest less the interest paid on it.
    """

    installment: Installment
    fee: int
    interest: int
    principal: int
    paid_fee: int = 0
    paid_interest: int = 0


def rests_of(schedule: Schedule) -> list[Rest]:
    """The rests of a schedule that knows only paid flags (a paid installment leaves 0)."""
    out = []
    for i in schedule.installments:
        if i.paid:
            out.append(Rest(i, 0, 0, 0, i.fee.minor, i.interest.minor))
        else:
            out.append(Rest(i, i.fee.minor, i.interest.minor, i.principal.minor))
    return out


@attrs.frozen
class Charges:
    """The payoff's charges by installment and part, and how the interest was accrued."""

    lines: tuple[tuple[int, AllocationPart, int], ...]
    interest_from: date | None
    interest_days: int
    waived_fees: int

    def total(self, part: AllocationPart) -> int:
        return sum(m for _, p, m in self.lines if p is part)


def payoff_charges(
    schedule: Schedule, rests: Sequence[Rest], on: date, payoff_fees: PayoffFees
) -> Charges:
    """Per-installment charges of paying everything off on ``on`` (see the module doc)."""
    terms = schedule.terms
    a, b = _ratio(terms.annual_rate)
    lines: list[tuple[int, AllocationPart, int]] = []
    interest_from: date | None = None
    days = waived = 0
    previous = schedule.start
    current_seen = False
    future_principal = sum(r.principal for r in rests if r.installment.due_date > on)

    def add(number: int, part: AllocationPart, minor: int) -> None:
        if minor:
            lines.append((number, part, minor))

    for rest in rests:
        inst = rest.installment
        period_start, previous = previous, inst.due_date
        n = inst.number
        if inst.due_date <= on:  # already due: all of it
            add(n, AllocationPart.FEE, rest.fee)
            add(n, AllocationPart.INTEREST, rest.interest)
            add(n, AllocationPart.PRINCIPAL, rest.principal)
            continue
        fee = 0
        if not current_seen:  # the period in progress
            current_seen = True
            begun = period_start < on
            if terms.method in _EQUAL and a:
                interest_from = period_start
                days = max(0, (on - period_start).days)
                accrued = _half_up(future_principal * a * days, b * 365)
                accrued = min(accrued, inst.interest.minor)
                add(n, AllocationPart.INTEREST, max(0, accrued - rest.paid_interest))
            if payoff_fees is PayoffFees.ALL or (
                payoff_fees is PayoffFees.CURRENT_PERIOD and begun
            ):
                fee = rest.fee
        elif payoff_fees is PayoffFees.ALL:
            fee = rest.fee
        waived += rest.fee - fee
        add(n, AllocationPart.FEE, fee)
        add(n, AllocationPart.PRINCIPAL, rest.principal)
    return Charges(tuple(lines), interest_from, days, waived)


@attrs.frozen
class PayoffQuote:
    """What paying an order off on ``on`` costs, by kind; ``total`` is their exact sum.

    ``payoff_fees`` is the fee rule applied and ``disclosure`` says it in words;
    ``interest_from`` / ``interest_days`` show the accrual of the period in progress
    (``None`` / 0 for plans without interest); ``waived_fees`` are the later fees not
    charged. ``penalty`` and ``late_fees`` are zero on a bare schedule's quote: they come
    from servicing (an :class:`OrderAccount`), not from the plan.
    """

    on: date
    principal: Money
    interest: Money
    fees: Money
    penalty: Money
    late_fees: Money
    total: Money
    payoff_fees: PayoffFees
    interest_from: date | None
    interest_days: int
    waived_fees: Money

    @property
    def disclosure(self) -> str:
        """The applied rule in words, for the buyer's page and the receipt."""
        interest = (
            f"interest for {self.interest_days} day(s) since {self.interest_from.isoformat()}"
            if self.interest_from is not None
            else "no interest"
        )
        return f"remaining principal, {interest}, {_DISCLOSURE[self.payoff_fees]}"

    def to_json(self) -> dict[str, Any]:
        """The quote as JSON-ready values (amounts in minor units, dates ISO)."""
        return {
            "on": self.on.isoformat(),
            "principal": self.principal.to_json(),
            "interest": self.interest.to_json(),
            "fees": self.fees.to_json(),
            "penalty": self.penalty.to_json(),
            "late_fees": self.late_fees.to_json(),
            "total": self.total.to_json(),
            "payoff_fees": self.payoff_fees.value,
            "interest_from": None if self.interest_from is None else self.interest_from.isoformat(),
            "interest_days": self.interest_days,
            "waived_fees": self.waived_fees.to_json(),
            "disclosure": self.disclosure,
        }


def quote_of(
    charges: Charges,
    on: date,
    currency: str,
    payoff_fees: PayoffFees,
    penalty: int = 0,
    late_fees: int = 0,
) -> PayoffQuote:
    """The :class:`PayoffQuote` of ``charges`` plus the servicing charges given."""
    principal = charges.total(AllocationPart.PRINCIPAL)
    interest = charges.total(AllocationPart.INTEREST)
    fees = charges.total(AllocationPart.FEE)

    def m(minor: int) -> Money:
        return Money._of_minor(minor, currency)

    return PayoffQuote(
        on=on,
        principal=m(principal),
        interest=m(interest),
        fees=m(fees),
        penalty=m(penalty),
        late_fees=m(late_fees),
        total=m(principal + interest + fees + penalty + late_fees),
        payoff_fees=payoff_fees,
        interest_from=charges.interest_from,
        interest_days=charges.interest_days,
        waived_fees=m(charges.waived_fees),
    )
