"""``/v3``: the WeChat Pay v3 surface a 分付 merchant uses, verified and signed like v3.

Each request: a test fault (``error_500``/``timeout``), then the ``WECHATPAY2-SHA256-
RSA2048`` signature from the merchant's certificate serial over the raw body and the
request target as sent (401 ``SIGN_ERROR``), then the route's own checks. Answers and
errors are signed by the hook in :mod:`.` with the platform key, in the merchant's mode.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Blueprint, Response, current_app, g, request

from ....errors import PayLaterError, SignatureError
from ....signing import WECHATPAY_V3, encrypt_resource, verify_request
from ...domain.wechat import WeChatDesk
from ...domain.wechat.params import (
    amount_total,
    optional_text,
    param_error,
    subsidy_plans,
    text,
    time_expire,
)
from ...domain.wechat.views import CST
from .._context import current_issuer
from .._request import injected_error, request_target
from ..wire import json_response
from .errors import v3_answer

__all__ = ["EXTENSION", "blueprint", "desk", "v3_error"]

EXTENSION = "paylater_wechat"
blueprint = Blueprint("paylater_wechat", __name__, url_prefix="/v3")

_MCHID_RE = re.compile(r'(?:^|[\s,])mchid="([^"]{1,64})"')
_TRADE_NO = r"[A-Za-z0-9_\-|*]{6,32}"
_REFUND_NO = r"[A-Za-z0-9_\-|*@]{1,64}"


def desk() -> WeChatDesk:
    found: WeChatDesk = current_app.extensions[EXTENSION]
    return found


def v3_error(status: int, code: str, message: str) -> Response:
    return json_response({"code": code, "message": message}, status)


@blueprint.before_request
def _authenticate() -> Response | None:
    issuer = current_issuer()
    if injected_error(issuer):
        return v3_error(500, "SYSTEM_ERROR", "系统错误 (injected test fault: error_500)")
    body = request.get_data(cache=True)
    authorization = request.headers.get("Authorization") or ""
    if not authorization:
        return v3_error(401, "SIGN_ERROR", "Http头缺少Authorization (sign the request)")
    found = _MCHID_RE.search(authorization[:4096])
    merchant = desk().merchant(found.group(1)) if found else None
    keyring = issuer.merchant_keyring(found.group(1)) if found and merchant else None
    if merchant is None or keyring is None:
        return v3_error(401, "SIGN_ERROR", "商户号不存在或未开通 APIv3 (unknown v3 merchant)")
    try:
        verify_request(
            authorization,
            request.method,
            request_target(),
            body,
            keyring=keyring,
            nonce_store=issuer.nonce_store,
            profile=WECHATPAY_V3,
            max_skew=issuer.config.max_skew,
        )
    except SignatureError as exc:
        return v3_error(401, "SIGN_ERROR", f"签名错误: {str(exc.message)[:300]}")
    g.wechat_merchant = merchant
    issuer.sweep()
    return None


@blueprint.errorhandler(PayLaterError)
def _deliberate(exc: PayLaterError) -> Response:
    answer = v3_answer(exc)
    if answer is None:
        return v3_error(500, "SYSTEM_ERROR", "系统错误")
    return json_response(answer[1], answer[0])


def _json() -> dict[str, Any]:
    raw = request.get_data(cache=True)
    if request.mimetype != "application/json":
        raise param_error("Content-Type 必须是 application/json")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise param_error("请求体不是合法的 JSON (the body is not JSON)") from None
    if not isinstance(data, dict):
        raise param_error("请求体必须是 JSON 对象")
    return data


def _mchid() -> str:
    mchid: str = g.wechat_merchant.mchid
    return mchid


def _check_mchid(value: Any, name: str = "mchid") -> None:
    if value != _mchid():
        raise param_error(f"{name} 与请求签名的商户号不一致", name)


# --- platform certificates -----------------------------------------------------------------


@blueprint.get("/certificates")
def certificates() -> Response:
    apiv3_key = g.wechat_merchant.apiv3_key
    data = []
    for cert in desk().platform.certificates():
        data.append(
            {
                "serial_no": cert.serial,
                "effective_time": cert.not_before.astimezone(CST).isoformat(),
                "expire_time": cert.not_after.astimezone(CST).isoformat(),
                "encrypt_certificate": encrypt_resource(
                    cert.pem, apiv3_key, associated_data="certificate"
                ),
            }
        )
    return json_response({"data": data})


# --- 分付 exposure advice ---------------------------------------------------------------------


@blueprint.post("/pay/transactions/exposure")
@blueprint.post("/pay/instal/exposure")
def exposure() -> Response:
    data = _json()
    if "mchid" in data:
        _check_mchid(data["mchid"])
    payer = data.get("payer")
    if not isinstance(payer, dict):
        raise param_error("payer 必填 (openid 或 phone_number_hash)", "payer")
    openid = optional_text(payer, "openid", max_len=128)
    phone_hash = optional_text(payer, "phone_number_hash", max_len=64)
    if (openid is None) == (phone_hash is None):
        raise param_error("payer 需要 openid 或 phone_number_hash 之一", "payer")
    if phone_hash is not None and not re.fullmatch(r"[0-9A-F]{64}", phone_hash):
        raise param_error(
            "phone_number_hash 是手机号 SM3 摘要的大写十六进制", "payer.phone_number_hash"
        )
    total = amount_total(data)[0] if data.get("amount") is not None else None
    answer = desk().exposure(_mchid(), openid=openid, phone_number_hash=phone_hash, total=total)
    return json_response(answer)


# --- prepay ------------------------------------------------------------------------------------


@blueprint.post("/pay/transactions/jsapi")
def prepay_jsapi() -> Response:
    return _prepay("JSAPI")


@blueprint.post("/pay/transactions/app")
def prepay_app() -> Response:
    return _prepay("APP")


def _prepay(trade_type: str) -> Response:
    data = _json()
    the_desk = desk()
    appid = text(data, "appid", max_len=32)
    _check_mchid(text(data, "mchid", max_len=32))
    description = text(data, "description", max_len=127)
    out_trade_no = text(data, "out_trade_no", max_len=32, pattern=_TRADE_NO)
    notify_url = text(data, "notify_url", max_len=255, pattern=r"https?://\S+")
    total, _ = amount_total(data)
    buyer_id = None
    payer = data.get("payer")
    if trade_type == "JSAPI" or payer is not None:
        if not isinstance(payer, dict):
            raise param_error("payer 必填", "payer")
        openid = text(payer, "openid", max_len=128, prefix="payer.")
        buyer_id = the_desk.payer(openid=openid)
        if buyer_id is None:
            raise param_error("payer.openid 不是已知的测试买家 (unknown openid)", "payer.openid")
    subsidy = subsidy_plans(data)
    issuer = current_issuer()
    prepay_id = the_desk.payments.prepay(
        _mchid(),
        trade_type=trade_type,
        appid=appid,
        out_trade_no=out_trade_no,
        description=description,
        notify_url=notify_url,
        total=total,
        buyer_id=buyer_id,
        attach=optional_text(data, "attach", max_len=128),
        subsidy=subsidy,
        expires_in=time_expire(data, issuer.now()),
        base_url=request.host_url,
    )
    return json_response({"prepay_id": prepay_id})


# --- queries, close -------------------------------------------------------------------------


def _query_mchid() -> None:
    if set(request.args) - {"mchid"}:
        raise param_error("只接受 mchid 查询参数")
    _check_mchid(request.args.get("mchid"))


@blueprint.get("/pay/transactions/out-trade-no/<out_trade_no>")
def query_by_out_trade_no(out_trade_no: str) -> Response:
    _query_mchid()
    return json_response(desk().payments.query(_mchid(), out_trade_no=out_trade_no))


@blueprint.get("/pay/transactions/id/<transaction_id>")
def query_by_id(transaction_id: str) -> Response:
    _query_mchid()
    return json_response(desk().payments.query(_mchid(), transaction_id=transaction_id))


@blueprint.post("/pay/transactions/out-trade-no/<out_trade_no>/close")
def close(out_trade_no: str) -> Response:
    data = _json()
    _check_mchid(data.get("mchid"))
    desk().payments.close(_mchid(), out_trade_no)
    return Response(status=204)


# --- refunds --------------------------------------------------------------------------------


@blueprint.post("/refund/domestic/refunds")
def create_refund() -> Response:
    data = _json()
    transaction_id = optional_text(data, "transaction_id", max_len=32)
    out_trade_no = optional_text(data, "out_trade_no", max_len=32)
    if transaction_id is None and out_trade_no is None:
        raise param_error("transaction_id 和 out_trade_no 必须填一个", "out_trade_no")
    out_refund_no = text(data, "out_refund_no", max_len=64, pattern=_REFUND_NO)
    refund, _ = amount_total(data, "refund")
    total, _ = amount_total(data, "total")
    if refund > total:
        raise param_error("退款金额不能大于订单金额", "amount.refund")
    notify_url = data.get("notify_url")
    if notify_url is not None:
        notify_url = text(data, "notify_url", max_len=256, pattern=r"https?://\S+")
    view = desk().refunds.create(
        _mchid(),
        out_trade_no=out_trade_no,
        transaction_id=transaction_id,
        out_refund_no=out_refund_no,
        refund=refund,
        total=total,
        reason=optional_text(data, "reason", max_len=80),
        notify_url=notify_url,
    )
    return json_response(view)


@blueprint.get("/refund/domestic/refunds/<out_refund_no>")
def query_refund(out_refund_no: str) -> Response:
    return json_response(desk().refunds.query(_mchid(), out_refund_no))


# --- trade bills ----------------------------------------------------------------------------


@blueprint.get("/bill/tradebill")
def trade_bill() -> Response:
    args = request.args
    bill_date = args.get("bill_date")
    if not bill_date:
        raise param_error("bill_date 必填", "bill_date")
    tar_type = args.get("tar_type")
    if tar_type not in (None, "GZIP"):
        raise param_error("tar_type 只能是 GZIP", "tar_type")
    token, sha1 = desk().refunds.trade_bill(
        _mchid(),
        bill_date=bill_date,
        bill_type=args.get("bill_type", "ALL"),
        gzipped=tar_type == "GZIP",
    )
    # The host the merchant called: its SDK downloads from its own gateway setting.
    base = request.host_url.rstrip("/")
    return json_response(
        {
            "hash_type": "SHA1",
            "hash_value": sha1,
            "download_url": f"{base}/v3/billdownload/file?token={token}",
        }
    )


@blueprint.get("/billdownload/file")
def download_bill() -> Response:
    token = request.args.get("token", "")
    content = desk().refunds.bill_file(_mchid(), token)
    g.wechat_unsigned = True  # a file stream: WeChat Pay does not sign it either
    return Response(content, mimetype="application/octet-stream")
