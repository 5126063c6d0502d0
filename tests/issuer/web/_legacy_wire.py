"""The hand-written request validation the contract models replaced, frozen as an oracle.

``tests/issuer/web/test_contract.py`` checks, on generated bodies, that the models accept
exactly what these accepted and refuse the rest with the same code, message and field;
``benchmarks/bench_validation.py`` times both. Copied from ``web/wire.py``, ``web/api.py``
and ``web/testctl.py`` as they were before the contract package; never change it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from paylater_sdk.errors import InvalidRequestError, MoneyError
from paylater_sdk.issuer.domain.issuer import FAULT_KINDS
from paylater_sdk.lifecycle import BuyerStatus
from paylater_sdk.money import Money

MAX_MINOR = 10**13
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TRADE_NO = r"[A-Za-z0-9_\-|*.]{1,64}"
_PHONE = r"1[0-9]{10}"

Validator = Callable[[str, Any], Any]


def bad(code: str, message: str, *, field: str | None = None) -> InvalidRequestError:
    exc = InvalidRequestError(message, code=code)
    setattr(exc, "field", field)  # noqa: B010
    return exc


def fields(
    data: Mapping[str, Any],
    required: Mapping[str, Validator],
    optional: Mapping[str, Validator] | None = None,
) -> dict[str, Any]:
    optional = optional or {}
    for name in data:
        if name not in required and name not in optional:
            raise bad("UNKNOWN_FIELD", f"unknown field {name[:40]!r}", field=name[:40])
    result: dict[str, Any] = {}
    for name, check in required.items():
        if name not in data:
            raise bad("MISSING_FIELD", f"the field {name!r} is required", field=name)
        result[name] = check(name, data[name])
    for name, check in optional.items():
        result[name] = check(name, data[name]) if name in data else None
    return result


def money(name: str, value: Any) -> Money:
    try:
        amount = Money.from_json(value)
    except (MoneyError, TypeError, ValueError) as exc:
        raise bad("INVALID_AMOUNT", f"{name}: {exc}", field=name) from None
    if not 0 < amount.minor <= MAX_MINOR:
        raise bad(
            "INVALID_AMOUNT",
            f"{name} must be a positive integer number of minor units up to {MAX_MINOR}",
            field=name,
        )
    return amount


def text(max_len: int, pattern: str | None = None) -> Validator:
    compiled = re.compile(pattern) if pattern else None

    def check(name: str, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise bad("INVALID_FIELD", f"{name} must be a non-empty string", field=name)
        if len(value) > max_len:
            raise bad("INVALID_FIELD", f"{name} is longer than {max_len} characters", field=name)
        if _CONTROL.search(value):
            raise bad("INVALID_FIELD", f"{name} contains control characters", field=name)
        if compiled and not compiled.fullmatch(value):
            raise bad("INVALID_FIELD", f"{name} must match {pattern}", field=name)
        return value

    return check


def opt_text(max_len: int) -> Validator:
    inner = text(max_len)

    def check(name: str, value: Any) -> str | None:
        return None if value is None else inner(name, value)

    return check


def url(name: str, value: Any) -> str:
    checked: str = text(512)(name, value)
    if not checked.startswith(("http://", "https://")):
        raise bad("INVALID_FIELD", f"{name} must be an http(s) URL", field=name)
    return checked


def opt_int(low: int, high: int) -> Validator:
    def check(name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise bad(
                "INVALID_FIELD", f"{name} must be an integer from {low} to {high}", field=name
            )
        return value

    return check


def _plan_ids(name: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not 1 <= len(value) <= 20:
        raise bad("INVALID_FIELD", f"{name} must be a list of 1 to 20 plan ids", field=name)
    check = text(64)
    return [check(name, item) for item in value]


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise bad("INVALID_FIELD", f"{name} must be true or false", field=name)
    return value


def _status(name: str, value: Any) -> str:
    if value not in tuple(BuyerStatus):
        raise bad("INVALID_FIELD", f"{name} must be 'ACTIVE' or 'FROZEN'", field=name)
    return str(value)


def _limit(name: str, value: Any) -> Money:
    try:
        limit = Money.from_json(value)
    except (MoneyError, TypeError, ValueError) as exc:
        raise bad("INVALID_AMOUNT", f"{name}: {exc}", field=name) from None
    if not 0 <= limit.minor <= MAX_MINOR:
        raise bad("INVALID_AMOUNT", f"{name} must be 0 to {MAX_MINOR} minor units", field=name)
    return limit


def _kind(name: str, value: Any) -> str:
    if value not in FAULT_KINDS:
        raise bad("INVALID_FIELD", f"{name} must be one of {', '.join(FAULT_KINDS)}", field=name)
    return str(value)


def _one_of(values: tuple[str, ...], wording: str) -> Validator:
    def check(name: str, value: Any) -> str:
        if value not in values:
            raise bad("INVALID_FIELD", f"{name} {wording}", field=name)
        return str(value)

    return check


def _method(name: str, value: Any) -> str:
    if not isinstance(value, str) or value.upper() not in ("GET", "POST", "PUT", "DELETE", "PATCH"):
        raise bad("INVALID_FIELD", f"{name} must be an HTTP method such as POST", field=name)
    return value.upper()


def _metadata(name: str, value: Any) -> dict[str, str]:
    """Added with metadata (issue 15): written the hand-written way, as a second opinion."""
    if not isinstance(value, dict):
        raise bad("INVALID_FIELD", f"{name} must be an object of strings", field=name)
    if len(value) > 20:
        raise bad("INVALID_FIELD", f"{name} has more than 20 keys", field=name)
    for key, item in value.items():
        shown = repr(key[:40])
        if not key or len(key) > 40 or re.search(r"[\x00-\x1f\x7f]", key):
            raise bad(
                "INVALID_FIELD",
                f"{name} keys must be 1 to 40 characters without control characters (key {shown})",
                field=name,
            )
        if not isinstance(item, str):
            raise bad("INVALID_FIELD", f"{name}[{shown}] must be a string", field=name)
        if len(item) > 500 or re.search(r"[\x00-\x1f\x7f]", item):
            raise bad(
                "INVALID_FIELD",
                f"{name}[{shown}] must be at most 500 characters without control characters",
                field=name,
            )
    return dict(value)


#: Each body the old code validated: its required and optional field validators.
BODIES: dict[str, tuple[dict[str, Validator], dict[str, Validator]]] = {
    "eligibility": ({"buyer_token": text(80), "amount": money}, {}),
    "checkout": (
        {
            "out_trade_no": text(64, _TRADE_NO),
            "amount": money,
            "description": text(256),
            "notify_url": url,
            "return_url": url,
        },
        {
            "plans": _plan_ids,
            "expires_in": opt_int(60, 7 * 24 * 3600),
            "metadata": _metadata,
        },
    ),
    "empty": ({}, {}),
    "capture": ({}, {"amount": money, "final": _bool}),
    # issue #15: split shipments and the one extension, written in the same style
    "extend": ({}, {"days": opt_int(1, 365)}),
    "refund": (
        {"order_id": text(64), "amount": money, "out_refund_no": text(64, _TRADE_NO)},
        {"reason": opt_text(256), "metadata": _metadata},
    ),
    "buyer": (
        {"limit": _limit},
        {
            "phone": text(11, _PHONE),
            "single_purchase_max": money,
            "status": _status,
            "overdue": _bool,
        },
    ),
    "clock": ({"seconds": opt_int(0, 10 * 365 * 24 * 3600)}, {}),
    # issue #14 replaced the body (any amount, a mode); written in the same style
    "repay": (
        {},
        {
            "amount": money,
            "order_id": text(64),
            "mode": _one_of(("DUE", "PAYOFF", "PREPAY"), "must be 'DUE', 'PAYOFF' or 'PREPAY'"),
            "prepay_keeps": _one_of(("PAYMENT", "PERIODS"), "must be 'PAYMENT' or 'PERIODS'"),
        },
    ),
    "fault": (
        {"kind": _kind},
        {"method": _method, "path_prefix": opt_text(256), "count": opt_int(1, 1000)},
    ),
}


def validate(body: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The old answer for ``data`` as the body ``body``: the checked fields, or a raise."""
    required, optional = BODIES[body]
    return fields(data, required, optional)
