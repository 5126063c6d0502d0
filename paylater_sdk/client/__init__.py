"""The merchant client: ``PayLaterClient`` and the typed models it returns."""

from __future__ import annotations

from ._client import PayLaterClient
from ._retry import RetryPolicy
from .models import (
    Checkout,
    CheckoutState,
    Eligibility,
    Event,
    EventType,
    Order,
    OrderState,
    Plan,
    Quote,
    Refund,
    RefundState,
)

__all__ = [
    "Checkout",
    "CheckoutState",
    "Eligibility",
    "Event",
    "EventType",
    "Order",
    "OrderState",
    "PayLaterClient",
    "Plan",
    "Quote",
    "Refund",
    "RefundState",
    "RetryPolicy",
]
