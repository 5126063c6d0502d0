"""Grace, penalty interest under the cap, late fees, delinquency buckets and statements."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest

from paylater_sdk.installments import (
    Method,
    OrderAccount,
    PlanTerms,
    ServicingError,
    ServicingPolicy,
    allocate,
    build_schedule,
    build_statement,
    delinquency,
    penalty_rate,
)
from paylater_sdk.lifecycle import DelinquencyBucket
from paylater_sdk.money import Money

START = date(2026, 1, 15)


def cny(value: str) -> Money:
    return Money(value, "CNY")


@pytest.fixture
def free() -> OrderAccount:
    # 3,000 interest-free: 1,000 due on 02-15, 03-15 and 04-15. Its rate is 0, so the
    # penalty is the 0.05 % a day ceiling: 0.50 a day on 1,000.00.
    schedule = build_schedule(cny("3000"), PlanTerms(3, Method.INTEREST_FREE), start=START)
    return OrderAccount.open("free-1", schedule)


class TestPenaltyRate:
    def test_the_daily_ceiling_binds_for_a_cheap_plan(self, free: OrderAccount) -> None:
        assert free.penalty_rate == Decimal("0.1825")  # 0.0005 x 365

    def test_the_cap_binds_for_a_dear_plan(self) -> None:
        terms = PlanTerms(12, Method.EQUAL_PAYMENT, annual_rate="0.12")
        schedule = build_schedule(cny("10000"), terms, start=START)
        rate = penalty_rate(schedule, ServicingPolicy())
        # 24 % - 12.6826309005 % (the compound rate), rounded down to 8 places.
        assert schedule.effective_annual_rate == Decimal("0.126826309005")
        assert rate == Decimal("0.11317369")
        assert schedule.effective_annual_rate + rate <= Decimal("0.24")

    def test_no_penalty_when_the_plan_is_at_the_cap(self) -> None:
        terms = PlanTerms(12, Method.EQUAL_PAYMENT, annual_rate="0.30")
        schedule = build_schedule(cny("10000"), terms, start=START)
        assert penalty_rate(schedule, ServicingPolicy()) == 0

    def test_a_date_aware_cap_table(self) -> None:
        # 4 x a 3.85 % one-year LPR from 2020-08-20: 15.4 %; earlier orders keep 24 %.
        policy = ServicingPolicy(cap_table=[(date(2020, 8, 20), "0.154")])
        assert policy.cap_on(date(2020, 8, 19)) == Decimal("0.24")
        assert policy.cap_on(START) == Decimal("0.154")
        terms = PlanTerms(6, Method.FLAT_FEE, fee_rate_per_period="0.006")
        schedule = build_schedule(cny("1200"), terms, start=START)
        rate = penalty_rate(schedule, policy)
        assert rate == (Decimal("0.154") - schedule.effective_annual_rate).quantize(
            Decimal("1E-8"), rounding="ROUND_DOWN"
        )
        assert 0 < rate < Decimal("0.1825")


class TestAccrual:
    def test_grace_then_half_a_yuan_a_day(self, free: OrderAccount) -> None:
        states = {d: free.states(date(2026, 2, d))[0] for d in (16, 18, 19, 28)}
        assert [states[d].penalty for d in (16, 18, 19, 28)] == [
            cny("0"),
            cny("0"),  # 02-16..02-18: grace
            cny("0.50"),  # from 02-19 (the day after grace)
            cny("5.00"),  # 10 days through 02-28
        ]
        assert states[28].penalty_exact == Fraction(500)
        assert states[28].days_past_due == 13

    def test_a_payment_counts_from_the_next_day_and_the_rest_is_kept_exact(
        self, free: OrderAccount
    ) -> None:
        result = allocate([free], cny("1000"), on=date(2026, 2, 28))
        assert [(li.part.value, li.amount) for li in result.lines] == [
            ("PENALTY", cny("5.00")),
            ("PRINCIPAL", cny("995.00")),
        ]
        after = result.accounts[0]
        # 5.00 principal left: 0.25 fen a day. 10 days to 03-10: 500 + 2.5 fen exact,
        # posted half-up: 5.03, of which 5.00 is paid.
        state = after.states(date(2026, 3, 10))[0]
        assert state.penalty_exact == Fraction(5025, 10)
        assert state.penalty == cny("5.03")
        assert state.owed == cny("5.03")  # 5.00 principal + 0.03 penalty
        assert after.penalty_posted(date(2026, 3, 10)) == cny("5.03")
        assert after.states(date(2026, 3, 9))[0].penalty == cny("5.02")  # 502.25 fen

    def test_paid_within_grace_costs_nothing(self, free: OrderAccount) -> None:
        result = allocate([free], cny("1000"), on=date(2026, 2, 18))
        assert [li.part.value for li in result.lines] == ["PRINCIPAL"]
        account = result.accounts[0]
        assert account.states(date(2026, 3, 1))[0].penalty == cny("0")
        assert account.schedule.installments[0].paid

    def test_optional_late_fee(self, free: OrderAccount) -> None:
        policy = ServicingPolicy(late_fee=cny("10"))
        assert free.states(date(2026, 2, 18), policy)[0].late_fee == cny("0")
        assert free.states(date(2026, 2, 19), policy)[0].late_fee == cny("10")
        result = allocate([free], cny("20"), on=date(2026, 2, 20), policy=policy)
        assert [(li.part.value, li.amount) for li in result.lines] == [
            ("PENALTY", cny("1.00")),
            ("LATE_FEE", cny("10.00")),
            ("PRINCIPAL", cny("9.00")),
        ]
        assert ServicingPolicy().late_fee is None


class TestDelinquency:
    @pytest.mark.parametrize(
        ("day", "days", "bucket", "frozen"),
        [
            (date(2026, 2, 15), 0, DelinquencyBucket.CURRENT, False),
            (date(2026, 2, 18), 3, DelinquencyBucket.M1, False),  # within grace
            (date(2026, 2, 19), 4, DelinquencyBucket.M1, True),
            (date(2026, 3, 17), 30, DelinquencyBucket.M1, True),
            (date(2026, 3, 18), 31, DelinquencyBucket.M2, True),
            (date(2026, 4, 17), 61, DelinquencyBucket.M3, True),
            (date(2026, 5, 17), 91, DelinquencyBucket.M3_PLUS, True),
        ],
    )
    def test_buckets(
        self, free: OrderAccount, day: date, days: int, bucket: DelinquencyBucket, frozen: bool
    ) -> None:
        status = delinquency([free], on=day)
        assert (status.days_past_due, status.bucket, status.frozen) == (days, bucket, frozen)
        assert status.write_off == ()

    def test_write_off_at_180_days(self, free: OrderAccount) -> None:
        assert delinquency([free], on=date(2026, 8, 13)).write_off == ()  # 179 days
        status = delinquency([free], on=date(2026, 8, 14))
        assert (status.days_past_due, status.write_off) == (180, ("free-1",))
        assert delinquency([free], on=date(2026, 3, 1), policy=ServicingPolicy(write_off_days=10))
        assert free.outstanding_principal(date(2026, 8, 14)) == cny("3000")

    def test_paying_everything_past_due_cures(self, free: OrderAccount) -> None:
        late = delinquency([free], on=date(2026, 3, 1))
        assert late.past_due == cny("1005.50")  # 1,000 + 11 days x 0.50
        cured = allocate([free], cny("1005.50"), on=date(2026, 3, 1)).accounts
        status = delinquency(cured, on=date(2026, 3, 1))
        assert (status.bucket, status.frozen, status.past_due) == (
            DelinquencyBucket.CURRENT,
            False,
            cny("0"),
        )
        assert DelinquencyBucket.parse("M9") is DelinquencyBucket.UNKNOWN


class TestStatements:
    @pytest.fixture
    def two(self) -> list[OrderAccount]:
        # Two products with due_day=10: every installment of the buyer falls on the 10th.
        a = build_schedule(cny("3000"), PlanTerms(3, Method.INTEREST_FREE, due_day=10), start=START)
        b = build_schedule(
            cny("1200"),
            PlanTerms(6, Method.FLAT_FEE, fee_rate_per_period="0.006", due_day=10),
            start=date(2026, 1, 28),
        )
        assert a.installments[0].due_date == b.installments[0].due_date == date(2026, 2, 10)
        return [OrderAccount.open("a", a), OrderAccount.open("b", b)]

    def test_a_bill_paid_in_full(self, two: list[OrderAccount]) -> None:
        bill = build_statement(two, "2026-02", as_of=date(2026, 2, 1))
        assert [(li.order_id, li.installment, li.amount) for li in bill.installments] == [
            ("a", 1, cny("1000")),
            ("b", 1, cny("207.20")),
        ]
        assert (bill.amount_due, bill.due_date) == (cny("1207.20"), date(2026, 2, 10))
        paid = allocate(two, bill.amount_due, on=date(2026, 2, 9)).accounts
        after = build_statement(paid, "2026-02")
        assert (after.amount_due, after.payments_received, after.penalty_posted) == (
            cny("0"),
            cny("1207.20"),
            cny("0"),
        )
        assert after.as_of == date(2026, 2, 28)

    def test_a_missed_bill_carries_over_with_penalty(self, two: list[OrderAccount]) -> None:
        # Penalty from 02-14 (after 3 days of grace): order a 0.50 a day on 1,000.00;
        # order b (15.66 % compound rate) 24 % - 15.66 % = 8.339754 % a year on 200.00:
        # 200.00 x 0.08339754 / 365 = 0.0457 a day.
        assert two[1].penalty_rate == Decimal("0.08339754")
        feb = build_statement(two, "2026-02")
        assert feb.penalty_posted == cny("7.50") + cny("0.69")  # 15 days each
        march = build_statement(two, "2026-03")
        # February's 1,207.20 plus 46 days of penalty: 23.00 (a) and 2.10 (b).
        assert march.carried_over == cny("1232.30")
        assert [(li.order_id, li.installment, li.owed) for li in march.installments] == [
            ("a", 2, cny("1000")),
            ("b", 2, cny("207.20")),
        ]
        # March's installments are past due from 03-14 too: 18 days, 9.00 and 0.82.
        assert march.amount_due == cny("1232.30") + cny("1207.20") + cny("9.00") + cny("0.82")
        assert march.penalty_posted == cny("23.00") + cny("9.00") + cny("2.10") + cny("0.82") - (
            feb.penalty_posted
        )
        assert (march.payments_received, march.late_fees) == (cny("0"), cny("0"))

    def test_bad_month_and_day(self, two: list[OrderAccount]) -> None:
        for bad in ("2026-13", "26-01", 202601):
            with pytest.raises(ServicingError) as exc:
                build_statement(two, bad)  # type: ignore[arg-type]
            assert exc.value.field == "month"
        with pytest.raises(ServicingError) as exc:
            build_statement(two, "2026-03", as_of=date(2026, 2, 28))
        assert (exc.value.code, exc.value.field) == ("INVALID_DATE", "as_of")


class TestPolicyWireForm:
    def test_round_trip(self) -> None:
        policy = ServicingPolicy(
            late_fee=cny("10"),
            cap_table=[(date(2020, 8, 20), "0.154")],
            allocation_order=["PRINCIPAL", "INTEREST", "FEE", "PENALTY", "LATE_FEE"],
            payoff_fees="ALL",
            grace_days=5,
        )
        data = policy.to_json()
        assert data["cap_table"] == [{"from": "2020-08-20", "rate": "0.154"}]
        assert data["late_fee"] == {"value": 1000, "currency": "CNY"}
        assert ServicingPolicy.from_json(data) == policy
        assert ServicingPolicy.from_json({}) == ServicingPolicy()

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ({"grace": 3}, "grace"),
            ({"cap_table": [{"from": "2020-13-01", "rate": "0.1"}]}, "cap_table"),
            ({"late_fee": {"value": 1.5, "currency": "CNY"}}, "late_fee"),
            ({"annual_cost_cap": "abc"}, "annual_cost_cap"),
            ({"max_daily_penalty": 0.1}, "max_daily_penalty"),
        ],
    )
    def test_bad_settings(self, data: dict[str, object], field: str) -> None:
        with pytest.raises(ServicingError) as exc:
            ServicingPolicy.from_json(data)
        assert (exc.value.code, exc.value.field) == ("INVALID_FIELD", field)
