"""The credit ledger: limit = available + held + outstanding, append-only entries, and a
conditional hold that concurrent checkouts cannot overspend."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paylater_sdk.errors import CreditDeclinedError, PayLaterError
from paylater_sdk.issuer import Issuer, create_app, get_issuer
from paylater_sdk.issuer.domain import ledger
from paylater_sdk.issuer.storage.schema import buyers, ledger_entries
from paylater_sdk.money import Money
from tests._support.issuer import SignedClient, balances, new_checkout

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _entries(issuer: Issuer, buyer_id: str) -> list[tuple[str, int, int, int, int]]:
    with issuer.engine.connect() as conn:
        rows = conn.execute(
            sa.select(ledger_entries)
            .where(ledger_entries.c.buyer_id == buyer_id)
            .order_by(ledger_entries.c.id)
        ).all()
    return [
        (r.reason, r.amount, r.available_delta, r.held_delta, r.outstanding_delta) for r in rows
    ]


@pytest.fixture
def account(issuer: Issuer) -> str:
    return issuer.create_buyer(limit=Money("1000.00", "CNY")).id


def test_a_new_buyer_opens_with_everything_available(issuer: Issuer, account: str) -> None:
    assert balances(issuer, account) == {
        "limit": 100_000,
        "available": 100_000,
        "held": 0,
        "outstanding": 0,
    }
    assert _entries(issuer, account) == [("OPEN", 100_000, 100_000, 0, 0)]
    assert issuer.check_ledger() == []


def test_hold_moves_available_to_held_and_appends_an_entry(issuer: Issuer, account: str) -> None:
    with issuer.engine.begin() as conn:
        ok = ledger.hold(
            conn, buyer_id=account, amount=30_000, currency="CNY", reference="ord_1", now=NOW
        )
    assert ok is True
    assert balances(issuer, account) == {
        "limit": 100_000,
        "available": 70_000,
        "held": 30_000,
        "outstanding": 0,
    }
    assert _entries(issuer, account)[-1] == ("HOLD", 30_000, -30_000, 30_000, 0)


def test_hold_beyond_available_changes_nothing(issuer: Issuer, account: str) -> None:
    with issuer.engine.begin() as conn:
        ok = ledger.hold(
            conn, buyer_id=account, amount=100_001, currency="CNY", reference="ord_1", now=NOW
        )
    assert ok is False
    assert balances(issuer, account)["available"] == 100_000
    assert len(_entries(issuer, account)) == 1


def test_hold_of_exactly_the_available_amount_succeeds(issuer: Issuer, account: str) -> None:
    with issuer.engine.begin() as conn:
        assert ledger.hold(
            conn, buyer_id=account, amount=100_000, currency="CNY", reference="o", now=NOW
        )
    assert balances(issuer, account)["available"] == 0


@pytest.mark.parametrize(
    ("column", "value"), [("status", "FROZEN"), ("overdue", True), ("currency", "USD")]
)
def test_hold_refuses_frozen_overdue_or_other_currency(
    issuer: Issuer, account: str, column: str, value: Any
) -> None:
    with issuer.engine.begin() as conn:
        conn.execute(buyers.update().where(buyers.c.id == account).values({column: value}))
        ok = ledger.hold(conn, buyer_id=account, amount=1, currency="CNY", reference="o", now=NOW)
    assert ok is False
    assert balances(issuer, account)["held"] == 0


def test_hold_must_be_positive(issuer: Issuer, account: str) -> None:
    with issuer.engine.begin() as conn, pytest.raises(ValueError, match="positive"):
        ledger.hold(conn, buyer_id=account, amount=0, currency="CNY", reference="o", now=NOW)


def test_capture_turns_the_hold_into_principal_and_releases_the_rest(
    issuer: Issuer, account: str
) -> None:
    with issuer.engine.begin() as conn:
        ledger.hold(conn, buyer_id=account, amount=30_000, currency="CNY", reference="o", now=NOW)
        ledger.capture(
            conn,
            buyer_id=account,
            held_amount=30_000,
            captured=20_000,
            currency="CNY",
            reference="o",
            now=NOW,
        )
    assert balances(issuer, account) == {
        "limit": 100_000,
        "available": 80_000,
        "held": 0,
        "outstanding": 20_000,
    }
    assert _entries(issuer, account)[-1] == ("CAPTURE", 20_000, 10_000, -30_000, 20_000)


def test_restore_principal_frees_credit(issuer: Issuer, account: str) -> None:
    with issuer.engine.begin() as conn:
        ledger.hold(conn, buyer_id=account, amount=30_000, currency="CNY", reference="o", now=NOW)
        ledger.capture(
            conn,
            buyer_id=account,
            held_amount=30_000,
            captured=30_000,
            currency="CNY",
            reference="o",
            now=NOW,
        )
        ledger.restore_principal(
            conn,
            buyer_id=account,
            amount=5_000,
            currency="CNY",
            reference="o",
            reason="REPAY",
            now=NOW,
        )
    assert balances(issuer, account)["outstanding"] == 25_000
    assert balances(issuer, account)["available"] == 75_000


def test_releasing_or_restoring_more_than_exists_raises(issuer: Issuer, account: str) -> None:
    with issuer.engine.begin() as conn:
        with pytest.raises(ledger.LedgerError, match="holds less"):
            ledger.release(
                conn,
                buyer_id=account,
                amount=1,
                currency="CNY",
                reference="o",
                reason="VOID",
                now=NOW,
            )
        with pytest.raises(ledger.LedgerError, match="owes less"):
            ledger.restore_principal(
                conn,
                buyer_id=account,
                amount=1,
                currency="CNY",
                reference="o",
                reason="REPAY",
                now=NOW,
            )
    assert balances(issuer, account)["available"] == 100_000


def test_check_ledger_reports_a_tampered_balance(issuer: Issuer, account: str) -> None:
    with issuer.engine.begin() as conn:
        conn.execute(
            buyers.update().where(buyers.c.id == account).values(available=buyers.c.available + 1)
        )
    problems = issuer.check_ledger()
    assert any("limit 100000 != available 100001" in p for p in problems)
    assert any("available 100001 != sum of ledger entries 100000" in p for p in problems)


def test_check_ledger_reports_a_hold_without_an_order(issuer: Issuer, account: str) -> None:
    with issuer.engine.begin() as conn:
        ledger.hold(conn, buyer_id=account, amount=100, currency="CNY", reference="o", now=NOW)
    assert issuer.check_ledger() == [f"{account}: held 100 != holds of authorized orders 0"]


def test_concurrent_holds_never_overspend(issuer: Issuer, account: str) -> None:
    """Eight threads each try to hold 30 % of the limit at the same moment: three win."""
    barrier = threading.Barrier(8)
    results: list[bool] = []
    lock = threading.Lock()

    def attempt(n: int) -> None:
        barrier.wait()
        with issuer.engine.begin() as conn:
            ok = ledger.hold(
                conn, buyer_id=account, amount=30_000, currency="CNY", reference=f"o{n}", now=NOW
            )
        with lock:
            results.append(ok)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 5 + [True] * 3
    assert balances(issuer, account) == {
        "limit": 100_000,
        "available": 10_000,
        "held": 90_000,
        "outstanding": 0,
    }


def test_concurrent_authorizations_of_one_buyer_cannot_exceed_the_limit(
    api: SignedClient, issuer: Issuer
) -> None:
    buyer = issuer.create_buyer(limit=Money("500.00", "CNY"))
    ids = [new_checkout(api, f"C{n}", 200_00)["id"] for n in range(6)]
    barrier = threading.Barrier(len(ids))
    outcomes: list[str] = []
    lock = threading.Lock()

    def authorize(checkout_id: str) -> None:
        barrier.wait()
        try:
            issuer.orders.authorize(checkout_id, buyer_id=buyer.id, plan_id="fenfu-3")
            outcome = "ok"
        except CreditDeclinedError as exc:
            outcome = str(exc.reason)
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=authorize, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["INSUFFICIENT_LIMIT"] * 4 + ["ok"] * 2
    assert balances(issuer, buyer.id)["held"] == 400_00
    assert issuer.check_ledger() == []


def test_a_hold_refused_by_the_database_rolls_the_authorization_back(
    api: SignedClient, issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL two transactions can both pass the read-only checks; the conditional
    UPDATE is then the last word, and losing it must undo the whole authorization."""
    buyer = issuer.create_buyer(limit=Money("500.00", "CNY"))
    checkout = new_checkout(api, "RACE", 200_00)
    monkeypatch.setattr(ledger, "hold", lambda conn, **kw: False)
    with pytest.raises(CreditDeclinedError) as exc:
        issuer.orders.authorize(checkout["id"], buyer_id=buyer.id, plan_id="fenfu-3")
    assert exc.value.reason == "INSUFFICIENT_LIMIT"
    fetched = api.get(f"/v1/checkouts/{checkout['id']}").get_json()
    assert fetched["state"] == "CREATED"
    assert fetched["order"] is None
    assert balances(issuer, buyer.id)["held"] == 0
    assert issuer.check_ledger() == []


_OPS = (
    *("checkout", "authorize", "capture", "void", "refund", "repay", "advance"),
    *("repay_part", "prepay", "payoff", "advance_days"),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(_OPS), st.integers(min_value=0, max_value=10**6)),
        min_size=3,
        max_size=14,
    )
)
def test_any_sequence_of_operations_keeps_the_books_balanced(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, int]]
) -> None:
    """Random interleavings of the whole lifecycle (declines, expiries, partial captures,
    refunds after repayments, partial repayments, prepayments, payoffs, weeks late with
    penalty and write-offs): after every step, check_ledger() finds nothing."""
    folder = tmp_path_factory.mktemp("seq")
    app = create_app({"TEST_MODE": True, "DATABASE_URL": f"sqlite:///{folder / 'i.db'}"})
    issuer = get_issuer(app)
    issuer.add_merchant(
        "m_seq",
        name="Seq",
        public_keys=[],
        api_key="0123456789abcdef0123456789abcdef",
        notify_prefixes=["https://shop.example/"],
        return_prefixes=["https://shop.example/"],
    )
    buyer = issuer.create_buyer(limit=Money("1000.00", "CNY"))
    created: list[str] = []
    orders: list[str] = []
    try:
        for number, (op, n) in enumerate(steps):
            try:
                if op == "checkout":
                    checkout = issuer.orders.create_checkout(
                        "m_seq",
                        out_trade_no=f"S{number}",
                        amount=Money.from_minor(100_00 + n % 800_00, "CNY"),
                        description="seq",
                        notify_url="https://shop.example/n",
                        return_url="https://shop.example/r",
                        plan_ids=None,
                        expires_in=None,
                        base_url="http://localhost/",
                    )
                    created.append(checkout["id"])
                elif op == "authorize" and created:
                    done = issuer.orders.authorize(
                        created[n % len(created)], buyer_id=buyer.id, plan_id="fenfu-3"
                    )
                    orders.append(done["order"]["id"])
                elif op == "capture" and orders:
                    order_id = orders[n % len(orders)]
                    part = None if n % 2 else Money.from_minor(1 + n % 100_00, "CNY")
                    issuer.orders.capture("m_seq", order_id, part)
                elif op == "void" and orders:
                    issuer.orders.void("m_seq", orders[n % len(orders)])
                elif op == "refund" and orders:
                    issuer.orders.create_refund(
                        "m_seq",
                        order_id=orders[n % len(orders)],
                        amount=Money.from_minor(1 + n % 300_00, "CNY"),
                        out_refund_no=f"R{number}",
                        reason=None,
                    )
                elif op == "repay" and orders:
                    issuer.orders.repay(buyer.id, orders[n % len(orders)])
                elif op == "repay_part":
                    issuer.orders.repay(buyer.id, None, Money.from_minor(1 + n % 50_00, "CNY"))
                elif op == "prepay" and orders:
                    order_id = orders[n % len(orders)]
                    amount = Money.from_minor(1 + n % 200_00, "CNY")
                    keeps = "PERIODS" if n % 2 else "PAYMENT"
                    issuer.orders.repay(
                        buyer.id, order_id, amount, mode="PREPAY", prepay_keeps=keeps
                    )
                elif op == "payoff" and orders:
                    issuer.orders.repay(buyer.id, orders[n % len(orders)], mode="PAYOFF")
                elif op == "advance":
                    issuer.advance_clock(n * 10)
                elif op == "advance_days":  # into grace, penalty, M1..M3+, write-off
                    issuer.advance_clock((n % 70) * 24 * 3600)
            except PayLaterError:
                pass  # declines, invalid states, amounts over what is left: all refused whole
            assert issuer.check_ledger() == [], (number, op, n)
    finally:
        issuer.engine.dispose()
