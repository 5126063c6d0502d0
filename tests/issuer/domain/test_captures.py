"""Several captures per order (split shipments) and the one authorization extension.

Every test walks the public /v1 API and ends with the books checked to the fen; with
``PAYLATER_TEST_POSTGRES_URL`` set the whole file runs on PostgreSQL too.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from paylater_sdk.installments import Schedule
from paylater_sdk.issuer import Issuer, TestBuyer
from paylater_sdk.issuer.delivery.outbox import notifications
from paylater_sdk.issuer.domain.ledger import receivable_balances
from paylater_sdk.issuer.storage.schema import captures, ledger_entries
from paylater_sdk.money import Money
from tests._support.issuer import SignedClient, authorized, balances, cny

DAY = 24 * 3600


def _order(api: SignedClient, issuer: Issuer, buyer: TestBuyer, no: str = "S1") -> str:
    order_id: str = authorized(api, issuer, buyer, no)["order"]["id"]
    return order_id


def _capture(api: SignedClient, order_id: str, body: dict[str, Any], **kw: Any) -> Any:
    return api.post(f"/v1/orders/{order_id}/capture", body, **kw)


def _part(api: SignedClient, order_id: str, minor: int, *, final: bool = False) -> Any:
    response = _capture(api, order_id, {"amount": cny(minor), "final": final})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _events(issuer: Issuer) -> list[str]:
    with issuer.engine.connect() as conn:
        rows = conn.execute(
            sa.select(notifications.c.event_type).order_by(
                notifications.c.created_at, notifications.c.seq
            )
        ).all()
    return [r.event_type for r in rows]


def _capture_rows(issuer: Issuer, order_id: str) -> list[tuple[int, bool]]:
    with issuer.engine.connect() as conn:
        rows = conn.execute(
            sa.select(captures.c.amount, captures.c.final)
            .where(captures.c.order_id == order_id)
            .order_by(captures.c.created_at, captures.c.amount)
        ).all()
    return [(r.amount, bool(r.final)) for r in rows]


def _ledger_reasons(issuer: Issuer, buyer_id: str) -> list[tuple[str, int, int, int]]:
    with issuer.engine.connect() as conn:
        rows = conn.execute(
            sa.select(ledger_entries)
            .where(ledger_entries.c.buyer_id == buyer_id, ledger_entries.c.reason != "OPEN")
            .order_by(ledger_entries.c.id)
        ).all()
    return [(r.reason, r.available_delta, r.held_delta, r.outstanding_delta) for r in rows]


def test_three_partial_captures_sum_to_the_authorization(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    order_id = _order(api, issuer, buyer)
    first = _part(api, order_id, 30_00)
    assert first["state"] == "CAPTURED"
    assert first["captured_amount"] == cny(30_00)
    assert first["capturable_amount"] == cny(90_00)
    assert balances(issuer, buyer.id) == {
        "limit": 5000_00,
        "available": 4880_00,
        "held": 90_00,
        "outstanding": 30_00,
    }
    issuer.advance_clock(DAY)
    second = _part(api, order_id, 50_00)
    assert second["capturable_amount"] == cny(40_00)
    third = _part(api, order_id, 40_00)  # all that is left: the authorization ends
    assert third["capturable_amount"] == cny(0)
    assert third["captured_amount"] == cny(120_00)
    schedule = Schedule.from_json(third["schedule"])
    assert schedule.principal == Money("120.00", "CNY")
    assert sum(i.principal.minor for i in schedule.installments) == 120_00
    assert [i.fee.minor for i in schedule.installments] == [72] * 6  # 0.6 % of 120.00
    assert [i.due_date for i in schedule.installments] == [
        i.due_date for i in Schedule.from_json(first["schedule"]).installments
    ]  # due dates never move
    assert [a.minor for _, a in schedule.advances] == [50_00, 40_00]
    assert balances(issuer, buyer.id) == {
        "limit": 5000_00,
        "available": 4880_00,
        "held": 0,
        "outstanding": 120_00,
    }
    with issuer.engine.connect() as conn:
        assert receivable_balances(conn, order_id=order_id) == {(order_id, "FEE"): 4_32}
    assert sorted(_capture_rows(issuer, order_id)) == [
        (30_00, False),
        (40_00, True),
        (50_00, False),
    ]
    assert _events(issuer).count("ORDER.CAPTURED") == 3
    assert _capture(api, order_id, {"amount": cny(1)}).get_json()["code"] == "INVALID_STATE"
    assert issuer.check_ledger() == []


def test_two_partial_captures_then_final_releases_the_rest(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    order_id = _order(api, issuer, buyer)
    _part(api, order_id, 50_00)
    done = _part(api, order_id, 30_00, final=True)
    assert done["state"] == "CAPTURED"
    assert done["captured_amount"] == cny(80_00)
    assert done["capturable_amount"] == cny(0)
    assert balances(issuer, buyer.id) == {
        "limit": 5000_00,
        "available": 4920_00,
        "held": 0,
        "outstanding": 80_00,
    }
    assert _ledger_reasons(issuer, buyer.id) == [
        ("HOLD", -120_00, 120_00, 0),
        ("CAPTURE", 0, -50_00, 50_00),
        ("CAPTURE", 40_00, -70_00, 30_00),  # the final capture releases the other 40.00
    ]
    refused = _capture(api, order_id, {"amount": cny(10_00)})
    assert (refused.status_code, refused.get_json()["code"]) == (409, "INVALID_STATE")
    assert issuer.check_ledger() == []


def test_a_capture_without_final_is_the_one_capture_of_before(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    order_id = _order(api, issuer, buyer)
    order = _capture(api, order_id, {"amount": cny(100_00)}).get_json()
    assert order["capturable_amount"] == cny(0)
    assert balances(issuer, buyer.id)["available"] == 4900_00
    assert _capture(api, order_id, {}).status_code == 409


def test_over_capture_is_refused_and_nothing_changes(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    order_id = _order(api, issuer, buyer)
    _part(api, order_id, 100_00)
    before = balances(issuer, buyer.id)
    refused = _capture(api, order_id, {"amount": cny(20_01), "final": False})
    assert (refused.status_code, refused.get_json()["code"]) == (409, "AMOUNT_EXCEEDS_AVAILABLE")
    assert "20.00" in refused.get_json()["message"]
    assert balances(issuer, buyer.id) == before
    assert _capture_rows(issuer, order_id) == [(100_00, False)]
    rest = _capture(api, order_id, {}).get_json()  # no amount: all that is left
    assert rest["captured_amount"] == cny(120_00)
    assert issuer.check_ledger() == []


def test_one_idempotency_key_captures_once_two_keys_twice(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    order_id = _order(api, issuer, buyer)
    body = {"amount": cny(40_00), "final": False}
    first = _capture(api, order_id, body, headers={"Idempotency-Key": "ship-1"})
    again = _capture(api, order_id, body, headers={"Idempotency-Key": "ship-1"})
    assert first.status_code == again.status_code == 200
    assert again.get_json() == first.get_json()
    assert balances(issuer, buyer.id)["outstanding"] == 40_00
    other = _capture(api, order_id, body, headers={"Idempotency-Key": "ship-2"})
    assert other.get_json()["captured_amount"] == cny(80_00)
    assert _capture_rows(issuer, order_id) == [(40_00, False), (40_00, False)]
    assert issuer.check_ledger() == []


def test_refunds_and_repayments_after_partial_captures_are_fen_exact(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    order_id = _order(api, issuer, buyer)
    _part(api, order_id, 60_00)
    issuer.advance_clock(2 * DAY)
    _part(api, order_id, 60_00, final=True)
    assert issuer.check_ledger() == []
    issuer.advance_clock(29 * DAY)  # the first installment is due today
    paid = issuer.orders.repay(buyer.id, order_id)
    assert sum(li["amount"]["value"] for li in paid["allocated"]) == 20_72
    assert balances(issuer, buyer.id)["outstanding"] == 100_00
    refund = {"order_id": order_id, "amount": cny(30_00), "out_refund_no": "S1-R1"}
    assert api.post("/v1/refunds", refund).status_code == 201
    assert balances(issuer, buyer.id) == {
        "limit": 5000_00,
        "available": 4930_00,
        "held": 0,
        "outstanding": 70_00,
    }
    rest = {"order_id": order_id, "amount": cny(90_00), "out_refund_no": "S1-R2"}
    assert api.post("/v1/refunds", rest).status_code == 201
    assert balances(issuer, buyer.id) == {
        "limit": 5000_00,
        "available": 5000_00,
        "held": 0,
        "outstanding": 0,
    }
    assert issuer.check_ledger() == []


def test_a_refund_between_captures_keeps_the_rest_capturable(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    order_id = _order(api, issuer, buyer)
    _part(api, order_id, 60_00)
    refund = {"order_id": order_id, "amount": cny(60_00), "out_refund_no": "S1-R1"}
    answer = api.post("/v1/refunds", refund)
    assert answer.status_code == 201
    checkout_id = authorized_checkout_id(issuer, order_id)
    order = api.get(f"/v1/checkouts/{checkout_id}").get_json()["order"]
    assert order["state"] == "PARTIALLY_REFUNDED"  # not REFUNDED: 60.00 is still authorized
    assert order["capturable_amount"] == cny(60_00)
    issuer.advance_clock(DAY)
    done = _part(api, order_id, 60_00, final=True)
    assert done["state"] == "PARTIALLY_REFUNDED"
    assert Schedule.from_json(done["schedule"]).outstanding_principal == Money("60.00", "CNY")
    assert balances(issuer, buyer.id) == {
        "limit": 5000_00,
        "available": 4940_00,
        "held": 0,
        "outstanding": 60_00,
    }
    assert issuer.check_ledger() == []


def authorized_checkout_id(issuer: Issuer, order_id: str) -> str:
    from paylater_sdk.issuer.storage.schema import orders

    with issuer.engine.connect() as conn:
        value: str = conn.execute(
            sa.select(orders.c.checkout_id).where(orders.c.id == order_id)
        ).scalar_one()
    return value


def test_servicing_a_multi_capture_order_repay_and_payoff(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    order_id = _order(api, issuer, buyer)
    _part(api, order_id, 45_00)
    issuer.advance_clock(3 * DAY)
    _part(api, order_id, 75_00, final=True)
    issuer.advance_clock(30 * DAY)
    issuer.orders.repay(buyer.id, order_id)
    assert issuer.check_ledger() == []
    issuer.orders.repay(buyer.id, order_id, Money("30.00", "CNY"), mode="PREPAY")
    assert issuer.check_ledger() == []
    issuer.orders.repay(buyer.id, order_id, mode="PAYOFF")
    assert balances(issuer, buyer.id) == {
        "limit": 5000_00,
        "available": 5000_00,
        "held": 0,
        "outstanding": 0,
    }
    with issuer.engine.connect() as conn:
        assert receivable_balances(conn, order_id=order_id).get((order_id, "FEE"), 0) == 0
    assert issuer.check_ledger() == []


def test_void_after_a_partial_capture_releases_only_the_rest(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    order_id = _order(api, issuer, buyer)
    _part(api, order_id, 50_00)
    order = api.post(f"/v1/orders/{order_id}/void", {}).get_json()
    assert order["state"] == "CAPTURED"
    assert order["captured_amount"] == cny(50_00)
    assert order["capturable_amount"] == cny(0)
    assert balances(issuer, buyer.id) == {
        "limit": 5000_00,
        "available": 4950_00,
        "held": 0,
        "outstanding": 50_00,
    }
    assert _events(issuer)[-1] == "ORDER.RELEASED"
    assert api.post(f"/v1/orders/{order_id}/void", {}).status_code == 409
    assert issuer.check_ledger() == []


def test_the_rest_of_a_partial_capture_expires_with_the_authorization(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    order_id = _order(api, issuer, buyer)
    _part(api, order_id, 50_00)
    issuer.advance_clock(7 * DAY)
    checkout_id = authorized_checkout_id(issuer, order_id)
    order = api.get(f"/v1/checkouts/{checkout_id}").get_json()["order"]
    assert order["state"] == "CAPTURED"
    assert order["capturable_amount"] == cny(0)
    assert balances(issuer, buyer.id)["available"] == 4950_00
    assert balances(issuer, buyer.id)["held"] == 0
    assert _events(issuer)[-1] == "ORDER.RELEASED"
    assert _capture(api, order_id, {"amount": cny(1_00)}).status_code == 409
    assert issuer.check_ledger() == []


# --- the one extension ---------------------------------------------------------------------


def _extend(api: SignedClient, order_id: str, body: dict[str, Any] | None = None) -> Any:
    return api.post(f"/v1/orders/{order_id}/extend", body or {})


def test_extend_once_to_the_maximum_then_refused(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    order = authorized(api, issuer, buyer, "E1")["order"]
    extended = _extend(api, order["id"])
    assert extended.status_code == 200
    answer = extended.get_json()
    assert answer["authorization_extended_at"] is not None
    authorized_at = issuer_epoch(issuer, order["id"], "authorized_at")
    assert issuer_epoch(issuer, order["id"], "authorization_expires_at") == authorized_at + 30 * DAY
    again = _extend(api, order["id"], {"days": 1})
    assert (again.status_code, again.get_json()["code"]) == (409, "AUTHORIZATION_ALREADY_EXTENDED")
    assert issuer_epoch(issuer, order["id"], "authorization_expires_at") == authorized_at + 30 * DAY


def issuer_epoch(issuer: Issuer, order_id: str, column: str) -> int:
    from paylater_sdk.issuer.storage.schema import orders

    with issuer.engine.connect() as conn:
        value: int = conn.execute(
            sa.select(orders.c[column]).where(orders.c.id == order_id)
        ).scalar_one()
    return value


def test_extend_beyond_the_maximum_is_refused(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    order_id = _order(api, issuer, buyer, "E2")
    before = issuer_epoch(issuer, order_id, "authorization_expires_at")
    refused = _extend(api, order_id, {"days": 24})  # 7 + 24 > 30 days
    assert (refused.status_code, refused.get_json()["code"]) == (409, "EXTENSION_EXCEEDS_MAXIMUM")
    assert issuer_epoch(issuer, order_id, "authorization_expires_at") == before
    assert _extend(api, order_id, {"days": 23}).status_code == 200
    assert issuer_epoch(issuer, order_id, "authorization_expires_at") == before + 23 * DAY


def test_extend_after_expiry_is_refused(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    order_id = _order(api, issuer, buyer, "E3")
    issuer.advance_clock(7 * DAY)
    refused = _extend(api, order_id)
    assert (refused.status_code, refused.get_json()["code"]) == (409, "INVALID_STATE")
    captured = _order(api, issuer, buyer, "E4")
    assert _capture(api, captured, {}).status_code == 200
    assert _extend(api, captured).get_json()["code"] == "INVALID_STATE"  # nothing held


def test_the_expiry_sweep_honours_the_extension(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    order_id = _order(api, issuer, buyer, "E5")
    _part(api, order_id, 20_00)
    assert _extend(api, order_id, {"days": 3}).status_code == 200
    issuer.advance_clock(9 * DAY)  # past the 7 days, within the 10
    issuer.sweep()
    assert balances(issuer, buyer.id)["held"] == 100_00
    assert _part(api, order_id, 30_00)["capturable_amount"] == cny(70_00)
    issuer.advance_clock(DAY)
    issuer.sweep()
    assert balances(issuer, buyer.id) == {
        "limit": 5000_00,
        "available": 4950_00,
        "held": 0,
        "outstanding": 50_00,
    }
    assert _events(issuer)[-1] == "ORDER.RELEASED"
    assert issuer.check_ledger() == []


def test_extend_with_one_idempotency_key_replays(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    order_id = _order(api, issuer, buyer, "E6")
    first = api.post(
        f"/v1/orders/{order_id}/extend", {"days": 2}, headers={"Idempotency-Key": "ext-1"}
    )
    again = api.post(
        f"/v1/orders/{order_id}/extend", {"days": 2}, headers={"Idempotency-Key": "ext-1"}
    )
    assert first.status_code == again.status_code == 200
    assert again.get_json() == first.get_json()


@pytest.mark.parametrize("days", [0, 366, "3", True])
def test_extend_days_are_checked(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer, days: Any
) -> None:
    order_id = _order(api, issuer, buyer, "E7")
    refused = _extend(api, order_id, {"days": days})
    assert refused.status_code == 400
    assert refused.get_json()["field"] == "days"


def test_the_product_maximum_is_a_validated_setting_per_plan() -> None:
    from paylater_sdk.errors import ConfigurationError
    from paylater_sdk.issuer.config import load_config

    config = load_config({"TEST_MODE": True, "PLAN_MAX_AUTHORIZATION_TTL": {"fenfu-12": 14 * DAY}})
    assert config.max_authorization_ttl_for("fenfu-6") == 30 * DAY
    assert config.max_authorization_ttl_for("fenfu-12") == 14 * DAY
    for bad in ({"fenfu-6": 0}, {"fenfu-6": "30"}, ["fenfu-6"]):
        with pytest.raises(ConfigurationError, match="PLAN_MAX_AUTHORIZATION_TTL"):
            load_config({"TEST_MODE": True, "PLAN_MAX_AUTHORIZATION_TTL": bad})
    with pytest.raises(ConfigurationError, match="MAX_AUTHORIZATION_TTL"):
        load_config({"TEST_MODE": True, "MAX_AUTHORIZATION_TTL": -1})


def test_a_per_plan_maximum_bounds_the_extension(tmp_path: Any, merchant_key: Any) -> None:
    from paylater_sdk.issuer import create_app, get_issuer
    from tests._support.issuer import API_KEY, MERCHANT_ID, database_url, merchant_config

    app = create_app(
        {
            "TEST_MODE": True,
            "DATABASE_URL": database_url(tmp_path),
            "MERCHANTS": [merchant_config(MERCHANT_ID, merchant_key, API_KEY)],
            "NOTIFY_TRANSPORT": lambda url, headers, body, timeout: 200,
            "PLAN_MAX_AUTHORIZATION_TTL": {"fenfu-6": 10 * DAY},
        }
    )
    issuer = get_issuer(app)
    try:
        api = SignedClient(app.test_client(), issuer, MERCHANT_ID, merchant_key)
        buyer = issuer.create_buyer(limit=Money("5000.00", "CNY"))
        order_id = _order(api, issuer, buyer, "P1")
        refused = _extend(api, order_id, {"days": 4})
        assert refused.get_json()["code"] == "EXTENSION_EXCEEDS_MAXIMUM"
        assert _extend(api, order_id).status_code == 200
        authorized_at = issuer_epoch(issuer, order_id, "authorized_at")
        assert (
            issuer_epoch(issuer, order_id, "authorization_expires_at") == authorized_at + 10 * DAY
        )
    finally:
        issuer.engine.dispose()


def test_a_capture_after_a_prepayment_and_a_statement_stays_exact(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    order_id = _order(api, issuer, buyer, "P2")
    _part(api, order_id, 60_00)
    issuer.advance_clock(DAY)
    issuer.orders.repay(buyer.id, order_id, Money("25.00", "CNY"), mode="PREPAY")
    paid_down = balances(issuer, buyer.id)["outstanding"]
    assert paid_down == 35_36  # the current period's 0.36 fee first, then 24.64 of principal
    assert issuer.check_ledger() == []
    issuer.advance_clock(DAY)
    done = _part(api, order_id, 60_00, final=True)
    schedule = Schedule.from_json(done["schedule"])
    assert schedule.outstanding_principal.minor == paid_down + 60_00
    assert balances(issuer, buyer.id) == {
        "limit": 5000_00,
        "available": 5000_00 - paid_down - 60_00,
        "held": 0,
        "outstanding": paid_down + 60_00,
    }
    assert issuer.check_ledger() == []
    issuer.orders.repay(buyer.id, order_id, mode="PAYOFF")
    assert balances(issuer, buyer.id)["outstanding"] == 0
    assert balances(issuer, buyer.id)["available"] == 5000_00
    assert issuer.check_ledger() == []


@pytest.mark.parametrize("seed", range(12))
def test_random_captures_refunds_and_repayments_keep_the_books(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer, seed: int
) -> None:
    """Shipments, refunds, repayments and days in a random order: after each step the
    books balance and the order's figures agree with the buyer's balances."""
    import random

    rng = random.Random(seed)
    order_id = _order(api, issuer, buyer, f"R{seed}")
    checkout_id = authorized_checkout_id(issuer, order_id)
    refunds = 0
    for _ in range(8):
        order = api.get(f"/v1/checkouts/{checkout_id}").get_json()["order"]
        left = order["capturable_amount"]["value"]
        refundable = order["captured_amount"]["value"] - order["refunded_amount"]["value"]
        step = rng.choice(["capture", "capture", "refund", "repay", "day"])
        if step == "capture" and left:
            minor = rng.randint(1, left)
            _part(api, order_id, minor, final=rng.random() < 0.2)
        elif step == "refund" and refundable:
            refunds += 1
            body = {
                "order_id": order_id,
                "amount": cny(rng.randint(1, refundable)),
                "out_refund_no": f"R{seed}-{refunds}",
            }
            assert api.post("/v1/refunds", body).status_code == 201
        elif step == "repay" and order["schedule"] is not None:
            outcome = _prepay(issuer, buyer, order_id)
            assert outcome in {"PAID", "NOTHING_OWED", "AMOUNT_EXCEEDS_OWED"}
        elif step == "day":
            issuer.advance_clock(rng.randint(1, 3) * DAY)
        assert issuer.check_ledger() == []
        order = api.get(f"/v1/checkouts/{checkout_id}").get_json()["order"]
        books = balances(issuer, buyer.id)  # check_ledger: outstanding = what the lines say
        assert books["held"] == order["capturable_amount"]["value"]
        assert order["captured_amount"]["value"] + order["capturable_amount"]["value"] <= 120_00


def _prepay(issuer: Issuer, buyer: TestBuyer, order_id: str) -> str:
    from paylater_sdk.installments import ServicingError

    try:
        issuer.orders.repay(buyer.id, order_id, Money("5.00", "CNY"), mode="PREPAY")
    except ServicingError as exc:
        return exc.code
    return "PAID"
