"""The v3 envelope: callbacks to WeChat Pay v3 merchants, and keeping ``/v1`` events away.

A checkout made through ``/v3`` is announced the v3 way only (TRANSACTION.SUCCESS,
REFUND.SUCCESS, enqueued by the v3 domain in the transaction of the payment or refund),
so :func:`suppressed` tells the outbox to drop the ``/v1`` events the shared lifecycle
emits for it. :func:`seal` builds v3's envelope (``encrypt-resource``, AEAD_AES_256_GCM
under the merchant's APIv3 key) signed with the platform key in the merchant's key mode.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta, timezone
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ...signing import seal_notification
from ..storage.schema import from_epoch, orders, reading, wechat_merchants, wechat_transactions
from ..storage.wechat_keystore import platform_keys

__all__ = ["WECHAT_EVENTS", "seal", "suppressed"]

#: The callbacks a v3 merchant gets.
WECHAT_EVENTS: Final = frozenset({"TRANSACTION.SUCCESS", "REFUND.SUCCESS"})
_CST = timezone(timedelta(hours=8))


# Built once (see :mod:`..storage.prepared`): every /v1 notification asks.
_CHECKOUT_OF_ORDER = sa.select(orders.c.checkout_id).where(orders.c.id == sa.bindparam("order_id"))
_V3_CHECKOUT = sa.select(wechat_transactions.c.checkout_id).where(
    wechat_transactions.c.checkout_id == sa.bindparam("checkout_id")
)


def suppressed(
    conn: Connection, event_type: str, original_type: str, resource: Mapping[str, Any]
) -> bool:
    """True for a ``/v1`` event about a checkout made through ``/v3`` (not sent)."""
    if event_type in WECHAT_EVENTS:
        return False
    checkout_id: Any = None
    if original_type == "checkout":
        checkout_id = resource.get("id")
    elif original_type in ("refund", "order"):
        order_id = resource.get("order_id") or resource.get("id")
        checkout_id = conn.execute(_CHECKOUT_OF_ORDER, {"order_id": order_id}).scalar()
    if not isinstance(checkout_id, str):
        return False
    found = conn.execute(_V3_CHECKOUT, {"checkout_id": checkout_id}).first()
    return found is not None


def seal(engine: Engine, row: Mapping[str, Any]) -> tuple[dict[str, str], bytes] | None:
    """The sealed v3 callback of an outbox row, or None when it is not a v3 event."""
    if row["event_type"] not in WECHAT_EVENTS:
        return None
    with reading(engine) as conn:
        merchant = conn.execute(
            sa.select(wechat_merchants).where(wechat_merchants.c.merchant_id == row["merchant_id"])
        ).first()
    if merchant is None:
        raise LookupError("the merchant has no WeChat Pay v3 registration any more")
    import json

    event = {
        "id": row["id"],
        "event_type": row["event_type"],
        "original_type": row["original_type"],
        "summary": row["summary"],
        "resource": json.loads(row["resource"]),
        "create_time": from_epoch(row["created_at"]).astimezone(_CST),
    }
    signer = platform_keys(engine).signer(merchant.key_mode)
    headers, body = seal_notification(event, merchant.apiv3_key, signer)
    headers = dict(headers)
    headers["Content-Type"] = "application/json"
    headers["User-Agent"] = "Mozilla/4.0 (paylater mock WeChat Pay notify)"
    return headers, body
