"""``POST /_test/buyers/apply``: open a credit line through the real decision engine.

The test shortcut of the buyer pages' ``/account/apply`` (docs/credit.md): the same
engine, the same caps, the same decision record. Bad input (a negative or absurd income,
a missing consent, an unknown employment, a malformed profile) is a 400 with the
``field`` and changes nothing; ``"consent": false`` is a valid application, declined with
``NO_CONSENT``. Registered only in test mode, like the other test controls.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from ...errors import MoneyError
from ...lifecycle import Employment
from ...money import Money
from ..domain.scorecard import Profile
from ._context import current_issuer as _issuer
from .wire import bad, fields, json_response, opt_int, parse_json_body, text

__all__ = ["MAX_MONTHLY_INCOME", "blueprint"]

blueprint = Blueprint("paylater_credit_testctl", __name__, url_prefix="/_test")

#: The largest monthly amount an application may declare (¥10,000,000, in fen): above
#: it the figure is a typo or a probe, not an income.
MAX_MONTHLY_INCOME = 10_000_000_00


def monthly_amount(name: str, value: Any) -> Money:
    """A declared monthly CNY amount: zero allowed, negatives and absurd figures refused."""
    try:
        amount = Money.from_json(value)
    except (MoneyError, TypeError, ValueError) as exc:
        raise bad("INVALID_AMOUNT", f"{name}: {exc}", field=name) from None
    if amount.currency != "CNY":
        raise bad("CURRENCY_MISMATCH", f"{name} must be in CNY", field=name)
    if not 0 <= amount.minor <= MAX_MONTHLY_INCOME:
        raise bad(
            "INVALID_AMOUNT",
            f"{name} must be 0 to {MAX_MONTHLY_INCOME} fen a month",
            field=name,
        )
    return amount


def employment(name: str, value: Any) -> Employment:
    if not isinstance(value, str) or value not in tuple(Employment):
        allowed = ", ".join(e.value for e in Employment)
        raise bad("INVALID_FIELD", f"{name} must be one of {allowed}", field=name)
    return Employment(value)


def _consent(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise bad("INVALID_FIELD", f"{name} must be true or false", field=name)
    return value


def _profile(name: str, value: Any) -> Profile:
    if not isinstance(value, dict):
        raise bad("INVALID_FIELD", f"{name} must be an object", field=name)
    try:
        checked = fields(
            value,
            {
                "payment_history_score": opt_int(0, 100),
                "months_since_first_credit": opt_int(0, 1200),
                "active_credit_lines": opt_int(0, 1000),
                "defaults_last_24_months": opt_int(0, 1000),
            },
        )
    except Exception as exc:
        inner = getattr(exc, "field", None)
        setattr(exc, "field", f"{name}.{inner}" if inner else name)  # noqa: B010
        raise
    return Profile(**checked)


@blueprint.post("/buyers/apply")
def apply() -> Response:
    if request.args:
        raise bad("INVALID_QUERY", "test controls take no query parameters")
    body = fields(
        parse_json_body(),
        {
            "phone": text(11, r"1[0-9]{10}"),
            "monthly_income": monthly_amount,
            "monthly_debt_payments": monthly_amount,
            "employment": employment,
            "consent": _consent,
        },
        {"profile": _profile},
    )
    applied = _issuer().lending.apply(**body)
    buyer = applied.buyer
    return json_response(
        {
            "id": buyer.id,
            "buyer_token": buyer.buyer_token,
            "phone": buyer.phone,
            "test_code": buyer.test_code,
            "decision": applied.decision.to_json(),
        },
        201,
    )
