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


@pytest.fixture
def life(tmp_path: Any, merchant_key: Any) -> Iterator[Life]:
    app: Flask = create_app(
        {
            "TEST_MODE": True,
            "DATABASE_URL": database_url(tmp_path),
            "MERCHANTS": [merchant_config(MERCHANT_ID, merchant_key, API_KEY)],
            "NOTIFY_TRANSPORT": lambda url, headers, body, timeout: 200,
            "PLAN_OFFERS": [EQ12, FENFU6],
        }
    )
    app.testing = True
    issuer = get_issuer(app)
    api = SignedClient(app.test_client(), issuer, MERCHANT_ID, merchant_key)
    buyer = issuer.create_buyer(limit=Money.from_minor(LIMIT, "CNY"))
    yield Life(issuer, api, app.test_client(), buyer)
    issuer.engine.dispose()


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
