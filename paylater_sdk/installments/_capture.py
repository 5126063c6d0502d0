"""A further capture on an order already in servicing: one schedule, re-planned.

An order captured in several parts (split shipments) keeps one schedule and one account:
each later capture adds its principal to the installments not yet due, pro rata to what
they still owe in principal (evenly when they owe nothing: all refunded), and their
interest and fees are recomputed on the higher balances by the same rule as a refund's
re-plan (:func:`._refund.refund`, run backwards). Paid and past-due installments, the due
dates and the payment record stay as they were, so every repayment, refund, statement and
payoff keeps working on one exact account. The merchant fee grows by the plan's merchant
fee on each later capture priced as its own purchase (what the settlement bill charges
for that capture line, ``issuer.domain.bills.merchant_fee``).
"""

from __future__ import annotations

from datetime import date

import attrs

from ..errors import PlanError
from ..money import Money
from ._account import OrderAccount
from ._kinds import ServicingError
from ._policy import DEFAULT_POLICY, ServicingPolicy
from ._refund import _replan
from ._schedule import build_schedule


def add_capture(
    account: OrderAccount,
    amount: Money,
    *,
    on: date,
    policy: ServicingPolicy = DEFAULT_POLICY,
) -> OrderAccount:
    """``account`` with ``amount`` more principal captured on ``on`` (see the module doc).

    Raises :class:`ServicingError` ``INVALID_STATE`` when no installment is still to fall
    due on ``on`` (nothing left to spread a new capture over).
    """
    account.states(on, policy)  # checks the day
    # An installment not yet due that asks for nothing (all refunded) is flagged paid
    # without a payment: it can carry the new principal again.
    rows = tuple(
        attrs.evolve(i, paid=False) if i.paid and i.due_date >= on and not i.amount.minor else i
        for i in account.schedule.installments
    )
    account = attrs.evolve(account, schedule=attrs.evolve(account.schedule, installments=rows))
    states = account.states(on, policy)
    if not isinstance(amount, Money) or amount.currency != account.currency:
        raise ServicingError(
            f"a capture is Money in {account.currency}", code="INVALID_AMOUNT", field="amount"
        )
    if amount.minor <= 0:
        raise ServicingError(
            f"a capture must be positive, got {amount}", code="INVALID_AMOUNT", field="amount"
        )
    if not any(s.installment.due_date >= on and not s.installment.paid for s in states):
        raise ServicingError(
            f"no installment of order {account.order_id} is still to fall due on {on}",
            code="INVALID_STATE",
        )
    schedule = account.schedule
    try:  # the merchant pays the plan's fee on each capture, priced as its own purchase
        fee = build_schedule(amount, schedule.terms, start=on).merchant_fee
    except PlanError:  # too small to split over the periods: no fee on it
        fee = Money.zero(amount.currency)
    schedule = attrs.evolve(
        schedule,
        principal=schedule.principal + amount,
        installments=_replan(account, states, on, -amount.minor),
        merchant_fee=schedule.merchant_fee + fee,
        advances=(*schedule.advances, (on, amount)),
    )
    return attrs.evolve(account, schedule=schedule)
