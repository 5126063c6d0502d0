"""Fixtures of the reliability suite: engines, databases, Redis, merchants, issuers.

Every scenario runs on SQLite and on PostgreSQL. PostgreSQL comes from
``PAYLATER_TEST_POSTGRES_URL`` (each test gets the schema wiped), Redis from
``PAYLATER_TEST_REDIS_URL``; without them the PostgreSQL/Redis cases are skipped with the
reason, except in CI (``CI=true``), where a missing service is a failure, never a skip.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ._harness import SECRETS, Merchant, issuer_server, merchants_file, new_merchant
from ._procs import Server

POSTGRES_URL = os.environ.get("PAYLATER_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("PAYLATER_TEST_REDIS_URL")
_IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _missing(service: str, variable: str) -> None:
    message = f"{service} is needed: set {variable} (e.g. as .ci/run does)"
    if _IN_CI:
        pytest.fail(f"{message}; in CI this is a failure, not a skip", pytrace=False)
    pytest.skip(f"{message}")


def wipe_postgres(url: str, *schemas: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for schema in schemas:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres" and not POSTGRES_URL:
        _missing("PostgreSQL", "PAYLATER_TEST_POSTGRES_URL")
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path) -> str:
    """A fresh, empty issuer database: a SQLite file or a wiped PostgreSQL schema."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'issuer.db'}"
    assert POSTGRES_URL is not None
    wipe_postgres(POSTGRES_URL, "public")
    return POSTGRES_URL


@pytest.fixture
def redis_url() -> str:
    if not REDIS_URL:
        _missing("Redis", "PAYLATER_TEST_REDIS_URL")
    assert REDIS_URL is not None
    return REDIS_URL


@pytest.fixture(scope="session")
def merchant_a() -> Merchant:
    return new_merchant("m_alpha")


@pytest.fixture(scope="session")
def merchant_b() -> Merchant:
    return new_merchant("m_beta")


@pytest.fixture(scope="session")
def secret_key() -> str:
    key = secrets.token_hex(32)
    SECRETS.add(key)
    return key


@pytest.fixture
def logdir(tmp_path: Path) -> Path:
    path = tmp_path / "logs"
    path.mkdir()
    return path


StartIssuers = Callable[..., list[Server]]


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """Servers a test starts itself: every one is stopped when the test ends."""
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


@pytest.fixture
def start_issuers(
    tmp_path: Path,
    logdir: Path,
    merchant_a: Merchant,
    merchant_b: Merchant,
    secret_key: str,
    servers: list[Server],
) -> StartIssuers:
    """``start_issuers(database_url, prefix, count=1, extra=(), shared_secret=True)``.

    Starts ``count`` issuers at the same instant on one database (all launched, then all
    awaited), with merchant A allowed to notify and return under ``prefix`` and merchant
    B under another loopback prefix; every process is stopped at the end of the test.
    """
    started = servers

    def start(
        database_url: str,
        prefix: str,
        count: int = 1,
        extra: Sequence[str] = (),
        shared_secret: bool = True,
    ) -> list[Server]:
        path = merchants_file(
            tmp_path / "merchants.json",
            [
                merchant_a.config([prefix], [prefix]),
                merchant_b.config(["http://127.0.0.1:9"], ["http://127.0.0.1:9/b"]),
            ],
        )
        launched = [
            issuer_server(
                f"issuer{len(started) + i}",
                logdir,
                database_url,
                path,
                extra=extra,
                secret_key=secret_key if shared_secret else None,
            )
            for i in range(count)
        ]
        started.extend(launched)
        for server in launched:
            server.start()
        for server in launched:
            server.wait_ready()
        return launched

    return start


@pytest.fixture
def receiver() -> Iterator[Any]:
    """A local notification receiver on 127.0.0.1 (see _notify.Receiver)."""
    from ._notify import receiver as serve

    with serve() as recv:
        yield recv
