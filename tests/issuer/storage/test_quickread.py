"""QuickRead and QuickWrite: one statement on a pooled driver connection, outside
SQLAlchemy's Connection (storage/quickread.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from paylater_sdk.issuer.storage.quickread import QuickRead, QuickWrite
from paylater_sdk.issuer.storage.schema import make_engine
from paylater_sdk.issuer.storage.writers import queue_of

POSTGRES_URL = os.environ.get("PAYLATER_TEST_POSTGRES_URL")


class Shout(sa.types.TypeDecorator[str]):
    """Bound values upper-cased, read values lower-cased: both processors must run."""

    impl = sa.String(32)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: sa.Dialect) -> str | None:
        return None if value is None else value.upper()

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> str | None:
        return None if value is None else value.lower()


metadata = sa.MetaData()
things = sa.Table(
    "qr_things",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", Shout, nullable=False),
    sa.Column("live", sa.Boolean, nullable=False),
    sa.Column("meta", sa.JSON, nullable=False),
)
_BY_NAME = QuickRead(
    sa.select(things.c.id, things.c.name, things.c.live, things.c.meta)
    .where(things.c.name == sa.bindparam("name"), things.c.id > 0)
    .order_by(things.c.id)
)
_COUNT = QuickRead(
    sa.select(
        sa.select(sa.func.count()).select_from(things).scalar_subquery(),
        sa.exists().where(things.c.live == sa.true()),
    )
)
_MISSING = QuickRead(
    sa.select(sa.column("x"))
    .select_from(sa.table("qr_no_such_table"))
    .where(sa.column("x") == sa.bindparam("x"))
)


def _postgres() -> Any:
    return pytest.param(
        "postgres",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(
                not POSTGRES_URL and not os.environ.get("CI"),
                reason="set PAYLATER_TEST_POSTGRES_URL (CI does)",
            ),
        ],
    )


@pytest.fixture(params=["sqlite", _postgres()])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'q.db'}")
    else:
        assert POSTGRES_URL, "CI must set PAYLATER_TEST_POSTGRES_URL"
        engine = make_engine(POSTGRES_URL)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            things.insert(),
            [
                {"id": 1, "name": "ada", "live": True, "meta": {"n": 1}},
                {"id": 2, "name": "bob", "live": False, "meta": {"n": 2}},
                {"id": 3, "name": "ada", "live": False, "meta": {"n": [3]}},
            ],
        )
    yield engine
    metadata.drop_all(engine)
    engine.dispose()


def test_rows_come_back_named_and_processed_both_ways(engine: sa.Engine) -> None:
    rows = _BY_NAME.rows(engine, name="ada")
    # The bound "ada" was stored and matched as "ADA"; the read value is lower-cased again.
    assert [(r.id, r.name, r.live, r.meta) for r in rows] == [
        (1, "ada", True, {"n": 1}),
        (3, "ada", False, {"n": [3]}),
    ]
    assert all(type(r.live) is bool for r in rows)
    with engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT name FROM qr_things WHERE id = 1").scalar_one()
    assert stored == "ADA"


def test_a_default_valued_parameter_needs_no_argument(engine: sa.Engine) -> None:
    # ``func.count()`` and ``exists(...)``: keys that are not identifiers are renamed.
    ((count, any_live),) = _COUNT.rows(engine)
    assert (count, any_live) == (3, True)


def test_each_read_sees_the_latest_commit(engine: sa.Engine) -> None:
    assert _BY_NAME.rows(engine, name="cy") == []
    with engine.begin() as conn:
        conn.execute(things.insert().values(id=4, name="cy", live=True, meta={}))
    assert [r.id for r in _BY_NAME.rows(engine, name="cy")] == [4]
    with engine.begin() as conn:
        conn.execute(things.update().where(things.c.live == sa.true()).values(live=False))
    assert _COUNT.rows(engine)[0][1] is False


def test_wrong_parameters_are_refused_before_any_query(engine: sa.Engine) -> None:
    with pytest.raises(TypeError, match="missing parameters: name"):
        _BY_NAME.rows(engine)
    with pytest.raises(TypeError, match="unknown parameters: nmae"):
        _BY_NAME.rows(engine, name="ada", nmae="ada")
    with pytest.raises(ValueError, match="expanding"):
        QuickRead(sa.select(things.c.id).where(things.c.id.in_([1, 2]))).rows(engine)


def test_a_driver_error_is_sqlalchemys_without_its_parameters(engine: sa.Engine) -> None:
    with pytest.raises(sa.exc.DBAPIError) as caught:
        _MISSING.rows(engine, x="sk_live_secret_value")
    assert isinstance(caught.value, (sa.exc.OperationalError, sa.exc.ProgrammingError))
    assert "qr_no_such_table" in str(caught.value)
    assert "sk_live_secret_value" not in str(caught.value)
    assert caught.value.connection_invalidated is False
    # The pool's connection is still good, and so are transactions on it.
    assert _COUNT.rows(engine)[0][0] == 3


@pytest.mark.parametrize("fails", [False, True])
def test_the_connection_goes_back_to_the_pool_out_of_autocommit(
    engine: sa.Engine, fails: bool
) -> None:
    """A psycopg connection left in autocommit would commit every statement of the next
    ``engine.begin()`` on its own: after a read, and after a failed one, a rolled back
    transaction must leave nothing behind."""
    if fails:
        with pytest.raises(sa.exc.DBAPIError):
            _MISSING.rows(engine, x="1")
    else:
        _COUNT.rows(engine)
    with engine.connect() as conn:
        transaction = conn.begin()
        conn.execute(things.delete())
        transaction.rollback()
    assert _COUNT.rows(engine)[0][0] == 3
    pooled = engine.raw_connection()
    try:
        driver = pooled.driver_connection
        assert getattr(driver, "autocommit", False) is False
        if engine.dialect.name == "sqlite":
            assert driver.in_transaction is False  # type: ignore[union-attr]
    finally:
        pooled.close()


@pytest.mark.postgres
@pytest.mark.skipif(
    not POSTGRES_URL and not os.environ.get("CI"), reason="set PAYLATER_TEST_POSTGRES_URL"
)
def test_a_dropped_connection_is_thrown_away_and_the_next_read_works() -> None:
    assert POSTGRES_URL, "CI must set PAYLATER_TEST_POSTGRES_URL"
    engine = sa.create_engine(POSTGRES_URL, pool_size=1, max_overflow=0)
    killer = sa.create_engine(POSTGRES_URL, poolclass=sa.pool.NullPool)
    read = QuickRead(sa.select(sa.func.pg_backend_pid()))
    try:
        (before,) = read.rows(engine)[0]
        with killer.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": before})
        with pytest.raises(sa.exc.DBAPIError) as caught:
            read.rows(engine)
        assert caught.value.connection_invalidated is True
        (after,) = read.rows(engine)[0]
        assert after != before
    finally:
        engine.dispose()
        killer.dispose()


_ADD = QuickWrite(
    things.insert().values(
        id=sa.bindparam("id"), name=sa.bindparam("name"), live=sa.true(), meta=sa.bindparam("meta")
    )
)
_RETIRE = QuickWrite(
    things.update().where(things.c.name == sa.bindparam("name")).values(live=False)
)


def test_a_quick_write_commits_on_its_own_and_counts_its_rows(engine: sa.Engine) -> None:
    assert _ADD.run(engine, id=9, name="dee", meta={"k": "v"}) == 1
    with engine.connect() as conn:  # another connection: the row is committed
        stored = conn.execute(sa.select(things).where(things.c.id == 9)).one()
    assert (stored.name, stored.live, stored.meta) == ("dee", True, {"k": "v"})
    assert _RETIRE.run(engine, name="ada") == 2  # ids 1 and 3
    assert _RETIRE.run(engine, name="nobody") == 0
    assert [r.live for r in _BY_NAME.rows(engine, name="ada")] == [False, False]


def test_a_broken_constraint_is_an_integrity_error_without_values(engine: sa.Engine) -> None:
    with pytest.raises(sa.exc.IntegrityError) as caught:
        _ADD.run(engine, id=1, name="sk_live_secret_value", meta={})
    assert "sk_live_secret_value" not in str(caught.value)
    assert caught.value.connection_invalidated is False
    assert _COUNT.rows(engine)[0][0] == 3  # nothing written
    # ... and the connection went back out of autocommit: a rolled back transaction on it
    # leaves nothing behind.
    with engine.connect() as conn:
        transaction = conn.begin()
        conn.execute(things.delete())
        transaction.rollback()
    assert _COUNT.rows(engine)[0][0] == 3


def test_a_quick_write_on_sqlite_waits_its_writer_turn(tmp_path: Path) -> None:
    """It queues behind this process's open write transaction (not in SQLite's busy
    handler) and gives the turn back when it is done."""
    engine = make_engine(f"sqlite:///{tmp_path / 'turn.db'}")
    metadata.create_all(engine)
    queue = queue_of(engine)
    assert queue is not None
    order: list[str] = []
    inside = threading.Event()
    finish = threading.Event()

    def holder() -> None:
        with engine.begin() as conn:
            conn.execute(things.insert().values(id=1, name="a", live=True, meta={}))
            inside.set()
            finish.wait(10)
            order.append("transaction commits")

    def writer() -> None:
        inside.wait(10)
        _ADD.run(engine, id=2, name="b", meta={})
        order.append("quick write done")

    threads = [threading.Thread(target=holder), threading.Thread(target=writer)]
    for thread in threads:
        thread.start()
    inside.wait(10)
    time.sleep(0.2)
    assert order == []  # the quick write is waiting for the turn
    finish.set()
    for thread in threads:
        thread.join(20)
    assert order == ["transaction commits", "quick write done"]
    assert queue.held is False
    assert [r.id for r in _BY_NAME.rows(engine, name="b")] == [2]
    engine.dispose()
