"""Database locks that hold across processes: the one rule behind every state change.

Every state change of the issuer is explicit concurrency control, on both engines:

- the row it changes is locked first (``SELECT ... FOR UPDATE`` on PostgreSQL, through
  :func:`locked`; SQLite has no row locks, but every write transaction there takes the
  database's write lock at ``BEGIN IMMEDIATE``, so a read inside it cannot go stale), or
- the UPDATE is guarded on the old values and its row count checked.

Never read-then-write without one of the two. Named locks (start-up, one idempotency
key) are PostgreSQL transaction-level advisory locks, released by commit or rollback, so
a crashed process can never leave one behind.
"""

from __future__ import annotations

import hashlib
from typing import Any, TypeVar

import sqlalchemy as sa

__all__ = ["is_postgres", "lock_name", "locked", "startup_lock", "try_lock_name"]

_STARTUP = "paylater-issuer:startup"
_Query = TypeVar("_Query", bound=sa.Select[Any])


def is_postgres(conn: sa.Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for ``name``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


#: Built once: PostgreSQL runs one per keyed POST (see ``storage/prepared.py``).
_LOCK = sa.select(sa.func.pg_advisory_xact_lock(sa.bindparam("key", type_=sa.BigInteger)))
_TRY_LOCK = sa.select(sa.func.pg_try_advisory_xact_lock(sa.bindparam("key", type_=sa.BigInteger)))


def lock_name(conn: sa.Connection, name: str) -> None:
    """Wait for the named lock (held until this transaction ends)."""
    if is_postgres(conn):
        conn.execute(_LOCK, {"key": _key(name)})


def try_lock_name(conn: sa.Connection, name: str) -> bool:
    """Take the named lock if it is free; False if another transaction holds it.

    On SQLite the write transaction already excludes every other writer, so it is free.
    """
    if not is_postgres(conn):
        return True
    return bool(conn.execute(_TRY_LOCK, {"key": _key(name)}).scalar())


def startup_lock(conn: sa.Connection) -> None:
    """Serialise start-ups: schema, keys, merchants and test buyers are created once."""
    lock_name(conn, _STARTUP)


def locked(query: _Query) -> _Query:
    """``query`` with ``FOR UPDATE`` (rendered on PostgreSQL, ignored by SQLite)."""
    return query.with_for_update()
