"""The states and kinds every part of paylater-sdk shares: one definition each.

The issuer stores these values, the client parses them, the OpenAPI document lists them
and the example shop shows them; all import them from here. They are ``str`` enums, so a
member *is* its wire value (``CheckoutState.CREATED == "CREATED"``, and it prints as
``CREATED``), and ``parse`` maps a value this version does not know (one added by a newer
issuer) to ``UNKNOWN`` instead of failing.

>>> CheckoutState.parse("CAPTURED").is_paid, CheckoutState.parse("RESHAPED")
(True, <CheckoutState.UNKNOWN: 'UNKNOWN'>)
"""

from __future__ import annotations

import enum
from typing import TypeVar

__all__ = [
    "API_VERSION",
    "VERSION_HEADER",
    "AlertAction",
    "BillLineType",
    "BuyerEventType",
    "BuyerStatus",
    "CheckoutState",
    "CreditGrade",
    "DecisionReason",
    "DelinquencyBucket",
    "Employment",
    "EventType",
    "FaultKind",
    "NotificationState",
    "OrderState",
    "RefundState",
    "RiskRule",
]

#: The API version the client sends and the issuer answers in (``Paylater-Version``).
API_VERSION = "2026-12-01"
#: The header carrying it, on every request and every ``/v1`` answer.
VERSION_HEADER = "Paylater-Version"

_E = TypeVar("_E", bound="_Tolerant")


class _Tolerant(enum.StrEnum):
    """A str enum whose :meth:`parse` maps values it does not know to ``UNKNOWN``."""

    @classmethod
    def parse(cls: type[_E], value: object) -> _E:
        if isinstance(value, str):
            try:
                return cls(value)
            except ValueError:
                pass
        return cls["UNKNOWN"]


class CheckoutState(_Tolerant):
    """One lifecycle shared by checkouts and orders (docs/api.md, "States").

    ``CREATED -> AUTHORIZED -> CAPTURED (-> PARTIALLY_REFUNDED -> REFUNDED)``,
    ``CREATED -> CLOSED | EXPIRED``, ``AUTHORIZED -> VOIDED | EXPIRED``.
    """

    CREATED = "CREATED"
    AUTHORIZED = "AUTHORIZED"
    CAPTURED = "CAPTURED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"
    CLOSED = "CLOSED"
    EXPIRED = "EXPIRED"
    VOIDED = "VOIDED"
    UNKNOWN = "UNKNOWN"

    @property
    def is_final(self) -> bool:
        """True when no further transition can happen (a shop can stop polling)."""
        return self in _FINAL

    @property
    def is_paid(self) -> bool:
        """True once the buyer authorized (the merchant may ship and capture)."""
        return self in _PAID

    @property
    def is_refundable(self) -> bool:
        """True while part of the captured amount can still be refunded."""
        return self in _REFUNDABLE


_FINAL = frozenset(
    {CheckoutState.REFUNDED, CheckoutState.CLOSED, CheckoutState.EXPIRED, CheckoutState.VOIDED}
)
_PAID = frozenset(
    {
        CheckoutState.AUTHORIZED,
        CheckoutState.CAPTURED,
        CheckoutState.PARTIALLY_REFUNDED,
        CheckoutState.REFUNDED,
    }
)
_REFUNDABLE = frozenset({CheckoutState.CAPTURED, CheckoutState.PARTIALLY_REFUNDED})

#: Orders follow the checkout's lifecycle; the alias keeps call sites readable.
OrderState = CheckoutState


class RefundState(_Tolerant):
    """A refund's state; a value this SDK does not know yet reads as ``UNKNOWN``."""

    SUCCEEDED = "SUCCEEDED"
    PENDING = "PENDING"
    FAILED = "FAILED"
    UNKNOWN = "UNKNOWN"


class EventType(_Tolerant):
    """Notification event types (docs/api.md, "Notifications")."""

    CHECKOUT_AUTHORIZED = "CHECKOUT.AUTHORIZED"
    CHECKOUT_CLOSED = "CHECKOUT.CLOSED"
    CHECKOUT_EXPIRED = "CHECKOUT.EXPIRED"
    ORDER_CAPTURED = "ORDER.CAPTURED"
    ORDER_VOIDED = "ORDER.VOIDED"
    ORDER_EXPIRED = "ORDER.EXPIRED"
    REFUND_SUCCEEDED = "REFUND.SUCCEEDED"
    #: The rest of an authorization captured in part was released (void or expiry); the
    #: captured part's loan is unchanged.
    ORDER_RELEASED = "ORDER.RELEASED"
    UNKNOWN = "UNKNOWN"


class BuyerEventType(_Tolerant):
    """The buyer's own messages (docs/servicing.md, "The issuer"): in the issuer's event log
    and on the buyer's ``/account`` pages, never sent to merchants (a merchant is not told
    of a buyer's repayments)."""

    INSTALLMENT_DUE_SOON = "INSTALLMENT.DUE_SOON"
    INSTALLMENT_OVERDUE = "INSTALLMENT.OVERDUE"
    REPAYMENT_SUCCEEDED = "REPAYMENT.SUCCEEDED"
    ORDER_PAID_OFF = "ORDER.PAID_OFF"
    ORDER_WRITTEN_OFF = "ORDER.WRITTEN_OFF"
    ACCOUNT_FROZEN = "ACCOUNT.FROZEN"
    ACCOUNT_UNFROZEN = "ACCOUNT.UNFROZEN"
    REFUND_RETURNED = "REFUND.RETURNED"
    ACCOUNT_BUCKET_CHANGED = "ACCOUNT.BUCKET_CHANGED"  # a delinquency bucket move
    UNKNOWN = "UNKNOWN"


class DelinquencyBucket(_Tolerant):
    """How late a buyer or an order is, by days past due (docs/servicing.md, "Delinquency").

    ``CURRENT`` (nothing past due), ``M1`` (1-30 days), ``M2`` (31-60), ``M3`` (61-90) and
    ``M3_PLUS`` (more than 90).
    """

    CURRENT = "CURRENT"
    M1 = "M1"
    M2 = "M2"
    M3 = "M3"
    M3_PLUS = "M3_PLUS"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def for_days_past_due(cls, days: int) -> DelinquencyBucket:
        """The bucket of ``days`` past due (0 or less is ``CURRENT``)."""
        if days <= 0:
            return cls.CURRENT
        if days <= 30:
            return cls.M1
        if days <= 60:
            return cls.M2
        if days <= 90:
            return cls.M3
        return cls.M3_PLUS


class BuyerStatus(enum.StrEnum):
    """A buyer's credit line: usable, or frozen (every purchase declines)."""

    ACTIVE = "ACTIVE"
    FROZEN = "FROZEN"


class NotificationState(enum.StrEnum):
    """A notification in the issuer's outbox."""

    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


class FaultKind(enum.StrEnum):
    """Faults a test-mode issuer (and the testing kit) can inject."""

    ERROR_500 = "error_500"
    TIMEOUT = "timeout"
    DROP_NOTIFICATION = "drop_notification"
    DUPLICATE_NOTIFICATION = "duplicate_notification"


class Employment(enum.StrEnum):
    """What an applicant declares about their work (``/account/apply``, docs/credit.md)."""

    SALARIED = "SALARIED"
    SELF_EMPLOYED = "SELF_EMPLOYED"
    STUDENT = "STUDENT"
    RETIRED = "RETIRED"
    UNEMPLOYED = "UNEMPLOYED"


class CreditGrade(enum.StrEnum):
    """The scorecard's grade of an approved applicant, A (best) to E (docs/credit.md)."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"
    E = "E"


class DecisionReason(enum.StrEnum):
    """Why a credit application was declined, strongest first (the order of this enum)."""

    NO_CONSENT = "NO_CONSENT"
    STUDENT = "STUDENT"
    INCOME_TOO_LOW = "INCOME_TOO_LOW"
    DEBT_TO_INCOME = "DEBT_TO_INCOME"
    RECENT_DEFAULT = "RECENT_DEFAULT"
    THIN_FILE = "THIN_FILE"
    SCORE_TOO_LOW = "SCORE_TOO_LOW"


class RiskRule(enum.StrEnum):
    """The risk early-warning rules (风险预警) the issuer evaluates on credit events."""

    VELOCITY = "VELOCITY"
    UTILIZATION_SPIKE = "UTILIZATION_SPIKE"
    SHARED_DEVICE = "SHARED_DEVICE"
    MERCHANT_REFUND_RATE = "MERCHANT_REFUND_RATE"
    FIRST_PAYMENT_DEFAULT = "FIRST_PAYMENT_DEFAULT"


class AlertAction(enum.StrEnum):
    """What the issuer does when a risk rule fires."""

    ALERT = "alert"
    FREEZE = "freeze"
    CUT_LIMIT = "cut_limit"
    REVIEW = "review"


class BillLineType(enum.StrEnum):
    """The type of a settlement bill line (docs/settlement.md): money taken on an order
    (``CAPTURE``), given back (``REFUND``), or authorized credit let go uncaptured
    (``RELEASE``: a void, an expiry, the rest of a capture below the authorization)."""

    CAPTURE = "CAPTURE"
    REFUND = "REFUND"
    RELEASE = "RELEASE"
