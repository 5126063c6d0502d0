"""Typed records: the shape of each table's rows, for the domain to read them by.

SQLAlchemy Core answers with :class:`sqlalchemy.Row` objects, whose attributes are typed
``Any``. Each class here is a :class:`typing.Protocol` naming one table's columns with their
Python types. A ``Row`` satisfies it as it is (its ``__getattr__`` answers any name), so a
function that takes ``order: OrderRow`` accepts the row a query returned, with no cast and
no copy into another object on the hot path, while ``mypy --strict`` checks every
``order.captured_amount`` it reads against the column's type.
``tests/issuer/storage/test_records.py`` holds every record to its table, so a column
added, renamed or retyped in :mod:`.schema` without its record fails CI.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import RowMapping

__all__ = [
    "RECORDS",
    "BuyerEventRow",
    "BuyerRow",
    "CheckoutRow",
    "CreditDecisionRow",
    "LedgerEntryRow",
    "MerchantRow",
    "NotificationRow",
    "OrderRow",
    "ReceivableEntryRow",
    "RefundRow",
    "RepaymentLineRow",
    "RepaymentRow",
    "RiskAlertRow",
    "WechatTransactionRow",
]


class _Record(Protocol):
    """What every row offers besides its columns."""

    @property
    def _mapping(self) -> RowMapping: ...


class BuyerRow(_Record, Protocol):
    """A row of ``buyers``."""

    id: str
    buyer_token: str
    phone_hash: str
    phone_enc: str | None
    test_code: str
    currency: str
    credit_limit: int
    available: int
    held: int
    outstanding: int
    single_purchase_max: int | None
    status: str
    overdue_flag: bool
    overdue: bool
    created_at: int
    monthly_income: int | None
    monthly_debt_payments: int | None
    employment: str | None
    line_opened_at: int | None
    reviewed_at: int | None
    closed_at: int | None
    pii_erased_at: int | None


class CheckoutRow(_Record, Protocol):
    """A row of ``checkouts``."""

    id: str
    merchant_id: str
    out_trade_no: str
    state: str
    amount: int
    currency: str
    description: str
    notify_url: str
    return_url: str
    plans_json: str
    authorize_url: str
    created_at: int
    expires_at: int
    metadata_json: str
    list_seq: int | None


class OrderRow(_Record, Protocol):
    """A row of ``orders``."""

    id: str
    checkout_id: str | None
    merchant_id: str
    buyer_id: str
    state: str
    currency: str
    amount: int
    held: int
    captured_amount: int
    refunded_amount: int
    plan_id: str
    plan_json: str
    schedule_json: str | None
    next_due_on: str | None
    authorized_at: int
    authorization_expires_at: int
    captured_at: int | None
    metadata_json: str
    version: int
    penalty_rate: str | None
    penalty_posted_minor: int
    late_fees_posted_minor: int
    written_off_at: int | None


class RefundRow(_Record, Protocol):
    """A row of ``refunds``."""

    id: str
    order_id: str
    merchant_id: str
    out_refund_no: str
    amount: int
    currency: str
    reason: str | None
    state: str
    created_at: int
    metadata_json: str
    list_seq: int | None


class MerchantRow(_Record, Protocol):
    """A row of ``merchants``."""

    id: str
    name: str
    api_key: str
    notify_prefixes: str
    return_prefixes: str
    created_at: int


class RepaymentLineRow(_Record, Protocol):
    """A row of ``repayment_lines``."""

    id: int
    repayment_id: str
    order_id: str
    installment: int
    part: str
    amount_minor: int
    business_date: str
    source: str


class NotificationRow(_Record, Protocol):
    """A row of ``notifications``."""

    id: str
    merchant_id: str
    notify_url: str
    event_type: str
    original_type: str
    summary: str
    resource: str
    state: str
    attempts: int
    round_start: int
    created_at: int
    seq: int
    next_attempt_at: int | None
    delivered_at: int | None
    last_status: int | None
    last_error: str | None
    out_trade_no: str | None
    list_seq: int | None


class WechatTransactionRow(_Record, Protocol):
    """A row of ``wechat_transactions``."""

    checkout_id: str
    merchant_id: str
    appid: str
    trade_type: str
    prepay_id: str
    transaction_id: str
    buyer_id: str | None
    attach: str | None
    subsidy_json: str | None
    installments: int | None
    success_time: int | None
    created_at: int


class RepaymentRow(_Record, Protocol):
    """A row of ``repayments``."""

    id: str
    buyer_id: str
    idempotency_key: str | None
    request_hash: str
    mode: str
    order_id: str | None
    prepay_keeps: str
    amount_minor: int
    currency: str
    business_date: str
    created_at: int
    answer_json: str


class LedgerEntryRow(_Record, Protocol):
    """A row of ``ledger_entries``."""

    id: int
    buyer_id: str
    created_at: int
    reason: str
    reference: str
    amount: int
    currency: str
    limit_delta: int
    available_delta: int
    held_delta: int
    outstanding_delta: int


class ReceivableEntryRow(_Record, Protocol):
    """A row of ``receivable_entries``."""

    id: int
    buyer_id: str
    order_id: str
    kind: str
    delta: int
    currency: str
    reason: str
    reference: str
    created_at: int


class BuyerEventRow(_Record, Protocol):
    """A row of ``buyer_events``."""

    id: int
    buyer_id: str
    event_type: str
    order_id: str | None
    summary: str
    data_json: str
    business_date: str
    created_at: int
    dedupe_key: str | None


class CreditDecisionRow(_Record, Protocol):
    """A row of ``credit_decisions``."""

    id: int
    buyer_id: str
    created_at: int
    kind: str
    model_version: str
    inputs_json: str | None
    points_json: str
    caps_json: str
    approved: bool
    grade: str | None
    limit_amount: int
    currency: str
    reasons_json: str
    note: str | None


class RiskAlertRow(_Record, Protocol):
    """A row of ``risk_alerts``."""

    id: str
    rule: str
    severity: str
    subject: str
    evidence_json: str
    action: str
    created_at: int


#: Each record and the table it describes (the test's map).
RECORDS: dict[str, type[Any]] = {
    "buyers": BuyerRow,
    "checkouts": CheckoutRow,
    "orders": OrderRow,
    "refunds": RefundRow,
    "merchants": MerchantRow,
    "repayment_lines": RepaymentLineRow,
    "notifications": NotificationRow,
    "wechat_transactions": WechatTransactionRow,
    "repayments": RepaymentRow,
    "ledger_entries": LedgerEntryRow,
    "receivable_entries": ReceivableEntryRow,
    "buyer_events": BuyerEventRow,
    "credit_decisions": CreditDecisionRow,
    "risk_alerts": RiskAlertRow,
}
