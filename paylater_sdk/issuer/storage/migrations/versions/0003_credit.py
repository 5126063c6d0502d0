"""Credit granting, responsible lending and personal data (docs/credit.md).

- ``buyers.phone`` goes: each number becomes a keyed hash (``phone_hash``, unique, for
  lookup) and an AES-GCM sealed copy (``phone_enc``, for masked display) under the PII
  key, created here in ``issuer_state`` if the database has none (storage/pii.py);
- ``buyers`` gains the declared income, debt payments and employment of an application,
  and the times a line was opened, last reviewed, closed and its personal data erased;
- ``credit_decisions``: the append-only record of every decision;
- ``risk_alerts`` and ``device_sightings``: risk early warning.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from paylater_sdk.issuer.storage.pii import load_vault

revision = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None

_buyers = sa.table(
    "buyers",
    sa.column("id", sa.String),
    sa.column("phone", sa.String),
    sa.column("phone_hash", sa.String),
    sa.column("phone_enc", sa.Text),
)

_NEW_BUYER_COLUMNS = (
    ("monthly_income", sa.BigInteger()),
    ("monthly_debt_payments", sa.BigInteger()),
    ("employment", sa.String(length=16)),
    ("line_opened_at", sa.BigInteger()),
    ("reviewed_at", sa.BigInteger()),
    ("closed_at", sa.BigInteger()),
    ("pii_erased_at", sa.BigInteger()),
)


def upgrade() -> None:
    conn = op.get_bind()
    vault = load_vault(conn)
    with op.batch_alter_table("buyers") as batch:
        batch.add_column(sa.Column("phone_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("phone_enc", sa.Text(), nullable=True))
        for name, kind in _NEW_BUYER_COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))
    rows = conn.execute(sa.select(_buyers.c.id, _buyers.c.phone)).all()
    for row in rows:
        conn.execute(
            _buyers.update()
            .where(_buyers.c.id == row.id)
            .values(phone_hash=vault.digest(row.phone), phone_enc=vault.seal(row.phone))
        )
    with op.batch_alter_table("buyers") as batch:
        batch.drop_column("phone")
        batch.alter_column("phone_hash", existing_type=sa.String(length=64), nullable=False)
        batch.create_index("uq_buyers_phone_hash", ["phone_hash"], unique=True)
    op.create_table(
        "credit_decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("buyer_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("model_version", sa.String(length=40), nullable=False),
        sa.Column("inputs_json", sa.Text(), nullable=True),
        sa.Column("points_json", sa.Text(), nullable=False),
        sa.Column("caps_json", sa.Text(), nullable=False),
        sa.Column("approved", sa.Boolean(), nullable=False),
        sa.Column("grade", sa.String(length=1), nullable=True),
        sa.Column("limit_amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reasons_json", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["buyer_id"], ["buyers.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_credit_decisions_buyer_id", "credit_decisions", ["buyer_id"])
    op.create_table(
        "risk_alerts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("evidence_json", sa.Text(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_risk_alerts_created_at", "risk_alerts", ["created_at"])
    op.create_table(
        "device_sightings",
        sa.Column("device_hash", sa.String(length=64), nullable=False),
        sa.Column("buyer_id", sa.String(length=40), nullable=False),
        sa.Column("seen_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("device_hash", "buyer_id"),
    )


def downgrade() -> None:
    raise NotImplementedError("downgrades are not supported; restore a backup instead")
