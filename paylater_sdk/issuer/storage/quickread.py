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
only: anything that needs several statements to agree takes a transaction.

:class:`QuickWrite` does the same for a write that is a whole transaction by itself: the
nonce every signed request records is one ``INSERT`` whose primary key decides, and its
transaction (``BEGIN IMMEDIATE``, the insert, ``COMMIT``) cost three times the insert. In
autocommit the statement commits on its own, atomically, exactly as that transaction
did; on SQLite it still takes the process's writer turn first. A write that must commit
with anything else (a ledger entry, a stored answer) never uses it.
"""

from __future__ import annotations

import threading
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Dialect, Engine

from .writers import queue_of

__all__ = ["QuickRead", "QuickWrite"]

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
            raw = _execute(engine.dialect, pooled, compiled.sql, values, fetch=True)
        finally:
            pooled.close()  # back to the pool, whose reset ends any implicit transaction
        return [self._row(*_processed(row, compiled.results)) for row in raw]

    def _for(self, dialect: Dialect) -> _Compiled:
        return _cached(self._compiled, self._lock, self._statement, dialect)


def _execute(dialect: Dialect, pooled: Any, sql: str, values: Any, *, fetch: bool) -> Any:
    """Run one statement on ``pooled``: its rows (``fetch``) or its row count."""
    driver = pooled.driver_connection
    switch = dialect.driver == "psycopg"
    dbapi_error: Any = dialect.loaded_dbapi.Error
    cursor = None
    failure: Any = None
    rows: Any = []
    try:
        if switch:
            driver.autocommit = True
        cursor = pooled.cursor()
        cursor.execute(sql, values)
        rows = cursor.fetchall() if fetch else cursor.rowcount
        cursor.close()
        if not fetch:
            pooled.commit()  # a no-op in autocommit; any other driver's implicit transaction
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


class QuickWrite:
    """One ``INSERT``, ``UPDATE`` or ``DELETE`` that is a whole transaction by itself,
    compiled once per dialect and run in the driver's autocommit (see the module's text).

    On SQLite it first takes the process's writer turn (:mod:`.writers`), as every write
    transaction does, so it queues behind this process's writers instead of sleeping in
    SQLite's busy handler. ``run`` returns the row count. A constraint the statement
    breaks raises ``sqlalchemy.exc.IntegrityError``, without parameters.
    """

    def __init__(self, statement: sa.Insert | sa.Update | sa.Delete) -> None:
        self._statement = statement
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"QuickWrite({self._statement.table.name!r})"  # type: ignore[union-attr]

    def run(self, engine: Engine, **params: Any) -> int:
        compiled = _cached(self._compiled, self._lock, self._statement, engine.dialect)
        values = _parameters(compiled, params)
        pooled = engine.raw_connection()
        try:
            queue = queue_of(engine)
            if queue is not None:
                queue.enter_pooled(pooled.record_info)
            count: int = _execute(engine.dialect, pooled, compiled.sql, values, fetch=False)
        finally:
            pooled.close()  # checked in: the writer turn ends here
        return count


def _row_class(keys: list[str]) -> Callable[..., tuple[Any, ...]]:
    """A named tuple of the statement's column keys (known at run time only)."""
    row: Callable[..., tuple[Any, ...]] = namedtuple("Row", keys, rename=True)  # type: ignore[misc]
    return row


def _cached(
    cache: dict[str, _Compiled], lock: threading.Lock, statement: Any, dialect: Dialect
) -> _Compiled:
    found = cache.get(dialect.name)
    if found is None:
        with lock:
            found = cache.setdefault(dialect.name, _compile(statement, dialect))
    return found


def _compile(statement: Any, dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect)
    if any(bind.expanding for bind in compiled.binds.values()):
        raise ValueError("a quick statement takes no expanding (IN list) parameters")
    binds = {
        compiled.escaped_bind_names.get(name, name): _bind_processor(bind.type, dialect)
        for name, bind in compiled.binds.items()
    }
    defaults = {
        compiled.escaped_bind_names.get(name, name): bind.value
        for name, bind in compiled.binds.items()
        if not bind.required
    }
    selected = getattr(statement, "selected_columns", ())
    results = tuple(_result_processor(column.type, dialect) for column in selected)
    positions = compiled.positiontup
    return _Compiled(
        compiled.string,
        defaults,
        tuple(positions) if compiled.positional and positions is not None else None,
        binds,
        results,
    )


def _bind_processor(kind: sa.types.TypeEngine[Any], dialect: Dialect) -> _Processor:
    """The processor SQLAlchemy applies to a bound value: the *dialect's* implementation
    of the type (psycopg's JSON wraps the value for the driver; the generic one does not)."""
    return kind.dialect_impl(dialect).bind_processor(dialect)


def _result_processor(kind: sa.types.TypeEngine[Any], dialect: Dialect) -> _Processor:
    return kind.dialect_impl(dialect).result_processor(dialect, None)


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
