"""A merchant refund on an order that is partly repaid: principal first, the rest back.

The refund lowers what the buyer still owes in principal, never more: first the principal of
installments already past due (booked as ``PRINCIPAL`` payment rows dated the refund day, so
their penalty stops the next day and penalty already posted stays owed), then the principal
not yet due, taken pro rata and re-planned like :meth:`Schedule.after_refund` (interest and
fees recomputed on the lower balances, never below what was already paid of them). What is
left exceeds every unpaid principal: the buyer paid it, and it is ``returned`` to them.
"""

from __future__ import annotations

from datetime import date

import attrs

from ..money import Money
from ._account import InstallmentState, OrderAccount, Payment
from ._allocation import AllocationLine, mark_paid
from ._amortization import Installment, _half_up, _ratio
from ._kinds import AllocationPart, ServicingError
from ._policy import DEFAULT_POLICY, ServicingPolicy
from ._terms import FeePayer

_P = AllocationPart.PRINCIPAL


@attrs.frozen
class RefundResult:
    """What a refund did: the updated ``account``, the past-due principal it paid
    (``credited`` lines, to store as payment rows of the refund), the not-yet-due principal
    it ``reduced`` by re-planning, and what is ``returned`` to the buyer's payment source.
    ``credited`` + ``reduced`` + ``returned`` is exactly the refund."""

    account: OrderAccount
    credited: tuple[AllocationLine, ...]
    reduced: Money
    returned: Money


def _check(account: OrderAccount, amount: object, on: date) -> None:
    if not isinstance(amount, Money) or amount.currency != account.currency:
        raise ServicingError(
            f"a refund is Money in {account.currency}", code="INVALID_AMOUNT", field="amount"
        )
    if amount.minor <= 0:
        raise ServicingError(
            f"a refund must be positive, got {amount}", code="INVALID_AMOUNT", field="amount"
        )
    last = account.last_payment_date
    if last is not None and on < last:
        raise ServicingError(
            f"a refund on {on} is before the last repayment on {last}",
            code="INVALID_DATE",
            field="on",
        )


def _replan(
    account: OrderAccount, states: list[InstallmentState], on: date, minor: int
) -> tuple[Installment, ...]:
    """The rows with ``minor`` of not-yet-due principal removed pro rata and re-priced."""
    schedule, terms = account.schedule, account.schedule.terms
    future = [s for s in states if s.installment.due_date >= on and not s.installment.paid]
    owed = [s.owed_part(_P).minor for s in future]
    shares = Money._of_minor(minor, account.currency).allocate(owed)
    cut = {s.installment.number: m.minor for s, m in zip(future, shares, strict=True)}
    parts = [i.principal.minor - cut.get(i.number, 0) for i in schedule.installments]
    a, b = _ratio(terms.annual_rate)
    b *= terms.periods_per_year
    fn, fd = _ratio(terms.fee_rate_per_period)
    financed = schedule.principal.minor - minor
    fee = _half_up(financed * fn, fd) if fn and terms.fee_payer is FeePayer.BUYER else 0
    by_number = {s.installment.number: s for s in states}
    rows, balance = [], sum(parts)
    cur = account.currency
    for inst, part in zip(schedule.installments, parts, strict=True):
        if inst.number in cut:
            s = by_number[inst.number]
            interest = max(_half_up(balance * a, b) if a else 0, s.paid_interest.minor)
            new_fee = max(fee if balance else 0, s.paid_fee.minor)
            inst = attrs.evolve(
                inst,
                principal=Money._of_minor(part, cur),
                interest=Money._of_minor(interest, cur),
                fee=Money._of_minor(new_fee, cur),
                amount=Money._of_minor(part + interest + new_fee, cur),
            )
        balance -= part
        rows.append(attrs.evolve(inst, remaining_principal=Money._of_minor(balance, cur)))
    return tuple(rows)


def refund(
    account: OrderAccount, amount: Money, *, on: date, policy: ServicingPolicy = DEFAULT_POLICY
) -> RefundResult:
    """Apply a merchant refund of ``amount`` on ``on`` to ``account`` (see the module doc)."""
    states = account.states(on, policy)  # checks the day
    _check(account, amount, on)
    cur, left = account.currency, amount.minor
    credited: list[Payment] = []
    for s in sorted((s for s in states if s.past_due), key=lambda s: s.installment.due_date):
        take = min(left, s.owed_part(_P).minor)
        if take > 0:
            credited.append(Payment(on, s.installment.number, _P, Money._of_minor(take, cur)))
            left -= take
    future = sum(
        s.owed_part(_P).minor
        for s in states
        if s.installment.due_date >= on and not s.installment.paid
    )
    reduce = min(left, future)
    schedule = account.schedule
    if reduce:
        schedule = attrs.evolve(
            schedule,
            principal=schedule.principal - Money._of_minor(reduce, cur),
            installments=_replan(account, states, on, reduce),
            refunds=(*schedule.refunds, (on, Money._of_minor(reduce, cur))),
        )
    payments = (*account.payments, *credited)
    schedule = mark_paid(schedule, payments)
    return RefundResult(
        account=attrs.evolve(account, schedule=schedule, payments=payments),
        credited=tuple(
            AllocationLine(account.order_id, p.installment, p.part, p.amount) for p in credited
        ),
        reduced=Money._of_minor(reduce, cur),
        returned=Money._of_minor(left - reduce, cur),
    )
