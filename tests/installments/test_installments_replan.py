"""Repayments, refunds, early payoff and the Schedule wire form."""

from __future__ import annotations

import copy
import json
from datetime import date

import pytest

from paylater_sdk.errors import PlanError
from paylater_sdk.installments import Method, PlanTerms, Schedule, build_schedule
from paylater_sdk.money import Money

START = date(2026, 1, 31)


def cny(value: str) -> Money:
    return Money(value, "CNY")


@pytest.fixture
def flat() -> Schedule:
    terms = PlanTerms(6, Method.FLAT_FEE, fee_rate_per_period="0.006")
    return build_schedule(cny("1200"), terms, start=START)


@pytest.fixture
def annuity() -> Schedule:
    terms = PlanTerms(4, Method.EQUAL_PAYMENT, annual_rate="0.12")
    return build_schedule(cny("1000"), terms, start=START)


class TestPayments:
    def test_record_payment_marks_the_earliest_unpaid(self, flat: Schedule) -> None:
        assert flat.next_due is flat.installments[0]
        assert flat.outstanding_principal == cny("1200")
        once = flat.record_payment(on=date(2026, 2, 27))
        assert [i.paid for i in once.installments] == [True] + [False] * 5
        assert once.next_due == flat.installments[1]
        assert once.outstanding_principal == cny("1000")
        assert not flat.installments[0].paid  # the original is untouched
        twice = once.record_payment(on=date(2026, 3, 31))
        assert [i.paid for i in twice.installments][:3] == [True, True, False]

    def test_paying_everything_then_once_more(self, flat: Schedule) -> None:
        schedule = flat
        for _ in range(6):
            schedule = schedule.record_payment(on=date(2026, 8, 1))
        assert schedule.next_due is None
        assert schedule.outstanding_principal == cny("0")
        with pytest.raises(PlanError, match="already paid; nothing is due"):
            schedule.record_payment(on=date(2026, 8, 2))

    def test_payment_before_the_purchase(self, flat: Schedule) -> None:
        with pytest.raises(PlanError, match="before the purchase"):
            flat.record_payment(on=date(2026, 1, 1))


class TestRefunds:
    def test_partial_refund_is_pro_rata_over_unpaid_installments(self, flat: Schedule) -> None:
        paid_one = flat.record_payment(on=date(2026, 2, 28))
        after = paid_one.after_refund(cny("500"), on=date(2026, 3, 5))
        assert after.installments[0] == paid_one.installments[0]
        assert [str(i.principal.amount) for i in after.installments] == [
            "200.00",
            "100.00",
            "100.00",
            "100.00",
            "100.00",
            "100.00",
        ]
        # The fee is recomputed on the reduced principal (700 * 0.6 % = 4.20).
        assert [str(i.fee.amount) for i in after.installments[1:]] == ["4.20"] * 5
        assert after.principal == cny("700")
        assert after.outstanding_principal == cny("500")
        assert [str(i.remaining_principal.amount) for i in after.installments[1:]] == [
            "400.00",
            "300.00",
            "200.00",
            "100.00",
            "0.00",
        ]

    def test_uneven_refund_is_allocated_exactly(self, flat: Schedule) -> None:
        after = flat.after_refund(cny("0.05"), on=START)
        principals = [i.principal.minor for i in after.installments]
        assert sum(principals) == 119995
        assert sorted(principals) == [19999] * 5 + [20000]

    def test_refund_recomputes_interest_on_the_new_balance(self, annuity: Schedule) -> None:
        after = annuity.after_refund(cny("500"), on=START)
        assert after.installments[0].interest == cny("5.00")  # 500 * 1 %
        assert after.total_interest < annuity.total_interest
        assert after.apr > 0

    def test_refund_of_the_whole_unpaid_principal_zeroes_the_rest(self, flat: Schedule) -> None:
        paid = flat.record_payment(on=date(2026, 2, 28))
        after = paid.after_refund(cny("1000"), on=date(2026, 3, 1))
        assert after.installments[0] == paid.installments[0]
        assert all(i.amount == cny("0") for i in after.installments[1:])
        assert after.next_due is None
        assert after.outstanding_principal == cny("0")
        with pytest.raises(PlanError, match="nothing is due"):
            after.record_payment(on=date(2026, 3, 2))

    def test_full_refund_before_any_payment(self, flat: Schedule) -> None:
        after = flat.after_refund(cny("1200"), on=START)
        assert after.total_amount == cny("0")
        assert after.apr == 0

    @pytest.mark.parametrize(
        ("amount", "message"),
        [
            (cny("1200.01"), "exceeds the unpaid principal"),
            (cny("0"), "must be positive"),
            (cny("-1"), "must be positive"),
            (Money("1", "USD"), "in USD"),
            ("100", "must be Money"),
        ],
    )
    def test_bad_refunds(self, flat: Schedule, amount: object, message: str) -> None:
        with pytest.raises(PlanError, match=message):
            flat.after_refund(amount, on=START)  # type: ignore[arg-type]

    def test_refund_larger_than_what_is_still_owed(self, flat: Schedule) -> None:
        paid = flat.record_payment(on=date(2026, 2, 28))
        with pytest.raises(PlanError, match="the issuer refunds paid money"):
            paid.after_refund(cny("1000.01"), on=date(2026, 3, 1))
        with pytest.raises(PlanError, match="before the purchase"):
            paid.after_refund(cny("1"), on=date(2025, 3, 1))


class TestPayoff:
    def test_payoff_charges_only_periods_already_begun(self, flat: Schedule) -> None:
        paid = flat.record_payment(on=date(2026, 2, 28))
        # 2026-03-15 is inside period 2 (2026-02-28 .. 2026-03-31): its fee is due,
        # periods 3..6 have not begun and cost nothing.
        assert paid.payoff_amount(date(2026, 3, 15)) == cny("1007.20")
        settled = paid.payoff(on=date(2026, 3, 15))
        assert len(settled.installments) == 2
        last = settled.installments[-1]
        assert (last.number, last.due_date, last.paid) == (2, date(2026, 3, 15), True)
        assert last.principal == cny("1000")
        assert last.fee == cny("7.20")
        assert settled.total_amount == cny("1214.40")
        assert settled.next_due is None

    def test_payoff_on_a_due_date_does_not_start_the_next_period(self, flat: Schedule) -> None:
        paid = flat.record_payment(on=date(2026, 2, 28))
        assert paid.payoff_amount(date(2026, 2, 28)) == cny("1000")
        # Installment 2 is due on 03-31: paying off then includes its fee only.
        assert paid.payoff_amount(date(2026, 3, 31)) == cny("1007.20")

    def test_payoff_on_the_purchase_day_costs_the_price(self, annuity: Schedule) -> None:
        assert annuity.payoff_amount(START) == cny("1000")
        late = annuity.payoff_amount(date(2027, 1, 1))
        assert late == annuity.total_amount

    def test_on_may_be_positional(self, flat: Schedule) -> None:
        assert flat.after_refund(cny("600"), START) == flat.after_refund(cny("600"), on=START)
        assert flat.payoff(START) == flat.payoff(on=START)

    def test_payoff_errors(self, flat: Schedule) -> None:
        with pytest.raises(PlanError, match="before the purchase"):
            flat.payoff(on=date(2025, 1, 1))
        settled = flat.payoff(on=START)
        with pytest.raises(PlanError, match="nothing to pay off"):
            settled.payoff(on=START)


class TestWireForm:
    def test_round_trip_is_exact(self, flat: Schedule) -> None:
        data = flat.record_payment(on=date(2026, 2, 28)).to_json()
        text = json.dumps(data)
        again = Schedule.from_json(json.loads(text))
        assert again == flat.record_payment(on=date(2026, 2, 28))
        assert again.to_json() == data

    def test_wire_shape(self, flat: Schedule) -> None:
        data = flat.to_json()
        assert data["installments"][0] == {
            "number": 1,
            "due_date": "2026-02-28",
            "principal": {"value": 20000, "currency": "CNY"},
            "interest": {"value": 0, "currency": "CNY"},
            "fee": {"value": 720, "currency": "CNY"},
            "amount": {"value": 20720, "currency": "CNY"},
            "remaining_principal": {"value": 100000, "currency": "CNY"},
            "paid": False,
        }
        assert data["total_amount"] == {"value": 124320, "currency": "CNY"}
        assert data["total_fees"] == {"value": 4320, "currency": "CNY"}
        assert data["apr"] == str(flat.apr.quantize(__import__("decimal").Decimal("0.0001")))
        assert data["terms"]["fee_rate_per_period"] == "0.006"
        assert set(data) == {
            "principal",
            "start_date",
            "terms",
            "installments",
            "total_amount",
            "total_interest",
            "total_fees",
            "merchant_fee",
            "apr",
            "effective_annual_rate",
        }

    def test_round_trip_of_a_replanned_schedule(self, annuity: Schedule) -> None:
        replanned = annuity.record_payment(on=START).after_refund(cny("100"), on=START)
        assert Schedule.from_json(replanned.to_json()) == replanned

    @pytest.mark.parametrize(
        ("mutate", "message"),
        [
            (lambda d: d.pop("terms"), "missing terms"),
            (lambda d: d.update(extra=1), "unknown schedule fields: extra"),
            (lambda d: d.update(installments=[]), "non-empty list"),
            (lambda d: d["installments"][0].update(paid="no"), "'paid' must be true or false"),
            (lambda d: d["installments"][0].update(number=0), "positive integer"),
            (lambda d: d["installments"][0].update(due_date="2026-2-28"), "YYYY-MM-DD"),
            (lambda d: d["installments"][0].update(due_date=20260228), "YYYY-MM-DD"),
            (lambda d: d["installments"][0].pop("fee"), "exactly the fields"),
            (lambda d: d["installments"][0]["fee"].update(value=1.5), "installment 1"),
            (lambda d: d["installments"][0]["fee"].update(value=721), "amount is not principal"),
            (
                lambda d: (
                    d["installments"][0]["principal"].update(value=1),
                    d["installments"][0]["amount"].update(value=721),
                ),
                "do not add up",
            ),
            (lambda d: d.update(total_amount={"value": 1, "currency": "CNY"}), "total_amount"),
            (lambda d: d.update(principal=12), "schedule:"),
            (lambda d: d["terms"].update(method="LOAN"), "unknown method"),
        ],
    )
    def test_from_json_is_strict(self, flat: Schedule, mutate: object, message: str) -> None:
        data = copy.deepcopy(flat.to_json())
        mutate(data)  # type: ignore[operator]
        with pytest.raises(PlanError, match=message):
            Schedule.from_json(data)

    def test_from_json_needs_an_object(self) -> None:
        with pytest.raises(PlanError, match="must be an object"):
            Schedule.from_json([])
