"""v3 payments on the shared order book: prepay, the buyer's payment, query, close.

In v3 terms a payment is authorize and capture in one step: when the buyer pays, one
transaction places the hold, opens the order and captures it (the same ledger moves as
``/v1``'s authorize + capture), records the chosen plan and enqueues TRANSACTION.SUCCESS.
The plans a v3 checkout offers are the issuer's 分付 offers for 3, 6 and 12 installments;
a ``subsidy_percent`` of 100 turns one into its 免息 twin (the merchant pays the fee).
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ....errors import ConflictError, CreditDeclinedError, InvalidRequestError, NotFoundError
from ....installments import FeePayer, Method, PlanOffer, PlanQuote, PlanTerms
from ....lifecycle import CheckoutState
from ....money import Money
from ...delivery.store import enqueue
from ...storage.locking import locked
from ...storage.records import CheckoutRow, WechatTransactionRow
from ...storage.schema import buyers, checkouts, orders, to_epoch, wechat_transactions
from .. import captures, credit, lifecycle
from ..urls import url_allowed
from .params import INVALID_REQUEST, ORDER_CLOSED, ORDER_NOT_EXIST, PARAM_ERROR, RESOURCE_NOT_EXISTS
from .views import trade_state, transaction_view

if TYPE_CHECKING:
    from ..issuer import Issuer

__all__ = ["Payments", "v3_offers"]


def v3_offers(issuer_offers: tuple[PlanOffer, ...], subsidy: dict[int, int]) -> list[PlanOffer]:
    """The 分付 plans of a v3 checkout: 3/6/12 installments, 免息 where subsidised."""
    result = []
    for offer in issuer_offers:
        terms = offer.terms
        if terms.method is not Method.FLAT_FEE or terms.periods not in (3, 6, 12):
            continue
        if subsidy.get(terms.periods) == 100:
            free = PlanTerms(
                terms.periods,
                Method.INTEREST_FREE,
                fee_rate_per_period=terms.fee_rate_per_period,
                fee_payer=FeePayer.MERCHANT,
                due_day=terms.due_day,  # the product's repayment day (SERVICING)
            )
            name = f"{terms.periods}期免息 {terms.periods} interest-free installments"
            offer = PlanOffer(
                f"wx-free-{terms.periods}", name, free, offer.min_amount, offer.max_amount
            )
        result.append(offer)
    return result


def _prepay_id(now: datetime) -> str:
    return "wx" + now.strftime("%d%H%M%S") + secrets.token_hex(13)


def _transaction_id(now: datetime) -> str:
    return "4200" + now.strftime("%Y%m%d") + str(secrets.randbelow(10**20)).zfill(20)


class Payments:
    """The v3 payment operations over one issuer (each public method one transaction)."""

    def __init__(self, issuer: Issuer) -> None:
        self.issuer = issuer

    # --- prepay ---------------------------------------------------------------------

    def prepay(
        self,
        mchid: str,
        *,
        trade_type: str,
        appid: str,
        out_trade_no: str,
        description: str,
        notify_url: str,
        total: int,
        buyer_id: str | None,
        attach: str | None,
        subsidy: dict[int, int],
        expires_in: int | None,
        base_url: str,
    ) -> str:
        """Create the checkout behind a prepay and return its ``prepay_id``.

        The same ``out_trade_no`` with the same amount while unpaid answers the same
        ``prepay_id`` again (as WeChat Pay does); anything else reusing it is refused.
        """
        issuer = self.issuer
        merchant = issuer.merchant(mchid)
        if merchant is None:
            raise NotFoundError("商户不存在", code=RESOURCE_NOT_EXISTS)
        if not url_allowed(notify_url, json.loads(merchant.notify_prefixes)):
            raise InvalidRequestError(
                "notify_url 不在商户登记的通知地址前缀下 (not under a registered prefix)",
                code=PARAM_ERROR,
                field="notify_url",
            )
        amount = Money.from_minor(total, "CNY")
        offers = v3_offers(issuer.offers, subsidy)
        now = issuer.now()
        quotes = issuer.orders.quotes(amount, offers, now)
        if not quotes:
            raise InvalidRequestError(f"{amount} 不在分付可用金额范围内", code=PARAM_ERROR)
        ttl = expires_in if expires_in is not None else issuer.config.checkout_ttl
        checkout_id = lifecycle.new_id("co")
        prepay_id = _prepay_id(now)
        try:
            with issuer.engine.begin() as conn:
                again = self._same_prepay(conn, mchid, out_trade_no, total)
                if again is not None:
                    return again
                base = (issuer.config.public_url or base_url).rstrip("/")
                conn.execute(
                    checkouts.insert().values(
                        id=checkout_id,
                        merchant_id=mchid,
                        out_trade_no=out_trade_no,
                        state=CheckoutState.CREATED,
                        amount=total,
                        currency="CNY",
                        description=description,
                        notify_url=notify_url,
                        return_url=notify_url,
                        plans_json=json.dumps([q.to_json() for q in quotes]),
                        authorize_url=f"{base}/v3/sandbox/pay?prepay_id={prepay_id}",
                        created_at=to_epoch(now),
                        expires_at=to_epoch(now + timedelta(seconds=ttl)),
                    )
                )
                conn.execute(
                    wechat_transactions.insert().values(
                        checkout_id=checkout_id,
                        merchant_id=mchid,
                        appid=appid,
                        trade_type=trade_type,
                        prepay_id=prepay_id,
                        transaction_id=_transaction_id(now),
                        buyer_id=buyer_id,
                        attach=attach,
                        subsidy_json=json.dumps({str(k): v for k, v in subsidy.items()}),
                        created_at=to_epoch(now),
                    )
                )
        except IntegrityError:
            raise _duplicate(out_trade_no) from None
        return prepay_id

    def _same_prepay(
        self, conn: sa.Connection, mchid: str, out_trade_no: str, total: int
    ) -> str | None:
        row = conn.execute(
            sa.select(checkouts.c.state, checkouts.c.amount, wechat_transactions.c.prepay_id)
            .select_from(checkouts.outerjoin(wechat_transactions))
            .where(checkouts.c.merchant_id == mchid, checkouts.c.out_trade_no == out_trade_no)
        ).first()
        if row is None:
            return None
        if row.prepay_id and row.state == CheckoutState.CREATED and row.amount == total:
            return str(row.prepay_id)
        if row.state in (CheckoutState.CLOSED, CheckoutState.EXPIRED):
            raise InvalidRequestError("订单已关闭 (the order is closed)", code=ORDER_CLOSED)
        raise _duplicate(out_trade_no)

    # --- the buyer's side -------------------------------------------------------------

    def checkout_for_prepay(self, prepay_id: str) -> dict[str, Any]:
        """What the sandbox page shows: the order, the buyer, the plans (免息 marked)."""
        issuer = self.issuer
        issuer.sweep()
        with issuer.engine.connect() as conn:
            tx = self._tx_by(conn, wechat_transactions.c.prepay_id, prepay_id)
            view = issuer.orders.consent_view(tx.checkout_id)
        subsidy = {int(k): v for k, v in json.loads(tx.subsidy_json or "{}").items()}
        with issuer.engine.connect() as conn:
            row = conn.execute(sa.select(checkouts).where(checkouts.c.id == tx.checkout_id)).one()
        offered = {p["plan_id"] for p in json.loads(row.plans_json)}
        offers = [o for o in v3_offers(issuer.offers, subsidy) if o.plan_id in offered]
        created = datetime.fromtimestamp(row.created_at, issuer.now().tzinfo)
        # the v3 plans (免息 twins included), priced as when the prepay was made
        view["plans"] = issuer.orders.quotes(view["amount"], offers, created)
        view["prepay_id"] = prepay_id
        view["buyer_id"] = tx.buyer_id
        view["subsidy"] = subsidy
        view["trade_state"] = trade_state(view["state"])[0]
        return view

    def pay(
        self, prepay_id: str, installments: int, *, buyer_id: str | None = None
    ) -> dict[str, Any]:
        """The buyer pays with 分付 in ``installments``: authorize and capture at once."""
        issuer = self.issuer
        issuer.sweep()
        now = issuer.now()
        with issuer.engine.begin() as conn:
            tx = self._tx_by(conn, wechat_transactions.c.prepay_id, prepay_id)
            payer = tx.buyer_id or buyer_id
            if payer is None:
                raise InvalidRequestError("需要指定付款的测试买家 (buyer_id)", code=PARAM_ERROR)
            if buyer_id is not None and tx.buyer_id is not None and buyer_id != tx.buyer_id:
                raise InvalidRequestError("这笔订单属于另一位买家", code=INVALID_REQUEST)
            row = conn.execute(
                locked(sa.select(checkouts).where(checkouts.c.id == tx.checkout_id))
            ).one()
            _payable(row.state)
            quote, offer = self._plan(row, tx, installments)
            amount = Money.from_minor(row.amount, row.currency)
            buyer = conn.execute(sa.select(buyers).where(buyers.c.id == payer)).first()
            if buyer is None:
                raise NotFoundError("买家不存在", code=RESOURCE_NOT_EXISTS)
            reasons = credit.credit_reasons(buyer, amount, in_range=True)
            if reasons:
                raise CreditDeclinedError(
                    f"分付额度不足或不可用: {reasons[0]}", reason=reasons[0], code="CREDIT_DECLINED"
                )
            claimed = conn.execute(
                checkouts.update()
                .where(checkouts.c.id == row.id, checkouts.c.state == CheckoutState.CREATED)
                .values(state=CheckoutState.AUTHORIZED)
            )
            if claimed.rowcount != 1:
                raise ConflictError("订单状态已变化，请重试", code="INVALID_STATE")
            # The order book's own hold-and-insert, then the one capture: the same
            # ledger moves as /v1 authorize + capture, here in one transaction.
            order_id = issuer.orders._open_order(conn, row, payer, quote, now)
            order = conn.execute(locked(sa.select(orders).where(orders.c.id == order_id))).one()
            captures.capture_order(conn, order, None, offer, now, config=issuer.config)
            conn.execute(
                wechat_transactions.update()
                .where(wechat_transactions.c.checkout_id == row.id)
                .values(installments=installments, success_time=to_epoch(now), buyer_id=payer)
            )
            resource = transaction_view(conn, row.id)
            enqueue(
                conn,
                merchant_id=row.merchant_id,
                notify_url=row.notify_url,
                event_type="TRANSACTION.SUCCESS",
                original_type="transaction",
                resource=resource,
                summary="支付成功",
                now=now,
            )
            return resource

    def _plan(
        self, row: CheckoutRow, tx: WechatTransactionRow, installments: int
    ) -> tuple[PlanQuote, PlanOffer]:
        subsidy = {int(k): v for k, v in json.loads(tx.subsidy_json or "{}").items()}
        offered = {p["plan_id"] for p in json.loads(row.plans_json)}
        for offer in v3_offers(self.issuer.offers, subsidy):
            if offer.terms.periods == installments and offer.plan_id in offered:
                amount = Money.from_minor(row.amount, row.currency)
                created = datetime.fromtimestamp(row.created_at, self.issuer.now().tzinfo)
                quotes = self.issuer.orders.quotes(amount, [offer], created)
                if quotes:
                    return quotes[0], offer
        raise InvalidRequestError(f"这笔订单不提供 {installments} 期分付", code=PARAM_ERROR)

    # --- the merchant's queries ------------------------------------------------------------

    def _tx_by(
        self,
        conn: sa.Connection,
        column: sa.Column[str],
        value: str,
        mchid: str | None = None,
    ) -> WechatTransactionRow:
        query = sa.select(wechat_transactions).where(column == value)
        if mchid is not None:
            query = query.where(wechat_transactions.c.merchant_id == mchid)
        tx = conn.execute(query).first()
        if tx is None:
            raise NotFoundError("订单不存在", code=ORDER_NOT_EXIST)
        return tx

    def _checkout_id(self, conn: sa.Connection, mchid: str, out_trade_no: str) -> str:
        found = conn.execute(
            sa.select(wechat_transactions.c.checkout_id)
            .select_from(checkouts.join(wechat_transactions))
            .where(checkouts.c.merchant_id == mchid, checkouts.c.out_trade_no == out_trade_no)
        ).scalar()
        if found is None:
            raise NotFoundError("订单不存在", code=ORDER_NOT_EXIST)
        return str(found)

    def query(
        self, mchid: str, *, out_trade_no: str | None = None, transaction_id: str | None = None
    ) -> dict[str, Any]:
        issuer = self.issuer
        issuer.sweep()
        with issuer.engine.connect() as conn:
            if out_trade_no is not None:
                checkout_id = self._checkout_id(conn, mchid, out_trade_no)
            else:
                tx = self._tx_by(conn, wechat_transactions.c.transaction_id, transaction_id or "")
                if tx.merchant_id != mchid or tx.success_time is None:
                    raise NotFoundError("订单不存在", code=ORDER_NOT_EXIST)
                checkout_id = tx.checkout_id
            return transaction_view(conn, checkout_id)

    def close(self, mchid: str, out_trade_no: str) -> None:
        """Close an unpaid order (again: no-op); a paid one cannot be closed."""
        issuer = self.issuer
        with issuer.engine.begin() as conn:
            checkout_id = self._checkout_id(conn, mchid, out_trade_no)
            row = conn.execute(
                locked(sa.select(checkouts).where(checkouts.c.id == checkout_id))
            ).one()
            if row.state in (CheckoutState.CLOSED, CheckoutState.EXPIRED):
                return
            if row.state != CheckoutState.CREATED:
                raise InvalidRequestError("订单已支付，不能关闭 (ORDERPAID)", code=INVALID_REQUEST)
            lifecycle.close_checkout(conn, row, issuer.now())


def _payable(state: str) -> None:
    if state in (CheckoutState.CLOSED, CheckoutState.EXPIRED):
        raise InvalidRequestError("订单已关闭", code=ORDER_CLOSED)
    if state != CheckoutState.CREATED:
        raise InvalidRequestError("订单已支付", code=INVALID_REQUEST)


def _duplicate(out_trade_no: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"商户订单号重复 (out_trade_no {out_trade_no[:32]!r} was already used)",
        code=INVALID_REQUEST,
    )
