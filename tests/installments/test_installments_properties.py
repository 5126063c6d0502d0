"""Property-based checks of the schedule engine over random amounts, terms and dates."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from paylater_sdk.installments import (
    FeePayer,
    Frequency,
    Method,
    PlanTerms,
    Schedule,
    UnitPeriod,
    actuarial_apr,
    build_schedule,
    effective_annual_rate,
)
from paylater_sdk.money import Money

starts = st.dates(date(2000, 1, 1), date(2099, 12, 31))
amounts = st.builds(
    Money.from_minor, st.integers(10_000, 10**10), st.sampled_from(["CNY", "USD", "JPY"])
)
rates = st.decimals(Decimal("0"), Decimal("0.36"), places=4)
fee_rates = st.decimals(Decimal("0"), Decimal("0.03"), places=5)


@st.composite
def plan_terms(draw: st.DrawFn) -> PlanTerms:
    method = draw(st.sampled_from(list(Method)))
    if method is Method.PAY_IN_4:
        return PlanTerms(4, method, merchant_fee_rate=draw(fee_rates))
    periods = draw(st.integers(1, 60))
    frequency = draw(st.sampled_from(list(Frequency)))
    due_day = draw(st.none() | st.integers(1, 31)) if frequency is Frequency.MONTHLY else None
    fee_payer = draw(st.sampled_from(list(FeePayer)))
    if method in (Method.EQUAL_PAYMENT, Method.EQUAL_PRINCIPAL):
        return PlanTerms(
            periods, method, annual_rate=draw(rates), frequency=frequency, due_day=due_day
        )
    if method is Method.INTEREST_FREE:
        fee = draw(fee_rates) if fee_payer is FeePayer.MERCHANT else Decimal(0)
    else:
        fee = draw(fee_rates)
    return PlanTerms(
        periods,
        method,
        fee_rate_per_period=fee,
        fee_payer=fee_payer,
        merchant_fee_rate=draw(fee_rates),
        frequency=frequency,
        due_day=due_day,
    )


def check_invariants(schedule: Schedule) -> None:
    """Exactness invariants; paid rows of a re-planned schedule keep their history."""
    rows = schedule.installments
    assert sum(i.principal.minor for i in rows) == schedule.principal.minor
    balance = schedule.principal.minor
    for inst in rows:
        for money in (inst.principal, inst.interest, inst.fee, inst.amount):
            assert money.currency == schedule.currency
            assert money.minor >= 0
            assert money.amount == Decimal(money.minor).scaleb(-money.exponent)
        assert inst.amount == inst.principal + inst.interest + inst.fee
        balance -= inst.principal.minor
        if not inst.paid:
            assert inst.remaining_principal.minor == balance
    assert balance == 0
    assert schedule.total_amount.minor == sum(i.amount.minor for i in rows)


@given(amounts, plan_terms(), starts)
def test_schedules_are_exact_and_well_formed(
    principal: Money, terms: PlanTerms, start: date
) -> None:
    schedule = build_schedule(principal, terms, start=start)
    assert len(schedule.installments) == terms.periods
    check_invariants(schedule)
    dates = [i.due_date for i in schedule.installments]
    assert all(a < b for a, b in itertools.pairwise(dates))
    assert dates[0] >= start
    assert [i.number for i in schedule.installments] == list(range(1, terms.periods + 1))
    assert schedule.merchant_fee.minor >= 0


@given(amounts, plan_terms(), starts)
@settings(max_examples=60)
def test_apr_is_zero_exactly_when_the_buyer_pays_only_the_price(
    principal: Money, terms: PlanTerms, start: date
) -> None:
    schedule = build_schedule(principal, terms, start=start)
    if schedule.total_amount == principal:
        assert schedule.apr == 0
        assert schedule.effective_annual_rate == 0
    else:
        assert schedule.apr > 0
        assert schedule.effective_annual_rate >= schedule.apr


@given(
    amounts, st.integers(1, 60), starts, st.sampled_from([Method.INTEREST_FREE, Method.PAY_IN_4])
)
@settings(max_examples=50)
def test_interest_free_plans_have_zero_apr(
    principal: Money, periods: int, start: date, method: Method
) -> None:
    terms = PlanTerms(4 if method is Method.PAY_IN_4 else periods, method)
    schedule = build_schedule(principal, terms, start=start)
    assert schedule.apr == 0
    assert schedule.total_amount == principal


@given(
    amounts,
    st.integers(2, 36),
    starts,
    fee_rates,
    fee_rates,
)
@settings(max_examples=60)
def test_apr_grows_with_the_fee_rate(
    principal: Money, periods: int, start: date, low: Decimal, high: Decimal
) -> None:
    low, high = sorted((low, high))
    cheap = build_schedule(
        principal, PlanTerms(periods, Method.FLAT_FEE, fee_rate_per_period=low), start=start
    )
    dear = build_schedule(
        principal, PlanTerms(periods, Method.FLAT_FEE, fee_rate_per_period=high), start=start
    )
    assume(cheap.total_fees != dear.total_fees)
    assert cheap.total_fees < dear.total_fees
    assert cheap.apr < dear.apr
    assert cheap.effective_annual_rate < dear.effective_annual_rate


@given(amounts, starts, rates, st.integers(2, 60))
@settings(max_examples=40)
def test_equal_payment_apr_matches_its_nominal_rate(
    principal: Money, start: date, rate: Decimal, periods: int
) -> None:
    assume(principal.minor >= 1_000_000 and rate > Decimal("0.01"))
    terms = PlanTerms(periods, Method.EQUAL_PAYMENT, annual_rate=rate)
    schedule = build_schedule(principal, terms, start=start)
    # Only fen rounding separates the disclosed APR from the contract rate.
    assert abs(schedule.apr - rate) < Decimal("0.001")


@given(amounts, plan_terms(), starts, st.data())
@settings(max_examples=60)
def test_replanning_keeps_totals_consistent(
    principal: Money, terms: PlanTerms, start: date, data: st.DataObject
) -> None:
    schedule = build_schedule(principal, terms, start=start)
    paid = data.draw(st.integers(0, terms.periods - 1))
    for k in range(paid):
        schedule = schedule.record_payment(on=start + timedelta(days=k))
    before = schedule
    owed = before.outstanding_principal.minor
    refund = Money.from_minor(data.draw(st.integers(1, owed)), principal.currency)
    after = before.after_refund(refund, on=start + timedelta(days=paid))
    check_invariants(after)
    assert after.principal == before.principal - refund
    assert after.outstanding_principal == before.outstanding_principal - refund
    assert after.installments[:paid] == before.installments[:paid]
    assert after.total_interest.minor <= before.total_interest.minor
    assert after.total_fees.minor <= before.total_fees.minor
    assert after.merchant_fee == before.merchant_fee

    payoff_day = start + timedelta(days=data.draw(st.integers(0, 400)))
    settled = before.payoff(on=payoff_day)
    check_invariants(settled)
    assert settled.installments[-1].remaining_principal.minor == 0
    assert settled.next_due is None
    assert settled.outstanding_principal.minor == 0
    assert settled.total_amount.minor <= before.total_amount.minor
    assert settled.installments[-1].amount == before.payoff_amount(payoff_day)


@given(amounts, plan_terms(), starts)
@settings(max_examples=60)
def test_schedule_apr_is_the_public_actuarial_apr_of_its_cash_flows(
    principal: Money, terms: PlanTerms, start: date
) -> None:
    schedule = build_schedule(principal, terms, start=start)
    payments = [(i.due_date, i.amount) for i in schedule.installments]
    unit = None
    if terms.periods > 1:
        unit = UnitPeriod.MONTH if terms.frequency is Frequency.MONTHLY else UnitPeriod.TWO_WEEKS
    assert schedule.apr == actuarial_apr([(start, principal)], payments, unit_period=unit)
    assert schedule.effective_annual_rate == effective_annual_rate(
        [(start, principal)], payments, unit_period=unit
    )
