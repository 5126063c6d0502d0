"""List positions handed out in commit order: why a page never skips a late commit.

Lists (``GET /v1/checkouts``, ``/v1/refunds``, ``/v1/events``) are ordered by a per-merchant
position, ``list_seq``. A plain sequence or a timestamp is not enough on PostgreSQL: two
transactions can take numbers 10 and 11 and commit 11 first, so a reader that saw 11 and
moved its cursor past it would never see 10. Here a position is taken by incrementing the
merchant's row of ``list_counters``; the row stays locked until the transaction ends, so
the next transaction to number anything for that merchant waits for this one to commit
(or roll back) and reads the committed value. Positions are therefore visible in the
order they were handed out: whatever a reader sees is always every position up to some N
(a prefix), and a cursor never passes a number that could still appear.

The cost is that creations of one merchant's checkouts, refunds and events serialise
from the moment they are numbered until they commit; callers number as the last write
of their transaction (after every row lock they take), which keeps that window short and
the lock order acyclic (a counter is never held while waiting for a row lock). On SQLite
every write transaction already holds the database's write lock from ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from .schema import list_counters

__all__ = ["next_position"]


def _insert_missing(conn: sa.Connection, merchant_id: str) -> None:
    """The merchant's counter row, created once (a concurrent creator wins, silently)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(
        dialect.insert(list_counters)
        .values(merchant_id=merchant_id, value=0)
        .on_conflict_do_nothing(index_elements=["merchant_id"])
    )


#: Built once (see :mod:`.prepared`): every checkout, order and notification runs it.
_BUMP = (
    list_counters.update()
    .where(list_counters.c.merchant_id == sa.bindparam("owner"))
    .values(value=list_counters.c.value + 1)
    .returning(list_counters.c.value)
)


def next_position(conn: sa.Connection, merchant_id: str) -> int:
    """The merchant's next list position; its counter row stays locked until commit."""
    params = {"owner": merchant_id}
    value = conn.execute(_BUMP, params).scalar()
    if value is None:
        _insert_missing(conn, merchant_id)
        value = conn.execute(_BUMP, params).scalar_one()
    return int(value)
