"""Allocating a repayment over a buyer's orders, in the product's order, to the minor unit.

The waterfall (docs/servicing.md, "Allocation"): first what is past due, oldest installment
first, in ``policy.allocation_order`` (by default penalty interest, then late fees, then each
installment's fee, interest and principal); then the installment due now of each order
(the earliest not yet past due); then, only in ``PREPAY`` mode, principal of the chosen
order, which re-plans it. ``PAYOFF`` mode replaces the last two steps with the order's payoff
charges and settles the order. An amount above what the mode can take is refused
(``AMOUNT_EXCEEDS_OWED``): nothing is ever kept as a silent credit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import attrs

from ..money import Money
from ._account import InstallmentState, OrderAccount, Payment, check_day, rests
from ._kinds import AllocationPart, PrepayKeeps, RepayMode, ServicingError, parse_enum
from ._payoff import payoff_charges
from ._policy import DEFAULT_POLICY, Policies, allocation_order_of, policy_of
from ._replan import prepay

_PLAN = (AllocationPart.FEE, AllocationPart.INTEREST, AllocationPart.PRINCIPAL)
_ACCOUNT_LEVEL = (AllocationPart.PENALTY, AllocationPart.LATE_FEE)


@attrs.frozen
class AllocationLine:
    """``amount`` of one repayment applied to ``part`` of an order's ``installment``."""

    order_id: str
    installment: int
    part: AllocationPart
    amount: Money

    def to_json(self) -> dict[str, Any]:
        """The wire form of the test API's ``allocated`` items."""
        return {
            "order_id": self.order_id,
            "installment": self.installment,
            "part": self.part.value,
            "amount": self.amount.to_json(),
        }


@attrs.frozen
class Allocation:
    """A repayment split into ``lines`` (summing exactly to ``amount``), and its effect.

    ``accounts`` are all the accounts given, in order, with the payment rows appended and
    the schedule updated (paid flags; re-planned after a prepayment; settled after a
    payoff): store their schedules and the lines. ``owed_before`` is what the mode could
    take; ``owed_after`` is what is still owed now (``DUE`` mode) on the accounts involved.
    """

    on: date
    mode: RepayMode
    amount: Money
    lines: tuple[AllocationLine, ...]
    accounts: tuple[OrderAccount, ...]
    owed_before: Money
    owed_after: Money


# An item of the waterfall: (account index, installment number, part, minor units owed).
_Item = tuple[int, int, AllocationPart, int]


def _runs(order: Sequence[AllocationPart]) -> list[tuple[AllocationPart, ...]]:
    """``order`` cut into runs: each account-level part alone, plan parts grouped."""
    runs: list[tuple[AllocationPart, ...]] = []
    for part in order:
        if part in _PLAN and runs and runs[-1][0] in _PLAN:
            runs[-1] = (*runs[-1], part)
        else:
            runs.append((part,))
    return runs


def _due_now(states: Sequence[InstallmentState], on: date) -> InstallmentState | None:
    return next((s for s in states if s.installment.due_date >= on), None)


def _items(
    accounts: Sequence[OrderAccount],
    chosen: Sequence[int],
    on: date,
    mode: RepayMode,
    policies: Policies,
) -> list[_Item]:
    mine = {k: policy_of(policies, accounts[k].order_id) for k in chosen}
    states = {k: accounts[k].states(on, mine[k]) for k in chosen}
    order = allocation_order_of([mine[k] for k in chosen])
    # oldest first: by due date, then the order bought first (then as given), then number
    bought = {k: (accounts[k].schedule.start, k) for k in chosen}
    past = sorted(
        (
            (s.installment.due_date, k, s.installment.number, s)
            for k in chosen
            for s in states[k]
            if s.past_due
        ),
        key=lambda t: (t[0], bought[t[1]], t[2]),
    )
    items: list[_Item] = []
    for run in _runs(order):
        for _, k, number, s in past:
            items.extend((k, number, part, s.owed_part(part).minor) for part in run)
    plan_order = [p for p in order if p in _PLAN]
    if mode is RepayMode.PAYOFF:
        (k,) = chosen
        account = accounts[k]
        charges = payoff_charges(account.schedule, rests(states[k]), on, mine[k].payoff_fees)
        due = {i.number for i in account.schedule.installments if i.due_date >= on}
        by_part = {(n, p): m for n, p, m in charges.lines if n in due}
        for inst in account.schedule.installments:
            if inst.number in due:
                n = inst.number
                items.extend((k, n, p, by_part.get((n, p), 0)) for p in plan_order)
        return items
    now: list[tuple[date, int, InstallmentState]] = []
    for k in chosen:
        current = _due_now(states[k], on)
        if current is not None:
            now.append((current.installment.due_date, k, current))
    now.sort(key=lambda t: (t[0], bought[t[1]]))
    for _, k, state in now:
        items.extend((k, state.installment.number, p, state.owed_part(p).minor) for p in plan_order)
    if mode is RepayMode.PREPAY:
        (k,) = chosen
        current = _due_now(states[k], on)
        if current is not None:
            later = [s for s in states[k] if s.installment.number > current.installment.number]
            principal = sum(s.owed_part(AllocationPart.PRINCIPAL).minor for s in later)
            items.append((k, current.installment.number, AllocationPart.PREPAYMENT, principal))
    return items


def _check(
    accounts: Sequence[OrderAccount], on: object, mode: object, order_id: object
) -> tuple[date, RepayMode, list[int]]:
    if not accounts or not all(isinstance(a, OrderAccount) for a in accounts):
        raise ServicingError(
            "a repayment needs the buyer's OrderAccounts", code="INVALID_FIELD", field="orders"
        )
    ids = [a.order_id for a in accounts]
    if len(set(ids)) != len(ids):
        raise ServicingError("an order is given twice", code="INVALID_FIELD", field="order_id")
    if len({a.currency for a in accounts}) != 1:
        raise ServicingError(
            "a buyer's orders must share one currency", code="INVALID_FIELD", field="orders"
        )
    day = check_day(on, "on")
    for a in accounts:
        last = a.last_payment_date
        if day < a.schedule.start or (last is not None and day < last):
            raise ServicingError(
                f"a repayment on {day} is before order {a.order_id}'s purchase or its last "
                "repayment",
                code="INVALID_DATE",
                field="on",
            )
    repay_mode = parse_enum(RepayMode, mode, "mode")
    if order_id is None:
        if repay_mode is not RepayMode.DUE:
            raise ServicingError(
                f"{repay_mode.value} needs the order_id of the order it is for",
                code="INVALID_FIELD",
                field="order_id",
            )
        return day, repay_mode, list(range(len(accounts)))
    if order_id not in ids:
        raise ServicingError(
            f"unknown order {order_id!r} for this buyer", code="UNKNOWN_ORDER", field="order_id"
        )
    return day, repay_mode, [ids.index(str(order_id))]


def owed(
    accounts: Sequence[OrderAccount],
    *,
    on: date,
    mode: RepayMode | str = RepayMode.DUE,
    order_id: str | None = None,
    policy: Policies = DEFAULT_POLICY,
) -> Money:
    """What a repayment in ``mode`` on ``on`` can take at most (DUE: everything owed now)."""
    day, repay_mode, chosen = _check(accounts, on, mode, order_id)
    items = _items(accounts, chosen, day, repay_mode, policy)
    return Money._of_minor(sum(m for *_, m in items), accounts[0].currency)


def _check_amount(amount: object, currency: str, total: int, mode: RepayMode) -> int:
    if total <= 0:
        raise ServicingError("nothing is owed", code="NOTHING_OWED", field="amount")
    if amount is None:
        return total
    if not isinstance(amount, Money) or amount.currency != currency:
        raise ServicingError(
            f"amount must be Money in {currency}", code="INVALID_AMOUNT", field="amount"
        )
    if amount.minor <= 0:
        raise ServicingError(
            f"a repayment must be positive, got {amount}", code="INVALID_AMOUNT", field="amount"
        )
    owed_money = Money._of_minor(total, currency)
    if mode is RepayMode.PAYOFF and amount.minor != total:
        raise ServicingError(
            f"paying off takes exactly {owed_money}, not {amount}",
            code="PAYOFF_AMOUNT_MISMATCH",
            field="amount",
        )
    if amount.minor > total:
        raise ServicingError(
            f"{amount} is more than the {owed_money} owed; overpayments are not kept",
            code="AMOUNT_EXCEEDS_OWED",
            field="amount",
        )
    return amount.minor


def allocate(
    accounts: Sequence[OrderAccount],
    amount: Money | None = None,
    *,
    on: date,
    mode: RepayMode | str = RepayMode.DUE,
    order_id: str | None = None,
    prepay_keeps: PrepayKeeps | str = PrepayKeeps.PAYMENT,
    policy: Policies = DEFAULT_POLICY,
) -> Allocation:
    """Split a repayment of ``amount`` (``None``: all the mode can take) over ``accounts``.

    ``DUE`` without ``order_id`` spreads over all the buyer's orders; with one, or in
    ``PAYOFF`` / ``PREPAY`` mode (which need it), over that order only.
    """
    day, repay_mode, chosen = _check(accounts, on, mode, order_id)
    keeps = parse_enum(PrepayKeeps, prepay_keeps, "prepay_keeps")
    currency = accounts[0].currency
    items = _items(accounts, chosen, day, repay_mode, policy)
    total = sum(m for *_, m in items)
    left = _check_amount(amount, currency, total, repay_mode)
    paid = left
    lines: list[tuple[int, int, AllocationPart, int]] = []
    for k, number, part, minor in items:
        take = min(left, minor)
        if take > 0:
            lines.append((k, number, part, take))
            left -= take
    updated = list(accounts)
    for k in chosen:
        updated[k] = _apply(accounts[k], [li for li in lines if li[0] == k], day, repay_mode, keeps)
    involved = [updated[k] for k in chosen]
    after = sum(m for *_, m in _items(involved, range(len(involved)), day, RepayMode.DUE, policy))
    return Allocation(
        on=day,
        mode=repay_mode,
        amount=Money._of_minor(paid, currency),
        lines=tuple(
            AllocationLine(accounts[k].order_id, n, p, Money._of_minor(m, currency))
            for k, n, p, m in lines
        ),
        accounts=tuple(updated),
        owed_before=Money._of_minor(total, currency),
        owed_after=Money._of_minor(after, currency),
    )


def _apply(
    account: OrderAccount,
    lines: Sequence[tuple[int, int, AllocationPart, int]],
    on: date,
    mode: RepayMode,
    keeps: PrepayKeeps,
) -> OrderAccount:
    currency = account.currency
    payments = (
        *account.payments,
        *(Payment(on, n, p, Money._of_minor(m, currency)) for _, n, p, m in lines),
    )
    schedule = account.schedule
    if mode is RepayMode.PAYOFF:
        schedule = _settle(account, payments)
    else:
        prepaid = [(n, m) for _, n, p, m in lines if p is AllocationPart.PREPAYMENT]
        if prepaid:
            ((number, minor),) = prepaid
            schedule = prepay(schedule, number, minor, keeps)
        schedule = mark_paid(schedule, payments)
    return attrs.evolve(account, schedule=schedule, payments=payments)


def _paid_by(payments: Sequence[Payment], number: int) -> dict[AllocationPart, int]:
    out = dict.fromkeys(_PLAN, 0)
    for p in payments:
        if p.installment == number and p.part not in _ACCOUNT_LEVEL:
            part = AllocationPart.PRINCIPAL if p.part is AllocationPart.PREPAYMENT else p.part
            out[part] += p.amount.minor
    return out


def mark_paid(schedule: Any, payments: Sequence[Payment]) -> Any:
    rows = []
    for inst in schedule.installments:
        paid = _paid_by(payments, inst.number)
        whole = paid[AllocationPart.FEE] + paid[AllocationPart.INTEREST]
        whole += paid[AllocationPart.PRINCIPAL]
        done = inst.paid or whole >= inst.amount.minor
        rows.append(attrs.evolve(inst, paid=done) if done != inst.paid else inst)
    return attrs.evolve(schedule, installments=tuple(rows))


def _settle(account: OrderAccount, payments: Sequence[Payment]) -> Any:
    """The schedule of a paid-off order: what was charged is what each row asks for."""
    rows = []
    for inst in account.schedule.installments:
        paid = _paid_by(payments, inst.number)
        if inst.paid:
            rows.append(inst)
            continue
        fee = Money._of_minor(paid[AllocationPart.FEE], account.currency)
        interest = Money._of_minor(paid[AllocationPart.INTEREST], account.currency)
        rows.append(
            attrs.evolve(
                inst, fee=fee, interest=interest, amount=inst.principal + fee + interest, paid=True
            )
        )
    return attrs.evolve(account.schedule, installments=tuple(rows))
