"""An order in servicing: its schedule plus the dated record of what was paid on it.

"Paid so far" is the list of :class:`Payment` rows (date, installment, part, amount): the
allocation lines the issuer stored, each with its repayment date. Everything else (what is
left of each installment, penalty accrued, late fees, days past due, the payoff figure) is
derived from the schedule, that record, the order's penalty rate and the
:class:`ServicingPolicy`, so the issuer stores facts and never a running balance that could
drift. An installment whose ``paid`` flag is set (:meth:`Schedule.record_payment`) counts
as fully paid; any of it the record does not show is taken as paid on its due date.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import attrs

from ..money import Money
from . import _overdue
from ._amortization import Installment, check_start
from ._kinds import AllocationPart, ServicingError
from ._payoff import PayoffQuote, Rest, payoff_charges, quote_of
from ._policy import DEFAULT_POLICY, ServicingPolicy
from ._schedule import Schedule
from ._terms import to_rate

_PRINCIPAL = (AllocationPart.PRINCIPAL, AllocationPart.PREPAYMENT)
_PLAN_PARTS = (AllocationPart.FEE, AllocationPart.INTEREST, *_PRINCIPAL)


def check_day(value: object, field: str) -> date:
    try:
        return check_start(value, field)
    except ValueError:
        raise ServicingError(
            f"{field} must be a datetime.date, got {value!r}", code="INVALID_DATE", field=field
        ) from None


@attrs.frozen
class Payment:
    """One allocation line applied to an order on ``on`` (a row the issuer stores)."""

    on: date
    installment: int
    part: AllocationPart
    amount: Money


@attrs.frozen
class InstallmentState:
    """One installment as of a day: the schedule row, what was paid and what is owed.

    ``penalty`` is the penalty posted through the day (exact accrual rounded half-up),
    ``late_fee`` the late fee assessed; ``owed`` sums every part still unpaid.
    """

    installment: Installment
    on: date
    paid_fee: Money
    paid_interest: Money
    paid_principal: Money
    paid_penalty: Money
    paid_late_fee: Money
    penalty: Money
    late_fee: Money
    penalty_exact: Fraction

    def owed_part(self, part: AllocationPart) -> Money:
        """What is still owed of ``part`` (PREPAYMENT reads as PRINCIPAL)."""
        inst = self.installment
        pairs = {
            AllocationPart.FEE: (inst.fee, self.paid_fee),
            AllocationPart.INTEREST: (inst.interest, self.paid_interest),
            AllocationPart.PRINCIPAL: (inst.principal, self.paid_principal),
            AllocationPart.PREPAYMENT: (inst.principal, self.paid_principal),
            AllocationPart.PENALTY: (self.penalty, self.paid_penalty),
            AllocationPart.LATE_FEE: (self.late_fee, self.paid_late_fee),
        }
        due, paid = pairs[part]
        return due - paid

    @property
    def owed(self) -> Money:
        """Everything still owed on this installment (plan parts, penalty, late fee)."""
        parts = [p for p in AllocationPart if p is not AllocationPart.PREPAYMENT]
        return sum((self.owed_part(p) for p in parts), Money.zero(self.penalty.currency))

    @property
    def settled(self) -> bool:
        """True once nothing at all is owed on this installment."""
        return not self.owed.minor

    @property
    def past_due(self) -> bool:
        """True when it fell due before the day and something is still owed."""
        return self.installment.due_date < self.on and not self.settled

    @property
    def days_past_due(self) -> int:
        """Days since the due date while something is owed (0 otherwise)."""
        return (self.on - self.installment.due_date).days if self.past_due else 0


def _check_payments(schedule: Schedule, payments: Sequence[Payment]) -> None:
    numbers = {i.number: i for i in schedule.installments}
    totals: dict[tuple[int, AllocationPart], int] = {}
    for p in payments:
        if not isinstance(p, Payment):
            raise ServicingError("payments must be Payment rows", code="INVALID_FIELD")
        if p.installment not in numbers:
            raise ServicingError(
                f"a payment names installment {p.installment}, which the schedule has not",
                code="INVALID_FIELD",
                field="installment",
            )
        if p.amount.currency != schedule.currency or p.amount.minor <= 0:
            raise ServicingError(
                f"a payment is a positive amount in {schedule.currency}, got {p.amount}",
                code="INVALID_AMOUNT",
                field="amount",
            )
        if check_day(p.on, "on") < schedule.start:
            raise ServicingError(
                f"a payment on {p.on} is before the purchase on {schedule.start}",
                code="INVALID_DATE",
                field="on",
            )
        part = AllocationPart.PRINCIPAL if p.part in _PRINCIPAL else p.part
        key = (p.installment, part)
        totals[key] = totals.get(key, 0) + p.amount.minor
    for (number, part), minor in totals.items():
        inst = numbers[number]
        limit = {
            AllocationPart.FEE: inst.fee,
            AllocationPart.INTEREST: inst.interest,
            AllocationPart.PRINCIPAL: inst.principal,
        }.get(part)
        if limit is not None and minor > limit.minor:
            raise ServicingError(
                f"payments of {part.value} on installment {number} exceed what it asks for",
                code="AMOUNT_EXCEEDS_OWED",
                field="amount",
            )


def _payments(value: Sequence[Payment]) -> tuple[Payment, ...]:
    return tuple(value)


def _rate(value: object) -> Decimal:
    return to_rate(value, "penalty_rate")


@attrs.frozen
class OrderAccount:
    """An order being serviced: ``schedule``, its annual ``penalty_rate`` and ``payments``.

    Build one with :meth:`open` at purchase (it fixes the penalty rate under the cap) and
    store ``penalty_rate`` with the order; rebuild it from the stored schedule and payment
    rows later. Every view takes the day ``on`` and considers payments dated on or before it.
    """

    order_id: str
    schedule: Schedule
    penalty_rate: Decimal = attrs.field(converter=_rate)
    payments: tuple[Payment, ...] = attrs.field(default=(), converter=_payments)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.schedule, Schedule):
            raise ServicingError("schedule must be a Schedule", code="INVALID_FIELD")
        _check_payments(self.schedule, self.payments)

    @classmethod
    def open(
        cls, order_id: str, schedule: Schedule, policy: ServicingPolicy = DEFAULT_POLICY
    ) -> OrderAccount:
        """A new account with no payments and the penalty rate ``policy`` allows."""
        return cls(order_id, schedule, _overdue.penalty_rate(schedule, policy))

    @property
    def currency(self) -> str:
        """The currency of every amount on the order."""
        return self.schedule.currency

    @property
    def last_payment_date(self) -> date | None:
        """The date of the latest payment row (a new repayment may not be dated before it)."""
        return max((p.on for p in self.payments), default=None)

    def _check_on(self, on: object) -> date:
        day = check_day(on, "on")
        if day < self.schedule.start:
            raise ServicingError(
                f"{day} is before the purchase on {self.schedule.start}",
                code="INVALID_DATE",
                field="on",
            )
        return day

    def states(self, on: date, policy: ServicingPolicy = DEFAULT_POLICY) -> list[InstallmentState]:
        """Every installment as of ``on``: paid, owed, penalty posted, late fee assessed."""
        on = self._check_on(on)
        return [self._state(i, on, policy) for i in self.schedule.installments]

    def first_owing(
        self, on: date, policy: ServicingPolicy = DEFAULT_POLICY
    ) -> InstallmentState | None:
        """The oldest installment still owing anything as of ``on``, or None when all are
        settled: ``next(s for s in states(on, policy) if not s.settled)``, but the states
        after it are never worked out (a new loan's answer is its first installment)."""
        on = self._check_on(on)
        for inst in self.schedule.installments:
            state = self._state(inst, on, policy)
            if not state.settled:
                return state
        return None

    def _state(self, inst: Installment, on: date, policy: ServicingPolicy) -> InstallmentState:
        cur = self.currency
        every = [p for p in self.payments if p.installment == inst.number]
        mine = [p for p in every if p.on <= on]

        def paid(*parts: AllocationPart, rows: list[Payment] = mine) -> int:
            return sum(p.amount.minor for p in rows if p.part in parts)

        paid_fee, paid_int = paid(AllocationPart.FEE), paid(AllocationPart.INTEREST)
        paid_prin = paid(*_PRINCIPAL)
        rest_fee = rest_int = rest_prin = 0
        if inst.paid:  # fully paid; what the record does not show was paid on the due date
            rest_fee = inst.fee.minor - paid(AllocationPart.FEE, rows=every)
            rest_int = inst.interest.minor - paid(AllocationPart.INTEREST, rows=every)
            rest_prin = inst.principal.minor - paid(*_PRINCIPAL, rows=every)
        first = inst.due_date + timedelta(days=policy.grace_days + 1)
        principal_rows = [(p.on, p.amount.minor) for p in mine if p.part in _PRINCIPAL]
        minor_days = _overdue.principal_days(
            inst.principal.minor - rest_prin, principal_rows, first, on
        )
        exact = _overdue.exact_penalty(minor_days, self.penalty_rate)
        late = 0
        if policy.late_fee is not None and policy.late_fee.currency != cur:
            raise ServicingError(
                f"the late fee is in {policy.late_fee.currency}, the order in {cur}",
                code="INVALID_FIELD",
                field="late_fee",
            )
        if policy.late_fee is not None and first <= on:
            before = sum(p.amount.minor for p in mine if p.on < first and p.part in _PLAN_PARTS)
            if inst.amount.minor - rest_fee - rest_int - rest_prin - before > 0:
                late = policy.late_fee.minor

        def m(minor: int) -> Money:
            return Money._of_minor(minor, cur)

        return InstallmentState(
            installment=inst,
            on=on,
            paid_fee=m(paid_fee + rest_fee),
            paid_interest=m(paid_int + rest_int),
            paid_principal=m(paid_prin + rest_prin),
            paid_penalty=m(paid(AllocationPart.PENALTY)),
            paid_late_fee=m(paid(AllocationPart.LATE_FEE)),
            penalty=m(_overdue.posted(exact)),
            late_fee=m(late),
            penalty_exact=exact,
        )

    # --- figures --------------------------------------------------------------------------

    def days_past_due(self, on: date, policy: ServicingPolicy = DEFAULT_POLICY) -> int:
        """Days the oldest installment with something still owed is past its due date."""
        return max((s.days_past_due for s in self.states(on, policy)), default=0)

    def outstanding_principal(self, on: date, policy: ServicingPolicy = DEFAULT_POLICY) -> Money:
        """Principal not yet repaid (what the credit line still carries, or is written off)."""
        owed = sum(s.owed_part(AllocationPart.PRINCIPAL).minor for s in self.states(on, policy))
        return Money._of_minor(owed, self.currency)

    def penalty_posted(self, on: date, policy: ServicingPolicy = DEFAULT_POLICY) -> Money:
        """All penalty posted through ``on`` (paid or not): post the change since last time."""
        return Money._of_minor(sum(s.penalty.minor for s in self.states(on, policy)), self.currency)

    def payoff_quote(self, on: date, policy: ServicingPolicy = DEFAULT_POLICY) -> PayoffQuote:
        """What paying this order off on ``on`` costs, penalty and late fees included."""
        states = self.states(on, policy)
        if all(s.settled for s in states):
            raise ServicingError(
                f"order {self.order_id} is fully paid; nothing to pay off",
                code="NOTHING_OWED",
                field="order_id",
            )
        charges = payoff_charges(self.schedule, rests(states), on, policy.payoff_fees)
        penalty = sum(s.owed_part(AllocationPart.PENALTY).minor for s in states)
        late = sum(s.owed_part(AllocationPart.LATE_FEE).minor for s in states)
        return quote_of(charges, on, self.currency, policy.payoff_fees, penalty, late)


def rests(states: Sequence[InstallmentState]) -> list[Rest]:
    """The payoff view of ``states``: what is left of each plan part, and what was paid."""
    return [
        Rest(
            s.installment,
            s.owed_part(AllocationPart.FEE).minor,
            s.owed_part(AllocationPart.INTEREST).minor,
            s.owed_part(AllocationPart.PRINCIPAL).minor,
            s.paid_fee.minor,
            s.paid_interest.minor,
        )
        for s in states
    ]
