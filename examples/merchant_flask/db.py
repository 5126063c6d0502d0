"""The shop's own storage: orders, refunds and processed notification ids (SQLAlchemy Core).

Money is stored as integer minor units plus a currency, never as a float. The issuer is the
source of truth for payment state; these rows are the shop's copy, refreshed from the issuer
on return, on notify, on admin actions and by reconciliation.

Concurrency: notifications for one order can arrive at the same time (several issuer
workers, retries overlapping a slow first attempt). Correctness must not rest on SQLite's
whole-database lock, so every write transaction locks what it reads: ``SELECT ... FOR
UPDATE`` on PostgreSQL (``store`` uses ``.with_for_update()``), and on SQLite the write lock
taken at ``BEGIN IMMEDIATE``. A deferred SQLite transaction that reads and then writes can
fail with "database is locked" when another writer got in between; taking the lock at
``BEGIN`` serialises writers instead. Reads use :func:`reading`: a plain ``BEGIN`` (a WAL
snapshot that never waits for a writer).
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

__all__ = [
    "create_engine",
    "events",
    "insert_new",
    "lock_order",
    "metadata",
    "orders",
    "reading",
    "refunds",
]

# Execution option marking a connection that only reads (SQLite: deferred BEGIN).
_READ_ONLY = "shop_read_only"

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


def reading(engine: Engine) -> Connection:
    """A connection for reads only (``with reading(engine) as conn: ...``).

    On SQLite its transaction is a plain deferred ``BEGIN`` that runs alongside writers;
    every other transaction takes the write lock at ``BEGIN``. Never write through it.
    """
    return engine.connect().execution_options(**{_READ_ONLY: True})


def lock_order(conn: Connection, out_trade_no: str) -> dict[str, Any] | None:
    """The order row, locked until the transaction ends (SQLite: already write-locked).

    Every transaction that changes an order or its refunds takes this lock first, so
    writers of one order queue up instead of deadlocking on PostgreSQL.
    """
    query = sa.select(orders).where(orders.c.out_trade_no == out_trade_no).with_for_update()
    row = conn.execute(query).mappings().first()
    return dict(row) if row is not None else None


def insert_new(conn: Connection, statement: sa.Insert) -> bool:
    """Insert inside a SAVEPOINT; False (and nothing changed) if the key already exists.

    Race-safe where select-then-insert is not: two deliveries of one id both see "absent",
    and the second insert waits for the first (PostgreSQL) and then fails on the key,
    which only rolls back the savepoint, not the caller's transaction.
    """
    try:
        with conn.begin_nested():
            conn.execute(statement)
    except sa.exc.IntegrityError:
        return False
    return True


# Any constant shared by every shop process: serialises table creation on PostgreSQL.
_SCHEMA_LOCK = 0x5E0F5E0F


def _enable_wal(cur: Any, timeout: float = 15.0) -> None:
    """Switch the file to WAL, waiting out other connections doing the same.

    Two connections switching a fresh file at once would deadlock, so SQLite answers one
    of them "database is locked" at once, without its busy timeout: retry until ``timeout``.
    """
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


def _create_tables(engine: Engine) -> None:
    """Create missing tables; several workers starting at once must not race on it."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
        metadata.create_all(conn)


def create_engine(url: str) -> Engine:
    """Create the engine and the tables.

    ``hide_parameters``: a database error must never log bound parameters (order numbers
    are harmless, but the same engine settings get copied into code that stores tokens).
    SQLite gets WAL (the notify hook never blocks pages), a busy timeout and
    ``BEGIN IMMEDIATE`` write transactions (see the module docstring).
    """
    if not url.startswith("sqlite"):
        engine = sa.create_engine(url, hide_parameters=True, pool_pre_ping=True)
        _create_tables(engine)
        return engine
    engine = sa.create_engine(
        url,
        hide_parameters=True,
        connect_args={"check_same_thread": False, "timeout": 15},
    )

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=15000")
        _enable_wal(cur)
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        if conn.get_execution_options().get(_READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    _create_tables(engine)
    return engine
