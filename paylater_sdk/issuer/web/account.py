"""The buyer's pages: ``/account/apply`` (开通分付, a decision at once) and ``/account``.

In the consent page's style and under its rules (:mod:`.consent`): server-rendered, no
script, a CSRF token on every POST, the strict Content-Security-Policy, phone-sized,
Chinese first and English second. The buyer signs in with phone and code (a test buyer's
code; a new applicant's simulated SMS code is :data:`~..domain.credit.TEST_CODE`); the
session keeps only the sealed phone number, never the number in clear.

Bad input (a negative or absurd income, no consent, an unknown employment) is answered
with the form again, a 400 and the error in words, and changes nothing.
"""

from __future__ import annotations

import hmac
import re
import secrets
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Blueprint, make_response, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from ...errors import ConflictError
from ...lifecycle import DecisionReason, Employment
from ...money import Money
from ..domain.credit import TEST_CODE
from ..storage.pii import mask_phone
from ._context import current_issuer as _issuer
from ._pages import csrf_ok, csrf_token, renew_csrf
from .consent import format_money, note_device, page_headers
from .contract import bodies

__all__ = ["EMPLOYMENT_WORDS", "REASON_WORDS", "blueprint"]

blueprint = Blueprint("paylater_account", __name__, template_folder="templates")

_SESSION_KEY = "paylater_account"
_PHONE = re.compile(r"^1[0-9]{10}$")
_CODE = re.compile(r"^[0-9]{4,8}$")
_NEXT = re.compile(r"^/authorize/[A-Za-z0-9_\-]{1,64}$")
_YUAN = re.compile(r"^[0-9]{1,9}(\.[0-9]{1,2})?$")

EMPLOYMENT_WORDS: tuple[tuple[str, str, str], ...] = (
    (Employment.SALARIED, "受雇上班", "Salaried"),
    (Employment.SELF_EMPLOYED, "个体经营", "Self-employed"),
    (Employment.RETIRED, "退休", "Retired"),
    (Employment.UNEMPLOYED, "待业", "Unemployed"),
    (Employment.STUDENT, "在校学生", "Student"),
)

REASON_WORDS: dict[str, tuple[str, str]] = {
    DecisionReason.NO_CONSENT: ("未授权评估", "You did not consent to the assessment."),
    DecisionReason.STUDENT: ("暂不向在校学生提供消费信贷", "We do not lend to students."),
    DecisionReason.INCOME_TOO_LOW: ("收入低于最低要求", "Your income is under the minimum."),
    DecisionReason.DEBT_TO_INCOME: (
        "现有负债占收入比例过高",
        "Your repayments are already too high for your income.",
    ),
    DecisionReason.RECENT_DEFAULT: ("近期有违约记录", "Your credit file shows a recent default."),
    DecisionReason.THIN_FILE: ("信用记录不足", "Your credit history is too short."),
    DecisionReason.SCORE_TOO_LOW: ("综合评分不足", "Your overall score is too low."),
}

_STATUS_WORDS = {"ACTIVE": ("正常", "active"), "FROZEN": ("已冻结", "frozen")}


def _render(template: str, status: int = 200, **context: Any) -> Response:
    nonce = secrets.token_urlsafe(16)
    html = render_template(
        f"paylater_issuer/{template}",
        view=None,
        csrf_token=csrf_token(),
        style_nonce=nonce,
        test_mode=_issuer().config.test_mode,
        format_money=format_money,
        **context,
    )
    response = make_response(html, status)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    return page_headers(response, nonce, None)


def _next_url(source: Any) -> str | None:
    value = source.get("next", "")
    return value if isinstance(value, str) and _NEXT.match(value) else None


def _signed_in_phone() -> str | None:
    state = session.get(_SESSION_KEY)
    if not isinstance(state, dict) or not isinstance(state.get("phone"), str):
        return None
    try:
        return _issuer().phones.open(state["phone"])
    except Exception:  # a session sealed under another key: sign in again
        return None


def _signin_page(status: int = 200, error: tuple[str, str] | None = None, **extra: Any) -> Response:
    return _render(
        "account_signin.html",
        status,
        action=request.path,
        next_url=_next_url(request.values),
        error=error,
        **extra,
    )


def _sign_in() -> Response | None:
    """Check the phone and code; None when signed in, else the page to answer with."""
    phone = request.form.get("phone", "").strip().replace(" ", "")
    code = request.form.get("code", "").strip()
    wrong = ("手机号或验证码不正确", "The phone number or the code is wrong.")
    if not _PHONE.match(phone) or not _CODE.match(code):
        return _signin_page(400, wrong, phone=phone[:20])
    buyer = _issuer().buyer_by_phone(phone)
    expected = buyer.test_code if buyer is not None else TEST_CODE
    if not hmac.compare_digest(expected.encode(), code.encode()):
        return _signin_page(401, wrong, phone=phone)
    renew_csrf()  # a new CSRF token at sign-in
    session[_SESSION_KEY] = {"phone": _issuer().phones.seal(phone)}
    if buyer is not None:
        note_device(buyer.id)
    return None


def _expired() -> Response:
    return _signin_page(
        403, ("页面已过期，请重新登录", "This page has expired; please sign in again.")
    )


@blueprint.route("/account/apply", methods=["GET", "POST"])
def apply() -> Response:
    if request.method == "POST":
        if not csrf_ok():
            return _expired()
        step = request.form.get("step", "")
        if step == "signin":
            refused = _sign_in()
            if refused is not None:
                return refused
        elif step == "apply":
            return _submit()
    phone = _signed_in_phone()
    if phone is None:
        return _signin_page()
    buyer = _issuer().buyer_by_phone(phone)
    if buyer is not None and _issuer().lending.has_line(buyer.id):
        return redirect(url_for("paylater_account.account"), code=303)
    return _apply_form(phone)


def _apply_form(
    phone: str, status: int = 200, error: tuple[str, str] | None = None, field: str | None = None
) -> Response:
    return _render(
        "account_apply.html",
        status,
        phone_masked=mask_phone(phone),
        employments=EMPLOYMENT_WORDS,
        form=request.form if request.method == "POST" else {},
        next_url=_next_url(request.values),
        error=error,
        error_field=field,
    )


def _yuan(name: str, zh: str, en: str) -> Money | tuple[str, str]:
    raw = request.form.get(name, "").strip().replace(",", "")
    if not _YUAN.match(raw):
        return (
            f"请填写{zh}（元，如 8000 或 8000.50）",
            f"Enter {en} in yuan, e.g. 8000 or 8000.50.",
        )
    try:
        amount = Money(Decimal(raw), "CNY")
    except (InvalidOperation, ValueError):
        return (f"请填写{zh}", f"Enter {en}.")
    if amount.minor > bodies.MAX_MONTHLY_INCOME:
        return (f"{zh}不能超过 1000 万元", f"{en.capitalize()} cannot be over ¥10,000,000.")
    return amount


def _submit() -> Response:
    phone = _signed_in_phone()
    if phone is None:
        return _expired()
    income = _yuan("monthly_income", "月收入", "your monthly income")
    if isinstance(income, tuple):
        return _apply_form(phone, 400, income, "monthly_income")
    debts = _yuan("monthly_debt_payments", "每月还款额", "your monthly repayments")
    if isinstance(debts, tuple):
        return _apply_form(phone, 400, debts, "monthly_debt_payments")
    employment = request.form.get("employment", "")
    if employment not in tuple(Employment):
        return _apply_form(phone, 400, ("请选择职业", "Choose your employment."), "employment")
    if request.form.get("consent") != "yes":
        consent_error = ("请勾选授权后再提交", "Please tick the consent box to apply.")
        return _apply_form(phone, 400, consent_error, "consent")
    try:
        applied = _issuer().lending.apply(
            phone=phone,
            monthly_income=income,
            monthly_debt_payments=debts,
            employment=Employment(employment),
            consent=True,
        )
    except ConflictError:  # a line opened meanwhile (another tab)
        return redirect(url_for("paylater_account.account"), code=303)
    note_device(applied.buyer.id)
    decision = applied.decision
    reasons = [(r.value, *REASON_WORDS[r]) for r in decision.reasons]
    return _render(
        "account_decision.html",
        decision=decision,
        reasons=reasons,
        next_url=_next_url(request.form),
    )


@blueprint.route("/account", methods=["GET", "POST"])
def account() -> Response:
    if request.method == "POST":
        if not csrf_ok():
            return _expired()
        step = request.form.get("step", "")
        if step == "signout":
            session.pop(_SESSION_KEY, None)
            return redirect(url_for("paylater_account.account"), code=303)
        if step == "signin":
            refused = _sign_in()
            if refused is not None:
                return refused
            return redirect(url_for("paylater_account.account"), code=303)
    phone = _signed_in_phone()
    if phone is None:
        return _signin_page()
    buyer = _issuer().buyer_by_phone(phone)
    if buyer is None:
        return redirect(url_for("paylater_account.apply"), code=303)
    view = _issuer().lending.account(buyer.id)
    for name in ("limit", "available"):
        view[name] = Money.from_json(view[name])
    for order in view["open_orders"]:
        order["amount"] = Money.from_json(order["amount"])
    return _render(
        "account_home.html",
        account=view,
        status_words=_STATUS_WORDS.get(view["status"], (view["status"],) * 2),
        review=_issuer().lending.latest_review(buyer.id),
    )
