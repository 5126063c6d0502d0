"""Statements the hot paths run, built once and reused with bound parameters.

Building a SQLAlchemy ``select(table).where(...)`` of a wide table costs several times
what running it does once compiled (about 250 µs against 55 µs on SQLite here): every
call makes new clause objects and then walks them for the compiled cache's key. A
statement object built once keeps its memoized cache key, so running it again skips
both. Values go in as parameters (``conn.execute(statement, {"obj_id": ...})``).
"""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa

from .locking import locked

__all__ = ["by_id", "setting"]


@functools.cache
def by_id(table: sa.Table, *, owned: bool = False, lock: bool = False) -> sa.Select[Any]:
    """``SELECT * FROM table WHERE id = :obj_id`` (``AND merchant_id = :owner`` when
    ``owned``; ``FOR UPDATE`` on PostgreSQL when ``lock``)."""
    query = sa.select(table).where(table.c.id == sa.bindparam("obj_id"))
    if owned:
        query = query.where(table.c.merchant_id == sa.bindparam("owner"))
    return locked(query) if lock else query


@functools.cache
def setting(update: sa.Update, columns: tuple[str, ...]) -> sa.Update:
    """``update`` (a guarded UPDATE built once) also setting each of ``columns`` to the
    parameter of the same name: one statement per set of columns an update changes."""
    return update.values({name: sa.bindparam(name) for name in columns})
