"""Order bookkeeping: monotonic, idempotent application of issuer documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from examples.merchant_flask import db, store
from examples.merchant_flask.app import format_minor, format_percent, format_yuan
from paylater_sdk.money import Money
from tests._support.shop_fakes import checkout_json


@pytest.fixture
def engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    eng = db.create_engine(f"sqlite:///{tmp_path / 's.sqlite3'}")
    store.create_order(
        eng, out_trade_no="SH1", description="t", lines=[], amount=Money("120.00", "CNY")
    )
    store.attach_checkout(eng, "SH1", "co_test1", "http://issuer.test/authorize/co_test1")
    yield eng
    eng.dispose()


def apply(engine, doc) -> bool:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        return store.apply_checkout(conn, doc)


def test_lifecycle_moves_forward_and_repeats_change_nothing(engine) -> None:  # type: ignore[no-untyped-def]
    authorized = checkout_json("SH1", 12000, state="AUTHORIZED")
    assert apply(engine, authorized) is True
    row = store.get_order(engine, "SH1")
    assert row is not None
    assert (row["state"], row["order_id"], row["plan_id"]) == ("AUTHORIZED", "ord_test1", "fenfu-6")
    assert apply(engine, authorized) is False  # duplicate: nothing to do

    captured = checkout_json("SH1", 12000, state="CAPTURED", captured=12000)
    assert apply(engine, captured) is True
    refunded = checkout_json(
        "SH1", 12000, state="PARTIALLY_REFUNDED", captured=12000, refunded=3000
    )
    assert apply(engine, refunded) is True
    row = store.get_order(engine, "SH1")
    assert row is not None
    assert (row["state"], row["captured_minor"], row["refunded_minor"]) == (
        "PARTIALLY_REFUNDED",
        12000,
        3000,
    )


def test_late_notification_never_moves_an_order_backwards(engine) -> None:  # type: ignore[no-untyped-def]
    apply(engine, checkout_json("SH1", 12000, state="CAPTURED", captured=12000))
    apply(
        engine,
        checkout_json("SH1", 12000, state="PARTIALLY_REFUNDED", captured=12000, refunded=5000),
    )
    # Older snapshots arrive late: AUTHORIZED, CAPTURED, a smaller partial refund.
    assert apply(engine, checkout_json("SH1", 12000, state="AUTHORIZED")) is False
    assert apply(engine, checkout_json("SH1", 12000, state="CAPTURED", captured=12000)) is False
    assert (
        apply(
            engine,
            checkout_json("SH1", 12000, state="PARTIALLY_REFUNDED", captured=12000, refunded=2000),
        )
        is False
    )
    row = store.get_order(engine, "SH1")
    assert row is not None
    assert (row["state"], row["refunded_minor"]) == ("PARTIALLY_REFUNDED", 5000)


def test_repayment_updates_the_schedule_without_a_state_change(engine) -> None:  # type: ignore[no-untyped-def]
    schedule = {"installments": [{"number": 1, "paid": False}], "total_amount": {}}
    apply(engine, checkout_json("SH1", 12000, state="CAPTURED", captured=12000, schedule=schedule))
    paid = {"installments": [{"number": 1, "paid": True}], "total_amount": {}}
    assert (
        apply(engine, checkout_json("SH1", 12000, state="CAPTURED", captured=12000, schedule=paid))
        is True
    )
    row = store.get_order(engine, "SH1")
    assert row is not None
    assert row["schedule"]["installments"][0]["paid"] is True


@pytest.mark.parametrize(
    "doc",
    [
        checkout_json("SH1", 99900, state="AUTHORIZED"),  # amount differs from the order
        checkout_json("SH1", 12000, state="AUTHORIZED", checkout_id="co_other"),
        checkout_json("SH-unknown", 12000, state="AUTHORIZED"),
        {**checkout_json("SH1", 12000), "state": "TELEPORTED"},
    ],
    ids=["wrong-amount", "wrong-checkout", "unknown-order", "unknown-state"],
)
def test_documents_that_do_not_match_the_order_change_nothing(engine, doc) -> None:  # type: ignore[no-untyped-def]
    assert apply(engine, doc) is False
    row = store.get_order(engine, "SH1")
    assert row is not None
    assert (row["state"], row["order_id"]) == ("CREATED", None)


def test_notification_ids_are_recorded_once(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        assert store.record_event(conn, event_id="evt_1", event_type="X", out_trade_no="SH1")
        assert not store.record_event(conn, event_id="evt_1", event_type="X", out_trade_no="SH1")
    assert [e["id"] for e in store.order_events(engine, "SH1")] == ["evt_1"]


def test_display_formats_are_exact() -> None:
    assert format_yuan(Money("1299.00", "CNY")) == "¥1,299.00"
    assert format_yuan(Money("0.01", "CNY")) == "¥0.01"
    assert format_yuan(None) == "-"
    assert format_minor(123456) == "¥1,234.56"
    assert format_percent("0.1235") == "12.35%"
    assert format_percent(None) == "-"
    assert store.new_out_refund_no("SH1").startswith("SH1-R")
    assert store.new_out_trade_no() != store.new_out_trade_no()
