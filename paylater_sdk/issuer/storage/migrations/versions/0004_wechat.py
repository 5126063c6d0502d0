"""The WeChat Pay v3 face: v3 merchants, platform keys, payers, transactions, refunds, bills.

Only new tables: nothing of an existing table changes (it follows 0003, but needs
nothing of it).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wechat_merchants",
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("apiv3_key", sa.String(length=64), nullable=False),
        sa.Column("key_mode", sa.String(length=16), nullable=False),
        sa.Column("appid", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"]),
        sa.PrimaryKeyConstraint("merchant_id"),
    )
    op.create_table(
        "wechat_platform_keys",
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("public_key_id", sa.String(length=64), nullable=False),
        sa.Column("private_pem", sa.Text(), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("serial"),
        sa.UniqueConstraint("public_key_id"),
    )
    op.create_table(
        "wechat_payers",
        sa.Column("buyer_id", sa.String(length=40), nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("phone_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["buyer_id"], ["buyers.id"]),
        sa.PrimaryKeyConstraint("buyer_id"),
        sa.UniqueConstraint("openid"),
        sa.UniqueConstraint("phone_hash"),
    )
    op.create_table(
        "wechat_transactions",
        sa.Column("checkout_id", sa.String(length=40), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("appid", sa.String(length=32), nullable=False),
        sa.Column("trade_type", sa.String(length=16), nullable=False),
        sa.Column("prepay_id", sa.String(length=64), nullable=False),
        sa.Column("transaction_id", sa.String(length=32), nullable=False),
        sa.Column("buyer_id", sa.String(length=40), nullable=True),
        sa.Column("attach", sa.String(length=128), nullable=True),
        sa.Column("subsidy_json", sa.Text(), nullable=True),
        sa.Column("installments", sa.Integer(), nullable=True),
        sa.Column("success_time", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["checkout_id"], ["checkouts.id"]),
        sa.PrimaryKeyConstraint("checkout_id"),
        sa.UniqueConstraint("prepay_id"),
        sa.UniqueConstraint("transaction_id"),
    )
    op.create_table(
        "wechat_refunds",
        sa.Column("refund_id", sa.String(length=40), nullable=False),
        sa.Column("wx_refund_id", sa.String(length=32), nullable=False),
        sa.Column("checkout_id", sa.String(length=40), nullable=False),
        sa.Column("notify_url", sa.String(length=512), nullable=True),
        sa.PrimaryKeyConstraint("refund_id"),
        sa.UniqueConstraint("wx_refund_id"),
    )
    op.create_index("ix_wechat_refunds_checkout_id", "wechat_refunds", ["checkout_id"])
    op.create_table(
        "wechat_bills",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("gzip", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("token"),
    )


def downgrade() -> None:
    raise NotImplementedError("downgrades are not supported; restore a backup instead")
