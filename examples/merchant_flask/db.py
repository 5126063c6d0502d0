"""The shop's own storage: orders, refunds and processed notification ids (SQLAlchemy Core).

Money is stored as integer minor units plus a currency, never as a float. The issuer is the
source of truth for payment state; these rows are the shop's copy, refreshed from the issuer
on return, on notify, on admin actions and by reconciliation.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

__all__ = [
    "create_engine",
    "events",
    "metadata",
    "orders",
    "refunds",
]

metadata = sa.MetaData()

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("out_trade_no", sa.String(32), primary_key=True),
    sa.Column("description", sa.String(128), nullable=False),
    # JSON list of {"product_id", "name", "quantity", "unit_minor"}: what was sold.
    sa.Column("lines", sa.JSON, nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    # The issuer's lifecycle state (CREATED until the buyer authorizes).
    sa.Column("state", sa.String(24), nullable=False, index=True),
    sa.Column("checkout_id", sa.String(64), nullable=True, unique=True),
    sa.Column("authorize_url", sa.String(512), nullable=True),
    sa.Column("order_id", sa.String(64), nullable=True),
    sa.Column("plan_id", sa.String(64), nullable=True),
    # The chosen PlanQuote JSON: what the buyer agreed to before the loan starts.
    sa.Column("plan", sa.JSON, nullable=True),
    sa.Column("captured_minor", sa.BigInteger, nullable=False, default=0),
    sa.Column("refunded_minor", sa.BigInteger, nullable=False, default=0),
    # The issuer's Schedule JSON (docs/api.md), shown on the order page.
    sa.Column("schedule", sa.JSON, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

refunds = sa.Table(
    "refunds",
    metadata,
    sa.Column("out_refund_no", sa.String(64), primary_key=True),
    sa.Column("out_trade_no", sa.String(32), sa.ForeignKey("orders.out_trade_no"), index=True),
    sa.Column("refund_id", sa.String(64), nullable=True),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("reason", sa.String(80), nullable=True),
    sa.Column("state", sa.String(24), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# One row per notification id ever processed: the primary key makes processing idempotent
# (a duplicate delivery fails the insert inside the same transaction as its effect).
events = sa.Table(
    "processed_notifications",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("event_type", sa.String(40), nullable=False),
    sa.Column("out_trade_no", sa.String(32), nullable=True, index=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
)


def create_engine(url: str) -> Engine:
    """Create the engine and the tables; SQLite gets WAL so the notify hook never blocks pages."""
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 15}
    engine = sa.create_engine(url, **kwargs)
    if url.startswith("sqlite"):

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

    metadata.create_all(engine)
    return engine
