"""The checkout lifecycle end to end: states, ledger moves, schedules and notifications."""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from paylater_sdk.errors import ConflictError, CreditDeclinedError, InvalidRequestError
from paylater_sdk.installments import Schedule, ServicingError
from paylater_sdk.issuer import Issuer, TestBuyer, create_app, get_issuer, stop_background
from paylater_sdk.issuer.delivery.outbox import notifications
from paylater_sdk.issuer.delivery.sweeper import Sweeper
from paylater_sdk.issuer.domain.messages import buyer_messages
from paylater_sdk.issuer.storage import shared_state
from paylater_sdk.issuer.storage.schema import checkouts
from paylater_sdk.money import Money
from tests._support.issuer import (
    API_KEY,
    MERCHANT_ID,
    SignedClient,
    authorized,
    balances,
    checkout_body,
    cny,
    merchant_config,
    new_checkout,
)


def _events(issuer: Issuer) -> list[str]:
    with issuer.engine.connect() as conn:
        rows = conn.execute(
            # insertion order, portably (no SQLite rowid: this suite also runs on PostgreSQL)
            sa.select(notifications.c.event_type).order_by(
                notifications.c.created_at, notifications.c.seq
            )
        ).all()
    return [r.event_type for r in rows]


def _order_id(checkout: dict[str, Any]) -> str:
    order_id: str = checkout["order"]["id"]
    return order_id


def test_authorize_places_the_hold_and_notifies(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    checkout = authorized(api, issuer, buyer)
    assert checkout["state"] == "AUTHORIZED"
    order = checkout["order"]
    assert order["state"] == "AUTHORIZED"
    assert order["amount"] == cny(120_00)
    assert order["plan"]["plan_id"] == "fenfu-6"
    assert order["schedule"] is None
    assert balances(issuer, buyer.id) == {
        "limit": 5000_00,
        "available": 4880_00,
        "held": 120_00,
        "outstanding": 0,
    }
    assert _events(issuer) == ["CHECKOUT.AUTHORIZED"]
    fetched = api.get(f"/v1/checkouts/{checkout['id']}").get_json()
    assert fetched == checkout


def test_full_capture_opens_the_loan_with_the_plan_schedule(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    order_id = _order_id(authorized(api, issuer, buyer))
    response = api.post(f"/v1/orders/{order_id}/capture", {})
    assert response.status_code == 200
    order = response.get_json()
    assert order["state"] == "CAPTURED"
    assert order["captured_amount"] == cny(120_00)
    schedule = Schedule.from_json(order["schedule"])
    assert len(schedule.installments) == 6
    assert sum(i.principal.minor for i in schedule.installments) == 120_00
    assert balances(issuer, buyer.id) == {
        "limit": 5000_00,
        "available": 4880_00,
        "held": 0,
        "outstanding": 120_00,
    }
    assert _events(issuer) == ["CHECKOUT.AUTHORIZED", "ORDER.CAPTURED"]
    assert issuer.check_ledger() == []


def test_partial_capture_releases_the_rest_of_the_hold(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    order_id = _order_id(authorized(api, issuer, buyer))
    order = api.post(f"/v1/orders/{order_id}/capture", {"amount": cny(100_00)}).get_json()
    assert order["captured_amount"] == cny(100_00)
    assert Schedule.from_json(order["schedule"]).outstanding_principal == Money("100.00", "CNY")
    assert balances(issuer, buyer.id)["available"] == 4900_00
    assert balances(issuer, buyer.id)["outstanding"] == 100_00


def test_capture_more_than_authorized_is_refused_and_nothing_changes(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    order_id = _order_id(authorized(api, issuer, buyer))
    response = api.post(f"/v1/orders/{order_id}/capture", {"amount": cny(120_01)})
    assert response.status_code == 409
    assert response.get_json()["code"] == "AMOUNT_EXCEEDS_AVAILABLE"
    assert api.get(f"/v1/checkouts/{order_id}").status_code == 404
    assert balances(issuer, buyer.id)["held"] == 120_00


def test_void_releases_the_hold(api: SignedClient, issuer: Issuer, buyer: TestBuyer) -> None:
    checkout = authorized(api, issuer, buyer)
    order = api.post(f"/v1/orders/{_order_id(checkout)}/void", {}).get_json()
    assert order["state"] == "VOIDED"
    assert balances(issuer, buyer.id)["available"] == 5000_00
    assert api.get(f"/v1/checkouts/{checkout['id']}").get_json()["state"] == "VOIDED"
    assert _events(issuer)[-1] == "ORDER.VOIDED"


@pytest.mark.parametrize(
    ("first", "second"),
    [("capture", "void"), ("void", "capture"), ("void", "void"), ("capture", "capture")],
)
def test_invalid_transitions_answer_409_and_change_nothing(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer, first: str, second: str
) -> None:
    order_id = _order_id(authorized(api, issuer, buyer))
    assert api.post(f"/v1/orders/{order_id}/{first}", {}).status_code == 200
    before = balances(issuer, buyer.id)
    events = _events(issuer)
    response = api.post(f"/v1/orders/{order_id}/{second}", {})
    assert response.status_code == 409
    assert response.get_json()["code"] == "INVALID_STATE"
    assert balances(issuer, buyer.id) == before
    assert _events(issuer) == events


def test_close_only_from_created(api: SignedClient, issuer: Issuer, buyer: TestBuyer) -> None:
    checkout = new_checkout(api)
    closed = api.post(f"/v1/checkouts/{checkout['id']}/close", {}).get_json()
    assert closed["state"] == "CLOSED"
    again = api.post(f"/v1/checkouts/{checkout['id']}/close", {})
    assert again.status_code == 409
    assert "CLOSED" in again.get_json()["message"]
    with pytest.raises(ConflictError):
        issuer.orders.authorize(checkout["id"], buyer_id=buyer.id, plan_id="fenfu-3")
    authorized_one = authorized(api, issuer, buyer, "A2")
    assert api.post(f"/v1/checkouts/{authorized_one['id']}/close", {}).status_code == 409
    assert _events(issuer) == ["CHECKOUT.CLOSED", "CHECKOUT.AUTHORIZED"]


def test_unauthorized_checkout_expires_after_30_minutes(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    checkout = new_checkout(api)
    # The business clock is wall time plus an offset: leave a few real seconds of slack
    # so a slow machine crossing a second boundary cannot expire it early.
    issuer.advance_clock(1795)
    assert api.get(f"/v1/checkouts/{checkout['id']}").get_json()["state"] == "CREATED"
    issuer.advance_clock(5)
    assert api.get(f"/v1/checkouts/{checkout['id']}").get_json()["state"] == "EXPIRED"
    assert _events(issuer) == ["CHECKOUT.EXPIRED"]
    with pytest.raises(ConflictError, match="EXPIRED"):
        issuer.orders.authorize(checkout["id"], buyer_id=buyer.id, plan_id="fenfu-3")
    assert issuer.orders.consent_view(checkout["id"])["expired"] is True


def test_expires_in_overrides_the_checkout_ttl(api: SignedClient, issuer: Issuer) -> None:
    body = {
        "out_trade_no": "E1",
        "amount": cny(120_00),
        "description": "d",
        "notify_url": "https://shop.example/n",
        "return_url": "https://shop.example/r",
        "expires_in": 60,
    }
    checkout = api.post("/v1/checkouts", body).get_json()
    issuer.advance_clock(60)
    assert api.get(f"/v1/checkouts/{checkout['id']}").get_json()["state"] == "EXPIRED"


def test_authorization_expires_after_7_days_and_releases_the_hold(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    checkout = authorized(api, issuer, buyer)
    issuer.advance_clock(7 * 24 * 3600)
    fetched = api.get(f"/v1/checkouts/{checkout['id']}").get_json()
    assert fetched["state"] == "EXPIRED"
    assert fetched["order"]["state"] == "EXPIRED"
    assert balances(issuer, buyer.id)["available"] == 5000_00
    assert _events(issuer)[-1] == "ORDER.EXPIRED"
    response = api.post(f"/v1/orders/{_order_id(checkout)}/capture", {})
    assert response.status_code == 409
    assert issuer.check_ledger() == []


def _captured(api: SignedClient, issuer: Issuer, buyer: TestBuyer, no: str = "A1001") -> str:
    order_id = _order_id(authorized(api, issuer, buyer, no))
    assert api.post(f"/v1/orders/{order_id}/capture", {}).status_code == 200
    return order_id


def test_partial_then_full_refund_replans_and_restores_credit(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    order_id = _captured(api, issuer, buyer)
    response = api.post(
        "/v1/refunds",
        {"order_id": order_id, "amount": cny(20_00), "out_refund_no": "R1", "reason": "size"},
    )
    assert response.status_code == 201
    refund = response.get_json()
    assert refund["state"] == "SUCCEEDED"
    assert refund["amount"] == cny(20_00)
    assert refund["reason"] == "size"
    assert api.get(f"/v1/refunds/{refund['id']}").get_json() == refund
    order = api.get("/v1/checkouts?out_trade_no=A1001").get_json()["order"]
    assert order["state"] == "PARTIALLY_REFUNDED"
    assert order["refunded_amount"] == cny(20_00)
    assert Schedule.from_json(order["schedule"]).outstanding_principal == Money("100.00", "CNY")
    assert balances(issuer, buyer.id)["outstanding"] == 100_00
    assert balances(issuer, buyer.id)["available"] == 4900_00

    over = api.post(
        "/v1/refunds", {"order_id": order_id, "amount": cny(100_01), "out_refund_no": "R2"}
    )
    assert over.status_code == 409
    assert over.get_json()["code"] == "AMOUNT_EXCEEDS_AVAILABLE"
    rest = api.post(
        "/v1/refunds", {"order_id": order_id, "amount": cny(100_00), "out_refund_no": "R3"}
    )
    assert rest.status_code == 201
    order = api.get("/v1/checkouts?out_trade_no=A1001").get_json()["order"]
    assert order["state"] == "REFUNDED"
    assert balances(issuer, buyer.id) == {
        "limit": 5000_00,
        "available": 5000_00,
        "held": 0,
        "outstanding": 0,
    }
    assert _events(issuer)[-2:] == ["REFUND.SUCCEEDED", "REFUND.SUCCEEDED"]
    again = api.post("/v1/refunds", {"order_id": order_id, "amount": cny(1), "out_refund_no": "R4"})
    assert again.status_code == 409
    assert again.get_json()["code"] == "INVALID_STATE"
    assert issuer.check_ledger() == []


def test_out_refund_no_is_unique_per_merchant(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    order_id = _captured(api, issuer, buyer)
    body = {"order_id": order_id, "amount": cny(1_00), "out_refund_no": "R1"}
    assert api.post("/v1/refunds", body).status_code == 201
    duplicate = api.post("/v1/refunds", body)
    assert duplicate.status_code == 409
    assert duplicate.get_json()["code"] == "DUPLICATE_OUT_REFUND_NO"
    assert balances(issuer, buyer.id)["outstanding"] == 119_00


def test_refund_before_capture_is_an_invalid_state(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    order_id = _order_id(authorized(api, issuer, buyer))
    response = api.post(
        "/v1/refunds", {"order_id": order_id, "amount": cny(1_00), "out_refund_no": "R1"}
    )
    assert response.status_code == 409
    assert response.get_json()["code"] == "INVALID_STATE"


def test_repayments_restore_credit_and_a_refund_after_repayment_returns_cash(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    order_id = _captured(api, issuer, buyer)
    first = issuer.orders.repay(buyer.id, order_id)
    assert first["allocated"] == [  # fenfu-6: a 0.72 fee per period, then the principal
        {"order_id": order_id, "installment": 1, "part": "FEE", "amount": cny(72)},
        {"order_id": order_id, "installment": 1, "part": "PRINCIPAL", "amount": cny(20_00)},
    ]
    assert first["owed"] == cny(0)
    assert balances(issuer, buyer.id)["outstanding"] == 100_00  # 120 / 6 = 20 per period
    # refund the whole price: 100 of principal is cancelled, 20 already repaid goes back
    refund = api.post(
        "/v1/refunds", {"order_id": order_id, "amount": cny(120_00), "out_refund_no": "R1"}
    )
    assert refund.status_code == 201
    assert balances(issuer, buyer.id) == {
        "limit": 5000_00,
        "available": 5000_00,
        "held": 0,
        "outstanding": 0,
    }
    returned = [
        m for m in buyer_messages(issuer.engine, buyer.id) if m["type"] == "REFUND.RETURNED"
    ]
    assert [m["data"]["returned"] for m in returned] == [cny(20_00)]
    assert issuer.check_ledger() == []


def test_repay_any_amount_and_bad_amounts(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    """Flexible repayment: any amount up to what is owed; above it is refused, not kept."""
    order_id = _captured(api, issuer, buyer)
    with pytest.raises(ServicingError) as exceeded:
        issuer.orders.repay(buyer.id, order_id, Money("20.73", "CNY"))  # 20.72 is due
    assert exceeded.value.code == "AMOUNT_EXCEEDS_OWED"
    assert balances(issuer, buyer.id)["outstanding"] == 120_00
    part = issuer.orders.repay(buyer.id, order_id, Money("7.50", "CNY"))
    assert [(li["part"], li["amount"]) for li in part["allocated"]] == [
        ("FEE", cny(72)),
        ("PRINCIPAL", cny(6_78)),
    ]
    assert part["owed"] == cny(13_22)
    assert balances(issuer, buyer.id)["outstanding"] == 113_22
    issuer.orders.repay(buyer.id, order_id, Money("40.00", "CNY"), mode="PREPAY")
    assert balances(issuer, buyer.id)["outstanding"] == 73_22
    issuer.orders.repay(buyer.id, order_id, mode="PAYOFF")
    with pytest.raises(ServicingError) as done:
        issuer.orders.repay(buyer.id, order_id)
    assert done.value.code == "NOTHING_OWED"
    assert balances(issuer, buyer.id)["available"] == 5000_00
    assert issuer.check_ledger() == []


def test_a_missed_due_date_makes_the_buyer_overdue_after_grace_until_repaid(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    order_id = _captured(api, issuer, buyer)
    eligible = {"buyer_token": buyer.buyer_token, "amount": cny(200_00)}
    assert api.post("/v1/credit/eligibility", eligible).get_json()["eligible"] is True
    first_due = date.fromisoformat(
        api.get("/v1/checkouts?out_trade_no=A1001").get_json()["order"]["schedule"]["installments"][
            0
        ]["due_date"]
    )
    today = issuer.now().date()
    issuer.advance_clock(((first_due - today).days + 3) * 24 * 3600)  # the last day of grace
    assert api.post("/v1/credit/eligibility", eligible).get_json()["eligible"] is True
    issuer.advance_clock(24 * 3600)  # the day after grace
    answer = api.post("/v1/credit/eligibility", eligible).get_json()
    assert answer == {"eligible": False, "reasons": ["OVERDUE"], "plans": []}
    checkout = new_checkout(api, "A2")
    with pytest.raises(CreditDeclinedError) as declined:
        issuer.orders.authorize(checkout["id"], buyer_id=buyer.id, plan_id="fenfu-3")
    assert declined.value.reason == "OVERDUE"
    issuer.orders.repay(buyer.id, order_id)
    assert api.post("/v1/credit/eligibility", eligible).get_json()["eligible"] is True
    kinds = [m["type"] for m in buyer_messages(issuer.engine, buyer.id)]
    assert kinds.count("ACCOUNT.FROZEN") == kinds.count("ACCOUNT.UNFROZEN") == 1


@pytest.mark.parametrize(
    ("settings", "amount", "reason"),
    [
        ({"limit": Money("100.00", "CNY")}, 120_00, "INSUFFICIENT_LIMIT"),
        ({"limit": Money("5000.00", "CNY"), "status": "FROZEN"}, 120_00, "ACCOUNT_FROZEN"),
        ({"limit": Money("5000.00", "CNY"), "overdue": True}, 120_00, "OVERDUE"),
        (
            {"limit": Money("5000.00", "CNY"), "single_purchase_max": Money("100.00", "CNY")},
            120_00,
            "OVER_SINGLE_PURCHASE_LIMIT",
        ),
    ],
)
def test_declines_hold_nothing_and_leave_the_checkout_open(
    api: SignedClient, issuer: Issuer, settings: dict[str, Any], amount: int, reason: str
) -> None:
    declined_buyer = issuer.create_buyer(**settings)
    checkout = new_checkout(api, amount=amount)
    with pytest.raises(CreditDeclinedError) as exc:
        issuer.orders.authorize(checkout["id"], buyer_id=declined_buyer.id, plan_id="fenfu-3")
    assert exc.value.reason == reason
    assert balances(issuer, declined_buyer.id)["held"] == 0
    assert api.get(f"/v1/checkouts/{checkout['id']}").get_json()["state"] == "CREATED"
    assert _events(issuer) == []
    # another buyer can still authorize it
    good = issuer.create_buyer(limit=Money("5000.00", "CNY"))
    assert issuer.orders.authorize(checkout["id"], buyer_id=good.id, plan_id="fenfu-3")[
        "state"
    ] == ("AUTHORIZED")


def test_checks_run_again_at_authorization(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    body = {"buyer_token": buyer.buyer_token, "amount": cny(4000_00)}
    assert api.post("/v1/credit/eligibility", body).get_json()["eligible"] is True
    authorized(api, issuer, buyer, "FIRST", 3000_00)  # spends most of the limit meanwhile
    checkout = new_checkout(api, "SECOND", 4000_00)
    with pytest.raises(CreditDeclinedError) as exc:
        issuer.orders.authorize(checkout["id"], buyer_id=buyer.id, plan_id="fenfu-3")
    assert exc.value.reason == "INSUFFICIENT_LIMIT"


def test_authorize_a_plan_the_checkout_does_not_offer(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    body = {
        "out_trade_no": "P1",
        "amount": cny(120_00),
        "description": "d",
        "notify_url": "https://shop.example/n",
        "return_url": "https://shop.example/r",
        "plans": ["fenfu-3"],
    }
    checkout = api.post("/v1/checkouts", body).get_json()
    assert [p["plan_id"] for p in checkout["plans"]] == ["fenfu-3"]
    with pytest.raises(InvalidRequestError, match="not offered"):
        issuer.orders.authorize(checkout["id"], buyer_id=buyer.id, plan_id="fenfu-6")


def test_consent_view_shows_what_the_buyer_needs(api: SignedClient, issuer: Issuer) -> None:
    checkout = new_checkout(api)
    view = issuer.orders.consent_view(checkout["id"])
    assert view["merchant_name"] == "Shop m_shop"
    assert view["amount"] == Money("120.00", "CNY")
    assert view["state"] == "CREATED"
    assert view["expired"] is False
    assert [q.to_json() for q in view["plans"]] == checkout["plans"]
    assert view["return_url"] == checkout["return_url"]


def test_a_merchant_sees_and_acts_only_on_its_own_objects(
    api: SignedClient, other_api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    checkout = authorized(api, issuer, buyer)
    order_id = _order_id(checkout)
    for path in (f"/v1/checkouts/{checkout['id']}", "/v1/checkouts?out_trade_no=A1001"):
        response = other_api.get(path)
        assert response.status_code == 404
        assert response.get_json()["code"] == "NOT_FOUND"
    for action in ("capture", "void"):
        assert other_api.post(f"/v1/orders/{order_id}/{action}", {}).status_code == 404
    assert other_api.post(f"/v1/checkouts/{checkout['id']}/close", {}).status_code == 404
    api.post(f"/v1/orders/{order_id}/capture", {})
    refund_body = {"order_id": order_id, "amount": cny(1_00), "out_refund_no": "R1"}
    assert other_api.post("/v1/refunds", refund_body).status_code == 404
    refund = api.post("/v1/refunds", refund_body).get_json()
    assert other_api.get(f"/v1/refunds/{refund['id']}").status_code == 404
    # the same out_trade_no is free for another merchant
    assert new_checkout(other_api, "A1001")["out_trade_no"] == "A1001"


def test_the_sweeper_expires_checkouts_without_a_request(tmp_path: Any, merchant_key: Any) -> None:
    app = create_app(
        {
            "TEST_MODE": True,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'swept.db'}",
            "MERCHANTS": [merchant_config(MERCHANT_ID, merchant_key, API_KEY)],
            "NOTIFY_WORKER": True,
            "NOTIFY_TRANSPORT": lambda url, headers, body, timeout: 200,
        }
    )
    sweeper = app.extensions["paylater_sweeper"]
    try:
        assert sweeper.running
        issuer = get_issuer(app)
        checkout = SignedClient(app.test_client(), issuer, MERCHANT_ID, merchant_key).post(
            "/v1/checkouts", checkout_body()
        )
        with issuer.engine.begin() as conn:  # the stored clock alone: no request, no sweep
            shared_state.add_to_int(conn, shared_state.CLOCK_OFFSET, 3600, maximum=10**9)
        state = "CREATED"
        for _ in range(500):  # polls; the sweeper runs every second
            with issuer.engine.connect() as conn:
                state = conn.execute(
                    sa.select(checkouts.c.state).where(checkouts.c.id == checkout.get_json()["id"])
                ).scalar_one()
            if state == "EXPIRED":
                break
            threading.Event().wait(0.02)
        assert state == "EXPIRED"
    finally:
        stop_background(app)
    assert not sweeper.running
    assert not app.extensions["paylater_delivery_worker"].running


def test_a_failing_sweep_does_not_stop_the_sweeper() -> None:
    calls: list[int] = []
    done = threading.Event()

    class Flaky:
        def housekeeping(self) -> None:
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("database briefly unavailable")
            done.set()

    sweeper = Sweeper(Flaky(), interval=0.001)
    sweeper.start()
    assert done.wait(10)
    sweeper.stop()
    assert len(calls) >= 2
