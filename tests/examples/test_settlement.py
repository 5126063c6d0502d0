"""The shop reconciles a settlement day: its orders against the issuer's trade bill and
the issuer itself. Zero differences after captures, a partial capture, refunds and a
void; a tampered shop row is found, and ``--fix`` puts the issuer's truth back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from examples.merchant_flask import create_app, store
from examples.merchant_flask.settlement import settle
from paylater_sdk.money import Money

CST = ZoneInfo("Asia/Shanghai")


def cny(text: str) -> Money:
    return Money(text, "CNY")


@pytest.fixture
def shop(mock_issuer: Any, tmp_path: Path) -> Iterator[Any]:
    client = mock_issuer.client()
    app = create_app(
        {
            "SECRET_KEY": "test-secret-key-0123456789",
            "ADMIN_PASSWORD": "admin-password",
            "PAYLATER_CLIENT": client,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'shop.sqlite3'}",
            "PUBLIC_URL": "https://shop.test",
        }
    )
    mock_issuer.notify_app = app  # the shop hears everything
    yield app
    client.close()
    app.extensions["shop"]["engine"].dispose()


def _engine(app: Any) -> Any:
    return app.extensions["shop"]["engine"]


def _order(app: Any, mock_issuer: Any, buyer: Any, no: str, amount: str) -> str:
    """An order the shop created and the buyer authorized; its issuer order id."""
    client = app.extensions["shop"]["client"]
    engine = _engine(app)
    store.create_order(engine, out_trade_no=no, description="茶", lines=[], amount=cny(amount))
    checkout = client.checkouts.create(
        out_trade_no=no,
        amount=cny(amount),
        description="茶",
        notify_url="https://shop.test/pay/notify",
        return_url="https://shop.test/pay/return",
    )
    store.attach_checkout(_engine(app), no, checkout.id, checkout.authorize_url)
    mock_issuer.authorize(checkout.id, buyer, "free-3")
    mock_issuer.deliver_pending()
    order = client.checkouts.get(checkout.id).order
    assert order is not None
    return str(order.id)


@pytest.fixture
def day(shop: Any, mock_issuer: Any) -> Any:
    """A settlement day in Shanghai: full and partial captures, two refunds, a void."""
    now = mock_issuer.now().astimezone(CST)
    start = datetime.combine(now.date() + timedelta(days=1), time(9, 0), CST)
    mock_issuer.advance_clock(int((start - now).total_seconds()))
    client = shop.extensions["shop"]["client"]
    buyer = mock_issuer.create_buyer(limit="9000.00")
    full = _order(shop, mock_issuer, buyer, "ST-FULL", "500.00")
    part = _order(shop, mock_issuer, buyer, "ST-PART", "800.00")
    void = _order(shop, mock_issuer, buyer, "ST-VOID", "300.00")
    for step in (
        lambda: client.orders.capture(full),
        lambda: client.orders.capture(part, cny("600.00")),
        lambda: client.refunds.create(full, cny("120.00"), "ST-FULL-R1"),
        lambda: client.refunds.create(part, cny("600.00"), "ST-PART-R1"),
        lambda: client.orders.void(void),
    ):
        mock_issuer.advance_clock(minutes=10)
        step()
    mock_issuer.deliver_pending()
    mock_issuer.advance_clock(days=1)
    return start.date()


def test_a_settlement_day_reconciles_to_zero_differences(shop: Any, day: Any) -> None:
    report = settle(shop, day)
    assert report.found == ()
    types = [(line.out_trade_no, line.type, line.gross, line.fee) for line in report.lines]
    assert types == [
        ("ST-FULL", "CAPTURE", 500_00, 9_00),  # 免息 3 x 0.6 %: the merchant's fee
        ("ST-PART", "CAPTURE", 600_00, 10_80),
        ("ST-PART", "RELEASE", 200_00, 0),
        ("ST-FULL", "REFUND", -120_00, 0),
        ("ST-PART", "REFUND", -600_00, 0),
        ("ST-VOID", "RELEASE", 300_00, 0),
    ]
    result = shop.test_cli_runner().invoke(args=["reconcile", "--date", day.isoformat()])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"bill {day}: 6 line(s), net payable 360.20 CNY; 0 difference(s)"
    ]


def test_a_tampered_row_is_found_and_fixed(shop: Any, day: Any) -> None:
    with _engine(shop).begin() as conn:
        conn.execute(
            store.orders.update()
            .where(store.orders.c.out_trade_no == "ST-FULL")
            .values(captured_minor=450_00, state="REFUNDED", refunded_minor=500_00)
        )
        conn.execute(
            store.refunds.update()
            .where(store.refunds.c.out_refund_no == "ST-FULL-R1")
            .values(amount_minor=12_00)
        )
    cli = shop.test_cli_runner()
    found = cli.invoke(args=["reconcile", "--date", day.isoformat()])
    assert found.exit_code == 1
    assert found.output.splitlines() == [
        f"bill {day}: 6 line(s), net payable 360.20 CNY; 6 difference(s)",
        "  DIFFERS ST-FULL: the bill captured 50000 that day, the shop has 45000",
        "  DIFFERS ST-FULL: refund ST-FULL-R1 is 1200 SUCCEEDED in the shop, "
        "12000 SUCCEEDED in the bill",
        "  DIFFERS ST-FULL: state is REFUNDED in the shop, PARTIALLY_REFUNDED at the issuer",
        "  DIFFERS ST-FULL: captured_minor is 45000 in the shop, 50000 at the issuer",
        "  DIFFERS ST-FULL: refunded_minor is 50000 in the shop, 12000 at the issuer",
        "  DIFFERS ST-FULL: the shop's refunds sum to 1200, the issuer refunded 12000",
    ]
    fixed = cli.invoke(args=["reconcile", "--date", day.isoformat(), "--fix"])
    assert fixed.exit_code == 0, fixed.output
    assert [line for line in fixed.output.splitlines() if "FIXED" in line] == [
        "  FIXED   ST-FULL: state REFUNDED -> PARTIALLY_REFUNDED",
        "  FIXED   ST-FULL: captured_minor 45000 -> 50000",
        "  FIXED   ST-FULL: refunded_minor 50000 -> 12000",
        "  FIXED   ST-FULL: refund ST-FULL-R1 set to 12000 SUCCEEDED from the bill",
    ]
    row = store.get_order(_engine(shop), "ST-FULL")
    assert row is not None
    assert (row["state"], row["captured_minor"], row["refunded_minor"]) == (
        "PARTIALLY_REFUNDED",
        500_00,
        120_00,
    )
    assert settle(shop, day).found == ()


def test_fix_needs_a_date_and_a_future_day_is_refused(shop: Any, day: Any) -> None:
    cli = shop.test_cli_runner()
    assert cli.invoke(args=["reconcile", "--fix"]).exit_code == 2
    later = cli.invoke(args=["reconcile", "--date", (day + timedelta(days=5)).isoformat()])
    assert later.exit_code == 1
    [line] = later.stderr.splitlines()
    assert line.startswith(f"Error: bill {day + timedelta(days=5)}: the bill of ")
    assert "is made once the day is over" in line
