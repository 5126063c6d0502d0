"""The shop's own database in the webhook recipes: orders, and the events already applied.

Deduplication lives here, in the same transaction as the change the event causes: the
event id is inserted into a table where it is the primary key, so a retried or duplicated
delivery (same ``id``) changes nothing, and a crash half-way rolls both back, so the
issuer's retry applies it again. sqlite3 keeps the recipes self-contained; use your own
database the same way (a unique constraint, one transaction).
"""

from __future__ import annotations

import contextlib
import sqlite3

from paylater_sdk.client import Event

SCHEMA = """
CREATE TABLE IF NOT EXISTS processed_events (id TEXT PRIMARY KEY, type TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    out_trade_no TEXT PRIMARY KEY, state TEXT NOT NULL, updates INTEGER NOT NULL
);
"""


class ShopDB:
    """One sqlite3 file; every method opens its own connection (thread-safe enough)."""

    def __init__(self, path: str) -> None:
        self.path = path
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.executescript(SCHEMA)

    def apply(self, event: Event) -> bool:
        """Apply ``event`` once; False if this event id was applied before."""
        with contextlib.closing(sqlite3.connect(self.path)) as conn, conn:  # one transaction
            new = conn.execute(
                "INSERT OR IGNORE INTO processed_events (id, type) VALUES (?, ?)",
                (event.id, event.event_type.value),
            )
            if new.rowcount == 0:
                return False  # a retry or duplicate of an event already applied
            checkout = event.checkout
            if checkout is not None:
                conn.execute(
                    "INSERT INTO orders (out_trade_no, state, updates) VALUES (?, ?, 1) "
                    "ON CONFLICT (out_trade_no) DO UPDATE "
                    "SET state = excluded.state, updates = updates + 1",
                    (checkout.out_trade_no, checkout.state.value),
                )
        return True

    def processed(self) -> list[tuple[str, str]]:
        """``(event id, type)`` of every applied event."""
        with contextlib.closing(sqlite3.connect(self.path)) as conn:
            return conn.execute("SELECT id, type FROM processed_events ORDER BY id").fetchall()

    def order(self, out_trade_no: str) -> tuple[str, int] | None:
        """``(state, number of updates)`` of one order, as the events left it."""
        with contextlib.closing(sqlite3.connect(self.path)) as conn:
            row = conn.execute(
                "SELECT state, updates FROM orders WHERE out_trade_no = ?", (out_trade_no,)
            ).fetchone()
        return None if row is None else (row[0], row[1])
