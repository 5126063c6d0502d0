"""Storage and configuration: portable schema, WAL, schema version, config validation."""

from __future__ import annotations

import shutil
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex, CreateTable

from paylater_sdk.errors import ConfigurationError
from paylater_sdk.issuer import create_app, get_issuer
from paylater_sdk.issuer.config import load_config
from paylater_sdk.issuer.storage import migrate
from paylater_sdk.issuer.storage.schema import buyers, make_engine, metadata
from paylater_sdk.money import Money
from paylater_sdk.signing import generate_private_key, private_key_pem, serial_for


def test_the_schema_compiles_for_postgresql() -> None:
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    ddl = []
    for table in metadata.sorted_tables:
        ddl.append(str(CreateTable(table).compile(dialect=dialect)))
        ddl.extend(str(CreateIndex(i).compile(dialect=dialect)) for i in table.indexes)
    text = "\n".join(ddl)
    assert "CREATE TABLE buyers" in text
    assert "credit_limit BIGINT NOT NULL" in text
    assert "AUTOINCREMENT" not in text  # no SQLite-only syntax


def test_sqlite_runs_in_wal_mode_at_the_newest_revision(tmp_path: Any) -> None:
    issuer = get_issuer(
        create_app({"TEST_MODE": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'wal.db'}"})
    )
    with issuer.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert migrate.current_revision(conn) == migrate.head() == "0009"


def test_connections_opening_a_fresh_file_at_once_all_get_wal(tmp_path: Any) -> None:
    """Eight connections switching a brand-new file to WAL together all succeed.

    SQLite answers one of two simultaneous switches "database is locked" at once, without
    its busy timeout; several issuer processes starting on a new file used to lose one.
    """
    for trial in range(40):
        url = f"sqlite:///{tmp_path / f'fresh{trial}.db'}"
        start = threading.Barrier(8)
        modes: list[object] = []

        def open_one(
            url: str = url, start: threading.Barrier = start, modes: list[object] = modes
        ) -> None:
            start.wait()
            engine = make_engine(url)  # one engine per thread, as one per process
            try:
                with engine.connect() as conn:
                    modes.append(conn.exec_driver_sql("PRAGMA journal_mode").scalar())
            except Exception as exc:  # collected: asserted below
                modes.append(exc)
            finally:
                engine.dispose()

        threads = [threading.Thread(target=open_one) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert modes == ["wal"] * 8


def test_a_newer_schema_is_refused(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    app = create_app({"TEST_MODE": True, "DATABASE_URL": url})
    with get_issuer(app).engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    get_issuer(app).engine.dispose()
    with pytest.raises(ConfigurationError, match=r"newer than this issuer \(0009\): upgrade"):
        create_app({"TEST_MODE": True, "DATABASE_URL": url})


def test_restarting_on_the_same_database_keeps_state_and_keys(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'keep.db'}"
    first = get_issuer(create_app({"TEST_MODE": True, "DATABASE_URL": url}))
    serial = first.response_signer().serial
    first.engine.dispose()
    second = get_issuer(create_app({"TEST_MODE": True, "DATABASE_URL": url}))
    assert second.response_signer().serial == serial
    assert second.buyer_by_phone("19900000001") is not None  # magic buyers created once


def test_in_memory_sqlite_is_refused() -> None:
    with pytest.raises(ValueError, match="in-memory"):
        make_engine("sqlite://")


def test_test_mode_without_a_url_uses_a_throwaway_file() -> None:
    app = create_app({"TEST_MODE": True})
    engine = get_issuer(app).engine
    url = str(engine.url)
    assert url.startswith("sqlite:///")
    assert "paylater-issuer-" in url
    engine.dispose()
    shutil.rmtree(Path(url.removeprefix("sqlite:///")).parent)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "SECRET_KEY is required"),
        ({"SECRET_KEY": "short"}, "at least 16"),
        ({"TEST_MODE": True, "APR_CAP": 0.24}, "floats are refused"),
        ({"TEST_MODE": True, "APR_CAP": "-1"}, "positive"),
        ({"TEST_MODE": True, "CHECKOUT_TTL": 0}, "CHECKOUT_TTL"),
        ({"TEST_MODE": True, "AUTHORIZATION_TTL": "7d"}, "AUTHORIZATION_TTL"),
        ({"TEST_MODE": True, "NOTIFY_SCHEDULE": []}, "NOTIFY_SCHEDULE"),
        ({"TEST_MODE": True, "NOTIFY_SCHEDULE": [1, -1]}, "non-negative"),
        ({"TEST_MODE": True, "NOTIFY_TRANSPORT": "requests"}, "callable"),
        ({"TEST_MODE": True, "PUBLIC_URL": "issuer.example"}, "http"),
        ({"TEST_MODE": True, "MERCHANTS": [{"id": "m"}]}, "lacks api_key, public_keys"),
        (
            {"TEST_MODE": True, "MERCHANTS": [{"id": "m", "public_keys": [], "api_key": "k"}]},
            "32-byte",
        ),
    ],
)
def test_bad_configuration_fails_at_start(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_config(config)


def test_config_defaults_and_repr_hide_secrets() -> None:
    config = load_config({"SECRET_KEY": "s3cr3t-s3cr3t-s3cr3t", "APR_CAP": "0.36"})
    assert config.apr_cap == Decimal("0.36")
    assert config.authorization_ttl == 7 * 24 * 3600
    assert config.checkout_ttl == 1800
    assert config.notify_schedule[:5] == (15, 15, 30, 180, 600)
    assert "s3cr3t" not in repr(config)


def test_signing_keys_from_pem_files(tmp_path: Any) -> None:
    rsa = generate_private_key("rsa")
    ed = generate_private_key("ed25519")
    paths = []
    for name, key in (("rsa.pem", rsa), ("ed.pem", ed)):
        path = tmp_path / name
        path.write_bytes(private_key_pem(key))
        paths.append(str(path))
    app = create_app(
        {"TEST_MODE": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}", "SIGNING_KEYS": paths}
    )
    issuer = get_issuer(app)
    assert issuer.response_signer().serial == serial_for(rsa)  # the first one signs
    assert set(issuer.signing_keyring().serials()) == {serial_for(rsa), serial_for(ed)}


def test_reads_do_not_wait_for_a_writer(issuer: Any) -> None:
    buyer = issuer.create_buyer(limit=Money("10.00", "CNY"))
    with issuer.engine.begin() as writer:  # holds SQLite's write lock until the block ends
        writer.execute(sa.update(buyers).where(buyers.c.id == buyer.id).values(held=0))
        # a read on another connection sees the last committed snapshot at once
        assert issuer.buyer_by_phone(buyer.phone) == buyer
        assert issuer.check_ledger() == []


def test_database_errors_never_show_bound_parameters(tmp_path: Any, caplog: Any) -> None:
    """An API key or buyer token in a failing statement must not reach logs or messages."""
    import logging

    from paylater_sdk.issuer.storage.schema import make_engine, merchants

    engine = make_engine(f"sqlite:///{tmp_path / 'hidden.db'}")
    secret = "0123456789abcdefSECRETSECRET0000"
    with engine.begin() as conn:
        merchants.create(conn)
        row = {"id": "m", "name": "n", "api_key": secret, "notify_prefixes": "[]"}
        conn.execute(merchants.insert().values(return_prefixes="[]", created_at=0, **row))
    with (
        caplog.at_level(logging.DEBUG),
        pytest.raises(sa.exc.IntegrityError) as caught,
        engine.begin() as conn,
    ):
        conn.execute(merchants.insert().values(return_prefixes="[]", created_at=0, **row))
    assert secret not in str(caught.value)
    assert secret not in caplog.text
    assert "hidden due to hide_parameters" in str(caught.value)


def test_a_logged_database_error_never_quotes_a_value(issuer: Any, caplog: Any) -> None:
    """PostgreSQL's own detail quotes the duplicate key (a buyer token is a credential)."""
    import logging

    from paylater_sdk.issuer.storage.schema import log_failure

    token = "bt_" + "S3CRET" * 6
    row = {
        "buyer_token": token,
        "phone_hash": "h" * 64,
        "test_code": "1",
        "currency": "CNY",
        "credit_limit": 0,
        "available": 0,
        "held": 0,
        "outstanding": 0,
        "status": "ACTIVE",
        "overdue_flag": False,
        "overdue": False,
        "created_at": 0,
    }
    with issuer.engine.begin() as conn:
        conn.execute(buyers.insert().values(id="b1", **row))
    logger = logging.getLogger("paylater_sdk.issuer.test")
    with pytest.raises(sa.exc.IntegrityError) as caught, issuer.engine.begin() as conn:
        conn.execute(buyers.insert().values(id="b2", **row))
    with caplog.at_level(logging.ERROR, logger="paylater_sdk.issuer.test"):
        log_failure(logger, "while %s", caught.value, "testing")
    assert "while testing: database error " in caplog.text
    assert ("UniqueViolation (23505)" in caplog.text) or ("IntegrityError" in caplog.text)
    assert "INSERT INTO buyers" in caplog.text
    assert token not in caplog.text
    assert "13800000000" not in caplog.text
