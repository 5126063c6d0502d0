"""The merchant client: ``PayLaterClient``, ``AsyncPayLaterClient`` and their typed models."""

from __future__ import annotations

from ._async import AsyncPayLaterClient
from ._bills import TradeBill
from ._client import PayLaterClient
from ._pages import Page, PageIterator
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
    SealedNotification,
)

__all__ = [
    "AsyncPayLaterClient",
    "Checkout",
    "CheckoutState",
    "Eligibility",
    "Event",
    "EventType",
    "Order",
    "OrderState",
    "Page",
    "PageIterator",
    "PayLaterClient",
    "Plan",
    "Quote",
    "Refund",
    "RefundState",
    "RetryPolicy",
    "SealedNotification",
    "TradeBill",
]
