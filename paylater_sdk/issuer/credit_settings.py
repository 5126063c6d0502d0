"""The credit settings of :mod:`.config`: responsible-lending caps and risk rules.

Kept apart so that :mod:`.config` stays one page; :mod:`.config` re-exports the public
names (``CreditPolicy``, ``RiskRuleConfig``, ``RISK_RULE_DEFAULTS``) and every check here
fails at start-up with a message naming the setting (docs/credit.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs

from ..errors import ConfigurationError
from ..money import Money

__all__ = [
    "RISK_RULE_DEFAULTS",
    "CreditPolicy",
    "RiskRuleConfig",
    "credit_policy",
    "review_days",
    "risk_rules",
]

#: Each risk rule's thresholds, action (alert | freeze | cut_limit | review) and severity.
RISK_RULE_DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    "VELOCITY": {"count": 5, "window": 600, "action": "alert", "severity": "high"},
    "UTILIZATION_SPIKE": {
        "ratio": "0.90",
        "window": 24 * 3600,
        "action": "review",
        "severity": "medium",
    },
    "SHARED_DEVICE": {"buyers": 3, "window": 24 * 3600, "action": "alert", "severity": "high"},
    "MERCHANT_REFUND_RATE": {
        "ratio": "0.30",
        "last": 50,
        "min_captures": 10,
        "action": "alert",
        "severity": "medium",
    },
    # evaluated by the daily servicing sweep; "review" by default: a freeze would outlast
    # the cure (repaying lifts an overdue freeze, not a risk freeze), so an operator decides
    "FIRST_PAYMENT_DEFAULT": {"action": "review", "severity": "high"},
}
_ACTIONS = ("alert", "freeze", "cut_limit", "review")
_SEVERITIES = ("low", "medium", "high")
_MERCHANT_RULES = ("MERCHANT_REFUND_RATE",)


@attrs.frozen
class RiskRuleConfig:
    """One risk rule's settings: its thresholds (``params``), action and severity."""

    rule: str
    action: str
    severity: str
    params: Mapping[str, Any]

    def number(self, name: str) -> Any:
        return self.params[name]


_PRODUCT_CAP = Money("30000.00", "CNY")
_MIN_INCOME = Money("1000.00", "CNY")
_DTI_CAP = Decimal("0.50")


@attrs.frozen
class CreditPolicy:
    """The responsible-lending settings (docs/credit.md, "Caps"); amounts in CNY.

    A granted limit is capped, in this order, at ``income_multiple`` x declared monthly
    income, at ``product_cap``, and at ``dti_months`` x (``dti_cap`` x income - monthly debt
    payments): repaying the whole line over ``dti_months`` months keeps the buyer's
    debt-to-income at or under ``dti_cap``.
    """

    income_multiple: int = 3
    product_cap: Money = _PRODUCT_CAP
    dti_cap: Decimal = _DTI_CAP
    dti_months: int = 12
    min_income: Money = _MIN_INCOME


def review_days(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3660:
        raise ConfigurationError("CREDIT_REVIEW_DAYS must be a number of days from 1 to 3660")
    return value


def _risk_param(rule: str, name: str, default: Any, value: Any) -> Any:
    where = f"RISK_RULES[{rule!r}][{name!r}]"
    if name == "action":
        allowed = _ACTIONS[:1] + _ACTIONS[3:] if rule in _MERCHANT_RULES else _ACTIONS
        if value not in allowed:
            raise ConfigurationError(f"{where} must be one of {', '.join(allowed)}")
        return value
    if name == "severity":
        if value not in _SEVERITIES:
            raise ConfigurationError(f"{where} must be one of {', '.join(_SEVERITIES)}")
        return value
    if isinstance(default, str):  # a ratio
        if isinstance(value, float | bool) or not isinstance(value, Decimal | int | str):
            raise ConfigurationError(f"{where} must be a decimal fraction such as '0.30'")
        try:
            ratio = Decimal(value)
        except ArithmeticError:
            raise ConfigurationError(f"{where} must be a decimal fraction") from None
        if not ratio.is_finite() or not 0 < ratio <= 1:
            raise ConfigurationError(f"{where} must be a fraction in (0, 1]")
        return ratio
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigurationError(f"{where} must be a positive integer")
    return value


def risk_rules(value: object) -> dict[str, RiskRuleConfig]:
    if not isinstance(value, Mapping):
        raise ConfigurationError("RISK_RULES must be a mapping of rule name to settings")
    unknown = set(value) - set(RISK_RULE_DEFAULTS)
    if unknown:
        raise ConfigurationError(f"RISK_RULES: unknown rule {sorted(unknown)[0]!r}")
    rules = {}
    for rule, defaults in RISK_RULE_DEFAULTS.items():
        given = value.get(rule, {})
        if not isinstance(given, Mapping) or set(given) - set(defaults):
            raise ConfigurationError(f"RISK_RULES[{rule!r}] takes only {', '.join(defaults)}")
        merged = {
            name: _risk_param(rule, name, default, given.get(name, default))
            for name, default in defaults.items()
        }
        action, severity = merged.pop("action"), merged.pop("severity")
        rules[rule] = RiskRuleConfig(rule, action, severity, merged)
    return rules


def _cny(name: str, value: object) -> Money:
    """A positive CNY amount given as a decimal string, Decimal or int (never a float)."""
    if isinstance(value, Money):
        amount = value
    elif isinstance(value, float | bool) or not isinstance(value, Decimal | int | str):
        raise ConfigurationError(f"{name} must be a decimal string of yuan, e.g. '1000.00'")
    else:
        try:
            amount = Money(Decimal(value), "CNY")
        except (ArithmeticError, ValueError):
            raise ConfigurationError(f"{name} must be a CNY amount such as '1000.00'") from None
    if amount.currency != "CNY" or amount.minor <= 0:
        raise ConfigurationError(f"{name} must be a positive CNY amount")
    return amount


def credit_policy(raw: Mapping[str, Any]) -> CreditPolicy:
    multiple = raw["CREDIT_INCOME_MULTIPLE"]
    if isinstance(multiple, bool) or not isinstance(multiple, int) or not 1 <= multiple <= 100:
        raise ConfigurationError("CREDIT_INCOME_MULTIPLE must be an integer from 1 to 100")
    months = raw["CREDIT_DTI_MONTHS"]
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= 120:
        raise ConfigurationError("CREDIT_DTI_MONTHS must be an integer from 1 to 120")
    dti = raw["CREDIT_DTI_CAP"]
    if isinstance(dti, float | bool) or not isinstance(dti, Decimal | int | str):
        raise ConfigurationError("CREDIT_DTI_CAP must be a decimal fraction such as '0.50'")
    try:
        dti = Decimal(dti)
    except ArithmeticError:
        raise ConfigurationError(
            "CREDIT_DTI_CAP must be a decimal fraction such as '0.50'"
        ) from None
    if not dti.is_finite() or not 0 < dti < 1:
        raise ConfigurationError("CREDIT_DTI_CAP must be a fraction between 0 and 1")
    return CreditPolicy(
        income_multiple=multiple,
        product_cap=_cny("CREDIT_PRODUCT_CAP", raw["CREDIT_PRODUCT_CAP"]),
        dti_cap=dti,
        dti_months=months,
        min_income=_cny("CREDIT_MIN_INCOME", raw["CREDIT_MIN_INCOME"]),
    )
