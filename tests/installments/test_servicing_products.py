"""A buyer's orders of different products: each held to its own ServicingPolicy.

``allocate``, ``owed``, ``delinquency`` and ``build_statement`` take one policy or a
policy per order id; the properties of tests/installments/test_servicing_properties.py
hold across orders of two products as well (never more than owed, always in order), and
a date-aware ``cap_table`` keeps the plan's rate plus the penalty under the cap of the
purchase date.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from paylater_sdk.installments import (
    DEFAULT_ALLOCATION_ORDER,
    AllocationPart,
    Method,
    OrderAccount,
    PayoffFees,
    PlanTerms,
    ServicingError,
    ServicingPolicy,
    allocate,
    build_schedule,
    build_statement,
    delinquency,
    owed,
    penalty_rate,
)
from paylater_sdk.installments._policy import allocation_order_of, policy_of
from paylater_sdk.money import Money

from .test_installments_properties import plan_terms
from .test_servicing_properties import amounts, policies, starts


def cny(text: str) -> Money:
    return Money(text, "CNY")


START = date(2026, 1, 15)
STRICT = ServicingPolicy(grace_days=0, late_fee=cny("5"), write_off_days=30)
LENIENT = ServicingPolicy(grace_days=10, payoff_fees="ALL")


def _open(order_id: str, terms: PlanTerms, policy: ServicingPolicy) -> OrderAccount:
    schedule = build_schedule(cny("1200"), policy.terms_for(terms), start=START)
    return OrderAccount.open(order_id, schedule, policy)


@pytest.fixture
def pair() -> tuple[OrderAccount, OrderAccount, dict[str, ServicingPolicy]]:
    terms = PlanTerms(6, Method.FLAT_FEE, fee_rate_per_period="0.006")
    strict, lenient = _open("s", terms, STRICT), _open("l", terms, LENIENT)
    return strict, lenient, {"s": STRICT, "l": LENIENT}


def test_each_order_keeps_its_own_grace_late_fee_and_write_off(
    pair: tuple[OrderAccount, OrderAccount, dict[str, ServicingPolicy]],
) -> None:
    strict, lenient, by_id = pair
    due = strict.schedule.installments[0].due_date
    day = due + timedelta(days=1)
    status = delinquency([strict, lenient], on=day, policy=by_id)
    assert (status.days_past_due, status.bucket.value, status.frozen) == (1, "M1", True)
    alone = delinquency([lenient], on=day, policy=by_id)
    assert alone.frozen is False  # 1 day late is within its 10 days of grace
    late = [s.late_fee.minor for a in (strict, lenient) for s in a.states(day, by_id[a.order_id])]
    assert late[0] == 5_00
    assert sum(late[1:]) == 0
    bill = build_statement([strict, lenient], day.isoformat()[:7], as_of=day, policy=by_id)
    assert bill.late_fees == cny("5")
    assert bill.penalty_posted == strict.penalty_posted(day, STRICT)
    written = delinquency([strict, lenient], on=due + timedelta(days=30), policy=by_id)
    assert written.write_off == ("s",)  # 30 write-off days for the strict product only


def test_a_payoff_quote_and_a_payoff_follow_the_orders_own_payoff_fees(
    pair: tuple[OrderAccount, OrderAccount, dict[str, ServicingPolicy]],
) -> None:
    strict, lenient, by_id = pair
    on = START + timedelta(days=1)
    current = strict.payoff_quote(on, STRICT)
    every = lenient.payoff_quote(on, LENIENT)
    assert (current.payoff_fees, every.payoff_fees) == (PayoffFees.CURRENT_PERIOD, PayoffFees.ALL)
    assert current.total == cny("1207.20")  # the fee of the period in progress
    assert every.total == cny("1243.20")  # all six fees of 7.20
    both = [strict, lenient]
    assert owed(both, on=on, mode="PAYOFF", order_id="l", policy=by_id) == every.total
    paid = allocate(both, every.total, on=on, mode="PAYOFF", order_id="l", policy=by_id)
    assert sum(li.amount.minor for li in paid.lines) == every.total.minor
    assert {li.order_id for li in paid.lines} == {"l"}


def test_policies_by_order_id_are_strict_and_one_waterfall_is_chosen() -> None:
    with pytest.raises(ServicingError) as exc:
        policy_of({"a": STRICT}, "b")
    assert (exc.value.code, exc.value.field) == ("INVALID_FIELD", "policy")
    assert policy_of(STRICT, "any") is STRICT
    fees_first = ServicingPolicy(
        allocation_order=["FEE", "INTEREST", "PRINCIPAL", "PENALTY", "LATE_FEE"]
    )
    assert allocation_order_of([fees_first]) == fees_first.allocation_order
    assert allocation_order_of([fees_first, fees_first]) == fees_first.allocation_order
    assert allocation_order_of([fees_first, STRICT]) == DEFAULT_ALLOCATION_ORDER


def test_a_due_day_dates_monthly_terms_and_refuses_others() -> None:
    policy = ServicingPolicy(due_day=10)
    monthly = PlanTerms(3, Method.INTEREST_FREE)
    assert policy.terms_for(monthly).due_day == 10
    assert ServicingPolicy().terms_for(monthly) is monthly
    with pytest.raises(ServicingError) as exc:
        policy.terms_for(PlanTerms(4, Method.PAY_IN_4))
    assert exc.value.field == "due_day"
    with pytest.raises(ServicingError) as exc:
        ServicingPolicy(due_day=0)
    assert exc.value.field == "due_day"
    assert ServicingPolicy.from_json(policy.to_json()) == policy


@st.composite
def two_products(
    draw: st.DrawFn,
) -> tuple[list[OrderAccount], dict[str, ServicingPolicy], date]:
    """Two orders of two random products, some days later (nothing repaid yet)."""
    accounts, by_id = [], {}
    for order_id in ("o1", "o2"):
        policy = draw(policies)
        try:
            schedule = build_schedule(draw(amounts), draw(plan_terms()), start=draw(starts))
        except ValueError:
            assume(False)
            raise
        accounts.append(OrderAccount.open(order_id, schedule, policy))
        by_id[order_id] = policy
    first = max(a.schedule.start for a in accounts)
    assume(all(a.currency == "CNY" for a in accounts))
    return accounts, by_id, first + timedelta(days=draw(st.integers(0, 400)))


@given(two_products(), st.data())
@settings(max_examples=120, deadline=None)
def test_across_two_products_allocation_never_pays_more_than_owed_and_in_order(
    history: tuple[list[OrderAccount], dict[str, ServicingPolicy], date], data: st.DataObject
) -> None:
    accounts, by_id, on = history
    total = owed(accounts, on=on, policy=by_id)
    assume(total.minor > 0)
    amount = Money.from_minor(data.draw(st.integers(1, total.minor)), "CNY")
    before = {
        (a.order_id, s.installment.number, p): s.owed_part(p).minor
        for a in accounts
        for s in a.states(on, by_id[a.order_id])
        for p in AllocationPart
        if p is not AllocationPart.PREPAYMENT
    }
    past = {
        (a.order_id, s.installment.number)
        for a in accounts
        for s in a.states(on, by_id[a.order_id])
        if s.past_due
    }
    result = allocate(accounts, amount, on=on, policy=by_id)
    assert sum(li.amount.minor for li in result.lines) == amount.minor
    keys = [(li.order_id, li.installment, li.part) for li in result.lines]
    assert len(set(keys)) == len(keys)
    for li, key in zip(result.lines, keys, strict=True):
        assert 0 < li.amount.minor <= before[key]
    # in order: every line but the last pays its part in full, and what is past due (in
    # either order) is paid before anything merely due now
    for li, key in zip(result.lines[:-1], keys[:-1], strict=True):
        assert li.amount.minor == before[key]
    late = [(k[0], k[1]) in past for k in keys]
    assert late == sorted(late, reverse=True)
    assert result.owed_after.minor == total.minor - amount.minor


cap_tables = st.lists(
    st.tuples(
        st.dates(date(2018, 1, 1), date(2040, 12, 31)),
        st.decimals("0.10", "0.40", places=4),
    ),
    max_size=4,
)


@given(amounts, plan_terms(), starts, cap_tables)
@settings(max_examples=120, deadline=None)
def test_apr_plus_penalty_never_above_the_cap_of_the_purchase_date(
    principal: Money, terms: PlanTerms, start: date, table: list[tuple[date, Decimal]]
) -> None:
    try:
        schedule = build_schedule(principal, terms, start=start)
    except ValueError:
        assume(False)
        return
    policy = ServicingPolicy(cap_table=table)
    cap = policy.cap_on(start)
    rows = [rate for since, rate in sorted(table) if since <= start]
    assert cap == (rows[-1] if rows else Decimal("0.24"))
    rate = penalty_rate(schedule, policy)
    assert 0 <= rate <= Decimal("0.1825")
    assert schedule.effective_annual_rate + rate <= max(cap, schedule.effective_annual_rate)
    assert schedule.apr + rate <= max(cap, schedule.apr)
