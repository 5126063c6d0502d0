"""Servicing (issue #14): repayments, their payment rows, receivables and buyer messages.

- ``repayments``: one row per repayment, its idempotency key (unique per buyer) and answer;
- ``repayment_lines``: the ``Payment`` rows each order is rebuilt from (REPAYMENT | REFUND);
- ``receivable_entries``: interest, fees, penalty and late fees owed, kept apart from the
  principal, and the written-off account;
- ``buyer_events``: the buyer's own messages (never sent to merchants);
- ``orders``: ``penalty_rate`` fixed at capture, penalty and late fees posted so far,
  ``written_off_at``.

Loans opened before this revision get their receivables backfilled (the interest and fees
of their unpaid installments, reason ``MIGRATE_0006``) so that ``check-ledger`` balances;
their ``penalty_rate`` stays NULL, read as no penalty (it was never disclosed to them).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import json
import time

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("penalty_rate", sa.String(length=24), nullable=True))
        batch.add_column(
            sa.Column("penalty_posted_minor", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("late_fees_posted_minor", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("written_off_at", sa.BigInteger(), nullable=True))
    op.create_table(
        "repayments",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("buyer_id", sa.String(length=40), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("order_id", sa.String(length=40), nullable=True),
        sa.Column("prepay_keeps", sa.String(length=16), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("business_date", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("answer_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["buyer_id"], ["buyers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("buyer_id", "idempotency_key", name="uq_repayments_key"),
    )
    op.create_index("ix_repayments_buyer_id", "repayments", ["buyer_id"])
    op.create_table(
        "repayment_lines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("repayment_id", sa.String(length=40), nullable=False),
        sa.Column("order_id", sa.String(length=40), nullable=False),
        sa.Column("installment", sa.Integer(), nullable=False),
        sa.Column("part", sa.String(length=16), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("business_date", sa.String(length=10), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_repayment_lines_repayment_id", "repayment_lines", ["repayment_id"])
    op.create_index("ix_repayment_lines_order_id", "repayment_lines", ["order_id"])
    op.create_table(
        "receivable_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("buyer_id", sa.String(length=40), nullable=False),
        sa.Column("order_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("delta", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["buyer_id"], ["buyers.id"]),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_receivable_entries_buyer_id", "receivable_entries", ["buyer_id"])
    op.create_index("ix_receivable_entries_order_id", "receivable_entries", ["order_id"])
    op.create_table(
        "buyer_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("buyer_id", sa.String(length=40), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=40), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("data_json", sa.Text(), nullable=False),
        sa.Column("business_date", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=160), nullable=True),
        sa.ForeignKeyConstraint(["buyer_id"], ["buyers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
    )
    op.create_index("ix_buyer_events_buyer_id", "buyer_events", ["buyer_id"])
    backfill_receivables(op.get_bind())


_orders = sa.table(
    "orders",
    sa.column("id", sa.String),
    sa.column("buyer_id", sa.String),
    sa.column("currency", sa.String),
    sa.column("schedule_json", sa.Text),
)
_entries = sa.table(
    "receivable_entries",
    sa.column("buyer_id", sa.String),
    sa.column("order_id", sa.String),
    sa.column("kind", sa.String),
    sa.column("delta", sa.BigInteger),
    sa.column("currency", sa.String),
    sa.column("reason", sa.String),
    sa.column("reference", sa.String),
    sa.column("created_at", sa.BigInteger),
)


def backfill_receivables(conn: sa.Connection) -> None:
    """Receivable entries for loans opened before servicing existed."""
    now = int(time.time())
    loans = conn.execute(sa.select(_orders).where(_orders.c.schedule_json.is_not(None)))
    for row in loans.all():
        unpaid = [i for i in json.loads(row.schedule_json)["installments"] if not i["paid"]]
        for kind, name in (("INTEREST", "interest"), ("FEE", "fee")):
            owed = sum(int(i[name]["value"]) for i in unpaid)
            if owed:
                conn.execute(
                    _entries.insert().values(
                        buyer_id=row.buyer_id,
                        order_id=row.id,
                        kind=kind,
                        delta=owed,
                        currency=row.currency,
                        reason="MIGRATE_0006",
                        reference=row.id,
                        created_at=now,
                    )
                )


def downgrade() -> None:
    raise NotImplementedError("downgrades are not supported; restore a backup instead")
