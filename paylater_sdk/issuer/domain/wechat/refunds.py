"""v3 refunds and trade bills on the shared order book and ledger.

A refund is the order book's refund (:func:`..refunds.create_refund`: the schedule is
re-planned and the principal goes back to the buyer's credit) plus WeChat's refund id, in
one transaction with its REFUND.SUCCESS callback. A trade bill is fixed when asked for
(content and SHA1 stored), so the hash still matches whenever it is downloaded.
"""

from __future__ import annotations

import csv
import hashlib
import io
import secrets
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ....errors import InvalidRequestError, NotFoundError
from ....lifecycle import CheckoutState
from ....money import Money
from ...delivery.store import enqueue
from ...storage.locking import locked
from ...storage.schema import (
    checkouts,
    orders,
    refunds,
    to_epoch,
    wechat_bills,
    wechat_refunds,
    wechat_transactions,
)
from .. import credit
from .. import refunds as order_refunds
from ..bills import business_day, day_window, fixed_gzip
from .params import INVALID_REQUEST, ORDER_NOT_EXIST, PARAM_ERROR, RESOURCE_NOT_EXISTS
from .views import CST, cst_time, refund_notice, refund_view, trade_state

if TYPE_CHECKING:
    from ..issuer import Issuer

__all__ = ["BILL_HEADER", "BILL_SUMMARY_HEADER", "Refunds"]

#: v3's trade-bill columns (bill_type ALL), then its summary block.
BILL_HEADER = [
    "交易时间",
    "公众账号ID",
    "商户号",
    "特约商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "应结订单金额",
    "代金券金额",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "充值券退款金额",
    "退款类型",
    "退款状态",
    "商品名称",
    "商户数据包",
    "手续费",
    "费率",
    "订单金额",
    "申请退款金额",
    "费率备注",
]
BILL_SUMMARY_HEADER = [
    "总交易单数",
    "应结订单总金额",
    "退款总金额",
    "充值券退款总金额",
    "手续费总金额",
    "订单总金额",
    "申请退款总金额",
]
_BILL_TYPES = ("ALL", "SUCCESS", "REFUND")
_REFUND_ON = wechat_refunds.c.refund_id == refunds.c.id


def _yuan(fen: int) -> str:
    return str(Money.from_minor(fen, "CNY").amount)


class Refunds:
    """Refunds and bills for v3 merchants (each public method one transaction)."""

    def __init__(self, issuer: Issuer) -> None:
        self.issuer = issuer

    def create(
        self,
        mchid: str,
        *,
        out_trade_no: str | None,
        transaction_id: str | None,
        out_refund_no: str,
        refund: int,
        total: int,
        reason: str | None,
        notify_url: str | None,
    ) -> dict[str, Any]:
        issuer = self.issuer
        now = issuer.now()
        try:
            with issuer.engine.begin() as conn:
                tx = self._transaction(conn, mchid, out_trade_no, transaction_id)
                row = conn.execute(
                    sa.select(checkouts).where(checkouts.c.id == tx.checkout_id)
                ).one()
                if total != row.amount:
                    raise InvalidRequestError("amount.total 与订单金额不一致", code=PARAM_ERROR)
                order = conn.execute(
                    locked(sa.select(orders).where(orders.c.checkout_id == row.id))
                ).first()
                if order is None:
                    raise InvalidRequestError("订单未支付，不能退款", code=INVALID_REQUEST)
                again = self._same_refund(conn, mchid, out_refund_no, order.id, refund)
                if again is not None:
                    return again
                created = order_refunds.create_refund(
                    conn,
                    order,
                    amount=Money.from_minor(refund, row.currency),
                    out_refund_no=out_refund_no,
                    reason=reason,
                    now=now,
                    config=self.issuer.config,
                )
                credit.refresh_overdue(conn, now.date(), order.buyer_id)
                conn.execute(
                    wechat_refunds.insert().values(
                        refund_id=created["id"],
                        wx_refund_id="5030" + str(secrets.randbelow(10**28)).zfill(28),
                        checkout_id=row.id,
                        notify_url=notify_url,
                    )
                )
                view = refund_view(conn, created["id"])
                enqueue(
                    conn,
                    merchant_id=mchid,
                    notify_url=notify_url or row.notify_url,
                    event_type="REFUND.SUCCESS",
                    original_type="refund",
                    resource=refund_notice(view, mchid),
                    summary="退款成功",
                    now=now,
                )
                return view
        except IntegrityError:
            raise InvalidRequestError(
                f"商户退款单号 {out_refund_no[:64]!r} 已被使用", code=INVALID_REQUEST
            ) from None

    def _same_refund(
        self, conn: sa.Connection, mchid: str, out_refund_no: str, order_id: str, amount: int
    ) -> dict[str, Any] | None:
        """A retried refund (same ``out_refund_no``, order and amount) answers the refund
        made the first time, as WeChat Pay does; another use of the number is refused.
        Read under the order's row lock, so a retry racing the first attempt waits for it."""
        found = conn.execute(
            sa.select(refunds.c.id, refunds.c.order_id, refunds.c.amount)
            .select_from(refunds.join(wechat_refunds, _REFUND_ON))
            .where(refunds.c.merchant_id == mchid, refunds.c.out_refund_no == out_refund_no)
        ).first()
        if found is None:
            return None
        if found.order_id != order_id or found.amount != amount:
            raise InvalidRequestError(
                f"商户退款单号 {out_refund_no[:64]!r} 已用于另一笔退款", code=INVALID_REQUEST
            )
        return refund_view(conn, found.id)

    def _transaction(
        self, conn: sa.Connection, mchid: str, out_trade_no: str | None, transaction_id: str | None
    ) -> Any:
        query = sa.select(wechat_transactions).where(wechat_transactions.c.merchant_id == mchid)
        if transaction_id is not None:
            query = query.where(wechat_transactions.c.transaction_id == transaction_id)
        else:
            query = query.join(checkouts).where(checkouts.c.out_trade_no == out_trade_no)
        tx = conn.execute(query).first()
        if tx is None:
            raise NotFoundError("订单不存在", code=ORDER_NOT_EXIST)
        return tx

    def query(self, mchid: str, out_refund_no: str) -> dict[str, Any]:
        with self.issuer.engine.connect() as conn:
            refund_id = conn.execute(
                sa.select(refunds.c.id)
                .select_from(refunds.join(wechat_refunds, _REFUND_ON))
                .where(refunds.c.merchant_id == mchid, refunds.c.out_refund_no == out_refund_no)
            ).scalar()
            if refund_id is None:
                raise NotFoundError("退款单不存在", code=RESOURCE_NOT_EXISTS)
            return refund_view(conn, refund_id)

    # --- trade bills ------------------------------------------------------------------

    def trade_bill(
        self, mchid: str, *, bill_date: str, bill_type: str, gzipped: bool
    ) -> tuple[str, str]:
        """Fix the bill of ``bill_date`` (China time); returns (token, SHA1 of the CSV)."""
        try:
            day = date.fromisoformat(bill_date)
        except ValueError:
            raise InvalidRequestError("bill_date 格式应为 yyyy-MM-DD", code=PARAM_ERROR) from None
        if bill_type not in _BILL_TYPES:
            raise InvalidRequestError("bill_type 只能是 ALL、SUCCESS 或 REFUND", code=PARAM_ERROR)
        today = business_day(self.issuer.now(), CST)
        if day > today or day < today - timedelta(days=92):
            raise InvalidRequestError("只能申请三个月内、今天及以前的账单", code=PARAM_ERROR)
        window = day_window(day, CST)  # the /v1 bills' day, always in China time here
        with self.issuer.engine.begin() as conn:
            csv_bytes = _bill_csv(conn, mchid, window, bill_type, self.issuer)
            token = secrets.token_urlsafe(24)
            conn.execute(
                wechat_bills.insert().values(
                    token=token,
                    merchant_id=mchid,
                    content=fixed_gzip(csv_bytes) if gzipped else csv_bytes,
                    gzip=gzipped,
                    created_at=to_epoch(self.issuer.now()),
                )
            )
        return token, hashlib.sha1(csv_bytes, usedforsecurity=False).hexdigest()  # v3's hash_type

    def bill_file(self, mchid: str, token: str) -> bytes:
        with self.issuer.engine.connect() as conn:
            content = conn.execute(
                sa.select(wechat_bills.c.content).where(
                    wechat_bills.c.token == token, wechat_bills.c.merchant_id == mchid
                )
            ).scalar()
        if content is None:
            raise NotFoundError("账单不存在或下载链接已失效", code=RESOURCE_NOT_EXISTS)
        return bytes(content)


def _fee(row: Any, issuer: Issuer) -> int:
    """The fee the merchant pays for a 免息 plan (fen), 0 when the buyer pays it: the
    installment fee of the buyer-paid plan with as many installments."""
    plan_id = row._mapping[orders.c.plan_id]
    if not plan_id.startswith("wx-free-"):
        return 0
    periods = int(plan_id.removeprefix("wx-free-"))
    for offer in issuer.offers:
        if offer.terms.periods == periods and offer.terms.fee_payer.value == "BUYER":
            fee = Decimal(row._mapping[checkouts.c.amount]) * offer.terms.fee_rate_per_period
            return int((fee * periods).quantize(Decimal(1), ROUND_HALF_UP))
    return 0


def _bill_csv(
    conn: sa.Connection, mchid: str, window: tuple[int, int], bill_type: str, issuer: Issuer
) -> bytes:
    rows: list[list[str]] = []
    totals = {"count": 0, "settle": 0, "refund": 0, "fee": 0, "order": 0}
    if bill_type in ("ALL", "SUCCESS"):
        paid = conn.execute(
            sa.select(wechat_transactions, checkouts, orders)
            .select_from(wechat_transactions.join(checkouts).join(orders))
            .where(
                wechat_transactions.c.merchant_id == mchid,
                wechat_transactions.c.success_time >= window[0],
                wechat_transactions.c.success_time < window[1],
            )
            .order_by(wechat_transactions.c.success_time)
        ).all()
        for r in paid:
            fee = _fee(r, issuer)
            rows.append(_line(r, trade_state(CheckoutState.CAPTURED)[0], r.amount, fee, None))
            totals["settle"] += r.amount
            totals["order"] += r.amount
            totals["fee"] += fee
    if bill_type in ("ALL", "REFUND"):
        back = conn.execute(
            sa.select(wechat_transactions, checkouts, orders, refunds, wechat_refunds)
            .select_from(
                wechat_refunds.join(refunds, _REFUND_ON)
                .join(orders, orders.c.id == refunds.c.order_id)
                .join(checkouts, checkouts.c.id == orders.c.checkout_id)
                .join(wechat_transactions)
            )
            .where(
                refunds.c.merchant_id == mchid,
                refunds.c.created_at >= window[0],
                refunds.c.created_at < window[1],
            )
            .order_by(refunds.c.created_at)
        ).all()
        for r in back:
            rows.append(_line(r, "REFUND", r.amount, 0, r))
            totals["refund"] += r._mapping[refunds.c.amount]
    totals["count"] = len(rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(BILL_HEADER)
    for line in rows:
        writer.writerow("`" + value for value in line)
    writer.writerow(BILL_SUMMARY_HEADER)
    writer.writerow(
        "`" + v
        for v in (
            str(totals["count"]),
            _yuan(totals["settle"]),
            _yuan(totals["refund"]),
            "0.00",
            _yuan(totals["fee"]),
            _yuan(totals["order"]),
            _yuan(totals["refund"]),
        )
    )
    return out.getvalue().encode("utf-8")


def _line(r: Any, state: str, amount: int, fee: int, refund: Any) -> list[str]:
    m = r._mapping
    is_refund = refund is not None
    when = m[refunds.c.created_at] if is_refund else m[wechat_transactions.c.success_time]
    refund_amount = m[refunds.c.amount] if is_refund else 0
    rate = "0.00%" if not fee else f"{Decimal(fee * 100) / m[checkouts.c.amount]:.2f}%"
    return [
        (cst_time(when) or "").replace("T", " ")[:19],
        m[wechat_transactions.c.appid],
        m[wechat_transactions.c.merchant_id],
        "0",
        "",
        m[wechat_transactions.c.transaction_id],
        m[checkouts.c.out_trade_no],
        "",
        m[wechat_transactions.c.trade_type],
        state,
        "OTHERS",
        "CNY",
        _yuan(0 if is_refund else m[checkouts.c.amount]),
        "0.00",
        m[wechat_refunds.c.wx_refund_id] if is_refund else "0",
        m[refunds.c.out_refund_no] if is_refund else "0",
        _yuan(refund_amount),
        "0.00",
        "ORIGINAL" if is_refund else "",
        "SUCCESS" if is_refund else "",
        m[checkouts.c.description],
        m[wechat_transactions.c.attach] or "",
        _yuan(fee),
        rate,
        _yuan(m[checkouts.c.amount]),
        _yuan(refund_amount),
        "",
    ]
