"""Indexes for the two hot queries that read a whole table (found by test_query_plans.py).

- ``ix_buyers_overdue``: every sweep's overdue refresh looks for the buyers flagged overdue;
- ``ix_orders_merchant_captured``: every refund reads the merchant's newest captured orders
  (the risk rule ``MERCHANT_REFUND_RATE``).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_buyers_overdue", "buyers", ["overdue"])
    op.create_index("ix_orders_merchant_captured", "orders", ["merchant_id", "captured_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_orders_merchant_captured", "orders")
    op.drop_index("ix_buyers_overdue", "buyers")
