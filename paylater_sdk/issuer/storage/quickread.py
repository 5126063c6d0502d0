"""One-statement reads run straight on a pooled driver connection.

Test mode asks the database before every request (the test clock, whether a fault is
armed) and before every delivery (the armed faults). Each of those is one small
``SELECT``, and through SQLAlchemy's ``Connection`` it cost about 120 µs of CPU on SQLite
and three round trips on PostgreSQL (``BEGIN``, the query, ``ROLLBACK``), where the query
itself takes a few microseconds: the rest was events, an execution context, a result
object and a transaction that a single statement does not need (one statement is atomic
and sees one snapshot on its own). :class:`QuickRead` compiles the statement once per
dialect and runs it alone:

- on SQLite the driver is already in autocommit (``schema.make_engine`` lets SQLAlchemy,
  not the driver, open transactions), so the statement is its own read transaction;
- on psycopg the connection is switched to autocommit for the statement, so it costs one
  round trip, and switched back before it returns to the pool;
- any other driver runs it in the driver's implicit transaction, which the pool's reset
  rolls back.

Bound values and result columns go through their types' processors, as SQLAlchemy would
apply them. A driver error is raised as SQLAlchemy's (``sqlalchemy.exc.DBAPIError`` and
its subclasses) without its parameters, and a connection the dialect calls disconnected
is thrown away, as ``Connection.execute`` would do. Use it for reads of one statement
only: anything that writes, or needs several statements to agree, takes a transaction.
"""

from __future__ import annotations

import threading
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Dialect, Engine

__all__ = ["QuickRead"]

_Processor = Callable[[Any], Any] | None


class _Compiled(NamedTuple):
    sql: str
    defaults: dict[str, Any]
    positions: tuple[str, ...] | None  # bind names in order, for positional paramstyles
    binds: Mapping[str, _Processor]
    results: tuple[_Processor, ...]


class QuickRead:
    """A ``SELECT`` compiled once per dialect and run outside any transaction.

    ``QuickRead(statement).rows(engine, name=value)`` returns the rows as named tuples
    (the statement's column keys; ``rename`` rules for keys that are not identifiers).
    """

    def __init__(self, statement: sa.Select[Any]) -> None:
        self._statement = statement
        self._row = _row_class(list(statement.selected_columns.keys()))
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"QuickRead({self._statement.selected_columns.keys()!r})"

    def rows(self, engine: Engine, **params: Any) -> list[Any]:
        compiled = self._for(engine.dialect)
        values = _parameters(compiled, params)
        pooled = engine.raw_connection()
        try:
            raw = self._execute(engine.dialect, pooled, compiled.sql, values)
        finally:
            pooled.close()  # back to the pool, whose reset ends any implicit transaction
        return [self._row(*_processed(row, compiled.results)) for row in raw]

    def _for(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            with self._lock:
                found = self._compiled.setdefault(dialect.name, _compile(self._statement, dialect))
        return found

    @staticmethod
    def _execute(dialect: Dialect, pooled: Any, sql: str, values: Any) -> list[Sequence[Any]]:
        driver = pooled.driver_connection
        switch = dialect.driver == "psycopg"
        dbapi_error: Any = dialect.loaded_dbapi.Error
        cursor = None
        failure: Any = None
        rows: list[Sequence[Any]] = []
        try:
            if switch:
                driver.autocommit = True
            cursor = pooled.cursor()
            cursor.execute(sql, values)
            rows = cursor.fetchall()
            cursor.close()
        except dbapi_error as exc:
            failure = exc
        finally:
            # Never back to the pool in autocommit: the next engine.begin() on it would
            # commit statement by statement.
            if switch and driver.autocommit:
                try:
                    driver.autocommit = False
                except dbapi_error as exc:
                    failure = failure or exc
        if failure is None:
            return rows
        gone = dialect.is_disconnect(failure, driver, cursor) or (switch and driver.autocommit)
        if gone:
            pooled.invalidate(failure)
        raise sa.exc.DBAPIError.instance(
            sql,
            None,
            failure,
            dbapi_error,
            hide_parameters=True,
            connection_invalidated=gone,
            dialect=dialect,
        ) from failure


def _row_class(keys: list[str]) -> Callable[..., tuple[Any, ...]]:
    """A named tuple of the statement's column keys (known at run time only)."""
    row: Callable[..., tuple[Any, ...]] = namedtuple("Row", keys, rename=True)  # type: ignore[misc]
    return row


def _compile(statement: sa.Select[Any], dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect)
    if any(bind.expanding for bind in compiled.binds.values()):
        raise ValueError("QuickRead takes no expanding (IN list) parameters")
    binds = {
        compiled.escaped_bind_names.get(name, name): bind.type.bind_processor(dialect)
        for name, bind in compiled.binds.items()
    }
    defaults = {
        compiled.escaped_bind_names.get(name, name): bind.value
        for name, bind in compiled.binds.items()
        if not bind.required
    }
    results = tuple(
        column.type.result_processor(dialect, None) for column in statement.selected_columns
    )
    positions = compiled.positiontup
    return _Compiled(
        compiled.string,
        defaults,
        tuple(positions) if compiled.positional and positions is not None else None,
        binds,
        results,
    )


def _parameters(compiled: _Compiled, params: Mapping[str, Any]) -> Any:
    unknown = set(params) - set(compiled.binds)
    if unknown:
        raise TypeError(f"unknown parameters: {', '.join(sorted(unknown))}")
    values = {**compiled.defaults, **params}
    missing = set(compiled.binds) - set(values)
    if missing:
        raise TypeError(f"missing parameters: {', '.join(sorted(missing))}")
    for name, processor in compiled.binds.items():
        if processor is not None:
            values[name] = processor(values[name])
    if compiled.positions is None:
        return values
    return tuple(values[name] for name in compiled.positions)


def _processed(row: Sequence[Any], processors: tuple[_Processor, ...]) -> list[Any]:
    return [value if p is None else p(value) for value, p in zip(row, processors, strict=True)]
