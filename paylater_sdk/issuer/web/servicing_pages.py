"""The buyer's servicing pages: bills, an order's schedule and payoff quote, repay, receipts.

``/account/bills/<YYYY-MM>``, ``/account/orders/<id>``, ``POST /account/repay`` and
``/account/receipts/<id>``: phone-sized, Chinese first and English below, server-rendered,
working without JavaScript. They copy the consent page's protections (:mod:`.consent`): a
per-session CSRF token in every form, compared in constant time; Jinja autoescaping; a
strict Content-Security-Policy (no scripts, no framing). Sign-in is the consent page's
phone + code check, kept in Flask's signed session (``/account/servicing/signin``); the
``/account`` home and credit-line pages live in another module and link here.

The repayments go through the same engine as the test API
(:meth:`OrderBook.repay <paylater_sdk.issuer.domain.orderbook.OrderBook.repay>`). In test
mode the buyer pays from a simulated payment source (no money moves); otherwise the forms
are refused, since the mock issuer has no real payment source to charge.
"""

from __future__ import annotations

import hmac
import re
import secrets
from typing import Any

from flask import Blueprint, make_response, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from ...errors import PayLaterError
from ...installments import ServicingError
from ...money import Money
from ..domain import repayments, servicing
from ..domain.messages import buyer_messages
from ._context import current_issuer as _issuer
from ._pages import csrf_ok, csrf_token, renew_csrf, secure
from .consent import format_money

__all__ = ["blueprint"]

blueprint = Blueprint("servicing_pages", __name__, template_folder="templates")

_SESSION_KEY = "paylater_account"
_MONTH = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
_PHONE = re.compile(r"^\+?[0-9]{5,20}$")
_CODE = re.compile(r"^[0-9]{4,8}$")
_YUAN = re.compile(r"^[0-9]{1,11}(\.[0-9]{1,2})?$")
_PARTS = {
    "PENALTY": ("罚息", "penalty interest"),
    "LATE_FEE": ("滞纳金", "late fee"),
    "FEE": ("手续费", "fee"),
    "INTEREST": ("利息", "interest"),
    "PRINCIPAL": ("本金", "principal"),
    "PREPAYMENT": ("提前还本", "principal prepaid"),
}
_ACTIONS = {"bill": "DUE", "amount": "DUE", "payoff": "PAYOFF", "prepay": "PREPAY"}


def _buyer_id() -> str | None:
    """The signed-in buyer: one session with the credit pages (``/account``), which keep
    the sealed phone; a sign-in here keeps both, so either page's sign-in serves both."""
    state = session.get(_SESSION_KEY)
    if not isinstance(state, dict):
        return None
    if isinstance(state.get("buyer_id"), str):
        return str(state["buyer_id"])
    sealed = state.get("phone")
    if not isinstance(sealed, str):
        return None
    try:
        phone = _issuer().phones.open(sealed)
    except Exception:  # a session sealed under another key: sign in again
        return None
    buyer = _issuer().buyer_by_phone(phone)
    return buyer.id if buyer is not None else None


def _page(template: str, status: int = 200, **context: Any) -> Response:
    nonce = secrets.token_urlsafe(16)
    html = render_template(
        f"paylater_issuer/{template}",
        csrf_token=csrf_token(),
        style_nonce=nonce,
        test_mode=_issuer().config.test_mode,
        signed_in=_buyer_id() is not None,
        this_month=_issuer().now().date().isoformat()[:7],
        format_money=format_money,
        part_label=lambda part: _PARTS.get(part, (part, part)),
        **context,
    )
    response = make_response(html, status)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    return secure(response, nonce)


def _message(title: tuple[str, str], status: int) -> Response:
    return _page("servicing_message.html", status, title=title)


def _to_signin() -> Response:
    target = request.path if request.method == "GET" else url_for(".bills", month=_month_now())
    return redirect(url_for(".signin", next=target), code=303)


def _month_now() -> str:
    return _issuer().now().date().isoformat()[:7]


#: The product's payoff_fees rule, disclosed beside the quote (Chinese first).
_PAYOFF_RULES = {
    "CURRENT_PERIOD": "提前还清收取当期手续费，以后各期免收",
    "DUE_ONLY": "提前还清只收取已到期的手续费",
    "ALL": "提前还清收取剩余各期全部手续费",
}


def _money(data: Any) -> Any:
    """JSON money (``{"value", "currency"}``) as Money, recursively through dicts/lists."""
    if isinstance(data, dict) and set(data) == {"value", "currency"}:
        return Money.from_json(data)
    if isinstance(data, dict):
        return {k: _money(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_money(v) for v in data]
    return data


# --- sign-in -----------------------------------------------------------------------------


@blueprint.route("/account/servicing/signin", methods=["GET", "POST"])
def signin() -> Response:
    next_url = request.values.get("next", "")
    if not next_url.startswith("/account/") or "//" in next_url:
        next_url = url_for(".bills", month=_month_now())
    if request.method == "GET":
        return _page("servicing_signin.html", next_url=next_url)
    if not csrf_ok():
        return _message(("页面已过期，请刷新后重试", "This page has expired; reload it."), 403)
    phone = request.form.get("phone", "").strip().replace(" ", "")
    code = request.form.get("code", "").strip()
    bad = ("手机号或验证码不正确", "The phone number or the code is wrong.")
    buyer = _issuer().buyer_by_phone(phone) if _PHONE.match(phone) else None
    if (
        buyer is None
        or not _CODE.match(code)
        or not hmac.compare_digest(str(buyer.test_code).encode(), code.encode())
    ):
        return _page("servicing_signin.html", 401, error=bad, phone=phone[:20], next_url=next_url)
    renew_csrf()  # a fresh token after signing in
    session[_SESSION_KEY] = {"buyer_id": buyer.id, "phone": _issuer().phones.seal(phone)}
    return redirect(next_url, code=303)


# --- pages -------------------------------------------------------------------------------


@blueprint.get("/account/bills/<month>")
def bills(month: str) -> Response:
    buyer_id = _buyer_id()
    if buyer_id is None:
        return _to_signin()
    if not _MONTH.match(month):
        return _message(("月份格式应为 YYYY-MM", "The month is written YYYY-MM."), 404)
    issuer = _issuer()
    issuer.sweep()
    today = issuer.now().date()
    bill = servicing.statement(issuer.engine, buyer_id, month, today=today, config=issuer.config)
    view = servicing.servicing_view(issuer.engine, buyer_id, today=today, config=issuer.config)
    return _page(
        "servicing_bill.html",
        bill=_money(bill),
        owed_now=Money.from_json(view["owed_now"]),
        orders=view["orders"],
        messages=list(reversed(buyer_messages(issuer.engine, buyer_id)))[:20],
    )


@blueprint.get("/account/orders/<order_id>")
def order(order_id: str) -> Response:
    buyer_id = _buyer_id()
    if buyer_id is None:
        return _to_signin()
    issuer = _issuer()
    issuer.sweep()
    view = servicing.servicing_view(
        issuer.engine, buyer_id, today=issuer.now().date(), config=issuer.config
    )
    mine = [o for o in view["orders"] if o["order_id"] == order_id] if _ID.match(order_id) else []
    if not mine:
        return _message(("找不到这笔订单", "No such order in your account."), 404)
    o = mine[0]
    return _page(
        "servicing_order.html",
        order={
            "order_id": o["order_id"],
            "outstanding": Money.from_json(o["outstanding_principal"]),
            "installments": _money(o["installments"]),
            "quote": None if o["payoff_quote"] is None else _money(o["payoff_quote"]),
            "payoff_rule": _PAYOFF_RULES[o["servicing"]["payoff_fees"]],
        },
    )


@blueprint.post("/account/repay")
def repay() -> Response:
    buyer_id = _buyer_id()
    if buyer_id is None:
        return _to_signin()
    if not csrf_ok():
        return _message(("页面已过期，请刷新后重试", "This page has expired; reload it."), 403)
    issuer = _issuer()
    if not issuer.config.test_mode:
        return _message(("暂无可用的付款方式", "No payment source is available."), 403)
    action = request.form.get("action", "")
    order_id = request.form.get("order_id") or None
    raw = request.form.get("amount", "").strip()
    if action not in _ACTIONS or (order_id is not None and not _ID.match(order_id)):
        return _message(("无效的请求", "Invalid request."), 400)
    amount = None
    if action != "bill":
        if not _YUAN.match(raw):
            return _message(("请输入正确的金额", "Please enter an amount such as 12.34."), 400)
        amount = Money(raw, "CNY")
    try:
        answer = issuer.orders.repay(buyer_id, order_id, amount, mode=_ACTIONS[action])
    except ServicingError as exc:
        return _message(_refusal(exc), 409 if exc.code == "NOTHING_OWED" else 400)
    except PayLaterError:
        return _message(("还款失败，请稍后重试", "The repayment failed; please try again."), 400)
    return redirect(url_for(".receipt", repayment_id=answer["repayment_id"]), code=303)


def _refusal(exc: ServicingError) -> tuple[str, str]:
    words = {
        "AMOUNT_EXCEEDS_OWED": ("金额超过应还金额", "That is more than you owe."),
        "NOTHING_OWED": ("目前没有需要还款的金额", "Nothing is owed right now."),
        "PAYOFF_AMOUNT_MISMATCH": ("提前还清金额已变化，请刷新", "The payoff amount changed."),
        "INVALID_AMOUNT": ("请输入正确的金额", "Please enter a valid amount."),
    }
    return words.get(exc.code or "", ("无法还款", "This repayment cannot be made."))


@blueprint.get("/account/receipts/<repayment_id>")
def receipt(repayment_id: str) -> Response:
    buyer_id = _buyer_id()
    if buyer_id is None:
        return _to_signin()
    found = (
        repayments.receipt(_issuer().engine, buyer_id, repayment_id)
        if _ID.match(repayment_id)
        else None
    )
    if found is None:
        return _message(("找不到这笔还款", "No such repayment in your account."), 404)
    return _page("servicing_receipt.html", receipt=_money(found))
