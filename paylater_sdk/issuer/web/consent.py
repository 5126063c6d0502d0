"""The consent page: where the buyer signs in, compares plans and authorizes a checkout.

Server-rendered HTML that works without JavaScript (the testing kit and the demo drive the
same form over plain HTTP). Every POST carries a per-session CSRF token kept in Flask's
signed session cookie and compared in constant time; every value is escaped by Jinja's
autoescaping; a strict Content-Security-Policy forbids scripts and framing (a consent page
inside a merchant's iframe would invite clickjacking).

The form contract (field names, the 303 to ``return_url``, the ``decline`` element) is
fixed in docs/api.md because merchants' tests depend on it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import (
    Blueprint,
    make_response,
    redirect,
    render_template,
    request,
    session,
)
from flask.blueprints import BlueprintSetupState
from werkzeug.wrappers import Response

from ...errors import ConflictError, CreditDeclinedError, NotFoundError, PayLaterError
from ...lifecycle import CheckoutState
from ...money import Money
from ._context import current_issuer as _issuer
from ._pages import csrf_ok, csrf_token, renew_csrf, secure

__all__ = [
    "DECLINE_REASONS",
    "DEVICE_COOKIE",
    "blueprint",
    "bp",
    "decline_message",
    "device_id",
    "format_money",
    "format_rate",
    "note_device",
]

blueprint = Blueprint("consent", __name__, template_folder="templates")
bp = blueprint  # the short name, for `app.register_blueprint(consent.bp)`


@blueprint.record_once
def _cookie_defaults(state: BlueprintSetupState) -> None:
    # The session cookie carries the sign-in and the CSRF token: never readable by
    # scripts, and not sent on cross-site POSTs (a second line of defence against CSRF).
    state.app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    if state.app.config.get("SESSION_COOKIE_SAMESITE") is None:
        state.app.config["SESSION_COOKIE_SAMESITE"] = "Lax"


_CHECKOUT_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
_PHONE = re.compile(r"^\+?[0-9]{5,20}$")
_CODE = re.compile(r"^[0-9]{4,8}$")
_SESSION_KEY = "paylater_consent"

#: Plain words for each credit reason code: Chinese first, English below it.
DECLINE_REASONS: Mapping[str, tuple[str, str]] = {
    "INSUFFICIENT_LIMIT": (
        "可用额度不足",
        "Your available credit is not enough for this purchase.",
    ),
    "OVER_SINGLE_PURCHASE_LIMIT": (
        "超过单笔消费上限",
        "This purchase is over the most you can spend in one purchase.",
    ),
    "ACCOUNT_FROZEN": (
        "账户已冻结",
        "Your pay-later account is frozen. Please contact customer service.",
    ),
    "OVERDUE": (
        "您有逾期未还的账单",
        "You have an overdue repayment. Please repay it before buying more.",
    ),
    "DEBT_TO_INCOME": (
        "每月还款将超过收入的一半",
        "With this plan your monthly repayments would be more than half of your income.",
    ),
    "AMOUNT_OUT_OF_RANGE": (
        "该金额不支持分期",
        "This amount cannot be paid in installments.",
    ),
}
_DEFAULT_DECLINE = ("暂时无法使用分付", "Pay-later is not available for this purchase right now.")

_FREQUENCY_LABELS = {"MONTHLY": ("月", "month"), "BIWEEKLY": ("两周", "2 weeks")}


def decline_message(reason: str | None) -> tuple[str, str]:
    """The (Chinese, English) sentence shown for a credit reason code."""
    return DECLINE_REASONS.get(reason or "", _DEFAULT_DECLINE)


def format_money(amount: Money) -> str:
    """``¥1,234.56`` for CNY; ``1,234.56 USD`` otherwise (exact, from the Decimal)."""
    text = f"{amount.amount:,.{amount.exponent}f}"
    return f"¥{text}" if amount.currency == "CNY" else f"{text} {amount.currency}"


def format_rate(rate: Decimal | str | None) -> str:
    """A fraction as a percentage with two decimals: ``Decimal("0.1235")`` -> ``12.35%``."""
    if rate is None:
        return "-"
    return f"{(Decimal(rate) * 100).quantize(Decimal('0.01'))}%"


# --- helpers ---------------------------------------------------------------------------


def _signed_in_buyer(checkout_id: str) -> str | None:
    state = session.get(_SESSION_KEY)
    if isinstance(state, dict) and state.get("checkout_id") == checkout_id:
        buyer_id = state.get("buyer_id")
        return buyer_id if isinstance(buyer_id, str) else None
    return None


def _with_query(url: str, params: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query.extend(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?$")


def _origin(url: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL, or None for anything else (including
    hosts with characters that could bend the CSP header or the redirect)."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    return origin if _ORIGIN.match(origin) else None


def page_headers(response: Response, nonce: str, return_url: str | None) -> Response:
    """The strict headers (the form may post on to the merchant's return origin) and the
    device cookie that the risk rule SHARED_DEVICE counts."""
    origin = _origin(return_url) if return_url else None
    secure(response, nonce, form_origins=[origin] if origin else [])
    if device_id() is None:  # the device id SHARED_DEVICE counts (docs/credit.md)
        response.set_cookie(
            DEVICE_COOKIE,
            secrets.token_urlsafe(18),
            max_age=365 * 24 * 3600,
            httponly=True,
            samesite="Lax",
        )
    return response


DEVICE_COOKIE = "paylater_device"
_DEVICE = re.compile(r"^[A-Za-z0-9_\-]{8,64}$")


def device_id() -> str | None:
    """The browser's device id (a random cookie this page sets), or None."""
    value = request.cookies.get(DEVICE_COOKIE, "")
    return value if _DEVICE.match(value) else None


def note_device(buyer_id: str) -> None:
    """Tell the risk rules which device this buyer signed in from."""
    device = device_id()
    if device is not None:
        _issuer().lending.seen_device(device, buyer_id)


def _test_buyers(limit: int = 3) -> list[tuple[str, str]]:
    """(phone, code) of the newest test buyers that can buy: the test-mode sign-in hint.

    The magic buyers (19900000001.., seeded to show declines) are left out of the list.
    """
    return _issuer().buyers.sign_in_hints(limit)


def _page(
    template: str, status: int = 200, *, view: Mapping[str, Any] | None = None, **context: Any
) -> Response:
    nonce = secrets.token_urlsafe(16)
    test_mode = _issuer().config.test_mode
    if test_mode and template == "consent_signin.html":
        context.setdefault("test_buyers", _test_buyers())
    html = render_template(
        f"paylater_issuer/{template}",
        view=view,
        csrf_token=csrf_token(),
        style_nonce=nonce,
        test_mode=test_mode,
        format_money=format_money,
        format_rate=format_rate,
        frequency_label=lambda f: _FREQUENCY_LABELS.get(str(getattr(f, "value", f)), (str(f),) * 2),
        **context,
    )
    response = make_response(html, status)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    return page_headers(response, nonce, view.get("return_url") if view else None)


def _message(title: tuple[str, str], body: tuple[str, str], status: int, **extra: Any) -> Response:
    view = extra.get("view")
    back = view.get("return_url") if view else None
    back_url = back if isinstance(back, str) and _origin(back) else None
    return _page("consent_message.html", status, title=title, body=body, back_url=back_url, **extra)


def _load_view(checkout_id: str) -> Mapping[str, Any] | None:
    if not _CHECKOUT_ID.match(checkout_id):
        return None
    try:
        view: Mapping[str, Any] = _issuer().orders.consent_view(checkout_id)
    except NotFoundError:
        return None
    return view


def _not_open(view: Mapping[str, Any]) -> Response | None:
    """The page to show instead of the form when the checkout cannot be authorized."""
    state = view.get("state")
    if view.get("expired") or state in (CheckoutState.EXPIRED, CheckoutState.CLOSED):
        return _message(
            ("订单已失效", "This checkout has expired or was closed"),
            ("请返回商户重新下单。", "Please go back to the shop and check out again."),
            410,
            view=view,
        )
    if state != CheckoutState.CREATED:
        return _message(
            ("已确认", "Already confirmed"),
            ("这笔订单已经确认过了。", "This purchase has already been confirmed."),
            409,
            view=view,
        )
    return None


# --- the route -------------------------------------------------------------------------


@blueprint.route("/authorize/<checkout_id>", methods=["GET", "POST"])
def authorize(checkout_id: str) -> Response:
    view = _load_view(checkout_id)
    if view is None:
        return _message(
            ("找不到订单", "Checkout not found"),
            ("链接可能有误或已过期。", "The link may be wrong or out of date."),
            404,
        )
    if request.method == "GET":
        closed = _not_open(view)
        if closed is not None:
            return closed
        if _signed_in_buyer(checkout_id):
            return _page("consent_plans.html", view=view)
        return _page("consent_signin.html", view=view)

    if not csrf_ok():
        return _message(
            ("页面已过期", "This page has expired"),
            ("请刷新页面后重试。", "Please reload the page and try again."),
            403,
            view=view,
        )
    step = request.form.get("step", "")
    if step == "cancel":
        session.pop(_SESSION_KEY, None)
        return _redirect_back(view, checkout_id)
    closed = _not_open(view)
    if closed is not None:
        return closed
    if step == "signin":
        return _sign_in(view, checkout_id)
    if step == "confirm":
        return _confirm(view, checkout_id)
    return _page("consent_signin.html", 400, view=view, error=("无效的请求", "Invalid request."))


def _redirect_back(
    view: Mapping[str, Any], checkout_id: str, out_trade_no: str | None = None
) -> Response:
    return_url = str(view["return_url"])
    if _origin(return_url) is None:  # never redirect to a non-http(s) or odd URL
        return _message(
            ("无法返回商户", "Cannot go back to the shop"),
            ("商户的返回地址无效。", "The shop's return address is not valid."),
            400,
            view=None,
        )
    params = {"checkout_id": checkout_id}
    out_trade_no = out_trade_no or view.get("out_trade_no")
    if out_trade_no:
        params["out_trade_no"] = str(out_trade_no)
    response = redirect(_with_query(return_url, params), code=303)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _sign_in(view: Mapping[str, Any], checkout_id: str) -> Response:
    phone = request.form.get("phone", "").strip().replace(" ", "")
    code = request.form.get("code", "").strip()
    bad = ("手机号或验证码不正确", "The phone number or the code is wrong.")
    if not _PHONE.match(phone) or not _CODE.match(code):
        return _page("consent_signin.html", 400, view=view, error=bad, phone=phone[:20])
    buyer = _issuer().buyers.sign_in(phone, code)
    if buyer is None:
        return _page("consent_signin.html", 401, view=view, error=bad, phone=phone)
    # A new CSRF token at sign-in: a token seen before authentication is not reused after.
    renew_csrf()
    session[_SESSION_KEY] = {"checkout_id": checkout_id, "buyer_id": buyer.buyer_id}
    note_device(buyer.buyer_id)
    # 开通分付 for a buyer without a line
    return _page("consent_plans.html", view=view, offer_line=not buyer.has_line)


def _confirm(view: Mapping[str, Any], checkout_id: str) -> Response:
    buyer_id = _signed_in_buyer(checkout_id)
    if buyer_id is None:
        return _page(
            "consent_signin.html",
            401,
            view=view,
            error=("请先登录", "Please sign in first."),
        )
    plan_id = request.form.get("plan_id", "")
    offered = {plan.plan_id for plan in view["plans"]}
    if plan_id not in offered:
        return _page(
            "consent_plans.html",
            400,
            view=view,
            error=("请选择一个分期方案", "Please choose one of the plans."),
        )
    try:
        checkout = _issuer().orders.authorize(checkout_id, buyer_id=buyer_id, plan_id=plan_id)
    except CreditDeclinedError as exc:
        return _page(
            "consent_plans.html",
            200,
            view=view,
            decline=(exc.reason or "DECLINED", *decline_message(exc.reason)),
        )
    except ConflictError:
        fresh = _load_view(checkout_id) or view
        return _not_open(fresh) or _message(
            ("无法确认", "Cannot confirm"),
            ("订单状态已变化，请返回商户。", "The checkout changed; please go back to the shop."),
            409,
            view=fresh,
        )
    except PayLaterError:
        return _page(
            "consent_plans.html",
            400,
            view=view,
            error=("该方案暂不可用", "This plan is not available; please choose another."),
        )
    session.pop(_SESSION_KEY, None)
    return _redirect_back(view, checkout_id, checkout.get("out_trade_no"))
