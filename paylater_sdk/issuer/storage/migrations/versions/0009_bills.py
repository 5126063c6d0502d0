"""Settlement bills (docs/settlement.md): each merchant's bill of a day, fixed once made.

- ``bills``: the gzip bytes and their SHA-256, one row per merchant, kind and business
  day (unique), so every download of a day's bill is the same bytes, in any process;
- ``ix_ledger_entries_created_at``: a bill reads one day of the ledger's hold moves.

Revision ID: 0009
Revises: 0008 (re-pointed from 0007 when the captures revision 0008 was merged)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision: str | None = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bills",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("bill_date", sa.String(10), nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("merchant_id", "kind", "bill_date", name="uq_bills_day"),
    )
    op.create_index("ix_ledger_entries_created_at", "ledger_entries", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_ledger_entries_created_at", "ledger_entries")
    op.drop_table("bills")
