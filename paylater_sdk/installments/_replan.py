"""Re-planning an order after a prepayment, fen-exact.

A prepayment is taken only once everything past due and the installment due now are paid
(the allocation order), so it lowers the balance from that installment's due date on: that
installment has carried the period's interest already, and only the later installments are
re-planned. The prepaid principal is booked on the installment due now (its principal grows
by the prepayment, so the payment record and the schedule keep agreeing), and the later
installments are rebuilt either keeping the installment amount (fewer periods, the default)
or keeping the number of periods (a lower installment), with interest recomputed on the
new balances by the schedule's own rounding rule.
"""

from __future__ import annotations

import attrs

from ..errors import PlanError
from ..money import Money
from ._amortization import Installment, _half_up, _money_rows, _ratio, _rows, equal_parts
from ._kinds import PrepayKeeps
from ._schedule import Schedule
from ._terms import Method, PlanTerms


def _interest(parts: list[int], terms: PlanTerms) -> list[int]:
    a, b = _ratio(terms.annual_rate)
    b *= terms.periods_per_year
    balance, out = sum(parts), []
    for part in parts:
        out.append(_half_up(balance * a, b) if a else 0)
        balance -= part
    return out


def _level(balance: int, payment: int, n: int, terms: PlanTerms) -> list[int] | None:
    """Principal parts repaying ``balance`` with the level ``payment`` in at most ``n``."""
    a, b = _ratio(terms.annual_rate)
    b *= terms.periods_per_year
    parts: list[int] = []
    for j in range(n):
        if not balance:
            break
        interest = _half_up(balance * a, b)
        part = balance if j == n - 1 or balance + interest <= payment else payment - interest
        if part < 1:
            return None
        parts.append(part)
        balance -= part
    return parts if not balance else None


def _shorten(tail: tuple[Installment, ...], amount: int) -> list[int]:
    """The tail's principal parts with ``amount`` taken from the last ones first."""
    parts = [i.principal.minor for i in tail]
    for j in reversed(range(len(parts))):
        take = min(parts[j], amount)
        parts[j] -= take
        amount -= take
    while parts and not parts[-1]:
        parts.pop()
    return parts


def _keep_payment(tail: tuple[Installment, ...], balance: int, terms: PlanTerms) -> list[int]:
    if terms.method is Method.EQUAL_PAYMENT and terms.annual_rate:
        level = _level(balance, tail[0].amount.minor, len(tail), terms)
        if level is not None:
            return level
    return _shorten(tail, sum(i.principal.minor for i in tail) - balance)


def _keep_periods(tail: tuple[Installment, ...], balance: int, terms: PlanTerms) -> list[int]:
    n = len(tail)
    try:
        if terms.method is Method.EQUAL_PAYMENT and terms.annual_rate:
            parts, _, _, _ = _rows(balance, attrs.evolve(terms, periods=n, due_day=None))
            return parts
        return equal_parts(balance, n)
    except PlanError:  # too little left to spread over every period: shorten instead
        return _keep_payment(tail, balance, terms)


def prepay(schedule: Schedule, current: int, amount: int, keeps: PrepayKeeps) -> Schedule:
    """``schedule`` with ``amount`` minor units of principal prepaid after installment
    ``current`` (the one due now, fully paid), re-planned as ``keeps`` says."""
    rows = schedule.installments
    index = next(k for k, i in enumerate(rows) if i.number == current)
    head, cur, tail = rows[:index], rows[index], rows[index + 1 :]
    balance = sum(i.principal.minor for i in tail) - amount
    if amount <= 0 or balance < 0:
        raise PlanError(f"cannot prepay {amount} minor units of this order's principal")
    terms = schedule.terms
    if not balance:
        parts: list[int] = []
    elif keeps is PrepayKeeps.PERIODS:
        parts = _keep_periods(tail, balance, terms)
    else:
        parts = _keep_payment(tail, balance, terms)
    interest = _interest(parts, terms)
    fees = [tail[j].fee.minor if parts[j] else 0 for j in range(len(parts))]
    currency = schedule.currency
    new_tail = _money_rows(
        currency,
        [i.due_date for i in tail[: len(parts)]],
        parts,
        interest,
        fees,
        first_number=cur.number + 1,
    )
    paid = attrs.evolve(
        cur,
        principal=cur.principal + Money._of_minor(amount, currency),
        amount=cur.amount + Money._of_minor(amount, currency),
        remaining_principal=Money._of_minor(balance, currency),
        paid=True,
    )
    return attrs.evolve(schedule, installments=(*head, paid, *new_tail))
