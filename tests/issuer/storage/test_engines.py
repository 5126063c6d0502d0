"""The engines ``make_engine`` builds: SQLite writers queue in-process, PostgreSQL
connections are pinged only after sitting idle (storage/writers.py, storage/liveness.py)."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import sqlalchemy as sa

from paylater_sdk.issuer.storage.liveness import ping_when_idle
from paylater_sdk.issuer.storage.schema import make_engine, reading
from paylater_sdk.issuer.storage.writers import WriterQueue, queue_of

POSTGRES_URL = os.environ.get("PAYLATER_TEST_POSTGRES_URL")
_Test = TypeVar("_Test", bound=Callable[..., None])


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE hits (n INTEGER NOT NULL)")
        conn.exec_driver_sql("CREATE TABLE total (n INTEGER NOT NULL)")
        conn.exec_driver_sql("INSERT INTO total VALUES (0)")
    return engine


def test_writers_of_one_process_all_commit(engine: sa.Engine) -> None:
    """Eight threads of read-modify-write transactions: none fails, none is lost."""
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(50):
                with engine.begin() as conn:
                    seen = conn.exec_driver_sql("SELECT n FROM total").scalar_one()
                    conn.exec_driver_sql(f"UPDATE total SET n = {seen + 1}")
                    conn.exec_driver_sql("INSERT INTO hits VALUES (1)")
        except BaseException as exc:  # collected: the assertion names it
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert _queue(engine).held is False
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT n FROM total").scalar_one() == 400
        assert conn.exec_driver_sql("SELECT count(*) FROM hits").scalar_one() == 400


def test_a_writer_waits_for_the_one_before_it_to_end(engine: sa.Engine) -> None:
    """The second writer's BEGIN returns only after the first committed (and a rolled
    back transaction lets the next one in too)."""
    order: list[str] = []
    inside = threading.Event()
    finish = threading.Event()

    def first() -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO hits VALUES (1)")
            assert _queue(engine).held
            inside.set()
            finish.wait(10)
            order.append("first commits")

    def second() -> None:
        with engine.begin() as conn:
            order.append("second begins")
            conn.exec_driver_sql("INSERT INTO hits VALUES (2)")

    one = threading.Thread(target=first)
    one.start()
    assert inside.wait(10)
    two = threading.Thread(target=second)
    two.start()
    two.join(0.3)
    assert two.is_alive()  # still waiting for the first writer
    finish.set()
    one.join()
    two.join(10)
    assert order == ["first commits", "second begins"]

    def rolled_back() -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO hits VALUES (3)")
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        rolled_back()
    assert _queue(engine).held is False
    with engine.begin() as conn:  # would wait 30 s if the rollback kept the lock
        assert conn.exec_driver_sql("SELECT count(*) FROM hits").scalar_one() == 2


def test_one_connection_may_begin_again_and_reads_do_not_queue(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        for n in range(3):  # the connection keeps its turn; it does not wait for itself
            with conn.begin():
                conn.exec_driver_sql(f"INSERT INTO hits VALUES ({n})")
        assert _queue(engine).held  # until the connection goes back to the pool
    assert _queue(engine).held is False
    with engine.begin() as writer, reading(engine) as reader:  # a reader beside a writer
        writer.exec_driver_sql("INSERT INTO hits VALUES (9)")
        assert reader.exec_driver_sql("SELECT count(*) FROM hits").scalar_one() == 3
    assert _queue(engine).held is False


def test_a_begin_the_database_refuses_raises_sqlalchemys_error_and_frees_the_turn(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """``BEGIN IMMEDIATE`` runs on the driver's connection: a lock held by another process
    still surfaces as ``sqlalchemy.exc.OperationalError`` (what callers catch), without
    parameters, and the in-process turn is given back."""
    other = sqlite3.connect(tmp_path / "w.db", isolation_level=None)  # "another process"
    other.execute("BEGIN IMMEDIATE")
    try:
        with engine.connect() as conn:
            conn.connection.driver_connection.execute("PRAGMA busy_timeout=50")  # type: ignore[union-attr]
            with pytest.raises(sa.exc.OperationalError, match="database is locked") as caught:
                conn.begin()
            assert caught.value.hide_parameters is True
            assert caught.value.statement == "BEGIN IMMEDIATE"
            assert _queue(engine).held is False
    finally:
        other.execute("ROLLBACK")
        other.close()
    with engine.begin() as conn, reading(engine) as reader:  # both kinds begin again
        conn.exec_driver_sql("INSERT INTO hits VALUES (5)")
        assert reader.exec_driver_sql("SELECT count(*) FROM hits").scalar_one() == 0
    with reading(engine) as reader:
        assert reader.exec_driver_sql("SELECT count(*) FROM hits").scalar_one() == 1


def _queue(engine: sa.Engine) -> WriterQueue:
    queue = queue_of(engine)
    assert queue is not None, "make_engine installs a writer queue on SQLite"
    return queue


def _needs_postgres(test: _Test) -> _Test:
    """PostgreSQL-only: skipped on a laptop without PAYLATER_TEST_POSTGRES_URL, a failure in
    CI without it. .ci/run's SQLite-only pass over tests/issuer/storage deselects the marker:
    the first pass, with PostgreSQL, ran these."""
    skip = pytest.mark.skipif(
        not POSTGRES_URL and not os.environ.get("CI"),
        reason="set PAYLATER_TEST_POSTGRES_URL (CI does)",
    )
    return pytest.mark.postgres(skip(test))


@pytest.fixture
def pinged() -> Iterator[sa.Engine]:
    """A one-connection PostgreSQL pool whose connection is pinged on every checkout."""
    assert POSTGRES_URL, "CI must set PAYLATER_TEST_POSTGRES_URL"
    engine = sa.create_engine(POSTGRES_URL, pool_size=1, max_overflow=0)
    ping_when_idle(engine, after=0.0)
    yield engine
    engine.dispose()


@_needs_postgres
def test_an_idle_connection_the_server_dropped_is_replaced_not_failed(
    pinged: sa.Engine,
) -> None:
    assert POSTGRES_URL, "CI must set PAYLATER_TEST_POSTGRES_URL"
    killer = sa.create_engine(POSTGRES_URL, poolclass=sa.pool.NullPool)
    try:
        with pinged.connect() as conn:
            before = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        with killer.begin() as conn:  # the server ends the pooled connection's session
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": before})
        with pinged.connect() as conn:  # the ping finds it dead: a new one is used
            after = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        assert after != before
    finally:
        killer.dispose()


@_needs_postgres
def test_the_ping_leaves_no_transaction_open(pinged: sa.Engine) -> None:
    import psycopg

    with pinged.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
    with pinged.connect() as conn:  # pinged on checkout
        status = conn.connection.dbapi_connection.info.transaction_status  # type: ignore[union-attr]
    assert status == psycopg.pq.TransactionStatus.IDLE  # the ping's rolled back
