"""Several captures per order and a one-time authorization extension (issue #15).

- ``captures``: one row per capture of an order (split shipments), its amount and whether
  it ended the authorization (``final``: the rest of the hold was released);
- ``orders.authorization_extended_at``: when the authorization was extended (once only),
  NULL while it was not;
- ``ix_orders_held_expiry``: the expiry sweep reads the live holds (authorized, or
  captured in part) past their expiry, a few rows however many loans there are.

Orders captured before this revision keep no capture row (their one capture is the order's
``captured_amount`` and ``captured_at``); nothing else changes for them.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("authorization_extended_at", sa.BigInteger(), nullable=True))
    op.create_table(
        "captures",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("order_id", sa.String(length=40), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_captures_order_id", "captures", ["order_id"])
    op.create_index("ix_orders_held_expiry", "orders", ["held", "authorization_expires_at"])


def downgrade() -> None:
    op.drop_index("ix_orders_held_expiry", "orders")
    op.drop_index("ix_captures_order_id", "captures")
    op.drop_table("captures")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("authorization_extended_at")
