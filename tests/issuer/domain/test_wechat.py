"""The v3 domain on the shared order book and ledger (SQLite, and PostgreSQL when
PAYLATER_TEST_POSTGRES_URL is set): payments, refunds, closes, races, what is notified."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from paylater_sdk.errors import CreditDeclinedError, InvalidRequestError, NotFoundError
from paylater_sdk.installments import STANDARD_OFFERS, FeePayer, Method
from paylater_sdk.issuer import Issuer, TestBuyer
from paylater_sdk.issuer.domain.wechat import WeChatDesk, v3_offers
from paylater_sdk.issuer.storage.schema import notifications
from paylater_sdk.money import Money
from paylater_sdk.signing import generate_private_key, public_key_pem
from tests.issuer.domain.test_concurrency import _codes, race

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")

MCHID = "1900000009"


@pytest.fixture
def desk(app: Flask) -> WeChatDesk:
    found: WeChatDesk = app.extensions["paylater_wechat"]
    found.register_merchant(
        MCHID,
        name="v3 shop",
        apiv3_key="k" * 32,
        notify_prefixes=["https://m.example/"],
        public_key=public_key_pem(generate_private_key("rsa")),
    )
    return found


def _prepay(desk: WeChatDesk, buyer: TestBuyer, no: str = "ORDER0001", total: int = 300_00,
            subsidy: dict[int, int] | None = None) -> str:  # fmt: skip
    return desk.payments.prepay(
        MCHID,
        trade_type="JSAPI",
        appid="wx1",
        out_trade_no=no,
        description="d",
        notify_url="https://m.example/notify",
        total=total,
        buyer_id=buyer.id,
        attach=None,
        subsidy=subsidy if subsidy is not None else {6: 100},
        expires_in=None,
        base_url="http://issuer.test/",
    )


def _events(issuer: Issuer) -> list[Any]:
    with issuer.engine.connect() as conn:
        return list(conn.execute(sa.select(notifications).order_by(notifications.c.seq)))


def test_v3_offers_turn_a_subsidised_plan_into_its_interest_free_twin() -> None:
    offers = {o.terms.periods: o for o in v3_offers(STANDARD_OFFERS, {6: 100, 3: 0})}
    assert sorted(offers) == [3, 6, 12]
    assert offers[6].plan_id == "wx-free-6"
    assert offers[6].terms.method is Method.INTEREST_FREE
    assert offers[6].terms.fee_payer is FeePayer.MERCHANT
    assert offers[3].plan_id == "fenfu-3"
    assert offers[12].terms.fee_payer is FeePayer.BUYER


def test_pay_is_authorize_and_capture_in_one_step(
    desk: WeChatDesk, issuer: Issuer, buyer: TestBuyer
) -> None:
    prepay_id = _prepay(desk, buyer)
    paid = desk.payments.pay(prepay_id, 6)
    assert paid["trade_state"] == "SUCCESS"
    assert paid["paylater_installment"]["plan_id"] == "wx-free-6"
    assert paid["paylater_installment"]["total_amount"] == {"value": 300_00, "currency": "CNY"}
    assert issuer.check_ledger() == []
    with issuer.engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT available, held, outstanding FROM buyers WHERE id = :id"),
            {"id": buyer.id},
        ).one()
    assert (row.held, row.outstanding) == (0, 300_00)
    assert row.available == 5000_00 - 300_00
    # the /v1 events of the shared lifecycle are not sent: only TRANSACTION.SUCCESS
    events = _events(issuer)
    assert [e.event_type for e in events] == ["TRANSACTION.SUCCESS"]
    assert json.loads(events[0].resource)["out_trade_no"] == "ORDER0001"


def test_the_same_prepay_is_answered_again_and_a_reuse_refused(
    desk: WeChatDesk, buyer: TestBuyer
) -> None:
    first = _prepay(desk, buyer)
    assert _prepay(desk, buyer) == first
    with pytest.raises(InvalidRequestError) as caught:
        _prepay(desk, buyer, total=301_00)
    assert caught.value.code == "INVALID_REQUEST"


def test_close_then_pay_is_order_closed_and_a_paid_order_cannot_close(
    desk: WeChatDesk, buyer: TestBuyer
) -> None:
    prepay_id = _prepay(desk, buyer, "CLOSE0001")
    desk.payments.close(MCHID, "CLOSE0001")
    desk.payments.close(MCHID, "CLOSE0001")  # again: nothing to do
    assert desk.payments.query(MCHID, out_trade_no="CLOSE0001")["trade_state"] == "CLOSED"
    with pytest.raises(InvalidRequestError) as caught:
        desk.payments.pay(prepay_id, 6)
    assert caught.value.code == "ORDER_CLOSED"
    paid_id = _prepay(desk, buyer, "CLOSE0002")
    desk.payments.pay(paid_id, 3)
    with pytest.raises(InvalidRequestError) as caught:
        desk.payments.close(MCHID, "CLOSE0002")
    assert caught.value.code == "INVALID_REQUEST"
    with pytest.raises(NotFoundError) as missing:
        desk.payments.query(MCHID, out_trade_no="NOPE00001")
    assert missing.value.code == "ORDER_NOT_EXIST"


def test_a_declined_payment_changes_nothing(desk: WeChatDesk, issuer: Issuer) -> None:
    poor = issuer.create_buyer(limit=Money("100.00", "CNY"))
    prepay_id = _prepay(desk, poor, "POOR00001")
    with pytest.raises(CreditDeclinedError) as caught:
        desk.payments.pay(prepay_id, 6)
    assert caught.value.reason == "INSUFFICIENT_LIMIT"
    assert desk.payments.query(MCHID, out_trade_no="POOR00001")["trade_state"] == "NOTPAY"
    assert _events(issuer) == []
    assert issuer.check_ledger() == []


def test_eight_buyers_paying_one_prepay_at_once_pay_once(
    desk: WeChatDesk, issuer: Issuer, buyer: TestBuyer
) -> None:
    prepay_id = _prepay(desk, buyer, "RACE00001")
    results, errors = race(8, lambda i: desk.payments.pay(prepay_id, 6))
    assert len(results) == 1
    assert len(errors) == 7
    assert _codes(errors) <= {"INVALID_REQUEST", "INVALID_STATE"}
    assert [e.event_type for e in _events(issuer)] == ["TRANSACTION.SUCCESS"]
    assert issuer.check_ledger() == []


def test_concurrent_refunds_never_exceed_the_payment(
    desk: WeChatDesk, issuer: Issuer, buyer: TestBuyer
) -> None:
    desk.payments.pay(_prepay(desk, buyer, "RACE00002"), 3)

    def refund(i: int) -> Any:
        return desk.refunds.create(
            MCHID, out_trade_no="RACE00002", transaction_id=None, out_refund_no=f"RF{i}",
            refund=100_00, total=300_00, reason=None, notify_url=None,
        )  # fmt: skip

    results, errors = race(8, refund)
    assert len(results) == 3
    assert _codes(errors) <= {"AMOUNT_EXCEEDS_AVAILABLE", "INVALID_STATE"}
    assert sum(r["amount"]["refund"] for r in results) == 300_00
    assert desk.payments.query(MCHID, out_trade_no="RACE00002")["trade_state"] == "REFUND"
    kinds = [e.event_type for e in _events(issuer)]
    assert kinds.count("REFUND.SUCCESS") == 3
    assert "REFUND.SUCCEEDED" not in kinds
    assert issuer.check_ledger() == []


def test_a_retried_refund_answers_the_first_one_and_moves_money_once(
    desk: WeChatDesk, issuer: Issuer, buyer: TestBuyer
) -> None:
    desk.payments.pay(_prepay(desk, buyer, "RETRY0001"), 3)

    def refund(amount: int) -> Any:
        return desk.refunds.create(
            MCHID, out_trade_no="RETRY0001", transaction_id=None, out_refund_no="RFRETRY",
            refund=amount, total=300_00, reason=None, notify_url=None,
        )  # fmt: skip

    first = refund(50_00)
    again = refund(50_00)
    assert again["refund_id"] == first["refund_id"]
    with pytest.raises(InvalidRequestError) as caught:
        refund(60_00)
    assert caught.value.code == "INVALID_REQUEST"
    kinds = [e.event_type for e in _events(issuer)]
    assert kinds.count("REFUND.SUCCESS") == 1
    with issuer.engine.connect() as conn:
        refunded = conn.execute(sa.text("SELECT refunded_amount FROM orders")).scalar_one()
    assert refunded == 50_00
    assert issuer.check_ledger() == []


def test_an_app_prepay_names_its_buyer_when_paid(
    desk: WeChatDesk, issuer: Issuer, buyer: TestBuyer
) -> None:
    prepay_id = desk.payments.prepay(
        MCHID, trade_type="APP", appid="wx1", out_trade_no="APP000001", description="d",
        notify_url="https://m.example/notify", total=200_00, buyer_id=None, attach="a=1",
        subsidy={}, expires_in=600, base_url="http://issuer.test/",
    )  # fmt: skip
    with pytest.raises(InvalidRequestError) as caught:
        desk.payments.pay(prepay_id, 3)
    assert caught.value.code == "PARAM_ERROR"
    paid = desk.payments.pay(prepay_id, 12, buyer_id=buyer.id)
    assert paid["trade_type"] == "APP"
    assert paid["attach"] == "a=1"
    assert paid["payer"]["openid"] == desk.openid(buyer.id)
    assert paid["paylater_installment"]["free_of_interest"] is False
    issuer.advance_clock(3600)  # past the prepay's expiry: paid orders do not expire
    assert desk.payments.query(MCHID, out_trade_no="APP000001")["trade_state"] == "SUCCESS"
    assert issuer.check_ledger() == []


def test_a_reregistration_applies_its_prefixes_here_at_once(
    desk: WeChatDesk, issuer: Issuer
) -> None:
    """Re-registering drops this process's cached keys and prefixes (merchants.forget)."""
    before = issuer.merchant_prefixes(MCHID)  # cached now
    assert before is not None
    assert before.notify == ("https://m.example/",)
    desk.register_merchant(
        MCHID,
        name="v3 shop",
        apiv3_key="k" * 32,
        notify_prefixes=["https://m.example/moved/"],
        public_key=public_key_pem(generate_private_key("rsa")),
    )
    after = issuer.merchant_prefixes(MCHID)
    assert after is not None
    assert (after.notify, after.return_to) == (("https://m.example/moved/",),) * 2
