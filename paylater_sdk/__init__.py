"""paylater-sdk: 分付-style pay-later checkout for merchants.

The top-level package re-exports what most integrations need. Heavier parts (the mock
issuer, the testing kit) are imported from their own modules so that importing the SDK
never pulls in Flask or SQLAlchemy.
"""

from __future__ import annotations

from .client import (
    AsyncPayLaterClient,
    Checkout,
    CheckoutState,
    Event,
    EventType,
    Order,
    PayLaterClient,
    Plan,
    Refund,
)
from .errors import PayLaterError
from .money import Money

__all__ = [
    "AsyncPayLaterClient",
    "Checkout",
    "CheckoutState",
    "Event",
    "EventType",
    "Money",
    "Order",
    "PayLaterClient",
    "PayLaterError",
    "Plan",
    "Refund",
    "__version__",
]

__version__ = "0.1.0"
