"""Request bodies of the ``/v1`` API and the ``/_test`` controls, declared once.

Each model is what a route accepts: unknown fields are refused (``extra="forbid"``), every
field has a :mod:`._fields` rule. Required fields come first, in the order their refusals
are reported. Optional fields default to None when absent; JSON ``null`` is only accepted
where the rule says so (``reason``, ``path_prefix``).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from .... import money as _money
from ....lifecycle import BuyerStatus, Employment, FaultKind
from ..wire import MAX_MINOR
from ._fields import (
    Amount,
    Choice,
    Flag,
    Integer,
    MetadataRule,
    MonthlyAmount,
    Nested,
    OptionalText,
    PlanIds,
    Text,
    Url,
)

TRADE_NO = r"[A-Za-z0-9_\-|*.]{1,64}"
PHONE = r"1[0-9]{10}"
HTTP_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")
_CURRENCY_DOC = {"pattern": "^[A-Z]{3}$", "examples": ["CNY"]}


class Body(BaseModel):
    """A request body: frozen, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Money(Body):
    """Money in wire form: integer minor units (never a float or a string) and a currency."""

    value: Annotated[int, Field(strict=True, ge=1, le=MAX_MINOR)]
    currency: Annotated[str, Field(strict=True, json_schema_extra=_CURRENCY_DOC)]


class Limit(Body):
    """A credit limit: like Money, and zero is allowed (a buyer whose every purchase declines)."""

    value: Annotated[int, Field(strict=True, ge=0, le=MAX_MINOR)]
    currency: Annotated[str, Field(strict=True, json_schema_extra=_CURRENCY_DOC)]


POSITIVE = Amount(Money, 1, f"must be a positive integer number of minor units up to {MAX_MINOR}")
PositiveMoney = Annotated[_money.Money, POSITIVE]
#: Absent or Money: JSON ``null`` is refused like any other non-amount.
OptionalMoney = Annotated[_money.Money | None, POSITIVE]
LimitMoney = Annotated[_money.Money, Amount(Limit, 0, f"must be 0 to {MAX_MINOR} minor units")]
#: Absent, or up to 20 string keys (1 to 40 characters) with string values (up to 500).
Metadata = Annotated[dict[str, str] | None, MetadataRule()]
_STATUSES = tuple(status.value for status in BuyerStatus)


class CheckEligibility(Body):
    buyer_token: Annotated[str, Text(80)]
    amount: PositiveMoney


class CreateCheckout(Body):
    out_trade_no: Annotated[str, Text(64, TRADE_NO)]
    amount: PositiveMoney
    description: Annotated[str, Text(256)]
    notify_url: Annotated[str, Url()]
    return_url: Annotated[str, Url()]
    plans: Annotated[list[str] | None, PlanIds()] = None
    expires_in: Annotated[int | None, Integer(60, 7 * 24 * 3600)] = None
    metadata: Metadata = None


class NoFields(Body):
    """An empty object (an empty body counts as one)."""


class CaptureOrder(Body):
    amount: OptionalMoney = None
    final: Annotated[bool | None, Flag()] = None


class ExtendOrder(Body):
    days: Annotated[int | None, Integer(1, 365)] = None


class CreateRefund(Body):
    order_id: Annotated[str, Text(64)]
    amount: PositiveMoney
    out_refund_no: Annotated[str, Text(64, TRADE_NO)]
    reason: Annotated[str | None, OptionalText(256)] = None
    metadata: Metadata = None


class CreateTestBuyer(Body):
    limit: LimitMoney
    phone: Annotated[str | None, Text(11, PHONE)] = None
    single_purchase_max: OptionalMoney = None
    status: Annotated[str | None, Choice(_STATUSES, "must be 'ACTIVE' or 'FROZEN'")] = None
    overdue: Annotated[bool | None, Flag()] = None


class AdvanceClock(Body):
    seconds: Annotated[int, Integer(0, 10 * 365 * 24 * 3600)]


_MODES = ("DUE", "PAYOFF", "PREPAY")
_KEEPS = ("PAYMENT", "PERIODS")


class Repay(Body):
    """A repayment (docs/servicing.md): absent ``amount`` pays all the mode can take."""

    amount: OptionalMoney = None
    order_id: Annotated[str | None, Text(64)] = None
    mode: Annotated[str | None, Choice(_MODES, "must be 'DUE', 'PAYOFF' or 'PREPAY'")] = None
    prepay_keeps: Annotated[str | None, Choice(_KEEPS, "must be 'PAYMENT' or 'PERIODS'")] = None


_KINDS = tuple(kind.value for kind in FaultKind)


class InjectFault(Body):
    kind: Annotated[str, Choice(_KINDS, f"must be one of {', '.join(_KINDS)}")]
    method: Annotated[
        str | None, Choice(HTTP_METHODS, "must be an HTTP method such as POST", fold_case=True)
    ] = None
    path_prefix: Annotated[str | None, OptionalText(256)] = None
    count: Annotated[int | None, Integer(1, 1000)] = None


# --- credit applications (docs/credit.md) ---------------------------------------------------

#: The largest monthly amount an application may declare (¥10,000,000, in fen).
MAX_MONTHLY_INCOME = 10_000_000_00
MonthlyMoney = Annotated[
    _money.Money, MonthlyAmount(Limit, 0, "must be 0 or more minor units", MAX_MONTHLY_INCOME)
]
_EMPLOYMENTS = tuple(e.value for e in Employment)


class CreditProfile(Body):
    """The simulated external signals of an application (absent: derived from the phone)."""

    payment_history_score: Annotated[int, Integer(0, 100)]
    months_since_first_credit: Annotated[int, Integer(0, 1200)]
    active_credit_lines: Annotated[int, Integer(0, 1000)]
    defaults_last_24_months: Annotated[int, Integer(0, 1000)]


class ApplyForCredit(Body):
    phone: Annotated[str, Text(11, PHONE)]
    monthly_income: MonthlyMoney
    monthly_debt_payments: MonthlyMoney
    employment: Annotated[str, Choice(_EMPLOYMENTS, f"must be one of {', '.join(_EMPLOYMENTS)}")]
    consent: Annotated[bool, Flag()]
    profile: Annotated[CreditProfile | None, Nested(CreditProfile)] = None
