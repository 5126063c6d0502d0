"""Lists and metadata: list positions, the counters that number them, metadata columns.

- ``list_seq`` on checkouts, refunds and notifications: each row's position in the
  merchant's lists (``GET /v1/checkouts``, ``/v1/refunds``, ``/v1/events``), numbered in
  commit order through ``list_counters`` (storage/positions.py); existing rows are
  numbered by (created_at, id), oldest first, and each merchant's counter starts past them;
- ``notifications.out_trade_no``: the checkout an event is about (the list filter),
  filled from each stored resource;
- ``metadata_json`` on checkouts, orders and refunds (``{}`` for existing rows);
- an index for every list query (``uq_*_list_seq``: one position per merchant).

Every change is a plain ``ADD COLUMN`` or ``CREATE INDEX``: on SQLite a batch rebuild of a
table that others reference (checkouts, orders) fails once they hold rows, with foreign
keys on. So ``list_seq`` stays nullable in the schema; the issuer always sets it.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels = None
depends_on = None

_LISTED = ("checkouts", "refunds", "notifications")


def _table(name: str) -> sa.TableClause:
    return sa.table(
        name,
        sa.column("id", sa.String),
        sa.column("merchant_id", sa.String),
        sa.column("created_at", sa.BigInteger),
        sa.column("list_seq", sa.BigInteger),
    )


def _number(conn: sa.Connection, name: str) -> dict[str, int]:
    """Number one table's rows per merchant, oldest first; the highest number of each."""
    table = _table(name)
    highest: dict[str, int] = {}
    rows = conn.execute(
        sa.select(table.c.id, table.c.merchant_id).order_by(table.c.created_at, table.c.id)
    ).all()
    for row in rows:
        position = highest.get(row.merchant_id, 0) + 1
        highest[row.merchant_id] = position
        conn.execute(table.update().where(table.c.id == row.id).values(list_seq=position))
    return highest


def _trade_numbers(conn: sa.Connection) -> None:
    events = sa.table(
        "notifications",
        sa.column("id", sa.String),
        sa.column("resource", sa.Text),
        sa.column("out_trade_no", sa.String),
    )
    trade_no_of_order = {
        str(order_id): str(trade_no)
        for order_id, trade_no in conn.execute(
            sa.text(
                "SELECT orders.id, checkouts.out_trade_no FROM orders "
                "JOIN checkouts ON checkouts.id = orders.checkout_id"
            )
        )
    }
    for event_id, resource in conn.execute(sa.select(events.c.id, events.c.resource)).all():
        try:
            data: Any = json.loads(resource)
        except ValueError:
            continue
        found = data.get("out_trade_no") if isinstance(data, dict) else None
        if not isinstance(found, str) and isinstance(data, dict):
            found = trade_no_of_order.get(str(data.get("order_id")))
        if isinstance(found, str):
            conn.execute(events.update().where(events.c.id == event_id).values(out_trade_no=found))


def upgrade() -> None:
    conn = op.get_bind()
    op.create_table(
        "list_counters",
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("merchant_id"),
    )
    # Plain ADD COLUMNs: on SQLite a batch (copy-and-rename) of a table that other tables
    # reference fails once they hold rows, with foreign keys on.
    for name in _LISTED:
        op.add_column(name, sa.Column("list_seq", sa.BigInteger(), nullable=True))
    for name in ("checkouts", "orders", "refunds"):
        op.add_column(
            name, sa.Column("metadata_json", sa.Text(), nullable=False, server_default="{}")
        )
    op.add_column("notifications", sa.Column("out_trade_no", sa.String(length=64), nullable=True))
    counters: dict[str, int] = {}
    for name in _LISTED:
        for merchant_id, highest in _number(conn, name).items():
            counters[merchant_id] = max(counters.get(merchant_id, 0), highest)
    _trade_numbers(conn)
    if counters:
        op.bulk_insert(
            sa.table("list_counters", sa.column("merchant_id"), sa.column("value")),
            [{"merchant_id": m, "value": v} for m, v in sorted(counters.items())],
        )
    for name in _LISTED:
        op.create_index(f"uq_{name}_list_seq", name, ["merchant_id", "list_seq"], unique=True)
        op.create_index(f"ix_{name}_list_state", name, ["merchant_id", "state", "list_seq"])
        op.create_index(f"ix_{name}_list_created", name, ["merchant_id", "created_at"])
    op.create_index(
        "ix_notifications_list_trade_no",
        "notifications",
        ["merchant_id", "out_trade_no", "list_seq"],
    )
    op.create_index("ix_refunds_order", "refunds", ["order_id"])


def downgrade() -> None:
    raise NotImplementedError("downgrades are not supported; restore a backup instead")
