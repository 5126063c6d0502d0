"""v3's resource objects (transaction, refund) built from the shared tables.

Times are RFC 3339 in China Standard Time (``2026-12-02T10:00:00+08:00``), as WeChat Pay
writes them; amounts are integer fen. ``paylater_installment`` is this issuer's documented
extension of the transaction object: the plan the buyer chose (docs/wechat.md).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa

from ....lifecycle import CheckoutState
from ...storage.records import OrderRow, WechatTransactionRow
from ...storage.schema import (
    checkouts,
    orders,
    refunds,
    wechat_payers,
    wechat_refunds,
    wechat_transactions,
)
from .keys import openid_for

__all__ = [
    "CST",
    "TRADE_STATES",
    "cst_time",
    "refund_notice",
    "refund_view",
    "trade_state",
    "transaction_view",
]

#: China Standard Time, the zone of every v3 timestamp and of bill dates.
CST = timezone(timedelta(hours=8))

#: Our checkout state -> (v3 trade_state, trade_state_desc).
TRADE_STATES: dict[str, tuple[str, str]] = {
    CheckoutState.CREATED: ("NOTPAY", "未支付"),
    CheckoutState.AUTHORIZED: ("USERPAYING", "用户支付中"),
    CheckoutState.CAPTURED: ("SUCCESS", "支付成功"),
    CheckoutState.PARTIALLY_REFUNDED: ("REFUND", "转入退款"),
    CheckoutState.REFUNDED: ("REFUND", "转入退款"),
    CheckoutState.CLOSED: ("CLOSED", "已关闭"),
    CheckoutState.EXPIRED: ("CLOSED", "已关闭"),
    CheckoutState.VOIDED: ("REVOKED", "已撤销"),
}


def cst_time(epoch: int | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, CST).isoformat()


def trade_state(checkout_state: str) -> tuple[str, str]:
    return TRADE_STATES.get(checkout_state, ("PAYERROR", "支付失败"))


def _openid(conn: sa.Connection, buyer_id: str | None) -> str | None:
    if buyer_id is None:
        return None
    found: str | None = conn.execute(
        sa.select(wechat_payers.c.openid).where(wechat_payers.c.buyer_id == buyer_id)
    ).scalar()
    # a buyer named by id (an APP payment) may not be in wechat_payers yet: same derivation
    return found or openid_for(buyer_id)


def _installment(tx: WechatTransactionRow, order: OrderRow | None) -> dict[str, Any] | None:
    if order is None or tx.installments is None:
        return None
    subsidy = json.loads(tx.subsidy_json or "{}")
    percent = int(subsidy.get(str(tx.installments), 0))
    plan = json.loads(order.plan_json)
    return {
        "installment_num": tx.installments,
        "subsidy_percent": percent,
        "free_of_interest": percent == 100,
        "plan_id": order.plan_id,
        "fee_payer": plan.get("fee_payer"),
        "total_amount": plan.get("total_amount"),
    }


def transaction_view(conn: sa.Connection, checkout_id: str) -> dict[str, Any]:
    """The v3 transaction object of a checkout made through ``/v3``."""
    tx = conn.execute(
        sa.select(wechat_transactions).where(wechat_transactions.c.checkout_id == checkout_id)
    ).one()
    row = conn.execute(sa.select(checkouts).where(checkouts.c.id == checkout_id)).one()
    order = conn.execute(sa.select(orders).where(orders.c.checkout_id == checkout_id)).first()
    state, desc = trade_state(row.state)
    paid = state in ("SUCCESS", "REFUND")
    body: dict[str, Any] = {
        "appid": tx.appid,
        "mchid": tx.merchant_id,
        "out_trade_no": row.out_trade_no,
        "trade_type": tx.trade_type,
        "trade_state": state,
        "trade_state_desc": desc,
        "attach": tx.attach or "",
        "payer": {"openid": _openid(conn, tx.buyer_id) or ""},
        "amount": {
            "total": row.amount,
            "payer_total": row.amount if paid else 0,
            "currency": row.currency,
            "payer_currency": row.currency,
        },
    }
    if paid:
        body["transaction_id"] = tx.transaction_id
        body["bank_type"] = "OTHERS"
        body["success_time"] = cst_time(tx.success_time)
        body["paylater_installment"] = _installment(tx, order)
    return body


def refund_view(conn: sa.Connection, refund_id: str) -> dict[str, Any]:
    """The v3 refund object (``POST /v3/refund/domestic/refunds`` and its query)."""

    wx = conn.execute(
        sa.select(wechat_refunds).where(wechat_refunds.c.refund_id == refund_id)
    ).one()
    refund = conn.execute(sa.select(refunds).where(refunds.c.id == refund_id)).one()
    row = conn.execute(sa.select(checkouts).where(checkouts.c.id == wx.checkout_id)).one()
    tx = conn.execute(
        sa.select(wechat_transactions).where(wechat_transactions.c.checkout_id == wx.checkout_id)
    ).one()
    when = cst_time(refund.created_at)
    return {
        "refund_id": wx.wx_refund_id,
        "out_refund_no": refund.out_refund_no,
        "transaction_id": tx.transaction_id,
        "out_trade_no": row.out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": "分付",
        "success_time": when,
        "create_time": when,
        "status": "SUCCESS",
        "funds_account": "AVAILABLE",
        "amount": {
            "total": row.amount,
            "refund": refund.amount,
            "payer_total": row.amount,
            "payer_refund": refund.amount,
            "settlement_total": row.amount,
            "settlement_refund": refund.amount,
            "discount_refund": 0,
            "refund_fee": 0,
            "currency": refund.currency,
            "from": [],
        },
        "promotion_detail": [],
    }


def refund_notice(view: dict[str, Any], mchid: str) -> dict[str, Any]:
    """The decrypted resource of a REFUND.SUCCESS callback."""
    amount = view["amount"]
    return {
        "mchid": mchid,
        "out_trade_no": view["out_trade_no"],
        "transaction_id": view["transaction_id"],
        "out_refund_no": view["out_refund_no"],
        "refund_id": view["refund_id"],
        "refund_status": "SUCCESS",
        "success_time": view["success_time"],
        "user_received_account": view["user_received_account"],
        "amount": {
            "total": amount["total"],
            "refund": amount["refund"],
            "payer_total": amount["payer_total"],
            "payer_refund": amount["payer_refund"],
        },
    }
