"""Issue #14's acceptance test: a buyer lives 13 months on the test clock.

Two purchases (A: 1,200.00 in 12 equal payments at 12 %, B: 600.00 in fenfu-6), the
February bill paid in full, a partial repayment of A's March installment, the rest missed
through grace into M1 with penalty, the cure, a prepayment, B's early payoff, a refund of
each order after repayment, then A paid to the end; the ledger is checked after every step
(``Life.books``). Every figure of every step is compared to the fen with
``servicing_life.json``; the ones below are also worked by hand (docs/servicing.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from paylater_sdk.issuer import create_app, get_issuer
from paylater_sdk.money import Money
from tests._support.issuer import API_KEY, MERCHANT_ID, SignedClient, database_url, merchant_config
from tests.issuer.servicing_life import EQ12, FENFU6, LIMIT, Life, steps

FIGURES = Path(__file__).with_name("servicing_life.json")
CUSTOM_FIGURES = Path(__file__).with_name("servicing_life_custom.json")


#: The non-default products: one repayment day (the 10th) for both, B paying off with
#: all its fees and a 5.00 late fee, A's cap from a date-aware table (20 % from 2029).
CUSTOM = {
    "eq-12": {
        "due_day": 10,
        "cap_table": [
            {"from": "2029-01-01", "rate": "0.20"},
            {"from": "2030-06-01", "rate": "0.30"},  # after A's purchase: not A's cap
        ],
    },
    "fenfu-6": {"due_day": 10, "payoff_fees": "ALL", "late_fee": "5.00"},
}


def _life(tmp_path: Any, merchant_key: Any, servicing: dict[str, Any]) -> Iterator[Life]:
    app: Flask = create_app(
        {
            "TEST_MODE": True,
            "DATABASE_URL": database_url(tmp_path),
            "MERCHANTS": [merchant_config(MERCHANT_ID, merchant_key, API_KEY)],
            "NOTIFY_TRANSPORT": lambda url, headers, body, timeout: 200,
            "PLAN_OFFERS": [EQ12, FENFU6],
            "SERVICING": servicing,
        }
    )
    app.testing = True
    issuer = get_issuer(app)
    api = SignedClient(app.test_client(), issuer, MERCHANT_ID, merchant_key)
    buyer = issuer.create_buyer(limit=Money.from_minor(LIMIT, "CNY"))
    yield Life(issuer, api, app.test_client(), buyer)
    issuer.engine.dispose()


@pytest.fixture
def life(tmp_path: Any, merchant_key: Any) -> Iterator[Life]:
    yield from _life(tmp_path, merchant_key, {})


@pytest.fixture
def custom_life(tmp_path: Any, merchant_key: Any) -> Iterator[Life]:
    yield from _life(tmp_path, merchant_key, CUSTOM)


def _plain(value: Any) -> Any:
    """Figures as JSON values (tuples as lists), ids left out (they are random)."""
    data = json.loads(json.dumps(value))

    def strip(item: Any) -> Any:
        if isinstance(item, dict):
            return {k: strip(v) for k, v in item.items() if k not in ("order_id", "buyer_id")}
        if isinstance(item, list):
            return [strip(v) for v in item]
        return item

    return strip(data)


def test_a_buyer_lives_13_months(life: Life) -> None:
    got = {name: _plain(figures) for name, figures in steps(life)}
    # worked by hand: 1,200 at 1 % a month pays 106.62; fenfu-6 charges 0.6 % of 600
    assert got["february bill"]["amount_due"]["value"] == 106_62 + 103_60
    assert got["bill paid"][0] == [
        ["A", 1, "INTEREST", 12_00],  # 1 % of 1,200
        ["A", 1, "PRINCIPAL", 94_62],
        ["B", 1, "FEE", 3_60],
        ["B", 1, "PRINCIPAL", 100_00],
    ]
    # 50.00 of A's 106.62: the interest first (1 % of 1,105.38, rounded), then principal
    assert got["partial"][0] == [["A", 2, "INTEREST", 11_05], ["A", 2, "PRINCIPAL", 38_95]]
    grace = got["grace"]
    assert (grace["frozen"], grace["receivables"]["PENALTY"], grace["past_due"]) == (
        False,
        0,
        56_62,
    )
    # the day after grace: 56.62 x 11.317503 % / 365 = 1.76 fen, posted as 2
    frozen, last_two = got["frozen"]
    assert (frozen["frozen"], frozen["bucket"], frozen["receivables"]["PENALTY"]) == (
        True,
        "M1",
        2,
    )
    assert last_two == ["INSTALLMENT.OVERDUE", "ACCOUNT.FROZEN"]
    # 5 April: 23 days of penalty on 56.62 = 40.38 fen -> 40; March's bill posts 18 days (32)
    m1, march = got["M1"]
    assert (m1["days_past_due"], m1["receivables"]["PENALTY"], m1["past_due"]) == (26, 40, 57_02)
    assert march["penalty_posted"]["value"] == 32
    lines, delinquency, books, last_two = got["cured"]
    assert lines == [["A", 2, "PENALTY", 40], ["A", 2, "PRINCIPAL", 56_62]]
    assert delinquency["bucket"] == "CURRENT"
    assert delinquency["frozen"] is False
    assert last_two == ["REPAYMENT.SUCCEEDED", "ACCOUNT.UNFROZEN"]
    assert books["receivables"]["PENALTY"] == 0
    # B's payoff on 5 June: 200.00 of principal plus the fee of the period in progress
    assert got["B quote"]["total"]["value"] == 203_60
    assert got["B quote"]["waived_fees"]["value"] == 3_60
    assert got["B paid off"][2] == "ORDER.PAID_OFF"
    returned, after_refunds = got["refunded"]
    assert returned == [100_00]  # B was repaid in full: the refund goes back to the buyer
    assert after_refunds["outstanding"] == 322_42  # A's 522.42 less the 200.00 refund
    end_day, end, paid_off = got["end"]
    assert end_day == "2031-02-10"  # thirteen months after the first purchase
    assert end == {
        "limit": LIMIT,
        "available": LIMIT,
        "outstanding": 0,
        "frozen": False,
        "receivables": dict.fromkeys(("INTEREST", "FEE", "PENALTY", "LATE_FEE", "WRITTEN_OFF"), 0),
        "bucket": "CURRENT",
        "days_past_due": 0,
        "past_due": 0,
    }
    assert paid_off == 2
    # each bucket move is recorded once, by whoever saw it first: the sweep of 13 March (A's
    # 10 March rest 3 days late: M1), the cure on 5 April (back to CURRENT)
    assert got["bucket moves"] == [
        ["2030-03-13", "CURRENT", "M1", 3],
        ["2030-04-05", "M1", "CURRENT", 0],
    ]
    assert got == json.loads(FIGURES.read_text(encoding="utf-8"))


def test_the_same_life_on_products_with_their_own_settings(custom_life: Life) -> None:
    """The same 13 months with ``CUSTOM``: every figure to the fen (servicing_life_custom.json),
    the product-specific ones also worked by hand."""
    got = {name: _plain(figures) for name, figures in steps(custom_life)}
    # due_day 10: B (bought on 20 January) falls on A's repayment day, from the first bill
    bill = got["february bill"]
    assert [i["due_date"] for i in bill["installments"]] == ["2030-02-10", "2030-02-10"]
    assert (bill["due_date"], bill["amount_due"]["value"]) == ("2030-02-10", 106_62 + 103_60)
    assert got["due soon"] == ["INSTALLMENT.DUE_SOON"] * 2
    # the day after grace, both late: A at 20 % (its purchase date's cap_table row) less its
    # 12.6823 % = 7.317742 %: 56.62 x 7.317742 % / 365 = 1.14 fen -> 1; B at 24 % less its
    # 14.2539 % (the short first period of due_day 10): 100.00 x 9.746140 % / 365 = 2.67 -> 3;
    # B's flat late fee 5.00 once grace is over
    frozen, last_two = got["frozen"]
    assert (frozen["receivables"]["PENALTY"], frozen["receivables"]["LATE_FEE"]) == (4, 5_00)
    assert frozen["past_due"] == 56_62 + 103_60 + 4 + 5_00
    assert last_two == ["INSTALLMENT.OVERDUE", "ACCOUNT.FROZEN"]
    # B repaid on 20 March, late: its penalty (14 to 20 March, 7 days x 2.67 fen = 18.69 -> 19)
    # and late fee first, then installment 2, then 3 (due 10 April: the one due now)
    lines, _ = got["B paid on time"]
    assert [(n, part, minor) for _, n, part, minor in lines] == [
        (2, "PENALTY", 19), (2, "LATE_FEE", 5_00), (2, "FEE", 3_60), (2, "PRINCIPAL", 100_00),
        (3, "FEE", 3_60), (3, "PRINCIPAL", 100_00),
    ]  # fmt: skip
    # A alone by 5 April: 23 days x 1.1352 fen = 26.11 -> 26 (the default product: 40)
    m1, _ = got["M1"]
    assert (m1["days_past_due"], m1["receivables"]["PENALTY"]) == (26, 26)
    # payoff_fees ALL: B's last 100.00 and every fee left (the last period's 3.60), none waived
    quote = got["B quote"]
    assert (quote["payoff_fees"], quote["total"]["value"], quote["waived_fees"]["value"]) == (
        "ALL",
        103_60,
        0,
    )
    assert (
        quote["disclosure"] == "remaining principal, no interest, every remaining fee of the plan"
    )
    end_day, end, paid_off = got["end"]
    assert (end_day, end["outstanding"], end["available"], paid_off) == (
        "2031-02-10",
        0,
        LIMIT,
        2,
    )
    assert got["bucket moves"] == [
        ["2030-03-13", "CURRENT", "M1", 3],
        ["2030-04-05", "M1", "CURRENT", 0],
    ]
    assert got == json.loads(CUSTOM_FIGURES.read_text(encoding="utf-8"))


def test_each_order_is_shown_with_its_products_settings(custom_life: Life) -> None:
    """The admin view names each order's product settings and its penalty rate."""
    for _ in steps(custom_life):
        if custom_life.issuer.now().date().isoformat() >= "2030-01-20":
            break
    orders = {o["plan_id"]: o for o in custom_life.view()["orders"]}
    assert orders["eq-12"]["penalty_rate"] == "0.07317742"
    assert orders["fenfu-6"]["penalty_rate"] == "0.09746140"
    assert orders["fenfu-6"]["servicing"]["payoff_fees"] == "ALL"
    assert orders["fenfu-6"]["servicing"]["late_fee"] == {"value": 5_00, "currency": "CNY"}
    assert orders["eq-12"]["servicing"]["cap_table"] == [
        {"from": "2029-01-01", "rate": "0.20"},
        {"from": "2030-06-01", "rate": "0.30"},
    ]
    assert {o["schedule"]["terms"]["due_day"] for o in orders.values()} == {10}
