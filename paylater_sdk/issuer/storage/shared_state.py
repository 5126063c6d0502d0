"""Small facts every issuer process must agree on, kept in the ``issuer_state`` table.

The test clock's offset and the session secret of a test-mode issuer started without
``SECRET_KEY``: both used to live in process memory, so with several processes a clock
advance reached one of them only, and a consent session signed by one process was
refused by the next. The database is what all processes share.
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa

from .locking import locked
from .quickread import QuickRead
from .schema import faults, issuer_state

__all__ = [
    "CLOCK_OFFSET",
    "SESSION_SECRET",
    "add_to_int",
    "ensure",
    "read_test_state",
    "write",
]

CLOCK_OFFSET = "clock_offset"
SESSION_SECRET = "session_secret"  # noqa: S105 - the key of the row, not a secret


def ensure(conn: sa.Connection, key: str, default: str) -> str:
    """The stored value of ``key``, inserting ``default`` first if there is none.

    Called in the start-up transaction, which holds the start-up lock: no two processes
    insert the same key.
    """
    value = conn.execute(sa.select(issuer_state.c.value).where(issuer_state.c.key == key)).scalar()
    if value is None:
        conn.execute(issuer_state.insert().values(key=key, value=default))
        return default
    return str(value)


#: Test mode runs it before every request: one statement, so a quick read (no
#: transaction, compiled once; see :mod:`.quickread`).
_TEST_STATE = QuickRead(
    sa.select(
        sa.select(issuer_state.c.value).where(issuer_state.c.key == CLOCK_OFFSET).scalar_subquery(),
        sa.exists().where(faults.c.remaining > 0),
    )
)


def read_test_state(engine: sa.Engine) -> tuple[int, bool]:
    """The test clock offset and whether any fault is armed, in one query (test mode reads
    both before every request, so a change made through any process applies at once)."""
    (row,) = _TEST_STATE.rows(engine)
    return int(row[0] or 0), bool(row[1])


def write(conn: sa.Connection, key: str, value: str) -> None:
    done = conn.execute(issuer_state.update().where(issuer_state.c.key == key).values(value=value))
    if done.rowcount != 1:
        conn.execute(issuer_state.insert().values(key=key, value=value))


def add_to_int(conn: sa.Connection, key: str, delta: int, *, maximum: int) -> int | None:
    """Add ``delta`` to an integer fact under a row lock; None (and no change) past ``maximum``."""
    current = conn.execute(
        locked(sa.select(issuer_state.c.value).where(issuer_state.c.key == key))
    ).scalar()
    new = int(current or 0) + delta
    if new > maximum:
        return None
    write(conn, key, str(new))
    return new


def new_secret() -> str:
    return secrets.token_hex(32)
