"""What the buyer reads instead of enum names: each state in words, Chinese first.

Templates use the ``state_label`` and ``refund_label`` filters; an unknown state (a newer
issuer) reads as "unknown" rather than as a raw code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from paylater_sdk.client.models import Plan
from paylater_sdk.money import Money

__all__ = [
    "ISSUER_REFUSALS",
    "ORDER_STATES",
    "REFUND_STATES",
    "as_low_as_plan",
    "cheapest_plan",
    "label",
    "refusal",
]

ORDER_STATES: Mapping[str, tuple[str, str]] = {
    "CREATED": ("等待分付确认", "Waiting for your confirmation at 分付"),
    "AUTHORIZED": ("已用分付支付，等待发货", "Paid with 分付, waiting to ship"),
    "CAPTURED": ("已用分付支付，已发货", "Paid with 分付 and shipped"),
    "PARTIALLY_REFUNDED": ("已用分付支付，部分退款", "Paid with 分付, partly refunded"),
    "REFUNDED": ("已全额退款", "Refunded in full"),
    "CLOSED": ("已取消，未付款", "Cancelled, nothing was paid"),
    "EXPIRED": ("已过期，未付款", "Expired, nothing was paid"),
    "VOIDED": ("商家已取消，额度已释放", "Cancelled by the shop, your credit is released"),
}
REFUND_STATES: Mapping[str, tuple[str, str]] = {
    "SUCCEEDED": ("退款成功", "Refunded"),
    "PENDING": ("退款处理中", "Refund in progress"),
    "FAILED": ("退款失败", "Refund failed"),
}
_UNKNOWN = ("状态未知", "Unknown state")


def label(table: Mapping[str, tuple[str, str]], state: object) -> tuple[str, str]:
    """(Chinese, English) words for ``state``."""
    return table.get(str(state), _UNKNOWN)


def cheapest_plan(plans: Iterable[Plan]) -> Plan | None:
    """The plan that costs the buyer least: 0 % where offered, then fewer periods."""
    return min(plans, key=lambda p: (p.total_cost.minor, p.apr, p.periods), default=None)


def as_low_as_plan(plans: Iterable[Plan], as_low_as: Money | None = None) -> Plan | None:
    """The plan behind "低至 ¥X/月", whose APR goes beside it (PBOC 2021 No. 3): the one
    whose regular payment is the quoted ``as_low_as``, else the lowest regular payment."""
    offered = list(plans)
    exact = [p for p in offered if as_low_as is not None and p.regular_payment == as_low_as]
    return min(exact or offered, key=lambda p: (p.regular_payment.minor, p.apr), default=None)


#: What an operator reads when the issuer refuses an action; the code goes in the detail.
ISSUER_REFUSALS: Mapping[str, tuple[str, str]] = {
    "INVALID_STATE": ("订单当前状态不允许这个操作。", "The order's state does not allow this."),
    "AMOUNT_EXCEEDS_AVAILABLE": (
        "金额超过了可以收款或退款的余额。",
        "The amount is more than what is left to capture or refund.",
    ),
    "INVALID_AMOUNT": ("金额无效。", "The amount is not valid."),
    "CURRENCY_MISMATCH": ("币种与订单不一致。", "The currency is not the order's."),
    "DUPLICATE_OUT_REFUND_NO": (
        "这个退款单号已经用过，没有重复退款。",
        "This refund number was used already; nothing was refunded twice.",
    ),
    "NOT_FOUND": ("分付找不到这笔订单。", "The issuer does not know this order."),
    "IDEMPOTENCY_IN_PROGRESS": (
        "同样的操作正在处理，请稍后刷新。",
        "The same request is still running; refresh in a moment.",
    ),
}
_REFUSED = ("分付拒绝了这个操作。", "The issuer refused this action.")


def refusal(code: str | None) -> tuple[str, str]:
    """(Chinese, English) sentence for an issuer error code."""
    return ISSUER_REFUSALS.get(code or "", _REFUSED)
