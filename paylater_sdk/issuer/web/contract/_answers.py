"""Response bodies: the objects the issuer answers with, declared once.

The domain builds these objects as JSON-ready dicts (``domain/views.py``); the models are
their published shape (the OpenAPI document) and are held to the real answers by
tests/issuer/web/test_contract.py and the schemathesis run, which validate what the
issuer sends. They are not run on the fast path: an answer is not re-validated per request.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, RootModel, WithJsonSchema

from ....lifecycle import (
    CheckoutState,
    CreditGrade,
    DecisionReason,
    EventType,
    FaultKind,
    NotificationState,
    RefundState,
)
from ._bodies import HTTP_METHODS


class Closed(BaseModel):
    """An object with exactly these keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Open(BaseModel):
    """An object with these keys; more may appear (clients ignore them)."""

    model_config = ConfigDict(frozen=True)


def _enum(*values: str) -> WithJsonSchema:
    """Published as an enum; not enforced on answers (they come from the lifecycle enums)."""
    return WithJsonSchema({"type": "string", "enum": list(values)})


Time = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
Date = Annotated[str, Field(json_schema_extra={"format": "date"})]
Rate = Annotated[str, Field(pattern=r"^-?[0-9]+(\.[0-9]+)?$")]
State = Annotated[str, _enum(*(s.value for s in CheckoutState if s is not CheckoutState.UNKNOWN))]
Frequency = Annotated[str, _enum("MONTHLY", "BIWEEKLY")]
FeePayer = Annotated[str, _enum("BUYER", "MERCHANT")]
Metadata = Annotated[
    dict[str, str],
    Field(description="The merchant's key/value strings ({} when none were set)"),
]


class MoneyOut(Closed):
    """An amount the issuer answers with: integer minor units (may be zero or negative)."""

    value: int
    currency: Annotated[str, Field(pattern="^[A-Z]{3}$")]


class PlanQuote(Closed):
    plan_id: str
    name: str
    method: Annotated[
        str, _enum("EQUAL_PAYMENT", "EQUAL_PRINCIPAL", "FLAT_FEE", "INTEREST_FREE", "PAY_IN_4")
    ]
    periods: Annotated[int, Field(ge=1)]
    frequency: Frequency
    fee_payer: FeePayer
    first_payment: MoneyOut
    regular_payment: MoneyOut
    total_amount: MoneyOut
    total_cost: MoneyOut
    apr: Rate
    effective_annual_rate: Rate


class Installment(Open):
    number: int
    due_date: Date
    principal: MoneyOut
    interest: MoneyOut | None = None
    fee: MoneyOut | None = None
    amount: MoneyOut
    remaining_principal: MoneyOut | None = None
    paid: bool


class Terms(Open):
    """The plan terms re-planning after a refund or payoff needs."""

    method: str | None = None
    periods: Annotated[int, Field(ge=1)] | None = None
    frequency: Frequency | None = None
    fee_payer: FeePayer | None = None
    annual_rate: Rate | None = None
    fee_rate_per_period: Rate | None = None
    merchant_fee_rate: Rate | None = None
    due_day: int | None = None


class ScheduleRefund(Open):
    date: Date
    amount: MoneyOut


class Schedule(Open):
    principal: MoneyOut | None = None
    start_date: Date | None = None
    terms: Terms | None = None
    installments: list[Installment]
    total_amount: MoneyOut
    total_interest: MoneyOut | None = None
    total_fees: MoneyOut | None = None
    merchant_fee: MoneyOut | None = None
    apr: Rate | None = None
    effective_annual_rate: Rate | None = None
    refunds: Annotated[
        list[ScheduleRefund] | None,
        Field(
            description="Refunds that re-planned the schedule (only when there are any); "
            "the APR counts each as a credit on its date."
        ),
    ] = None
    advances: Annotated[
        list[ScheduleRefund] | None,
        Field(
            description="Later captures of an order captured in parts, each re-planning the "
            "schedule (only when there are any); the APR counts each as an advance on its date."
        ),
    ] = None


class Order(Closed):
    id: Annotated[str, Field(pattern="^ord_")]
    checkout_id: Annotated[str, Field(pattern="^co_")]
    out_trade_no: str
    state: State
    amount: MoneyOut
    captured_amount: MoneyOut
    refunded_amount: MoneyOut
    plan: PlanQuote
    schedule: Schedule | None
    authorized_at: Time
    authorization_expires_at: Time
    captured_at: Time | None
    metadata: Metadata
    capturable_amount: Annotated[
        MoneyOut,
        Field(description="Still authorized and capturable; 0 once the authorization ended."),
    ]
    authorization_extended_at: Annotated[
        Time | None, Field(description="When the authorization was extended (once only).")
    ]


class Checkout(Closed):
    id: Annotated[str, Field(pattern="^co_")]
    out_trade_no: str
    state: State
    amount: MoneyOut
    description: str
    notify_url: str
    return_url: str
    plans: list[PlanQuote]
    authorize_url: str
    created_at: Time
    expires_at: Time
    metadata: Metadata
    order: Order | None


class Refund(Closed):
    id: Annotated[str, Field(pattern="^rf_")]
    order_id: str
    out_refund_no: str
    amount: MoneyOut
    reason: str | None
    state: Annotated[str, _enum(RefundState.SUCCEEDED.value)]
    created_at: Time
    metadata: Metadata


class CheckoutList(Closed):
    """A page of checkouts, newest first (docs/api.md, "Lists")."""

    data: list[Checkout]
    has_more: bool


class Checkouts(RootModel[CheckoutList | Checkout]):
    """``GET /v1/checkouts``: a page, or one Checkout when ``out_trade_no`` is the only
    parameter (the find form, kept as it always answered)."""


class RefundList(Closed):
    data: list[Refund]
    has_more: bool


_EVENT_TYPES = tuple(t.value for t in EventType if t is not EventType.UNKNOWN)


class Event(Closed):
    """A notification the merchant was sent, its resource decrypted."""

    id: Annotated[str, Field(pattern="^evt_")]
    type: Annotated[str, _enum(*_EVENT_TYPES)]
    created_at: Time
    resource: Annotated[dict[str, Any], Field(description="A Checkout or a Refund")]


class EventList(Closed):
    data: list[Event]
    has_more: bool


class SealedNotification(Closed):
    """The event sealed now, as the issuer would POST it to the notify URL."""

    headers: dict[str, str]
    body: Annotated[str, Field(description="The exact body to send (UTF-8 JSON)")]


NOTIFICATION_STATES = tuple(s.value for s in NotificationState)
CHECKOUT_STATES = tuple(s.value for s in CheckoutState if s is not CheckoutState.UNKNOWN)
REFUND_STATES = tuple(s.value for s in RefundState if s is not RefundState.UNKNOWN)


class EncryptedCertificate(Closed):
    algorithm: Annotated[str, WithJsonSchema({"type": "string", "const": "AEAD_AES_256_GCM"})]
    nonce: str
    associated_data: str
    ciphertext: str
    original_type: str | None = None


class Certificate(Closed):
    serial_no: str
    algorithm: str
    effective_time: Time
    expire_time: Time | None
    encrypt_certificate: EncryptedCertificate


class Certificates(Closed):
    data: list[Certificate]


class Quote(Closed):
    amount: MoneyOut
    plans: list[PlanQuote]
    as_low_as: MoneyOut | None


class Eligibility(Closed):
    """Whether the buyer may borrow the amount; never the limit or the balance."""

    eligible: bool
    reasons: list[str]
    plans: list[PlanQuote]


class Error(Open):
    """Every refusal: a code (docs/api.md, "Errors"), a message, the request id."""

    code: str
    message: str
    request_id: str | None
    field: str | None = None
    reason: str | None = None


# --- test controls ---------------------------------------------------------------------------


class TestBuyerCreated(Closed):
    id: str
    buyer_token: str
    phone: str
    test_code: str


class CreditDecision(Closed):
    """A credit decision (docs/credit.md): the limit granted, never more than any cap."""

    approved: bool
    limit: MoneyOut
    grade: Annotated[str, _enum(*(g.value for g in CreditGrade if g.value != "UNKNOWN"))] | None
    reasons: list[Annotated[str, _enum(*(r.value for r in DecisionReason if r.value != "UNKNOWN"))]]
    model_version: str


class CreditApplied(Closed):
    id: str
    buyer_token: str
    phone: str
    test_code: str
    decision: CreditDecision


class ClockMoved(Closed):
    now: Time


Part = Annotated[str, _enum("PENALTY", "LATE_FEE", "FEE", "INTEREST", "PRINCIPAL", "PREPAYMENT")]
Bucket = Annotated[str, _enum("CURRENT", "M1", "M2", "M3", "M3_PLUS")]


class AllocatedLine(Closed):
    order_id: str
    installment: Annotated[int, Field(ge=1)]
    part: Part
    amount: MoneyOut


class Delinquency(Closed):
    days_past_due: Annotated[int, Field(ge=0)]
    bucket: Bucket
    past_due: MoneyOut
    frozen: bool
    write_off: list[str]


class Repaid(Closed):
    """A repayment: how it was allocated, what is still owed now, the delinquency."""

    repayment_id: str
    allocated: list[AllocatedLine]
    owed: MoneyOut
    delinquency: Delinquency


class StatementLine(Closed):
    order_id: str
    installment: int
    due_date: Date
    amount: MoneyOut
    paid: MoneyOut
    owed: MoneyOut


class Statement(Closed):
    """A buyer's bill of one month (docs/servicing.md, "Statements")."""

    buyer_id: str
    month: Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{2}$")]
    as_of: Date
    installments: list[StatementLine]
    carried_over: MoneyOut
    penalty_posted: MoneyOut
    late_fees: MoneyOut
    payments_received: MoneyOut
    amount_due: MoneyOut
    due_date: Date | None


class FaultArmed(Closed):
    kind: Annotated[str, _enum(*(kind.value for kind in FaultKind))]
    method: Annotated[str, _enum(*HTTP_METHODS)] | None
    path_prefix: str | None
    count: Annotated[int, Field(ge=1)]


class ResetDone(Closed):
    reset: bool
    now: Time


class TradeBill(Closed):
    """Where to download a day's trade bill and the SHA-256 of the file's bytes."""

    download_url: str
    hash_type: Annotated[str, _enum("SHA256")]
    hash_value: Annotated[str, Field(pattern="^[0-9a-f]{64}$")]
