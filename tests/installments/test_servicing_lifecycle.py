"""A buyer lived through 13 months with the pure servicing rules, every figure to the fen.

Two purchases on products with ``due_day=10``: a bill paid, a partial repayment, a missed
installment through grace into M1 with penalty, the cure, a prepayment, an early payoff, a
refund after repayment, then every bill to the end. The issuer's own 13-month test (issue
#14) drives the same rules through HTTP; this one pins the arithmetic it relies on.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from paylater_sdk.installments import (
    Allocation,
    Method,
    OrderAccount,
    PlanTerms,
    allocate,
    build_schedule,
    build_statement,
    delinquency,
    refund,
)
from paylater_sdk.lifecycle import DelinquencyBucket
from paylater_sdk.money import Money


def cny(value: str) -> Money:
    return Money(value, "CNY")


def lines(result: Allocation) -> list[tuple[str, int, str, str]]:
    return [(li.order_id, li.installment, li.part.value, str(li.amount)) for li in result.lines]


def test_thirteen_months() -> None:
    a = OrderAccount.open(
        "A",
        build_schedule(
            cny("6000"),
            PlanTerms(12, Method.EQUAL_PAYMENT, annual_rate="0.12", due_day=10),
            start=date(2026, 1, 10),
        ),
    )
    assert a.penalty_rate == Decimal("0.11317642")
    assert a.schedule.installments[0].amount == cny("533.09")  # 60.00 interest + 473.09

    # February: the bill is paid on its day.
    feb = build_statement([a], "2026-02", as_of=date(2026, 2, 1))
    assert feb.amount_due == cny("533.09")
    accounts = list(allocate([a], feb.amount_due, on=date(2026, 2, 10)).accounts)

    # A second purchase in March; then 300.00 of A's March installment, paid early.
    b = OrderAccount.open(
        "B",
        build_schedule(
            cny("1200"),
            PlanTerms(6, Method.FLAT_FEE, fee_rate_per_period="0.006", due_day=10),
            start=date(2026, 3, 5),
        ),
    )
    accounts.append(b)
    partial = allocate(accounts, cny("300"), on=date(2026, 3, 8))
    assert lines(partial) == [
        ("A", 2, "INTEREST", "55.27 CNY"),
        ("A", 2, "PRINCIPAL", "244.73 CNY"),
    ]
    accounts = list(partial.accounts)

    # The rest (233.09) is missed: grace to 03-13, penalty from 03-14, M1 and frozen.
    assert delinquency(accounts, on=date(2026, 3, 13)).frozen is False
    late = delinquency(accounts, on=date(2026, 3, 20))
    assert (late.days_past_due, late.bucket, late.frozen) == (10, DelinquencyBucket.M1, True)
    # 7 days x 233.09 x 11.317642 % / 365 = 0.5059
    assert late.past_due == cny("233.60")

    # Cured on 03-25: 12 days of penalty (0.8673 -> 0.87) and the principal.
    past_due = delinquency(accounts, on=date(2026, 3, 25)).past_due
    assert past_due == cny("233.96")
    cure = allocate(accounts, past_due, on=date(2026, 3, 25))
    assert lines(cure) == [("A", 2, "PENALTY", "0.87 CNY"), ("A", 2, "PRINCIPAL", "233.09 CNY")]
    accounts = list(cure.accounts)
    cured = delinquency(accounts, on=date(2026, 3, 25))
    assert (cured.bucket, cured.frozen) == (DelinquencyBucket.CURRENT, False)

    # April: one repayment day for both orders.
    april = build_statement(accounts, "2026-04", as_of=date(2026, 4, 1))
    assert [(li.order_id, str(li.amount)) for li in april.installments] == [
        ("A", "533.09 CNY"),
        ("B", "207.20 CNY"),
    ]
    assert april.amount_due == cny("740.29")
    accounts = list(allocate(accounts, april.amount_due, on=date(2026, 4, 10)).accounts)
    march = build_statement(accounts, "2026-03")
    assert (march.penalty_posted, march.payments_received) == (cny("0.87"), cny("533.96"))

    # May 1st: 1,000 prepaid on A, keeping the payment: installment 4 first, then ahead.
    prepay = allocate(accounts, cny("1000"), on=date(2026, 5, 1), mode="PREPAY", order_id="A")
    assert lines(prepay) == [
        ("A", 4, "INTEREST", "45.66 CNY"),
        ("A", 4, "PRINCIPAL", "487.43 CNY"),
        ("A", 4, "PREPAYMENT", "466.91 CNY"),
    ]
    accounts = list(prepay.accounts)
    rows = accounts[0].schedule.installments
    assert [str(r.amount) for r in rows[4:]] == ["533.09 CNY"] * 7 + ["27.51 CNY"]

    # May and June bills.
    may = allocate(accounts, on=date(2026, 5, 10))
    assert lines(may) == [("B", 2, "FEE", "7.20 CNY"), ("B", 2, "PRINCIPAL", "200.00 CNY")]
    accounts = list(may.accounts)
    june = allocate(accounts, on=date(2026, 6, 10))
    assert june.amount == cny("740.29")
    accounts = list(june.accounts)

    # June 20th: B paid off early: 600.00 principal and the fee of the period in progress.
    quote = accounts[1].payoff_quote(date(2026, 6, 20))
    assert (quote.total, quote.fees, quote.waived_fees) == (
        cny("607.20"),
        cny("7.20"),
        cny("14.40"),
    )
    payoff = allocate(accounts, on=date(2026, 6, 20), mode="PAYOFF", order_id="B")
    assert payoff.amount == cny("607.20")
    accounts = list(payoff.accounts)
    assert all(i.paid for i in accounts[1].schedule.installments)

    # July: the bill, then a 500.00 refund on A lowers what is not yet due, pro rata.
    accounts = list(allocate(accounts, on=date(2026, 7, 10)).accounts)
    left = accounts[0].outstanding_principal(date(2026, 7, 15))
    assert left == cny("2613.24")
    back = refund(accounts[0], cny("500"), on=date(2026, 7, 15))
    assert (back.credited, back.reduced, back.returned) == ((), cny("500"), cny("0"))
    accounts[0] = back.account
    assert accounts[0].outstanding_principal(date(2026, 7, 15)) == cny("2113.24")

    # Every bill to the end, on its day; the last falls due on 2027-01-10.
    paid_after_refund = []
    for month in range(8, 14):
        day = date(2026 + (month - 1) // 12, (month - 1) % 12 + 1, 10)
        result = allocate(accounts, on=day)
        paid_after_refund.append(result.amount)
        accounts = list(result.accounts)
    assert sum(paid_after_refund, cny("0")) == cny("2113.24") + accounts[
        0
    ].schedule.total_interest - (
        sum((i.interest for i in accounts[0].schedule.installments[:6]), cny("0"))
    )
    assert all(i.paid for i in accounts[0].schedule.installments)
    final = delinquency(accounts, on=date(2027, 1, 31))
    assert (final.bucket, final.past_due) == (DelinquencyBucket.CURRENT, cny("0"))

    # What the buyer paid on A is exactly its re-planned schedule plus the penalty.
    paid_a = sum((p.amount for p in accounts[0].payments), cny("0"))
    assert paid_a == accounts[0].schedule.total_amount + cny("0.87")
    paid_b = sum((p.amount for p in accounts[1].payments), cny("0"))
    assert paid_b == cny("1200") + cny("7.20") * 4
