"""Reading v3 request bodies: WeChat's field names, WeChat's ``PARAM_ERROR`` for bad ones.

Every check names the field (``amount.total``), so a merchant sees at once what to fix;
nothing here touches the database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from ....errors import InvalidRequestError

__all__ = [
    "INVALID_REQUEST",
    "ORDER_CLOSED",
    "ORDER_NOT_EXIST",
    "PARAM_ERROR",
    "RESOURCE_NOT_EXISTS",
    "SUBSIDY_INSTALLMENTS",
    "SUBSIDY_PERCENTS",
    "amount_total",
    "optional_text",
    "param_error",
    "subsidy_plans",
    "text",
    "time_expire",
]

#: v3's own error codes the v3 domain raises (their statuses: web/wechat/errors.py).
PARAM_ERROR: Final = "PARAM_ERROR"
INVALID_REQUEST: Final = "INVALID_REQUEST"
ORDER_CLOSED: Final = "ORDER_CLOSED"
ORDER_NOT_EXIST: Final = "ORDER_NOT_EXIST"
RESOURCE_NOT_EXISTS: Final = "RESOURCE_NOT_EXISTS"
SUBSIDY_INSTALLMENTS: Final = (3, 6, 12)
SUBSIDY_PERCENTS: Final = (0, 100)
_MAX_TOTAL = 10**11  # 10 亿元 in fen: far above any 分付 limit
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def param_error(message: str, field: str | None = None) -> InvalidRequestError:
    exc = InvalidRequestError(message, code=PARAM_ERROR)
    setattr(exc, "field", field)  # noqa: B010 - the error view reads it back
    return exc


def _object(data: Mapping[str, Any], name: str, *, required: bool = True) -> Mapping[str, Any]:
    value = data.get(name)
    if value is None and not required:
        return {}
    if not isinstance(value, Mapping):
        raise param_error(f"{name} 必须是对象 (an object)", name)
    return value


def text(
    data: Mapping[str, Any],
    name: str,
    *,
    max_len: int,
    pattern: str | None = None,
    prefix: str = "",
) -> str:
    field = prefix + name
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise param_error(f"输入源“/body/{field}”映射到字段“{name}”必填性规则校验失败", field)
    if len(value) > max_len or _CONTROL.search(value):
        raise param_error(f"{field} 长度超过 {max_len} 或含控制字符", field)
    if pattern is not None and not re.fullmatch(pattern, value):
        raise param_error(f"{field} 格式不正确", field)
    return value


def optional_text(data: Mapping[str, Any], name: str, *, max_len: int) -> str | None:
    if data.get(name) is None:
        return None
    return text(data, name, max_len=max_len)


def amount_total(data: Mapping[str, Any], name: str = "total") -> tuple[int, str]:
    """``amount.total`` (integer fen, > 0) and ``amount.currency`` (CNY only)."""
    amount = _object(data, "amount")
    total = amount.get(name)
    if isinstance(total, bool) or not isinstance(total, int) or not 0 < total <= _MAX_TOTAL:
        raise param_error(f"amount.{name} 必须是正整数（单位：分）", f"amount.{name}")
    currency = amount.get("currency", "CNY")
    if currency != "CNY":
        raise param_error("amount.currency 仅支持 CNY", "amount.currency")
    return total, "CNY"


def time_expire(data: Mapping[str, Any], now: datetime) -> int | None:
    """Seconds from ``now`` to ``time_expire`` (RFC 3339), or None when not given."""
    raw = data.get("time_expire")
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise param_error("time_expire 必须是 RFC 3339 时间，带时区", "time_expire")
    seconds = int((moment - now).total_seconds())
    if seconds < 60:
        raise param_error("time_expire 距当前时间不能少于 1 分钟", "time_expire")
    return seconds


def subsidy_plans(data: Mapping[str, Any]) -> dict[int, int]:
    """``subsidy_info.subsidy_detail[].subsidy_plan[]`` as {installments: percent}.

    ``subsidy_installment_num`` must be 3, 6 or 12 and ``subsidy_percent`` 0 or 100 (100:
    the merchant pays the fee, the buyer pays no interest, 免息); each number at most once.
    """
    info = data.get("subsidy_info")
    if info is None:
        return {}
    if not isinstance(info, Mapping):
        raise param_error("subsidy_info 必须是对象", "subsidy_info")
    details = info.get("subsidy_detail")
    if not isinstance(details, list) or not details:
        raise param_error(
            "subsidy_info.subsidy_detail 必须是非空数组", "subsidy_info.subsidy_detail"
        )
    plans: dict[int, int] = {}
    for i, detail in enumerate(details):
        where = f"subsidy_info.subsidy_detail[{i}].subsidy_plan"
        entries = detail.get("subsidy_plan") if isinstance(detail, Mapping) else None
        if not isinstance(entries, list) or not entries:
            raise param_error(f"{where} 必须是非空数组", where)
        for j, plan in enumerate(entries):
            at = f"{where}[{j}]"
            if not isinstance(plan, Mapping):
                raise param_error(f"{at} 必须是对象", at)
            num = plan.get("subsidy_installment_num")
            pct = plan.get("subsidy_percent")
            if isinstance(num, bool) or num not in SUBSIDY_INSTALLMENTS:
                raise param_error(
                    f"{at}.subsidy_installment_num 只能是 3、6 或 12",
                    f"{at}.subsidy_installment_num",
                )
            if isinstance(pct, bool) or pct not in SUBSIDY_PERCENTS:
                raise param_error(f"{at}.subsidy_percent 只能是 0 或 100", f"{at}.subsidy_percent")
            if num in plans:
                raise param_error(f"{at}: 分期数 {num} 重复", f"{at}.subsidy_installment_num")
            plans[int(num)] = int(pct)
    return plans
