"""Pooled PostgreSQL connections are checked before use only when they sat idle.

SQLAlchemy's ``pool_pre_ping`` sends a ``SELECT 1`` round trip on *every* checkout; the
issuer checks a connection out several times per request (the test-mode state, the nonce,
each transaction), so that was about a quarter of every statement PostgreSQL received.
A connection that was in use a moment ago cannot have been dropped unnoticed any more
than one that was just pinged (the server can drop either the next instant), so only a
connection idle for longer than :data:`PING_AFTER` seconds is pinged. One that fails the
ping is thrown away and the pool hands out a fresh one (SQLAlchemy's
``DisconnectionError`` protocol), so a server restart or an idle timeout costs no request.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

__all__ = ["PING_AFTER", "ping_when_idle"]

#: Seconds a pooled connection may sit idle before it is pinged on its next checkout.
PING_AFTER = 1.0
_IDLE_SINCE = "paylater_idle_since"


def ping_when_idle(engine: Engine, *, after: float = PING_AFTER) -> None:
    """Install the checks on ``engine``'s pool (instead of ``pool_pre_ping``)."""

    @sa.event.listens_for(engine, "checkin")
    def _checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since <= after:
            return  # new, or in use a moment ago
        try:
            cursor = dbapi_conn.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            dbapi_conn.rollback()  # leave no transaction open behind the ping
        except Exception as exc:  # any failure: this connection is not to be trusted
            raise sa.exc.DisconnectionError("a pooled connection failed its ping") from exc
