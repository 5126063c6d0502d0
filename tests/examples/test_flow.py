"""The shop end to end against the real mock issuer, in-process (the testing kit).

The shop's client calls reach the issuer through ``responses``; the buyer's consent is
``mock_issuer.authorize``; notifications are POSTed into the shop's own Flask app.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from examples.merchant_flask import create_app, db, store
from paylater_sdk.money import Money
from tests._support.shop_fakes import csrf_of

ADMIN = ("admin", "admin-password")


@pytest.fixture
def shop(mock_issuer: Any, tmp_path: Path) -> Iterator[Any]:
    client = mock_issuer.client()
    app = create_app(
        {
            "SECRET_KEY": "test-secret-key-0123456789",
            "ADMIN_PASSWORD": ADMIN[1],
            "PAYLATER_CLIENT": client,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'shop.sqlite3'}",
            "PUBLIC_URL": "https://shop.test",
        }
    )
    mock_issuer.notify_app = app
    yield app
    client.close()
    app.extensions["shop"]["engine"].dispose()


@pytest.fixture
def buyer(mock_issuer: Any) -> Any:
    return mock_issuer.create_buyer(limit=Money("5000.00", "CNY"))


def engine(app: Any) -> Any:
    return app.extensions["shop"]["engine"]


def order_row(app: Any, out_trade_no: str) -> dict[str, Any]:
    row = store.get_order(engine(app), out_trade_no)
    assert row is not None
    return row


def start_checkout(
    app: Any, buyer_token: str | None = None, plan_periods: int = 6
) -> tuple[Any, str, str]:
    """Buyer puts the headphones in the cart and pays; returns (browser, checkout id, no)."""
    browser = app.test_client()
    token = csrf_of(browser.get("/products/headphones").text)
    browser.post("/cart/add", data={"csrf_token": token, "product_id": "headphones"})
    if buyer_token:
        browser.post(
            "/checkout/eligibility", data={"csrf_token": token, "buyer_token": buyer_token}
        )
    page = browser.get("/checkout").text
    plan_id = re.search(rf'value="([^"]+)" data-periods="{plan_periods}"', page)
    assert plan_id is not None
    answer = browser.post("/checkout/pay", data={"csrf_token": token, "plan_id": plan_id.group(1)})
    assert answer.status_code == 303, answer.text
    checkout_id = answer.headers["Location"].rsplit("/", 1)[1]
    [row] = store.list_orders(engine(app))
    return browser, checkout_id, row["out_trade_no"]


def come_back(browser: Any, return_url: str) -> Any:
    parts = urlsplit(return_url)
    assert parts.netloc == "shop.test"
    answer = browser.get(f"{parts.path}?{parts.query}")
    assert answer.status_code == 303
    return browser.get(answer.headers["Location"])


def admin_post(app: Any, no: str, action: str, **form: str) -> Any:
    admin = app.test_client()
    page = admin.get(f"/admin/orders/{no}", auth=ADMIN)
    refund_no = re.search(r'name="out_refund_no" value="([^"]+)"', page.text)
    data = {"csrf_token": csrf_of(page.text), **form}
    if refund_no and "out_refund_no" not in form:
        data["out_refund_no"] = refund_no.group(1)
    return admin.post(f"/admin/orders/{no}/{action}", data=data, auth=ADMIN, follow_redirects=True)


def test_quote_and_eligibility_come_from_the_issuer(shop: Any, buyer: Any) -> None:
    browser = shop.test_client()
    product = browser.get("/products/headphones").text
    low = re.search(r'data-as-low-as-minor="(\d+)"', product)
    assert low is not None
    assert 0 < int(low.group(1)) < 129900
    token = csrf_of(product)
    browser.post("/cart/add", data={"csrf_token": token, "product_id": "headphones"})
    page = browser.post(
        "/checkout/eligibility",
        data={"csrf_token": token, "buyer_token": buyer.buyer_token},
        follow_redirects=True,
    ).text
    assert 'data-eligible="true"' in page
    assert 'data-periods="6"' in page
    assert "APR</abbr>" in page
    frozen = browser.post(
        "/checkout/eligibility",
        data={"csrf_token": token, "buyer_token": "bt_decline_frozen"},
        follow_redirects=True,
    ).text
    assert 'data-reason="ACCOUNT_FROZEN"' in frozen


def test_full_purchase_capture_and_refunds(shop: Any, mock_issuer: Any, buyer: Any) -> None:
    browser, checkout_id, no = start_checkout(shop, buyer.buyer_token)
    assert order_row(shop, no)["state"] == "CREATED"
    return_url = mock_issuer.authorize(checkout_id, buyer, "fenfu-6")
    page = come_back(browser, return_url)
    assert 'data-state="AUTHORIZED"' in page.text
    assert page.text.count('data-paid="false"') == 6  # the plan's installments

    [delivery] = mock_issuer.deliver_pending()
    assert (delivery.event.event_type.value, delivery.status) == ("CHECKOUT.AUTHORIZED", 204)
    assert [e["event_type"] for e in store.order_events(engine(shop), no)] == [
        "CHECKOUT.AUTHORIZED"
    ]

    page = admin_post(shop, no, "capture", amount="1000.00")  # partial capture on shipping
    assert 'data-state="CAPTURED"' in page.text
    assert 'data-captured-minor="100000"' in page.text
    assert mock_issuer.balances(buyer)["held"] == Money("0.00", "CNY")
    assert mock_issuer.balances(buyer)["outstanding"] == Money("1000.00", "CNY")

    page = admin_post(shop, no, "refund", amount="200.00", reason="one earbud missing")
    assert 'data-state="PARTIALLY_REFUNDED"' in page.text
    assert 'data-refunded-minor="20000"' in page.text
    page = admin_post(shop, no, "refund", amount="800.00")
    assert 'data-state="REFUNDED"' in page.text
    assert 'data-refunded-minor="100000"' in page.text
    assert [r["amount_minor"] for r in store.list_refunds(engine(shop), no)] == [20000, 80000]

    deliveries = mock_issuer.deliver_pending()
    assert sorted(d.event.event_type.value for d in deliveries) == [
        "ORDER.CAPTURED",
        "REFUND.SUCCEEDED",
        "REFUND.SUCCEEDED",
    ]
    assert {d.status for d in deliveries} == {204}
    row = order_row(shop, no)
    assert (row["state"], row["captured_minor"], row["refunded_minor"]) == (
        "REFUNDED",
        100000,
        100000,
    )
    assert all(r["state"] == "SUCCEEDED" for r in store.list_refunds(engine(shop), no))
    balances = mock_issuer.balances(buyer)
    assert balances["available"] == balances["limit"] == Money("5000.00", "CNY")
    mock_issuer.assert_ledger_ok()


def test_schedule_shows_repayments(shop: Any, mock_issuer: Any, buyer: Any) -> None:
    browser, checkout_id, no = start_checkout(shop, plan_periods=3)
    come_back(browser, mock_issuer.authorize(checkout_id, buyer, "fenfu-3"))
    admin_post(shop, no, "capture")
    mock_issuer.repay(buyer, order_row(shop, no)["order_id"])
    page = browser.get(f"/orders/{no}").text  # the order page asks the issuer again
    assert page.count('data-paid="true"') == 1
    assert page.count('data-paid="false"') == 2
    schedule = order_row(shop, no)["schedule"]
    total = sum(i["amount"]["value"] for i in schedule["installments"])
    assert total == schedule["total_amount"]["value"]


def test_duplicate_notification_is_applied_once(shop: Any, mock_issuer: Any, buyer: Any) -> None:
    _, checkout_id, no = start_checkout(shop)
    mock_issuer.authorize(checkout_id, buyer, "fenfu-6")
    mock_issuer.inject_fault("duplicate_notification")
    deliveries = mock_issuer.deliver_pending()
    assert len(deliveries) == 2
    assert deliveries[0].event.id == deliveries[1].event.id
    assert [d.status for d in deliveries] == [204, 204]
    assert len(store.order_events(engine(shop), no)) == 1
    assert order_row(shop, no)["state"] == "AUTHORIZED"


def test_late_notification_changes_nothing(shop: Any, mock_issuer: Any, buyer: Any) -> None:
    browser, checkout_id, no = start_checkout(shop)
    come_back(browser, mock_issuer.authorize(checkout_id, buyer, "fenfu-6"))
    admin_post(shop, no, "capture")
    assert order_row(shop, no)["state"] == "CAPTURED"
    # CHECKOUT.AUTHORIZED (older news) arrives only now, followed by ORDER.CAPTURED.
    deliveries = mock_issuer.deliver_pending()
    assert [d.event.event_type.value for d in deliveries] == [
        "CHECKOUT.AUTHORIZED",
        "ORDER.CAPTURED",
    ]
    assert [d.status for d in deliveries] == [204, 204]
    row = order_row(shop, no)
    assert (row["state"], row["captured_minor"]) == ("CAPTURED", 129900)


def test_bad_signature_and_replays_get_4xx_and_change_nothing(
    shop: Any, mock_issuer: Any, buyer: Any
) -> None:
    _, checkout_id, no = start_checkout(shop)
    mock_issuer.authorize(checkout_id, buyer, "fenfu-6")
    notify_app, mock_issuer.notify_app = mock_issuer.notify_app, None
    [delivery] = mock_issuer.deliver_pending()  # captured, not yet given to the shop
    mock_issuer.notify_app = notify_app
    hook = shop.test_client()
    headers = dict(delivery.headers)
    body = delivery.body

    tampered = bytearray(body)
    tampered[len(tampered) // 2] ^= 1
    assert hook.post("/pay/notify", data=bytes(tampered), headers=headers).status_code == 401
    forged = {**headers}
    sig_key = next(k for k in headers if k.lower() == "paylater-signature")
    forged[sig_key] = (
        "A" + headers[sig_key][1:] if headers[sig_key][0] != "A" else ("B" + headers[sig_key][1:])
    )
    assert hook.post("/pay/notify", data=body, headers=forged).status_code == 401
    unsigned = {k: v for k, v in headers.items() if not k.lower().startswith("paylater-")}
    assert hook.post("/pay/notify", data=body, headers=unsigned).status_code == 401
    assert hook.post("/pay/notify", data=b"not json", headers=headers).status_code == 401
    assert order_row(shop, no)["state"] == "CREATED"
    assert store.order_events(engine(shop), no) == []

    assert hook.post("/pay/notify", data=body, headers=headers).status_code == 204
    assert order_row(shop, no)["state"] == "AUTHORIZED"
    # The very same signed bytes again: a replay, refused (a genuine retry is re-signed).
    assert hook.post("/pay/notify", data=body, headers=headers).status_code == 401
    assert len(store.order_events(engine(shop), no)) == 1


def test_reconcile_fixes_an_order_whose_notification_was_lost(
    shop: Any, mock_issuer: Any, buyer: Any
) -> None:
    _, checkout_id, no = start_checkout(shop)
    mock_issuer.authorize(checkout_id, buyer, "fenfu-6")  # the buyer never comes back
    mock_issuer.inject_fault("drop_notification", count=20)
    mock_issuer.deliver_pending()
    assert order_row(shop, no)["state"] == "CREATED"

    result = shop.test_cli_runner().invoke(args=["reconcile"])
    assert result.exit_code == 0, result.output
    assert "checked 1 pending order(s): 1 updated, 0 failed" in result.output
    assert f"updated {no}: state CREATED -> AUTHORIZED; captured" not in result.output
    assert f"updated {no}: state CREATED -> AUTHORIZED; order None -> ord_" in result.output
    assert order_row(shop, no)["state"] == "AUTHORIZED"
    # AUTHORIZED is not final (a capture, void or expiry may follow): checked again.
    again = shop.test_cli_runner().invoke(args=["reconcile"])
    assert "checked 1 pending order(s): 0 updated, 0 failed" in again.output


def test_reconcile_button_and_unreachable_issuer(shop: Any, mock_issuer: Any, buyer: Any) -> None:
    _, checkout_id, no = start_checkout(shop)
    mock_issuer.authorize(checkout_id, buyer, "fenfu-6")
    mock_issuer.inject_fault("connection_error", count=3)  # one call and its two retries
    result = shop.test_cli_runner().invoke(args=["reconcile"])
    assert result.exit_code == 1
    assert f"FAILED  {no}" in result.output
    assert order_row(shop, no)["state"] == "CREATED"

    admin = shop.test_client()
    page = admin.get("/admin/", auth=ADMIN)
    answer = admin.post(
        "/admin/reconcile",
        data={"csrf_token": csrf_of(page.text)},
        auth=ADMIN,
        follow_redirects=True,
    )
    assert "1 updated, 0 failed" in answer.text
    assert order_row(shop, no)["state"] == "AUTHORIZED"


def test_void_releases_the_hold(shop: Any, mock_issuer: Any, buyer: Any) -> None:
    _, checkout_id, no = start_checkout(shop)
    mock_issuer.authorize(checkout_id, buyer, "fenfu-6")
    assert mock_issuer.balances(buyer)["held"] == Money("1299.00", "CNY")
    ask = admin_post(shop, no, "void")  # voiding cannot be undone: asked first
    assert 'id="confirm-void"' in ask.text
    assert order_row(shop, no)["state"] == "AUTHORIZED"
    assert mock_issuer.balances(buyer)["held"] == Money("1299.00", "CNY")
    page = admin_post(shop, no, "void", confirm="yes")
    assert 'data-state="VOIDED"' in page.text
    assert mock_issuer.balances(buyer)["held"] == Money("0.00", "CNY")
    mock_issuer.assert_ledger_ok()


def test_admin_errors_are_shown_and_change_nothing(shop: Any, mock_issuer: Any, buyer: Any) -> None:
    _, checkout_id, no = start_checkout(shop)
    page = admin_post(shop, no, "capture")
    assert "has not authorized" in page.text
    mock_issuer.authorize(checkout_id, buyer, "fenfu-6")
    admin_post(shop, no, "capture")
    page = admin_post(shop, no, "refund", amount="abc")
    assert "invalid amount" in page.text
    page = admin_post(shop, no, "refund", amount="0.001")
    assert "invalid amount" in page.text
    page = admin_post(shop, no, "refund", amount="5000.00")
    assert "AMOUNT_EXCEEDS_AVAILABLE" in page.text
    # A double-submitted form carries the same refund number: refunded once.
    admin_post(shop, no, "refund", amount="100.00", out_refund_no=f"{no}-RDOUBLE")
    page = admin_post(shop, no, "refund", amount="100.00", out_refund_no=f"{no}-RDOUBLE")
    assert "DUPLICATE_OUT_REFUND_NO" in page.text
    row = order_row(shop, no)
    assert (row["state"], row["refunded_minor"]) == ("PARTIALLY_REFUNDED", 10000)
    assert admin_post(shop, no, "refund", amount="1", out_refund_no="evil").status_code == 400
    mock_issuer.assert_ledger_ok()


def test_issuer_down_keeps_the_buyer_in_the_shop(shop: Any, mock_issuer: Any) -> None:
    browser = shop.test_client()
    token = csrf_of(browser.get("/").text)
    # Two backpacks: an amount no page has quoted (and cached) yet.
    browser.post("/cart/add", data={"csrf_token": token, "product_id": "backpack", "quantity": "2"})
    mock_issuer.inject_fault("connection_error", count=50)
    page = browser.get("/checkout")
    assert page.status_code == 200
    assert "Pay-later is unavailable" in page.text
    answer = browser.post("/checkout/pay", data={"csrf_token": token, "plan_id": "fenfu-6"})
    assert answer.status_code == 503
    assert store.list_orders(engine(shop)) == []


def _pay_with_fault(shop: Any, mock_issuer: Any, kind: str) -> str:
    browser = shop.test_client()
    token = csrf_of(browser.get("/").text)
    browser.post("/cart/add", data={"csrf_token": token, "product_id": "tea-set"})
    assert browser.get("/checkout").status_code == 200
    # The POST and both of its retries fail on the wire.
    mock_issuer.inject_fault(kind, method="POST", path_prefix="/v1/checkouts", count=3)
    answer = browser.post("/checkout/pay", data={"csrf_token": token, "plan_id": "fenfu-6"})
    assert answer.status_code == 502
    [row] = store.list_orders(engine(shop))
    assert (row["state"], row["checkout_id"]) == ("CREATED", None)
    return str(row["out_trade_no"])


def test_reconcile_finds_a_checkout_whose_creation_response_was_lost(
    shop: Any, mock_issuer: Any
) -> None:
    no = _pay_with_fault(shop, mock_issuer, "connection_drop_after_commit")
    result = shop.test_cli_runner().invoke(args=["reconcile"])
    assert "1 updated, 0 failed" in result.output
    row = order_row(shop, no)
    assert row["checkout_id"].startswith("co_")
    assert row["state"] == "CREATED"
    # The retries reused one idempotency key: the issuer holds exactly one checkout.
    with mock_issuer.client() as client:
        assert client.checkouts.find(no).id == row["checkout_id"]


def test_reconcile_closes_an_order_the_issuer_never_saw(shop: Any, mock_issuer: Any) -> None:
    no = _pay_with_fault(shop, mock_issuer, "connection_error")
    result = shop.test_cli_runner().invoke(args=["reconcile"])
    assert "checked 1 pending order(s): 0 updated, 0 failed" in result.output
    assert order_row(shop, no)["state"] == "CREATED"  # too young to give up on
    with engine(shop).begin() as conn:
        conn.execute(
            db.orders.update()
            .where(db.orders.c.out_trade_no == no)
            .values(created_at=datetime.now(UTC) - timedelta(hours=2))
        )
    result = shop.test_cli_runner().invoke(args=["reconcile"])
    assert "1 updated, 0 failed" in result.output
    assert order_row(shop, no)["state"] == "CLOSED"
