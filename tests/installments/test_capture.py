"""installments.add_capture: a later capture re-plans the one schedule, to the fen."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paylater_sdk.installments import (
    AllocationPart,
    Method,
    OrderAccount,
    Payment,
    PlanTerms,
    Schedule,
    ServicingError,
    add_capture,
    build_schedule,
    refund,
)
from paylater_sdk.money import Money

START = date(2026, 12, 1)
FLAT = PlanTerms(6, Method.FLAT_FEE, fee_rate_per_period="0.006")
EQUAL = PlanTerms(12, Method.EQUAL_PAYMENT, annual_rate="0.12")


def cny(value: str) -> Money:
    return Money(value, "CNY")


def _account(principal: str, terms: PlanTerms = FLAT) -> OrderAccount:
    return OrderAccount.open("ord_1", build_schedule(cny(principal), terms, start=START))


def test_a_same_day_capture_is_the_one_capture_of_the_total() -> None:
    after = add_capture(_account("30.00"), cny("90.00"), on=START)
    whole = build_schedule(cny("120.00"), FLAT, start=START)
    assert after.schedule.principal == cny("120.00")
    assert [i.amount for i in after.schedule.installments] == [i.amount for i in whole.installments]
    assert after.schedule.total_fees == whole.total_fees == cny("4.32")
    assert after.schedule.apr == whole.apr  # the same cash flows, one advance on one day


def test_a_later_capture_keeps_the_due_dates_and_counts_as_an_advance() -> None:
    before = _account("60.00", EQUAL)
    later = date(2026, 12, 11)
    after = add_capture(before, cny("40.00"), on=later)
    rows = after.schedule.installments
    assert [i.due_date for i in rows] == [i.due_date for i in before.schedule.installments]
    assert sum(i.principal.minor for i in rows) == 100_00
    assert rows[-1].remaining_principal == cny("0.00")
    assert after.schedule.advances == ((later, cny("40.00")),)
    assert after.schedule.advanced == cny("60.00")
    # interest on the higher balances from the first capture's periods: more than 60's
    assert after.schedule.total_interest > before.schedule.total_interest
    # the 40.00 advanced ten days later costs the buyer a first period's interest for
    # days it did not have the money: its APR is above the plan's nominal 12 %
    assert after.schedule.apr > Decimal("0.12")
    again = Schedule.from_json(after.schedule.to_json())
    assert again == after.schedule
    assert "advances" not in before.schedule.to_json()


def test_past_due_and_paid_installments_stay_as_they_were() -> None:
    account = _account("60.00")
    first = account.schedule.installments[0]
    paid = Payment(first.due_date, 1, AllocationPart.PRINCIPAL, first.principal)
    fee = Payment(first.due_date, 1, AllocationPart.FEE, first.fee)
    account = OrderAccount(
        "ord_1", account.schedule.record_payment(on=first.due_date), "0", [fee, paid]
    )
    after = add_capture(account, cny("50.00"), on=date(2027, 1, 5))
    old, new = account.schedule.installments[0], after.schedule.installments[0]
    assert (new.principal, new.interest, new.fee, new.amount, new.paid) == (
        old.principal,
        old.interest,
        old.fee,
        old.amount,
        True,
    )
    assert new.remaining_principal == cny("100.00")  # the balance after it, 50.00 higher
    assert sum(i.principal.minor for i in after.schedule.installments[1:]) == 50_00 + 50_00
    assert after.payments == account.payments


def test_a_capture_after_a_full_refund_refills_the_emptied_installments() -> None:
    emptied = refund(_account("60.00"), cny("60.00"), on=START).account
    assert emptied.schedule.outstanding_principal == cny("0.00")
    after = add_capture(emptied, cny("60.00"), on=date(2026, 12, 3))
    assert after.schedule.outstanding_principal == cny("60.00")
    assert [i.principal for i in after.schedule.installments] == [cny("10.00")] * 6
    assert not any(i.paid for i in after.schedule.installments)


@pytest.mark.parametrize("amount", [cny("0.00"), Money("1.00", "USD"), "1.00"])
def test_bad_amounts_are_refused(amount: object) -> None:
    with pytest.raises(ServicingError) as refused:
        add_capture(_account("60.00"), amount, on=START)  # type: ignore[arg-type]
    assert refused.value.code == "INVALID_AMOUNT"


def test_nothing_left_to_fall_due_is_refused() -> None:
    with pytest.raises(ServicingError) as refused:
        add_capture(_account("60.00"), cny("1.00"), on=date(2027, 6, 2))
    assert refused.value.code == "INVALID_STATE"


@settings(max_examples=60, deadline=None)
@given(
    first=st.integers(100, 500_000),
    more=st.lists(st.integers(1, 500_000), min_size=1, max_size=3),
    days=st.integers(0, 25),
    equal=st.booleans(),
)
def test_captures_add_up_to_the_fen(first: int, more: list[int], days: int, equal: bool) -> None:
    terms = EQUAL if equal else FLAT
    account = OrderAccount.open(
        "ord_1", build_schedule(Money.from_minor(first, "CNY"), terms, start=START)
    )
    for k, minor in enumerate(more):
        on = date.fromordinal(START.toordinal() + days + k)
        account = add_capture(account, Money.from_minor(minor, "CNY"), on=on)
    rows = account.schedule.installments
    total = first + sum(more)
    assert account.schedule.principal.minor == total
    assert sum(i.principal.minor for i in rows) == total
    assert all(i.amount == i.principal + i.interest + i.fee for i in rows)
    assert Schedule.from_json(account.schedule.to_json()) == account.schedule


def test_the_merchant_fee_grows_by_the_fee_of_each_capture() -> None:
    terms = PlanTerms(3, Method.FLAT_FEE, fee_rate_per_period="0", merchant_fee_rate="0.015")
    account = OrderAccount.open("ord_1", build_schedule(cny("100.00"), terms, start=START))
    after = add_capture(account, cny("33.33"), on=date(2026, 12, 4))
    assert account.schedule.merchant_fee == cny("1.50")
    assert after.schedule.merchant_fee == cny("1.50") + cny("0.50")  # 1.5 % of 33.33, half-up
    refunded = refund(after, cny("50.00"), on=date(2026, 12, 5)).account
    again = add_capture(refunded, cny("10.00"), on=date(2026, 12, 6))
    assert again.schedule.merchant_fee == cny("2.15")  # refunds never lower it
    tiny = add_capture(again, Money.from_minor(2, "CNY"), on=date(2026, 12, 6))
    assert tiny.schedule.merchant_fee == cny("2.15")  # 0.02 cannot split over 3 periods
