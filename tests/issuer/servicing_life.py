"""The 13-month life of a buyer (issue #14's acceptance scenario), as one driver.

Used by tests/issuer/domain/test_servicing_life.py: every step goes through the issuer's
own entry points (the signed merchant API for checkouts, captures and refunds; the buyer's
authorization; the test API for the clock, repayments and bills), and the ledger is
checked after each step. ``steps`` yields (name, figures) so the test can compare every
figure to the fen.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

from flask.testing import FlaskClient

from paylater_sdk.installments import Method, PlanOffer, PlanTerms
from paylater_sdk.issuer import Issuer, TestBuyer
from paylater_sdk.issuer.domain.messages import buyer_messages
from paylater_sdk.money import Money
from tests._support.issuer import SignedClient, checkout_body, cny

#: A loan with interest (equal payments, 12 % a year) beside the standard fenfu-6.
EQ12 = PlanOffer(
    "eq-12",
    "12期等额本息 12 equal payments",
    PlanTerms(12, Method.EQUAL_PAYMENT, annual_rate="0.12"),
    Money("100", "CNY"),
    Money("50000", "CNY"),
)
FENFU6 = PlanOffer(
    "fenfu-6",
    "6期 6 installments",
    PlanTerms(6, Method.FLAT_FEE, fee_rate_per_period="0.006"),
    Money("100", "CNY"),
    Money("50000", "CNY"),
)
LIMIT = 20_000_00


class Life:
    """The buyer's world: the issuer, a merchant, the test API."""

    def __init__(
        self, issuer: Issuer, api: SignedClient, web: FlaskClient, buyer: TestBuyer
    ) -> None:
        self.issuer, self.api, self.web, self.buyer = issuer, api, web, buyer

    def goto(self, day: date) -> None:
        target = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        seconds = int((target - self.issuer.now()).total_seconds())
        assert seconds >= 0
        answer = self.web.post("/_test/clock/advance", json={"seconds": seconds})
        assert answer.status_code == 200, answer.get_json()
        assert self.issuer.now().date() == day

    def buy(self, no: str, minor: int, plan_id: str) -> str:
        created = self.api.post("/v1/checkouts", checkout_body(no, minor))
        assert created.status_code == 201, created.get_json()
        authorized = self.issuer.orders.authorize(
            created.get_json()["id"], buyer_id=self.buyer.id, plan_id=plan_id
        )
        order_id: str = authorized["order"]["id"]
        captured = self.api.post(f"/v1/orders/{order_id}/capture", {})
        assert captured.status_code == 200, captured.get_json()
        return order_id

    def repay(self, status: int = 200, **body: Any) -> dict[str, Any]:
        answer = self.web.post(f"/_test/buyers/{self.buyer.id}/repay", json=body)
        assert answer.status_code == status, answer.get_json()
        result: dict[str, Any] = answer.get_json()
        return result

    def refund(self, order_id: str, minor: int, no: str) -> None:
        body = {"order_id": order_id, "amount": cny(minor), "out_refund_no": no}
        answer = self.api.post("/v1/refunds", body)
        assert answer.status_code == 201, answer.get_json()

    def statement(self, month: str) -> dict[str, Any]:
        answer = self.web.get(f"/_test/buyers/{self.buyer.id}/statement?month={month}")
        assert answer.status_code == 200, answer.get_json()
        result: dict[str, Any] = answer.get_json()
        return result

    def view(self) -> dict[str, Any]:
        answer = self.web.get(f"/_admin/buyers/{self.buyer.id}/servicing?format=json")
        assert answer.status_code == 200, answer.get_json()
        result: dict[str, Any] = answer.get_json()
        return result

    def books(self) -> dict[str, Any]:
        """Balances, receivables, delinquency: the figures checked after every step."""
        assert self.issuer.check_ledger() == []
        view = self.view()
        import sqlalchemy as sa

        from paylater_sdk.issuer.storage.schema import buyers

        with self.issuer.engine.connect() as conn:
            row = conn.execute(sa.select(buyers).where(buyers.c.id == self.buyer.id)).one()
        return {
            "limit": row.credit_limit,
            "available": row.available,
            "outstanding": row.outstanding,
            "frozen": row.overdue,
            "receivables": {k: v["value"] for k, v in view["receivables"].items()},
            "bucket": view["delinquency"]["bucket"],
            "days_past_due": view["delinquency"]["days_past_due"],
            "past_due": view["delinquency"]["past_due"]["value"],
        }

    def messages(self) -> list[str]:
        """The buyer's message types, bucket moves left out (``moves`` has them)."""
        kinds = [m["type"] for m in buyer_messages(self.issuer.engine, self.buyer.id)]
        return [k for k in kinds if k != "ACCOUNT.BUCKET_CHANGED"]

    def moves(self) -> list[tuple[str, str, str, int]]:
        """The delinquency bucket moves recorded: (day, from, to, days past due)."""
        return [
            (m["date"], m["data"]["from"], m["data"]["to"], m["data"]["days_past_due"])
            for m in buyer_messages(self.issuer.engine, self.buyer.id)
            if m["type"] == "ACCOUNT.BUCKET_CHANGED"
        ]


def steps(life: Life) -> Iterator[tuple[str, Any]]:
    """The scenario; each yield is (step name, its figures)."""
    life.goto(date(2030, 1, 10))
    a = life.buy("LIFE-A", 1200_00, "eq-12")
    yield "bought A", life.books()
    life.goto(date(2030, 1, 20))
    b = life.buy("LIFE-B", 600_00, "fenfu-6")
    names = {a: "A", b: "B"}

    def lines(answer: dict[str, Any]) -> list[tuple[str, int, str, int]]:
        return [
            (names[li["order_id"]], li["installment"], li["part"], li["amount"]["value"])
            for li in answer["allocated"]
        ]

    yield "bought B", life.books()
    # --- month 1: the February bill, reminded and paid in full on its due date ----------
    life.goto(date(2030, 2, 8))
    yield "due soon", [m for m in life.messages() if m == "INSTALLMENT.DUE_SOON"]
    life.goto(date(2030, 2, 10))
    bill = life.statement("2030-02")
    yield "february bill", bill
    paid = life.repay(amount=bill["amount_due"])
    yield "bill paid", (lines(paid), paid["owed"], life.books())
    # --- month 2: a partial repayment of A, B paid on time; A's rest is missed ----------
    life.goto(date(2030, 3, 10))
    part = life.repay(amount=cny(50_00), order_id=a)
    yield "partial", (lines(part), part["owed"], life.books())
    life.goto(date(2030, 3, 13))  # the last day of grace: no penalty, not frozen
    yield "grace", life.books()
    life.goto(date(2030, 3, 14))
    yield "frozen", (life.books(), life.messages()[-2:])
    life.goto(date(2030, 3, 20))
    paid_b = life.repay(order_id=b)
    yield "B paid on time", (lines(paid_b), life.books())
    # --- month 3: 26 days late, M1 with penalty; cured by paying what is past due -------
    life.goto(date(2030, 4, 5))
    late = life.books()
    yield "M1", (late, life.statement("2030-03"))
    cure = life.repay(amount=cny(late["past_due"]), order_id=a)
    yield "cured", (lines(cure), cure["delinquency"], life.books(), life.messages()[-2:])
    life.goto(date(2030, 4, 10))
    yield "A3 paid", lines(life.repay(order_id=a))
    life.goto(date(2030, 4, 20))
    yield "B3 paid", lines(life.repay(order_id=b))
    yield "april books", life.books()
    # --- month 4: a prepayment on A (fewer periods) -------------------------------------
    life.goto(date(2030, 5, 10))
    pre = life.repay(amount=cny(400_00), order_id=a, mode="PREPAY", prepay_keeps="PERIODS")
    yield "prepaid", (lines(pre), life.books())
    yield (
        "A after prepay",
        [
            (i["installment"], i["due_date"], i["amount"]["value"])
            for i in life.view()["orders"][0 if life.view()["orders"][0]["order_id"] == a else 1][
                "installments"
            ]
        ],
    )
    life.goto(date(2030, 5, 20))
    yield "B4 paid", lines(life.repay(order_id=b))
    # --- month 5: early payoff of B -----------------------------------------------------
    life.goto(date(2030, 6, 5))
    quote = next(o for o in life.view()["orders"] if o["order_id"] == b)["payoff_quote"]
    yield "B quote", quote
    payoff = life.repay(amount=quote["total"], order_id=b, mode="PAYOFF")
    yield "B paid off", (lines(payoff), life.books(), life.messages()[-1])
    # --- refunds after repayment --------------------------------------------------------
    life.goto(date(2030, 6, 8))
    life.refund(b, 100_00, "LIFE-RB")  # all of B was repaid: it all goes back
    life.refund(a, 200_00, "LIFE-RA")  # A's unpaid principal falls by 200
    returned = [
        m["data"]["returned"]["value"]
        for m in buyer_messages(life.issuer.engine, life.buyer.id)
        if m["type"] == "REFUND.RETURNED"
    ]
    yield "refunded", (returned, life.books())
    # --- months 6 to 13: A paid on each due date to the end -----------------------------
    month = 6
    while True:
        day = date(2030 + (month - 1) // 12, (month - 1) % 12 + 1, 10)
        life.goto(day)
        got = life.web.post(f"/_test/buyers/{life.buyer.id}/repay", json={"order_id": a})
        if got.status_code == 409:
            assert got.get_json()["code"] == "NOTHING_OWED"
            break
        assert got.status_code == 200, got.get_json()
        yield f"month {month}", (lines(got.get_json()), life.books())
        month += 1
    yield "end", (day.isoformat(), life.books(), life.messages().count("ORDER.PAID_OFF"))
    yield "bucket moves", life.moves()
