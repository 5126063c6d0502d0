"""The notification outbox: merchants hear about state changes at least once.

A state change and the notification announcing it are written in the *same* database
transaction (:func:`enqueue` takes the caller's connection), so the issuer can never
authorize a checkout and forget to tell the merchant, nor announce a change that was rolled
back. Delivery happens later, outside any transaction, from rows that live in the database:
a restart loses nothing, it only delays the next attempt.

Each attempt seals the envelope anew (fresh signature timestamp and nonce, so the
merchant's replay protection never rejects a genuine retry) but keeps the envelope ``id``,
which is what merchants deduplicate on. A 2xx answer acknowledges; anything else, a
connection error or a timeout schedules the next attempt after the back-off schedule
(WeChat Pay's 15s, 15s, 30s, 3m, 10m, ... by default). After the last step the
notification is marked ``FAILED`` and stays in the delivery log.

Delivery is concurrent with a per-merchant bound (:mod:`.notify_delivery`), so one slow
merchant endpoint never holds up another merchant's notifications, and claiming is safe
across several issuer processes on one database.

Every "now" comes from the issuer's clock, so the test clock (``/_test/clock/advance``)
also makes retries due: a test compresses hours of back-off into one call.
"""

from __future__ import annotations

from .sender import (
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_NOTIFY_SCHEDULE,
    DEFAULT_NOTIFY_TIMEOUT,
    DEFAULT_PER_MERCHANT,
    DeliveryWorker,
    NotifyTransport,
    deliver_due,
    requests_transport,
)
from .store import (
    NOTIFICATION_STATES,
    delivery_log,
    enqueue,
    notification_attempts,
    notifications,
    redeliver,
)

__all__ = [
    "DEFAULT_MAX_IN_FLIGHT",
    "DEFAULT_NOTIFY_SCHEDULE",
    "DEFAULT_NOTIFY_TIMEOUT",
    "DEFAULT_PER_MERCHANT",
    "NOTIFICATION_STATES",
    "DeliveryWorker",
    "NotifyTransport",
    "deliver_due",
    "delivery_log",
    "enqueue",
    "notification_attempts",
    "notifications",
    "redeliver",
    "requests_transport",
]
