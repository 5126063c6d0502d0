"""Early payoff by plan kind, to the fen: interest by days, fee rules, partial payments."""

from __future__ import annotations

from datetime import date

import pytest

from paylater_sdk.errors import PayLaterError, PlanError
from paylater_sdk.installments import (
    Method,
    OrderAccount,
    PayoffFees,
    PlanTerms,
    Schedule,
    ServicingError,
    ServicingPolicy,
    allocate,
    build_schedule,
)
from paylater_sdk.money import Money

START = date(2026, 1, 15)


def cny(value: str) -> Money:
    return Money(value, "CNY")


@pytest.fixture
def annuity() -> Schedule:
    # 10,000 over 12 months at 12 %: 888.49 a month, the first with 100.00 interest.
    return build_schedule(
        cny("10000"), PlanTerms(12, Method.EQUAL_PAYMENT, annual_rate="0.12"), start=START
    )


@pytest.fixture
def flat() -> Schedule:
    terms = PlanTerms(6, Method.FLAT_FEE, fee_rate_per_period="0.006")
    return build_schedule(cny("1200"), terms, start=date(2026, 1, 31))


class TestEqualPayment:
    def test_the_schedule(self, annuity: Schedule) -> None:
        first = annuity.installments[0]
        assert (first.principal, first.interest, first.amount) == (
            cny("788.49"),
            cny("100.00"),
            cny("888.49"),
        )

    def test_one_day_after_purchase_charges_one_day_of_interest(self, annuity: Schedule) -> None:
        # 10,000.00 x 12 % / 365 x 1 day = 3.2877 -> 3.29, not the month's 100.00.
        quote = annuity.payoff_quote(date(2026, 1, 16))
        assert quote.principal == cny("10000")
        assert quote.interest == cny("3.29")
        assert (quote.fees, quote.penalty, quote.late_fees) == (cny("0"), cny("0"), cny("0"))
        assert quote.total == cny("10003.29")
        assert (quote.interest_from, quote.interest_days) == (START, 1)
        assert annuity.payoff_amount(date(2026, 1, 16)) == quote.total
        assert "interest for 1 day(s) since 2026-01-15" in quote.disclosure

    def test_on_a_due_date_the_installment_due_is_paid_in_full(self, annuity: Schedule) -> None:
        quote = annuity.payoff_quote(date(2026, 2, 15))
        assert quote.total == cny("10100.00")  # 888.49 due + 9,211.51 principal, 0 days
        assert quote.interest_days == 0

    def test_mid_period_after_the_first_installment(self, annuity: Schedule) -> None:
        paid = annuity.record_payment(on=date(2026, 2, 15))
        # 9,211.51 x 12 % x 14 / 365 = 42.398 -> 42.40 (the old rule charged 92.12).
        quote = paid.payoff_quote(date(2026, 3, 1))
        assert (quote.principal, quote.interest, quote.total) == (
            cny("9211.51"),
            cny("42.40"),
            cny("9253.91"),
        )
        settled = paid.payoff(on=date(2026, 3, 1))
        last = settled.installments[-1]
        assert (last.number, last.interest, last.amount, last.paid) == (
            2,
            cny("42.40"),
            cny("9253.91"),
            True,
        )
        assert settled.total_amount == cny("888.49") + cny("9253.91")

    def test_unpaid_past_due_installments_are_charged_in_full(self, annuity: Schedule) -> None:
        # Nothing paid by 2026-03-20: installments 1 and 2 are due (888.49 each), then
        # 8,415.14 principal with 5 days of interest: 8,415.14 x 0.12 x 5 / 365 = 13.83.
        quote = annuity.payoff_quote(date(2026, 3, 20))
        assert quote.principal == cny("10000")
        assert quote.interest == cny("100.00") + cny("92.12") + cny("13.83")
        assert quote.total == cny("10205.95")

    def test_interest_never_exceeds_the_period_scheduled_interest(self) -> None:
        # due_day=28 bought on 01-01: the first period runs 58 days but carries one
        # month's interest (100.00); the accrual by days (190.68) is capped at it.
        terms = PlanTerms(12, Method.EQUAL_PAYMENT, annual_rate="0.12", due_day=28)
        schedule = build_schedule(cny("10000"), terms, start=date(2026, 1, 1))
        assert schedule.installments[0].due_date == date(2026, 2, 28)
        assert schedule.payoff_quote(date(2026, 2, 27)).interest == cny("100.00")
        assert schedule.payoff_quote(date(2026, 1, 31)).interest == cny("98.63")  # 30 days


def test_equal_principal_accrues_by_days() -> None:
    terms = PlanTerms(12, Method.EQUAL_PRINCIPAL, annual_rate="0.12")
    schedule = build_schedule(cny("12000"), terms, start=START)
    # 12,000.00 x 12 % x 10 / 365 = 39.452 -> 39.45
    quote = schedule.payoff_quote(date(2026, 1, 25))
    assert (quote.interest, quote.total) == (cny("39.45"), cny("12039.45"))


class TestFlatFee:
    def test_current_period_is_todays_rule(self, flat: Schedule) -> None:
        paid = flat.record_payment(on=date(2026, 2, 28))
        quote = paid.payoff_quote(date(2026, 3, 15))
        assert quote.payoff_fees is PayoffFees.CURRENT_PERIOD
        assert (quote.fees, quote.waived_fees, quote.total) == (
            cny("7.20"),
            cny("28.80"),
            cny("1007.20"),
        )
        assert quote.interest_from is None
        assert "later fees are waived" in quote.disclosure
        assert paid.payoff_amount(date(2026, 3, 15)) == cny("1007.20")

    def test_due_only_and_all(self, flat: Schedule) -> None:
        paid = flat.record_payment(on=date(2026, 2, 28))
        due_only = paid.payoff_quote(date(2026, 3, 15), payoff_fees=PayoffFees.DUE_ONLY)
        assert (due_only.fees, due_only.waived_fees, due_only.total) == (
            cny("0"),
            cny("36.00"),
            cny("1000.00"),
        )
        everything = paid.payoff_quote(date(2026, 3, 15), payoff_fees="ALL")
        assert (everything.fees, everything.waived_fees, everything.total) == (
            cny("36.00"),
            cny("0"),
            cny("1036.00"),
        )
        assert everything.to_json()["payoff_fees"] == "ALL"

    def test_an_installment_due_keeps_its_fee_under_every_rule(self, flat: Schedule) -> None:
        for rule in PayoffFees:
            assert flat.payoff_quote(date(2026, 2, 28), payoff_fees=rule).fees >= cny("7.20")

    def test_purchase_day_and_the_day_after(self, flat: Schedule) -> None:
        assert flat.payoff_amount(date(2026, 1, 31)) == cny("1200")
        assert flat.payoff_amount(date(2026, 2, 1)) == cny("1207.20")


def test_interest_free_and_pay_in_4_cost_the_remaining_principal() -> None:
    free = build_schedule(cny("3000"), PlanTerms(3, Method.INTEREST_FREE), start=START)
    assert free.payoff_quote(date(2026, 2, 1)).total == cny("3000")
    four = build_schedule(cny("400"), PlanTerms(4, Method.PAY_IN_4), start=START)
    assert four.payoff_quote(START).total == cny("400")  # the first is due at purchase
    assert four.record_payment(on=START).payoff_quote(date(2026, 1, 20)).total == cny("300")


class TestAccountPayoff:
    def test_partial_payment_of_the_current_period(self, annuity: Schedule) -> None:
        account = OrderAccount.open("o-1", annuity)
        # 50.00 on 01-20 pays interest of installment 1 (due now) first.
        account = allocate([account], cny("50"), on=date(2026, 1, 20)).accounts[0]
        # On 02-05, 21 days: 10,000 x 0.12 x 21 / 365 = 69.04, less 50.00 paid.
        quote = account.payoff_quote(date(2026, 2, 5))
        assert (quote.interest, quote.principal, quote.total) == (
            cny("19.04"),
            cny("10000"),
            cny("10019.04"),
        )

    def test_payoff_allocation_settles_the_order(self, annuity: Schedule) -> None:
        account = OrderAccount.open("o-1", annuity)
        result = allocate([account], on=date(2026, 1, 16), mode="PAYOFF", order_id="o-1")
        assert result.amount == cny("10003.29")
        assert [(li.installment, li.part.value, li.amount) for li in result.lines[:2]] == [
            (1, "INTEREST", cny("3.29")),
            (1, "PRINCIPAL", cny("788.49")),
        ]
        assert sum((li.amount for li in result.lines), cny("0")) == result.amount
        done = result.accounts[0]
        assert all(i.paid for i in done.schedule.installments)
        assert done.schedule.total_amount == cny("10003.29")
        assert result.owed_after == cny("0")
        with pytest.raises(ServicingError) as exc:
            done.payoff_quote(date(2026, 1, 17))
        assert exc.value.code == "NOTHING_OWED"

    def test_payoff_amount_must_match(self, annuity: Schedule) -> None:
        account = OrderAccount.open("o-1", annuity)
        with pytest.raises(ServicingError) as exc:
            allocate([account], cny("100"), on=date(2026, 1, 16), mode="PAYOFF", order_id="o-1")
        assert (exc.value.code, exc.value.field) == ("PAYOFF_AMOUNT_MISMATCH", "amount")

    def test_policy_payoff_fees_applies_to_accounts(self, flat: Schedule) -> None:
        account = OrderAccount.open("o-1", flat)
        policy = ServicingPolicy(payoff_fees=PayoffFees.DUE_ONLY)
        assert account.payoff_quote(date(2026, 2, 10), policy).total == cny("1200")
        assert account.payoff_quote(date(2026, 2, 10)).total == cny("1207.20")


class TestBadInput:
    def test_before_the_purchase(self, annuity: Schedule) -> None:
        with pytest.raises(ServicingError) as exc:
            annuity.payoff_quote(date(2026, 1, 14))
        assert (exc.value.code, exc.value.field) == ("INVALID_DATE", "on")
        assert isinstance(exc.value, PlanError)
        assert isinstance(exc.value, PayLaterError)

    def test_not_a_date_and_unknown_rule(self, annuity: Schedule) -> None:
        with pytest.raises(ServicingError) as exc:
            annuity.payoff_quote("2026-02-01")  # type: ignore[arg-type]
        assert exc.value.field == "on"
        with pytest.raises(ServicingError) as exc:
            annuity.payoff_quote(START, payoff_fees="SOME")
        assert (exc.value.code, exc.value.field) == ("INVALID_FIELD", "payoff_fees")
