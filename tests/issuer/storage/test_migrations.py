"""Schema migrations: a version-1 database is refused until migrated, then equals a new one."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner

from paylater_sdk.cli import main
from paylater_sdk.errors import ConfigurationError
from paylater_sdk.issuer import create_app, get_issuer
from paylater_sdk.issuer.storage import migrate
from paylater_sdk.issuer.storage.schema import issuer_keys, make_engine, metadata
from tests._support.issuer import database_url


def _version_1_database(url: str) -> None:
    """What paylater-sdk 0.1 left: its tables, schema_version 1, no alembic table, and
    two active signing keys (the start-up race that revision 0002 closes)."""
    engine = make_engine(url)
    with engine.begin() as conn:
        command.upgrade(migrate._config(conn), "0001")
        conn.execute(sa.text("DROP TABLE alembic_version"))
        conn.execute(sa.text("INSERT INTO schema_version (version, applied_at) VALUES (1, 0)"))
        for serial, created in (("old", 1), ("new", 2)):
            conn.execute(
                issuer_keys.insert().values(
                    serial=serial,
                    algorithm="ED25519",
                    private_pem="-",
                    created_at=created,
                    not_after=None,
                    active=True,
                )
            )
    engine.dispose()


def _differences(url: str) -> list[Any]:
    engine = make_engine(url)
    with engine.connect() as conn:
        found = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    return list(found)


def test_an_older_schema_is_refused_with_what_to_run(tmp_path: Any) -> None:
    url = database_url(tmp_path)
    _version_1_database(url)
    with pytest.raises(ConfigurationError) as refused:
        create_app({"TEST_MODE": True, "DATABASE_URL": url})
    message = str(refused.value)
    assert "revision 0001, this issuer needs 0005" in message
    assert "run 'paylater issuer migrate --database " in message


def test_migrate_upgrades_a_version_1_database(tmp_path: Any) -> None:
    url = database_url(tmp_path)
    _version_1_database(url)
    result = CliRunner().invoke(main, ["issuer", "migrate", "--database", url])
    assert result.exit_code == 0, result.output
    assert "schema upgraded from 0001 to 0005" in result.output
    assert _differences(url) == []  # the same schema as a database created new
    engine = make_engine(url)
    with engine.connect() as conn:
        active = conn.execute(
            sa.select(issuer_keys.c.serial).where(issuer_keys.c.active == sa.true())
        ).scalars()
        assert list(active) == ["new"]  # the newest of the two active keys is kept
        tables = set(sa.inspect(conn).get_table_names())
    engine.dispose()
    assert "schema_version" not in tables
    assert {"seen_nonces", "rate_counters", "alembic_version"} <= tables
    again = CliRunner().invoke(main, ["issuer", "migrate", "--database", url])
    assert again.exit_code == 0, again.output
    assert "already at 0005" in again.output


def test_a_new_database_matches_the_migrations(tmp_path: Any) -> None:
    """Created by the issuer (create_all + stamp) or by running every migration: equal."""
    url = database_url(tmp_path)
    engine = make_engine(url)
    with engine.begin() as conn:
        command.upgrade(migrate._config(conn), "head")
    engine.dispose()
    assert _differences(url) == []
    app = create_app({"TEST_MODE": True, "DATABASE_URL": url})  # accepted as current
    get_issuer(app).engine.dispose()


def test_migrate_creates_an_empty_database(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = CliRunner().invoke(main, ["issuer", "migrate", "--database", url])
    assert result.exit_code == 0, result.output
    assert "created the schema at 0005" in result.output
    app = create_app({"TEST_MODE": True, "DATABASE_URL": url})
    get_issuer(app).engine.dispose()


def test_a_database_of_something_else_is_refused(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'other.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE invoices (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    with pytest.raises(ConfigurationError, match="no issuer schema revision"):
        create_app({"TEST_MODE": True, "DATABASE_URL": url})
    result = CliRunner().invoke(main, ["issuer", "migrate", "--database", url])
    assert result.exit_code == 2
    assert result.output.startswith("Error: the database has tables but no issuer schema")
