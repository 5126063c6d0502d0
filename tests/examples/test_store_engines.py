"""The shop's storage rules on both engines: locks, guarded updates, race-safe inserts."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from examples.merchant_flask import db, store
from paylater_sdk.money import Money
from tests._support.shop_fakes import checkout_json

THREADS = 12


@pytest.fixture
def engine(shop_db_url: str) -> Iterator[Any]:
    eng = db.create_engine(shop_db_url)
    store.create_order(
        eng, out_trade_no="SH1", description="t", lines=[], amount=Money("120.00", "CNY")
    )
    store.attach_checkout(eng, "SH1", "co_test1", "http://issuer.test/authorize/co_test1")
    yield eng
    eng.dispose()


def _all_at_once(work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in THREADS threads released together; results or exceptions."""
    results: list[Any] = [None] * THREADS
    start = threading.Barrier(THREADS)

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # collected: the test asserts there are none
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_one_notification_id_from_many_threads_is_recorded_once(engine: Any) -> None:
    def record(_i: int) -> bool:
        with engine.begin() as conn:
            return store.record_event(
                conn, event_id="evt_same", event_type="CHECKOUT.AUTHORIZED", out_trade_no="SH1"
            )

    results = _all_at_once(record)
    assert sorted(results, key=str) == [False] * (THREADS - 1) + [True]
    assert [e["id"] for e in store.order_events(engine, "SH1")] == ["evt_same"]


def test_one_refund_number_from_many_threads_is_one_row(engine: Any) -> None:
    with engine.begin() as conn:
        store.apply_checkout(conn, checkout_json("SH1", 12000, state="CAPTURED", captured=12000))

    def record(i: int) -> bool:
        with engine.begin() as conn:
            return store.record_refund(
                conn,
                out_refund_no="SH1-R1",
                out_trade_no="SH1",
                amount=Money("30.00", "CNY"),
                state="SUCCEEDED",
                refund_id="rf_1" if i % 2 else None,
            )

    results = _all_at_once(record)
    assert [r for r in results if isinstance(r, Exception)] == []
    [refund] = store.list_refunds(engine, "SH1")
    assert (refund["refund_id"], refund["state"], refund["amount_minor"]) == (
        "rf_1",
        "SUCCEEDED",
        3000,
    )
    row = store.get_order(engine, "SH1")
    assert row is not None
    # Counted once, not once per thread.
    assert (row["state"], row["refunded_minor"]) == ("PARTIALLY_REFUNDED", 3000)


def test_snapshots_applied_concurrently_end_at_the_newest(engine: Any) -> None:
    docs = [
        checkout_json("SH1", 12000, state="AUTHORIZED"),
        checkout_json("SH1", 12000, state="CAPTURED", captured=12000),
        checkout_json("SH1", 12000, state="PARTIALLY_REFUNDED", captured=12000, refunded=2000),
    ]

    def apply(i: int) -> bool:
        with engine.begin() as conn:
            return store.apply_checkout(conn, docs[i % len(docs)])

    results = _all_at_once(apply)
    assert [r for r in results if isinstance(r, Exception)] == []
    row = store.get_order(engine, "SH1")
    assert row is not None
    assert (row["state"], row["captured_minor"], row["refunded_minor"]) == (
        "PARTIALLY_REFUNDED",
        12000,
        2000,
    )


def test_guarded_updates_never_replace_newer_facts(engine: Any) -> None:
    assert store.attach_checkout(engine, "SH1", "co_test1", "http://x/again") is True
    assert store.attach_checkout(engine, "SH1", "co_other", "http://x/other") is False
    assert store.close_abandoned(engine, "SH1") is False  # it has a checkout
    row = store.get_order(engine, "SH1")
    assert row is not None
    assert (row["checkout_id"], row["state"]) == ("co_test1", "CREATED")


def test_database_errors_never_show_bound_parameters(engine: Any) -> None:
    """hide_parameters: the statement's values stay out of the error (and so the logs).

    (PostgreSQL's own DETAIL still names a duplicate *key* value; the shop's keys are order,
    refund and notification numbers, never secrets.)
    """
    secret = "bt_live_SECRET_TOKEN_0123456789"
    with engine.begin() as conn:
        store.record_event(conn, event_id="evt_1", event_type="X", out_trade_no=None)
    with pytest.raises(sa.exc.IntegrityError) as caught, engine.begin() as conn:
        conn.execute(
            db.events.insert().values(id="evt_1", event_type=secret[:40], received_at=sa.func.now())
        )
    assert "parameters hidden" in str(caught.value)
    assert secret[:20] not in str(caught.value)
    assert secret[:20] not in repr(caught.value)


def test_workers_starting_together_all_get_the_tables(shop_db_url: str, tmp_path: Any) -> None:
    """Every worker starts, even when all of them open a brand-new file at once.

    On SQLite two connections switching a fresh file to WAL at the same moment get
    "database is locked" at once (no busy wait); about one start-up in fifteen lost a
    worker before the switch was retried, so forty fresh files make the race near certain.
    """
    trials = 40 if shop_db_url.startswith("sqlite") else 1
    for trial in range(trials):
        url = shop_db_url
        if shop_db_url.startswith("sqlite"):
            url = f"sqlite:///{tmp_path / f'fresh{trial}.sqlite3'}"
        engines = _all_at_once(lambda _i, url=url: db.create_engine(url))
        try:
            assert [e for e in engines if isinstance(e, Exception)] == []
            assert set(sa.inspect(engines[0]).get_table_names()) >= {
                "orders",
                "refunds",
                "processed_notifications",
            }
        finally:
            for eng in engines:
                if not isinstance(eng, Exception):
                    eng.dispose()
