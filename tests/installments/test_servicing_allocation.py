"""Allocating repayments: the waterfall across orders, prepayment re-plans, refusals."""

from __future__ import annotations

from datetime import date

import pytest

from paylater_sdk.errors import PayLaterError
from paylater_sdk.installments import (
    AllocationPart,
    Method,
    OrderAccount,
    Payment,
    PlanTerms,
    ServicingError,
    ServicingPolicy,
    allocate,
    build_schedule,
    owed,
    refund,
)
from paylater_sdk.money import Money

START = date(2026, 1, 15)


def cny(value: str) -> Money:
    return Money(value, "CNY")


def lines(result: object) -> list[tuple[str, int, str, Money]]:
    return [
        (li.order_id, li.installment, li.part.value, li.amount)
        for li in result.lines  # type: ignore[attr-defined]
    ]


@pytest.fixture
def free() -> OrderAccount:
    schedule = build_schedule(cny("3000"), PlanTerms(3, Method.INTEREST_FREE), start=START)
    return OrderAccount.open("free", schedule)


@pytest.fixture
def flat() -> OrderAccount:
    # 1,200 over 6 at 0.6 % a month: 207.20 due on the 15th, from 02-15.
    terms = PlanTerms(6, Method.FLAT_FEE, fee_rate_per_period="0.006")
    return OrderAccount.open("flat", build_schedule(cny("1200"), terms, start=START))


@pytest.fixture
def spread() -> OrderAccount:
    terms = PlanTerms(12, Method.EQUAL_PRINCIPAL, annual_rate="0.12")
    return OrderAccount.open("ep", build_schedule(cny("12000"), terms, start=START))


@pytest.fixture
def annuity() -> OrderAccount:
    terms = PlanTerms(12, Method.EQUAL_PAYMENT, annual_rate="0.12")
    return OrderAccount.open("ann", build_schedule(cny("10000"), terms, start=START))


class TestWaterfall:
    def test_across_orders_penalty_first_then_oldest_first(
        self, free: OrderAccount, flat: OrderAccount
    ) -> None:
        # Both missed 02-15. On 02-20 (2 days of penalty) free owes 1.00 of penalty and
        # flat its own (at its rate under the cap); then each installment oldest first.
        on = date(2026, 2, 20)
        flat_penalty = flat.states(on)[0].penalty
        assert free.states(on)[0].penalty == cny("1.00")
        result = allocate([free, flat], cny("1100"), on=on)
        assert lines(result)[:4] == [
            ("free", 1, "PENALTY", cny("1.00")),
            ("flat", 1, "PENALTY", flat_penalty),
            ("free", 1, "PRINCIPAL", cny("1000")),
            ("flat", 1, "FEE", cny("7.20")),
        ]
        assert lines(result)[4] == (
            "flat",
            1,
            "PRINCIPAL",
            cny("1100") - cny("1008.20") - flat_penalty,
        )
        assert sum((li.amount for li in result.lines), cny("0")) == cny("1100")

    def test_due_now_comes_after_past_due(self, free: OrderAccount, flat: OrderAccount) -> None:
        paid = allocate([free, flat], on=date(2026, 2, 15)).accounts  # both due today
        assert all(a.schedule.installments[0].paid for a in paid)
        # 03-01: nothing past due; "due now" is installment 2 of each order.
        result = allocate(paid, cny("1100"), on=date(2026, 3, 1))
        assert lines(result) == [
            ("free", 2, "PRINCIPAL", cny("1000")),
            ("flat", 2, "FEE", cny("7.20")),
            ("flat", 2, "PRINCIPAL", cny("92.80")),
        ]
        assert result.owed_after == cny("107.20")

    def test_order_id_limits_to_one_order(self, free: OrderAccount, flat: OrderAccount) -> None:
        result = allocate([free, flat], on=date(2026, 2, 1), order_id="flat")
        assert lines(result) == [
            ("flat", 1, "FEE", cny("7.20")),
            ("flat", 1, "PRINCIPAL", cny("200")),
        ]
        assert result.accounts[0] == free

    def test_a_principal_first_order(self, free: OrderAccount) -> None:
        policy = ServicingPolicy(
            allocation_order=["PRINCIPAL", "INTEREST", "FEE", "PENALTY", "LATE_FEE"]
        )
        result = allocate([free], cny("1000"), on=date(2026, 2, 20), policy=policy)
        assert lines(result) == [("free", 1, "PRINCIPAL", cny("1000"))]
        account = result.accounts[0]
        assert account.states(date(2026, 2, 20))[0].owed == cny("1.00")  # penalty stays
        # The plan parts are paid, but the installment stays past due until its penalty is.
        assert account.schedule.installments[0].paid
        assert account.days_past_due(date(2026, 2, 20)) == 5

    def test_payment_rows_are_recorded_for_the_issuer(self, free: OrderAccount) -> None:
        result = allocate([free], cny("400"), on=date(2026, 2, 1))
        assert result.accounts[0].payments == (
            Payment(date(2026, 2, 1), 1, AllocationPart.PRINCIPAL, cny("400")),
        )
        assert result.lines[0].to_json() == {
            "order_id": "free",
            "installment": 1,
            "part": "PRINCIPAL",
            "amount": {"value": 40000, "currency": "CNY"},
        }
        again = OrderAccount("free", free.schedule, free.penalty_rate, result.accounts[0].payments)
        assert again == result.accounts[0]


class TestPrepay:
    def test_equal_principal_fewer_periods(self, spread: OrderAccount) -> None:
        result = allocate([spread], cny("4000"), on=date(2026, 1, 20), mode="PREPAY", order_id="ep")
        # Installment 1 (1,000 + 120 interest) first, then 2,880 of principal ahead.
        assert lines(result) == [
            ("ep", 1, "INTEREST", cny("120")),
            ("ep", 1, "PRINCIPAL", cny("1000")),
            ("ep", 1, "PREPAYMENT", cny("2880")),
        ]
        rows = result.accounts[0].schedule.installments
        assert len(rows) == 10
        assert [r.principal for r in rows[1:]] == [cny("1000")] * 8 + [cny("120")]
        assert (rows[1].interest, rows[-1].interest) == (cny("81.20"), cny("1.20"))
        assert (rows[0].principal, rows[0].paid) == (cny("3880"), True)
        assert sum((r.principal for r in rows), cny("0")) == cny("12000")

    def test_equal_principal_lower_installment(self, spread: OrderAccount) -> None:
        result = allocate(
            [spread],
            cny("4000"),
            on=date(2026, 1, 20),
            mode="PREPAY",
            order_id="ep",
            prepay_keeps="PERIODS",
        )
        rows = result.accounts[0].schedule.installments
        assert len(rows) == 12
        # 8,120 over 11: 738.18 x 10 and 738.20; interest on the new balances.
        assert [r.principal for r in rows[1:]] == [cny("738.18")] * 10 + [cny("738.20")]
        assert (rows[1].interest, rows[2].interest) == (cny("81.20"), cny("73.82"))

    def test_equal_payment_keeps_the_payment(self, annuity: OrderAccount) -> None:
        result = allocate(
            [annuity], cny("3000"), on=date(2026, 2, 1), mode="PREPAY", order_id="ann"
        )
        rows = result.accounts[0].schedule.installments
        # 7,100.00 left after 02-15: 888.49 a month still, 9 full ones and 329.83.
        assert len(rows) == 10
        assert [r.amount for r in rows[1:-1]] == [cny("888.49")] * 8
        assert (rows[1].interest, rows[-1].amount) == (cny("71.00"), cny("329.83"))
        assert rows[0].remaining_principal == cny("7100")

    def test_equal_payment_lower_installment(self, annuity: OrderAccount) -> None:
        result = allocate(
            [annuity],
            cny("3000"),
            on=date(2026, 2, 1),
            mode="PREPAY",
            order_id="ann",
            prepay_keeps="PERIODS",
        )
        rows = result.accounts[0].schedule.installments
        assert len(rows) == 12
        assert [r.amount for r in rows[1:-1]] == [cny("684.82")] * 10
        assert sum((r.principal for r in rows), cny("0")) == cny("10000")

    def test_prepaying_everything_leaves_no_later_installment(self, free: OrderAccount) -> None:
        total = owed([free], on=date(2026, 1, 20), mode="PREPAY", order_id="free")
        assert total == cny("3000")
        result = allocate([free], on=date(2026, 1, 20), mode="PREPAY", order_id="free")
        rows = result.accounts[0].schedule.installments
        assert [(r.number, r.principal, r.paid) for r in rows] == [(1, cny("3000"), True)]
        assert result.owed_after == cny("0")

    def test_without_prepay_mode_nothing_goes_to_principal_ahead(self, free: OrderAccount) -> None:
        with pytest.raises(ServicingError) as exc:
            allocate([free], cny("1500"), on=date(2026, 1, 20))
        assert (exc.value.code, exc.value.field) == ("AMOUNT_EXCEEDS_OWED", "amount")


class TestRefusals:
    @pytest.mark.parametrize(
        ("amount", "code"),
        [
            (Money("0", "CNY"), "INVALID_AMOUNT"),
            (Money("-1", "CNY"), "INVALID_AMOUNT"),
            (Money("1", "USD"), "INVALID_AMOUNT"),
            ("100", "INVALID_AMOUNT"),
            (Money("1000.01", "CNY"), "AMOUNT_EXCEEDS_OWED"),
        ],
    )
    def test_bad_amounts(self, free: OrderAccount, amount: object, code: str) -> None:
        with pytest.raises(ServicingError) as exc:
            allocate([free], amount, on=date(2026, 2, 1))  # type: ignore[arg-type]
        assert (exc.value.code, exc.value.field) == (code, "amount")
        assert isinstance(exc.value, PayLaterError)

    def test_unknown_order_and_missing_order(self, free: OrderAccount) -> None:
        with pytest.raises(ServicingError) as exc:
            allocate([free], cny("1"), on=date(2026, 2, 1), order_id="someone-elses")
        assert (exc.value.code, exc.value.field) == ("UNKNOWN_ORDER", "order_id")
        with pytest.raises(ServicingError) as exc:
            allocate([free], cny("1"), on=date(2026, 2, 1), mode="PAYOFF")
        assert exc.value.field == "order_id"

    def test_bad_mode_and_keeps(self, free: OrderAccount) -> None:
        with pytest.raises(ServicingError) as exc:
            allocate([free], cny("1"), on=date(2026, 2, 1), mode="SOMETIME")
        assert exc.value.field == "mode"
        with pytest.raises(ServicingError) as exc:
            allocate([free], cny("1"), on=date(2026, 2, 1), prepay_keeps="BOTH")
        assert exc.value.field == "prepay_keeps"

    def test_dates(self, free: OrderAccount) -> None:
        with pytest.raises(ServicingError) as exc:
            allocate([free], cny("1"), on=date(2026, 1, 1))
        assert (exc.value.code, exc.value.field) == ("INVALID_DATE", "on")
        later = allocate([free], cny("1"), on=date(2026, 2, 1)).accounts
        with pytest.raises(ServicingError) as exc:
            allocate(later, cny("1"), on=date(2026, 1, 31))  # before the last repayment
        assert exc.value.field == "on"

    def test_nothing_owed(self, free: OrderAccount) -> None:
        done = allocate([free], on=date(2026, 1, 20), mode="PREPAY", order_id="free").accounts
        with pytest.raises(ServicingError) as exc:
            allocate(done, cny("1"), on=date(2026, 1, 21))
        assert exc.value.code == "NOTHING_OWED"

    def test_bad_payment_rows(self, free: OrderAccount) -> None:
        row = Payment(date(2026, 2, 1), 9, AllocationPart.PRINCIPAL, cny("1"))
        with pytest.raises(ServicingError) as exc:
            OrderAccount("free", free.schedule, free.penalty_rate, [row])
        assert exc.value.field == "installment"
        row = Payment(date(2026, 2, 1), 1, AllocationPart.PRINCIPAL, cny("1000.01"))
        with pytest.raises(ServicingError) as exc:
            OrderAccount("free", free.schedule, free.penalty_rate, [row])
        assert exc.value.code == "AMOUNT_EXCEEDS_OWED"

    def test_bad_policy(self) -> None:
        with pytest.raises(ServicingError) as exc:
            ServicingPolicy(allocation_order=["PENALTY", "FEE"])
        assert exc.value.field == "allocation_order"
        with pytest.raises(ServicingError) as exc:
            ServicingPolicy(grace_days=-1)
        assert exc.value.field == "grace_days"
        with pytest.raises(ServicingError) as exc:
            ServicingPolicy(cap_basis="gross")
        assert exc.value.field == "cap_basis"
        with pytest.raises(ServicingError) as exc:
            ServicingPolicy(late_fee=cny("0"))
        assert exc.value.field == "late_fee"

    def test_a_late_fee_in_another_currency(self, free: OrderAccount) -> None:
        policy = ServicingPolicy(late_fee=Money("5", "USD"))
        with pytest.raises(ServicingError) as exc:
            free.states(date(2026, 3, 1), policy)
        assert exc.value.field == "late_fee"


class TestRefund:
    def test_refund_beyond_what_is_owed_is_returned(self, free: OrderAccount) -> None:
        paid = allocate([free], on=date(2026, 2, 15)).accounts[0]  # installment 1: 1,000
        result = refund(paid, cny("2500"), on=date(2026, 3, 1))
        assert (result.credited, result.reduced, result.returned) == ((), cny("2000"), cny("500"))
        schedule = result.account.schedule
        assert schedule.principal == cny("1000")
        assert [(i.principal, i.paid) for i in schedule.installments] == [
            (cny("1000"), True),
            (cny("0"), True),
            (cny("0"), True),
        ]
        assert schedule.refunds == ((date(2026, 3, 1), cny("2000")),)

    def test_refund_pro_rata_over_what_is_not_yet_due(self, free: OrderAccount) -> None:
        result = refund(free, cny("1500"), on=date(2026, 1, 20))
        assert [i.principal for i in result.account.schedule.installments] == [cny("500")] * 3
        assert result.returned == cny("0")

    def test_refund_pays_past_due_principal_first(self, free: OrderAccount) -> None:
        result = refund(free, cny("1200"), on=date(2026, 2, 25))
        assert [(li.installment, li.part.value, li.amount) for li in result.credited] == [
            (1, "PRINCIPAL", cny("1000"))
        ]
        account = result.account
        assert [i.principal for i in account.schedule.installments] == [
            cny("1000"),
            cny("900"),
            cny("900"),
        ]
        # Penalty of 02-19..02-25 (7 days x 0.50) stays owed and stops there.
        state = account.states(date(2026, 3, 10))[0]
        assert (state.penalty, state.owed) == (cny("3.50"), cny("3.50"))

    def test_refund_after_a_partial_repayment_keeps_what_was_paid(self, flat: OrderAccount) -> None:
        paid = allocate([flat], cny("100"), on=date(2026, 2, 1)).accounts[0]
        result = refund(paid, cny("600"), on=date(2026, 2, 5))
        rows = result.account.schedule.installments
        assert result.reduced == cny("600")
        assert sum((i.principal for i in rows), cny("0")) == cny("600")
        # Fees on the 600 now financed: 3.60 a period; installment 1 keeps the 7.20 paid.
        assert [i.fee for i in rows] == [cny("7.20")] + [cny("3.60")] * 5
        assert rows[0].principal >= cny("92.80")

    def test_bad_refunds(self, free: OrderAccount) -> None:
        for amount in (cny("0"), cny("-5"), Money("5", "USD")):
            with pytest.raises(ServicingError) as exc:
                refund(free, amount, on=date(2026, 2, 1))
            assert (exc.value.code, exc.value.field) == ("INVALID_AMOUNT", "amount")
        with pytest.raises(ServicingError) as exc:
            refund(free, cny("5"), on=date(2025, 2, 1))
        assert exc.value.field == "on"
