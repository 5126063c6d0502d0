"""Reconciliation compares every non-final order with the issuer and says what it fixed.

News is lost on purpose here: after the first notification the issuer's deliveries go
nowhere (``notify_app = None``), so only reconciliation can bring the shop up to date.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from examples.merchant_flask import create_app, store
from examples.merchant_flask.reconcile import differences, reconcile
from paylater_sdk.money import Money
from paylater_sdk.signing import seal_notification

AMOUNT = Money("500.00", "CNY")


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
    yield app
    client.close()
    app.extensions["shop"]["engine"].dispose()


def _engine(app: Any) -> Any:
    return app.extensions["shop"]["engine"]


def _client(app: Any) -> Any:
    return app.extensions["shop"]["client"]


def _authorized(app: Any, mock_issuer: Any, buyer: Any, no: str) -> str:
    """An order the shop knows as AUTHORIZED (its notification arrived); its order id."""
    store.create_order(_engine(app), out_trade_no=no, description="r", lines=[], amount=AMOUNT)
    checkout = _client(app).checkouts.create(
        out_trade_no=no,
        amount=AMOUNT,
        description="r",
        notify_url="https://shop.test/pay/notify",
        return_url="https://shop.test/pay/return",
    )
    store.attach_checkout(_engine(app), no, checkout.id, checkout.authorize_url)
    mock_issuer.deliver_pending()  # earlier orders' news: lost
    mock_issuer.authorize(checkout.id, buyer, "fenfu-6")
    mock_issuer.notify_app = app
    [delivery] = mock_issuer.deliver_pending()
    mock_issuer.notify_app = None  # from now on the news is lost
    assert delivery.status == 204
    row = store.get_order(_engine(app), no)
    assert row is not None
    assert row["state"] == "AUTHORIZED"
    return str(row["order_id"])


def _row(app: Any, no: str) -> tuple[str, int, int]:
    row = store.get_order(_engine(app), no)
    assert row is not None
    return row["state"], row["captured_minor"], row["refunded_minor"]


def test_every_non_final_order_is_compared_and_each_fix_printed(
    shop: Any, mock_issuer: Any
) -> None:
    buyer = mock_issuer.create_buyer(limit=Money("9000.00", "CNY"))
    client = _client(shop)
    refunded = _authorized(shop, mock_issuer, buyer, "SHREFUNDED")
    client.orders.capture(refunded)
    client.refunds.create(refunded, Money("200.00", "CNY"), "SHREFUNDED-R1")
    client.orders.void(_authorized(shop, mock_issuer, buyer, "SHVOIDED"))
    client.orders.capture(_authorized(shop, mock_issuer, buyer, "SHCAPTURED"))
    _authorized(shop, mock_issuer, buyer, "SHEXPIRED")
    _authorized(shop, mock_issuer, buyer, "SHDONE")
    mock_issuer.deliver_pending()  # all lost
    # Final in the shop: never asked again, even though the issuer has moved on.
    with _engine(shop).begin() as conn:
        conn.execute(
            store.orders.update()
            .where(store.orders.c.out_trade_no == "SHDONE")
            .values(state="VOIDED")
        )
    mock_issuer.advance_clock(days=8)  # SHEXPIRED's authorization runs out
    assert sorted(differences(shop)) == [
        "SHCAPTURED: captured_minor is 0 in the shop, 50000 at the issuer",
        "SHCAPTURED: state is AUTHORIZED in the shop, CAPTURED at the issuer",
        "SHDONE: state is VOIDED in the shop, EXPIRED at the issuer",
        "SHEXPIRED: state is AUTHORIZED in the shop, EXPIRED at the issuer",
        "SHREFUNDED: captured_minor is 0 in the shop, 50000 at the issuer",
        "SHREFUNDED: refunded_minor is 0 in the shop, 20000 at the issuer",
        "SHREFUNDED: state is AUTHORIZED in the shop, PARTIALLY_REFUNDED at the issuer",
        "SHREFUNDED: the shop's refunds sum to 0, the issuer refunded 20000",
        "SHVOIDED: state is AUTHORIZED in the shop, VOIDED at the issuer",
    ]

    result = shop.test_cli_runner().invoke(args=["reconcile"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "checked 4 pending order(s): 4 updated, 0 failed"
    fixes = {line.split(":")[0].strip(): line.split(": ", 1)[1] for line in lines[1:5]}
    assert fixes["updated SHVOIDED"] == "state AUTHORIZED -> VOIDED"
    assert fixes["updated SHEXPIRED"] == "state AUTHORIZED -> EXPIRED"
    assert fixes["updated SHCAPTURED"].startswith(
        "state AUTHORIZED -> CAPTURED; captured 0 -> 50000"
    )
    assert fixes["updated SHREFUNDED"].startswith(
        "state AUTHORIZED -> PARTIALLY_REFUNDED; captured 0 -> 50000; refunded 0 -> 20000"
    )
    # The refund itself cannot be listed through the API: reported, not invented.
    assert lines[5:] == [
        "  DIFFERS SHREFUNDED: the shop's refunds sum to 0, the issuer refunded 20000"
    ]
    assert _row(shop, "SHCAPTURED") == ("CAPTURED", 50000, 0)
    assert _row(shop, "SHREFUNDED") == ("PARTIALLY_REFUNDED", 50000, 20000)
    assert _row(shop, "SHDONE") == ("VOIDED", 0, 0)

    # The issuer retries the lost REFUND.SUCCEEDED (sealed anew, same id): full agreement
    # except for the order the shop itself made final.
    [event] = mock_issuer.events("REFUND.SUCCEEDED")
    headers, body = seal_notification(
        {
            "id": event.id,
            "event_type": event.event_type.value,
            "original_type": event.original_type,
            "resource": dict(event.resource.raw),
        },
        mock_issuer.api_key,
        mock_issuer.issuer.response_signer(),
    )
    answer = shop.test_client().post("/pay/notify", data=body, headers=headers)
    assert answer.status_code == 204
    assert differences(shop) == ["SHDONE: state is VOIDED in the shop, EXPIRED at the issuer"]
    again = reconcile(shop)
    assert (again.checked, again.updated, again.failed, again.remaining) == (2, (), (), ())


def test_a_refund_of_unknown_outcome_is_asked_about(shop: Any, mock_issuer: Any) -> None:
    buyer = mock_issuer.create_buyer(limit=Money("9000.00", "CNY"))
    order_id = _authorized(shop, mock_issuer, buyer, "SHPENDING")
    client = _client(shop)
    client.orders.capture(order_id)
    refund = client.refunds.create(order_id, Money("100.00", "CNY"), "SHPENDING-R1")
    with _engine(shop).begin() as conn:  # the shop wrote down the attempt, not the result
        store.record_refund(
            conn,
            out_refund_no="SHPENDING-R1",
            out_trade_no="SHPENDING",
            amount=refund.amount,
            state="PENDING",
            refund_id=refund.id,
        )
    report = reconcile(shop)
    assert ("SHPENDING", "refund SHPENDING-R1 PENDING -> SUCCEEDED") in report.changes
    assert [r["state"] for r in store.list_refunds(_engine(shop), "SHPENDING")] == ["SUCCEEDED"]
    assert report.remaining == ()
    assert differences(shop) == []
