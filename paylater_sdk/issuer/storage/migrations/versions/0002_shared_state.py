"""Several processes: one active signing key, shared nonces, rate counters, order versions.

- a partial unique index: at most one active signing key (a database fact, so two
  processes starting at once cannot both activate one); extra active keys left by the
  start-up race of earlier versions are deactivated first, the newest kept;
- ``seen_nonces``: the replay memory every process shares;
- ``rate_counters``: fixed-window counters (eligibility rate limits);
- ``orders.version``: every order update is guarded on it;
- ``schema_version`` goes: alembic's own table says which revision a database is at.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None

_keys = sa.table(
    "issuer_keys",
    sa.column("serial", sa.String),
    sa.column("active", sa.Boolean),
    sa.column("created_at", sa.BigInteger),
)


def upgrade() -> None:
    conn = op.get_bind()
    active = conn.execute(
        sa.select(_keys.c.serial)
        .where(_keys.c.active == sa.true())
        .order_by(_keys.c.created_at.desc(), _keys.c.serial.desc())
    ).scalars()
    extra = list(active)[1:]
    if extra:
        conn.execute(_keys.update().where(_keys.c.serial.in_(extra)).values(active=False))
    op.create_index(
        "uq_issuer_keys_one_active",
        "issuer_keys",
        ["active"],
        unique=True,
        sqlite_where=sa.text("active"),
        postgresql_where=sa.text("active"),
    )
    op.create_table(
        "seen_nonces",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("signed_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("nonce"),
    )
    op.create_index("ix_seen_nonces_signed_at", "seen_nonces", ["signed_at"])
    op.create_table(
        "rate_counters",
        sa.Column("scope", sa.String(length=160), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "window_start"),
    )
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="0"))
    op.drop_table("schema_version")


def downgrade() -> None:
    raise NotImplementedError("downgrades are not supported; restore a backup instead")
