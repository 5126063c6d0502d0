"""Property checks of servicing over random plans, histories, amounts and days."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from paylater_sdk.installments import (
    AllocationPart,
    Method,
    OrderAccount,
    PlanTerms,
    PrepayKeeps,
    Schedule,
    ServicingError,
    ServicingPolicy,
    allocate,
    build_schedule,
    owed,
    penalty_rate,
    refund,
)
from paylater_sdk.installments._amortization import _half_up
from paylater_sdk.money import Money

from .test_installments_properties import plan_terms

starts = st.dates(date(2020, 1, 1), date(2040, 12, 31))
amounts = st.builds(Money.from_minor, st.integers(10_000, 10**8), st.just("CNY"))
policies = st.builds(
    ServicingPolicy,
    grace_days=st.integers(0, 5),
    late_fee=st.none() | st.just(Money("10", "CNY")),
    allocation_order=st.permutations(
        [p for p in AllocationPart if p is not AllocationPart.PREPAYMENT]
    ),
)
_PLAN = (AllocationPart.FEE, AllocationPart.INTEREST, AllocationPart.PRINCIPAL)


def _account(principal: Money, terms: PlanTerms, start: date, policy: ServicingPolicy) -> object:
    try:
        schedule = build_schedule(principal, terms, start=start)
    except Exception:  # amounts too small for the plan are not what this file tests
        assume(False)
        raise
    return OrderAccount.open("o", schedule, policy)


@st.composite
def histories(draw: st.DrawFn) -> tuple[OrderAccount, ServicingPolicy, date]:
    """An account after a few random repayments, and a day after them."""
    policy = draw(policies)
    account = _account(draw(amounts), draw(plan_terms()), draw(starts), policy)
    assert isinstance(account, OrderAccount)
    day = account.schedule.start
    for _ in range(draw(st.integers(0, 4))):
        day += timedelta(days=draw(st.integers(0, 70)))
        try:
            total = owed([account], on=day, policy=policy)
        except ServicingError:
            break
        if not total.minor:
            continue
        pay = Money.from_minor(draw(st.integers(1, total.minor)), "CNY")
        account = allocate([account], pay, on=day, policy=policy).accounts[0]
    day += timedelta(days=draw(st.integers(0, 120)))
    return account, policy, day


def _rank(
    account: OrderAccount, policy: ServicingPolicy, on: date
) -> dict[tuple[int, AllocationPart], tuple[object, ...]]:
    """An independent statement of the default waterfall's order, as sortable ranks."""
    states = account.states(on, policy)
    order = policy.allocation_order
    runs: list[tuple[AllocationPart, ...]] = []
    for part in order:
        if part in _PLAN and runs and runs[-1][0] in _PLAN:
            runs[-1] = (*runs[-1], part)
        else:
            runs.append((part,))
    ranks: dict[tuple[int, AllocationPart], tuple[object, ...]] = {}
    for s in states:
        n = s.installment.number
        if s.past_due:
            for r, run in enumerate(runs):
                for j, part in enumerate(run):
                    ranks[(n, part)] = (0, r, s.installment.due_date, j)
    now = next((s for s in states if s.installment.due_date >= on), None)
    if now is not None:
        plan_order = [p for p in order if p in _PLAN]
        for j, part in enumerate(plan_order):
            ranks[(now.installment.number, part)] = (1, 0, now.installment.due_date, j)
    return ranks


@given(histories(), st.data())
@settings(max_examples=150, deadline=None)
def test_allocation_never_pays_more_than_owed_and_always_in_order(
    history: tuple[OrderAccount, ServicingPolicy, date], data: st.DataObject
) -> None:
    account, policy, on = history
    total = owed([account], on=on, policy=policy)
    assume(total.minor > 0)
    amount = Money.from_minor(data.draw(st.integers(1, total.minor)), "CNY")
    before = {
        (s.installment.number, p): s.owed_part(p).minor
        for s in account.states(on, policy)
        for p in AllocationPart
        if p is not AllocationPart.PREPAYMENT
    }
    result = allocate([account], amount, on=on, policy=policy)
    assert sum(li.amount.minor for li in result.lines) == amount.minor
    assert all(li.amount.minor > 0 for li in result.lines)
    ranks = _rank(account, policy, on)
    keys = [(li.installment, li.part) for li in result.lines]
    assert len(set(keys)) == len(keys)
    for li in result.lines:
        assert li.amount.minor <= before[(li.installment, li.part)]
    assert [ranks[k] for k in keys] == sorted(ranks[k] for k in keys)
    # Nothing ranked before the last line is left unpaid: no step was skipped.
    last = ranks[keys[-1]]
    after = {
        (s.installment.number, p): s.owed_part(p).minor
        for s in result.accounts[0].states(on, policy)
        for p in AllocationPart
        if p is not AllocationPart.PREPAYMENT
    }
    for key, rank in ranks.items():
        if rank < last:
            assert after[key] == 0, key
    assert result.owed_after.minor == total.minor - amount.minor
    with pytest.raises(ServicingError) as exc:
        allocate([account], total + Money("0.01", "CNY"), on=on, policy=policy)
    assert exc.value.code == "AMOUNT_EXCEEDS_OWED"


@given(histories())
@settings(max_examples=100, deadline=None)
def test_payoff_quote_on_the_last_due_date_is_what_is_left(
    history: tuple[OrderAccount, ServicingPolicy, date],
) -> None:
    account, policy, _ = history
    last = account.schedule.installments[-1].due_date
    assume(not account.last_payment_date or account.last_payment_date <= last)
    states = account.states(last, policy)
    left = sum(s.owed.minor for s in states)
    assume(left > 0)
    quote = account.payoff_quote(last, policy)
    assert quote.total.minor == left
    assert quote.interest_days == 0
    schedule = account.schedule
    unpaid = sum(i.amount.minor for i in schedule.installments if not i.paid)
    if unpaid and not account.payments:
        assert schedule.payoff_quote(last).total.minor == unpaid


@given(amounts, plan_terms(), starts)
@settings(max_examples=100, deadline=None)
def test_apr_plus_penalty_never_above_the_cap(
    principal: Money, terms: PlanTerms, start: date
) -> None:
    try:
        schedule = build_schedule(principal, terms, start=start)
    except ValueError:
        assume(False)
        return
    for policy in (ServicingPolicy(), ServicingPolicy(annual_cost_cap="0.36")):
        rate = penalty_rate(schedule, policy)
        assert 0 <= rate <= Decimal("0.1825")
        cap = policy.annual_cost_cap
        assert schedule.apr + rate <= max(cap, schedule.apr)
        assert schedule.effective_annual_rate + rate <= max(cap, schedule.effective_annual_rate)


@given(histories(), st.data(), st.sampled_from(list(PrepayKeeps)))
@settings(max_examples=120, deadline=None)
def test_replanned_prepayment_schedules_sum_exactly(
    history: tuple[OrderAccount, ServicingPolicy, date],
    data: st.DataObject,
    keeps: PrepayKeeps,
) -> None:
    account, policy, on = history
    try:
        total = owed([account], on=on, mode="PREPAY", order_id="o", policy=policy)
    except ServicingError:
        assume(False)
        return
    assume(total.minor > 0)
    amount = Money.from_minor(data.draw(st.integers(1, total.minor)), "CNY")
    result = allocate(
        [account], amount, on=on, mode="PREPAY", order_id="o", prepay_keeps=keeps, policy=policy
    )
    before, after = account.schedule, result.accounts[0].schedule
    assert sum(i.principal.minor for i in after.installments) == after.principal.minor
    assert after.principal == before.principal
    balance = after.principal.minor
    for i in after.installments:
        assert i.amount == i.principal + i.interest + i.fee
        assert min(i.principal.minor, i.interest.minor, i.fee.minor) >= 0
        balance -= i.principal.minor
        assert i.remaining_principal.minor == balance
    assert len(after.installments) <= len(before.installments)
    assert after.total_interest.minor <= before.total_interest.minor
    assert after.total_fees.minor <= before.total_fees.minor
    assert sum(li.amount.minor for li in result.lines) == amount.minor
    # The record and the new schedule agree: every payment row fits its installment.
    OrderAccount("o", after, account.penalty_rate, result.accounts[0].payments)


@given(amounts, plan_terms(), starts)
@settings(max_examples=100, deadline=None)
def test_payoff_the_day_after_purchase_charges_a_day_of_interest(
    principal: Money, terms: PlanTerms, start: date
) -> None:
    try:
        schedule = build_schedule(principal, terms, start=start)
    except ValueError:
        assume(False)
        return
    quote = schedule.payoff_quote(start + timedelta(days=1))
    assert schedule.payoff_amount(start + timedelta(days=1)) == quote.total
    assert quote.total == quote.principal + quote.interest + quote.fees
    first = schedule.installments[0]
    if first.due_date <= start + timedelta(days=1):
        return  # PAY_IN_4 or a one-day first period: the first installment is due
    a, b = terms.annual_rate.as_integer_ratio()
    day = (
        _half_up(principal.minor * a, b * 365)
        if terms.method
        in (
            Method.EQUAL_PAYMENT,
            Method.EQUAL_PRINCIPAL,
        )
        else 0
    )
    assert quote.interest.minor == min(day, first.interest.minor)
    assert quote.principal == principal
    assert quote.fees in (first.fee, Money.zero(principal.currency))


@given(
    histories(),
    st.sampled_from(["DUE", "PREPAY", "PAYOFF"]),
    st.sampled_from(list(PrepayKeeps)),
)
@settings(max_examples=100, deadline=None)
def test_every_schedule_servicing_returns_round_trips_on_the_wire(
    history: tuple[OrderAccount, ServicingPolicy, date], mode: str, keeps: PrepayKeeps
) -> None:
    account, policy, on = history
    total = owed([account], on=on, mode=mode, order_id="o", policy=policy)
    if not total.minor:
        with pytest.raises(ServicingError, match="nothing is owed"):
            allocate([account], on=on, mode=mode, order_id="o", policy=policy)
        return
    result = allocate([account], on=on, mode=mode, order_id="o", prepay_keeps=keeps, policy=policy)
    assert result.amount == total
    schedule = result.accounts[0].schedule
    assert Schedule.from_json(schedule.to_json()) == schedule
    assert result.owed_after.minor == 0  # paying all the mode can take leaves nothing due


@given(histories(), st.data())
@settings(max_examples=120, deadline=None)
def test_a_refund_is_split_exactly_and_never_below_what_was_paid(
    history: tuple[OrderAccount, ServicingPolicy, date], data: st.DataObject
) -> None:
    account, policy, on = history
    if account.last_payment_date and on < account.last_payment_date:
        return
    amount = Money.from_minor(data.draw(st.integers(1, account.schedule.principal.minor)), "CNY")
    before = account.outstanding_principal(on, policy)
    result = refund(account, amount, on=on, policy=policy)
    credited = sum(li.amount.minor for li in result.credited)
    assert credited + result.reduced.minor + result.returned.minor == amount.minor
    after = result.account
    assert after.outstanding_principal(on, policy).minor == (
        before.minor - credited - result.reduced.minor
    )
    if result.returned.minor:
        assert after.outstanding_principal(on, policy).minor == 0
    schedule = after.schedule
    assert sum(i.principal.minor for i in schedule.installments) == schedule.principal.minor
    assert Schedule.from_json(schedule.to_json()) == schedule
    # The payment rows still fit the re-planned installments (checked on construction).
    OrderAccount("o", schedule, after.penalty_rate, after.payments)


@given(histories())
@settings(max_examples=150, deadline=None)
def test_first_owing_is_the_first_unsettled_of_states(
    history: tuple[OrderAccount, ServicingPolicy, date],
) -> None:
    account, policy, on = history
    expected = next((s for s in account.states(on, policy) if not s.settled), None)
    assert account.first_owing(on, policy) == expected


def test_first_owing_of_a_new_loan_and_of_a_paid_off_one() -> None:
    policy = ServicingPolicy()
    terms = PlanTerms(periods=6, method=Method.FLAT_FEE, fee_rate_per_period=Decimal("0.005"))
    schedule = build_schedule(Money("1200.00", "CNY"), terms, start=date(2026, 1, 5))
    account = OrderAccount.open("o", schedule, policy)
    first = account.first_owing(date(2026, 1, 5), policy)
    assert first is not None
    assert (first.installment.number, first.owed) == (1, schedule.installments[0].amount)
    for inst in schedule.installments:  # each installment paid on its due date
        due = owed([account], on=inst.due_date, policy=policy)
        account = allocate([account], due, on=inst.due_date, policy=policy).accounts[0]
        after = account.first_owing(inst.due_date, policy)
        later = None if after is None else after.installment.number
        assert later == (inst.number + 1 if inst.number < 6 else None)
    with pytest.raises(ServicingError, match="before the purchase"):
        account.first_owing(date(2026, 1, 4), policy)
