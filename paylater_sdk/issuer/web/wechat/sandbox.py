"""The buyer's side of ``wx.requestPayment``: the sandbox page and its test control.

WeChat Pay has no sandbox for 分付; here the test buyer named by the prepay's openid picks
分付 and a plan (the subsidised ones shown as 免息) or declines, on a phone-sized page
(``/v3/sandbox/pay?prepay_id=``, Chinese first, a CSRF token per session like the consent
page) or through ``POST /v3/sandbox/test/pay`` without a browser. Both call the same domain
operation, so they cannot differ.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, Response, render_template, request

from ....errors import CreditDeclinedError, PayLaterError
from ...domain.wechat import openid_for, phone_hash
from .._context import current_issuer
from .._pages import csrf_ok, csrf_token, renew_csrf, secure
from ..consent import decline_message, format_money
from ..wire import bad, json_response, parse_json_body
from .api import desk
from .errors import v3_answer

__all__ = ["blueprint", "testctl"]

blueprint = Blueprint("paylater_wechat_sandbox", __name__, url_prefix="/v3/sandbox")
testctl = Blueprint("paylater_wechat_testctl", __name__, url_prefix="/v3/sandbox/test")

_CSRF_KEY = "paylater_wechat_csrf"


def _page(view: dict[str, Any] | None, status: int = 200, **extra: Any) -> Response:
    nonce = secrets.token_urlsafe(16)
    html = render_template(
        "paylater_issuer/wechat_pay.html",
        view=view,
        csrf_token=csrf_token(_CSRF_KEY),
        style_nonce=nonce,
        format_money=format_money,
        **extra,
    )
    return secure(Response(html, status=status, mimetype="text/html"), nonce)


def _plans(view: dict[str, Any]) -> list[dict[str, Any]]:
    """Each plan with its installment count and whether the buyer pays no fee (免息)."""
    result = []
    for quote in view["plans"]:
        periods = quote.terms.periods
        result.append(
            {
                "periods": periods,
                "free": view["subsidy"].get(periods) == 100,
                "per": format_money(quote.regular_payment),
                "total": format_money(quote.total_amount),
                "cost": format_money(quote.total_cost),
            }
        )
    return result


@blueprint.route("/pay", methods=["GET", "POST"])
def sandbox_pay() -> Response:
    prepay_id = request.args.get("prepay_id", "")
    try:
        view = desk().payments.checkout_for_prepay(prepay_id)
    except PayLaterError:
        return _page(None, 404, error=("找不到这笔订单", "No such order (prepay_id)."))
    view["plan_rows"] = _plans(view)
    if view["trade_state"] != "NOTPAY" or view["expired"]:
        return _page(view, 409, error=("这笔订单已无法支付", "This order can no longer be paid."))
    if request.method == "GET":
        return _page(view)
    if not csrf_ok(_CSRF_KEY):
        return _page(view, 400, error=("页面已过期，请刷新后重试", "The page expired; reload it."))
    if request.form.get("action") == "decline":
        return _page(view, done=("已取消支付", "You declined; nothing was charged."))
    try:
        installments = int(request.form.get("installments", ""))
        desk().payments.pay(prepay_id, installments)
    except ValueError:
        return _page(view, 400, error=("请选择分期方案", "Choose a plan."))
    except CreditDeclinedError as exc:
        return _page(view, 402, error=decline_message(exc.reason))
    except PayLaterError as exc:
        return _page(view, 409, error=("支付失败", str(exc.message)[:200]))
    renew_csrf(_CSRF_KEY)
    view["trade_state"] = "SUCCESS"
    return _page(view, done=("支付成功", f"Paid with 分付 in {installments} installments."))


# --- test controls (test mode only, unsigned, like /_test) -----------------------------------


@testctl.errorhandler(PayLaterError)
def _deliberate(exc: PayLaterError) -> Response:
    answer = v3_answer(exc)
    if answer is None:
        return json_response({"code": "SYSTEM_ERROR", "message": "系统错误"}, 500)
    return json_response(answer[1], answer[0])


@testctl.post("/pay")
def test_pay() -> Response:
    """``{"prepay_id", "installment_num"[, "buyer_id"]}`` pays; ``{"prepay_id",
    "decline": true}`` declines (the order stays NOTPAY)."""
    data = parse_json_body()
    prepay_id = data.get("prepay_id")
    if not isinstance(prepay_id, str) or not prepay_id:
        raise bad("INVALID_FIELD", "prepay_id is required", field="prepay_id")
    if data.get("decline") is True:
        view = desk().payments.checkout_for_prepay(prepay_id)
        return json_response({"prepay_id": prepay_id, "trade_state": view["trade_state"]})
    installments = data.get("installment_num")
    if isinstance(installments, bool) or not isinstance(installments, int):
        raise bad("INVALID_FIELD", "installment_num must be 3, 6 or 12", field="installment_num")
    buyer_id = data.get("buyer_id")
    if buyer_id is not None and not isinstance(buyer_id, str):
        raise bad("INVALID_FIELD", "buyer_id must be a string", field="buyer_id")
    return json_response(desk().payments.pay(prepay_id, installments, buyer_id=buyer_id))


@testctl.post("/payers")
def test_payer() -> Response:
    """``{"buyer_id"}`` or ``{"phone"}`` -> the buyer's ``openid`` and ``phone_number_hash``."""
    data = parse_json_body()
    issuer = current_issuer()
    phone = data.get("phone")
    buyer_id = data.get("buyer_id")
    if isinstance(phone, str):
        buyer = issuer.buyer_by_phone(phone)
        if buyer is None:
            raise bad("NOT_FOUND", "no test buyer with this phone", field="phone")
        buyer_id, phone_value = buyer.id, buyer.phone
    elif isinstance(buyer_id, str):
        found = desk().payer(openid=openid_for(buyer_id))
        if found is None:
            raise bad("NOT_FOUND", "no test buyer with this id", field="buyer_id")
        phone_value = None
    else:
        raise bad("MISSING_FIELD", "give buyer_id or phone", field="buyer_id")
    answer: dict[str, Any] = {"buyer_id": buyer_id, "openid": desk().openid(buyer_id)}
    if phone_value is not None:
        answer["phone_number_hash"] = phone_hash(phone_value)
    return json_response(answer)


@testctl.get("/platform")
def test_platform() -> Response:
    """The platform public key id and PEM (public-key mode) and certificates (PEM)."""
    platform = desk().platform
    key_id, pem = platform.public_key()
    certs = [
        {"serial_no": c.serial, "certificate": c.pem.decode()} for c in platform.certificates()
    ]
    return json_response({"public_key_id": key_id, "public_key": pem, "certificates": certs})
