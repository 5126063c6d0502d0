"""JSON views of stored rows, exactly in the shapes of docs/api.md.

One place builds each wire object, so the API responses, the notification resources and
the consent page all show the same thing.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..storage.prepared import by_id
from ..storage.quickread import QuickRead
from ..storage.schema import checkouts, orders, refunds, rfc3339

__all__ = [
    "checkout_json",
    "checkout_json_by_id",
    "metadata_of",
    "money_json",
    "order_json",
    "order_json_by_id",
    "read_checkout_json",
    "refund_json",
    "refund_json_by_id",
    "rfc3339",
]


def metadata_of(row: Any) -> dict[str, str]:
    """The row's metadata object (``{}`` when the merchant set none)."""
    stored = getattr(row, "metadata_json", None)
    return dict(json.loads(stored)) if stored else {}


def money_json(minor: int, currency: str) -> dict[str, Any]:
    return {"value": int(minor), "currency": currency}


def order_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "checkout_id": row.checkout_id,
        "out_trade_no": row.out_trade_no,
        "state": row.state,
        "amount": money_json(row.amount, row.currency),
        "captured_amount": money_json(row.captured_amount, row.currency),
        "refunded_amount": money_json(row.refunded_amount, row.currency),
        "plan": json.loads(row.plan_json),
        "schedule": json.loads(row.schedule_json) if row.schedule_json else None,
        "authorized_at": rfc3339(row.authorized_at),
        "authorization_expires_at": rfc3339(row.authorization_expires_at),
        "captured_at": rfc3339(row.captured_at),
        "metadata": metadata_of(row),
        # what is still authorized and capturable (0 once the authorization ended)
        "capturable_amount": money_json(row.held, row.currency),
        "authorization_extended_at": rfc3339(row.authorization_extended_at),
    }


# Built once (see :mod:`..storage.prepared`): every checkout and order answer runs one.
_ORDER = sa.select(orders, checkouts.c.out_trade_no).join(
    checkouts, checkouts.c.id == orders.c.checkout_id
)
_ORDER_OF_CHECKOUT = _ORDER.where(orders.c.checkout_id == sa.bindparam("checkout_id"))
_ORDER_BY_ID = _ORDER.where(orders.c.id == sa.bindparam("order_id"))


def _order_row(conn: sa.Connection, checkout_id: str) -> Any:
    return conn.execute(_ORDER_OF_CHECKOUT, {"checkout_id": checkout_id}).first()


def order_json_by_id(conn: sa.Connection, order_id: str) -> dict[str, Any]:
    return order_json(conn.execute(_ORDER_BY_ID, {"order_id": order_id}).one())


#: ``GET /v1/checkouts/{id}`` in one statement: the checkout and its order (unique per
#: checkout), the order's columns prefixed ``order_``. A quick read (no transaction; see
#: :mod:`..storage.quickread`): one statement sees one snapshot of both rows.
_ORDER_COLUMNS = tuple(column.key for column in orders.c)
_CHECKOUT_WITH_ORDER = QuickRead(
    sa.select(checkouts, *(column.label(f"order_{column.key}") for column in orders.c))
    .outerjoin(orders, orders.c.checkout_id == checkouts.c.id)
    .where(
        checkouts.c.id == sa.bindparam("obj_id"),
        checkouts.c.merchant_id == sa.bindparam("owner"),
    )
)


def read_checkout_json(engine: Engine, merchant_id: str, checkout_id: str) -> dict[str, Any] | None:
    """The Checkout object of ``merchant_id``'s checkout, or None (none, or another's)."""
    found = _CHECKOUT_WITH_ORDER.rows(engine, obj_id=checkout_id, owner=merchant_id)
    if not found:
        return None
    row = found[0]
    if row.order_id is None:
        return checkout_view(row, None)
    order = SimpleNamespace(out_trade_no=row.out_trade_no)  # order_json's row: attributes
    for key in _ORDER_COLUMNS:
        setattr(order, key, getattr(row, f"order_{key}"))
    return checkout_view(row, order_json(order))


def checkout_json(conn: sa.Connection, row: Any) -> dict[str, Any]:
    """The Checkout object; its ``state`` is the order's once an order exists."""
    order_row = _order_row(conn, row.id)
    return checkout_view(row, order_json(order_row) if order_row is not None else None)


def checkout_view(row: Any, order: dict[str, Any] | None) -> dict[str, Any]:
    """The Checkout object of ``row`` and its ``order`` (as JSON), with no query: a checkout
    just inserted answers from the values written (it has no order yet)."""
    return {
        "id": row.id,
        "out_trade_no": row.out_trade_no,
        "state": order["state"] if order else row.state,
        "amount": money_json(row.amount, row.currency),
        "description": row.description,
        "notify_url": row.notify_url,
        "return_url": row.return_url,
        "plans": json.loads(row.plans_json),
        "authorize_url": row.authorize_url,
        "created_at": rfc3339(row.created_at),
        "expires_at": rfc3339(row.expires_at),
        "metadata": metadata_of(row),
        "order": order,
    }


def checkout_json_by_id(conn: sa.Connection, checkout_id: str) -> dict[str, Any]:
    row = conn.execute(by_id(checkouts), {"obj_id": checkout_id}).one()
    return checkout_json(conn, row)


def refund_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "order_id": row.order_id,
        "out_refund_no": row.out_refund_no,
        "amount": money_json(row.amount, row.currency),
        "reason": row.reason,
        "state": row.state,
        "created_at": rfc3339(row.created_at),
        "metadata": metadata_of(row),
    }


def refund_json_by_id(conn: sa.Connection, refund_id: str) -> dict[str, Any]:
    row = conn.execute(by_id(refunds), {"obj_id": refund_id}).one()
    return refund_json(row)
