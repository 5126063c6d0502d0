"""SQLite: the writers of one process wait their turn on a lock, not in SQLite's sleeps.

SQLite lets one transaction write at a time, and every issuer write transaction takes the
database's write lock at ``BEGIN IMMEDIATE``. A connection that finds it taken waits in
SQLite's busy handler, which *sleeps* and retries with growing naps (1, 2, 5, ... up to
100 ms): with eight server threads writing, a request could nap 100 ms after the lock was
free again, which made the slowest requests 20 times slower than the median. Within one
process the writers now queue on a lock instead and are woken the moment it is released;
the busy handler still arbitrates between processes.

The lock is taken at ``BEGIN IMMEDIATE`` and released when the connection goes back to
the pool (after its commit or rollback). A connection that already holds it does not take
it twice, and a wait that outlasts the busy timeout goes on to ``BEGIN IMMEDIATE`` anyway,
so the lock can slow a writer down but never make it fail differently than before.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

__all__ = ["WriterQueue", "queue_of"]

_HOLDS = "paylater_holds_write_lock"
_QUEUES: weakref.WeakKeyDictionary[Engine, WriterQueue] = weakref.WeakKeyDictionary()


def queue_of(engine: Engine) -> WriterQueue | None:
    """The engine's writer queue (None for PostgreSQL, whose row locks need none)."""
    return _QUEUES.get(engine)


class WriterQueue:
    """One engine's in-process write lock (installed by ``make_engine`` on SQLite)."""

    def __init__(self, engine: Engine, *, wait: float) -> None:
        self._lock = threading.Lock()
        self._wait = wait
        sa.event.listen(engine, "checkin", self._checked_in)
        _QUEUES[engine] = self

    @property
    def held(self) -> bool:
        """Whether a writer of this process holds the turn now."""
        return self._lock.locked()

    def enter(self, conn: sa.Connection) -> None:
        """Before ``BEGIN IMMEDIATE`` on ``conn``: wait for this process's other writers."""
        self.enter_pooled(conn.connection.record_info)

    def enter_pooled(self, record: dict[str, Any] | None) -> None:
        """The same for a pooled connection's ``record_info`` (a quick write, which runs
        on the driver's connection); the turn ends when that connection is checked in."""
        if record is None or record.get(_HOLDS):
            return
        if self._lock.acquire(timeout=self._wait):
            record[_HOLDS] = True

    def leave(self, conn: sa.Connection) -> None:
        """``BEGIN IMMEDIATE`` failed: let the next writer try."""
        self._release(conn.connection.record_info)

    def _checked_in(self, _dbapi_conn: Any, record: Any) -> None:
        self._release(record.record_info)

    def _release(self, record: dict[str, Any] | None) -> None:
        if record is not None and record.pop(_HOLDS, False):
            self._lock.release()

    def __repr__(self) -> str:
        return f"WriterQueue(held={self.held})"
