"""Schema migrations (alembic): which revision a database is at, creating and upgrading it.

An issuer refuses to serve a database whose schema is older or newer than its own, with a
message that says what to run; ``paylater issuer migrate`` upgrades one. An empty database
is created at the newest revision. Everything here runs on the caller's connection, inside
its transaction (which holds the start-up lock), so concurrent start-ups or migrations
take turns and a failed migration changes nothing.

Databases from before migrations (a ``schema_version`` table saying 1) are the baseline
revision ``0001``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from ...errors import ConfigurationError
from .schema import metadata

__all__ = [
    "SchemaVersionError",
    "current_revision",
    "ensure_current",
    "head",
    "migration_transaction",
    "upgrade",
]

_LEGACY_BASELINE = "0001"


class SchemaVersionError(ConfigurationError):
    """The database's schema is not the one this issuer was built for."""


def _config(conn: sa.Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", "paylater_sdk.issuer.storage:migrations")
    config.attributes["connection"] = conn
    return config


def head() -> str:
    """The newest revision this version of paylater-sdk knows."""
    revision = ScriptDirectory.from_config(_config(None)).get_current_head()  # type: ignore[arg-type]
    assert revision is not None
    return revision


def _known() -> set[str]:
    script = ScriptDirectory.from_config(_config(None))  # type: ignore[arg-type]
    return {rev.revision for rev in script.walk_revisions()}


def current_revision(conn: sa.Connection) -> str | None:
    """The database's revision: None for an empty database."""
    tables = set(sa.inspect(conn).get_table_names())
    if "alembic_version" in tables:
        return MigrationContext.configure(conn).get_current_revision()
    if "schema_version" in tables:
        found = conn.execute(sa.text("SELECT max(version) FROM schema_version")).scalar()
        if found == 1:
            return _LEGACY_BASELINE
        raise SchemaVersionError(
            f"the database says schema_version {found}, which no released paylater-sdk "
            "wrote; restore a backup or start on a new database"
        )
    if tables:
        raise SchemaVersionError(
            "the database has tables but no issuer schema revision; point --database at "
            "an issuer database or an empty one"
        )
    return None


def _create(conn: sa.Connection) -> None:
    metadata.create_all(conn)
    command.stamp(_config(conn), "head")


def ensure_current(conn: sa.Connection, *, url: str = "the database") -> None:
    """At start-up: create an empty database, accept the current revision, refuse others."""
    revision = current_revision(conn)
    if revision is None:
        _create(conn)
        return
    newest = head()
    if revision == newest:
        return
    if revision in _known():
        raise SchemaVersionError(
            f"the issuer database schema is at revision {revision}, this issuer needs "
            f"{newest}: run 'paylater issuer migrate --database {url}' (back it up first)"
        )
    raise SchemaVersionError(
        f"the issuer database schema is at revision {revision}, newer than this issuer "
        f"({newest}): upgrade paylater-sdk"
    )


def upgrade(conn: sa.Connection) -> tuple[str | None, str]:
    """Bring the database to the newest revision; returns (from, to)."""
    revision = current_revision(conn)
    if revision is None:
        _create(conn)
        return None, head()
    if revision not in _known():
        raise SchemaVersionError(
            f"the database is at revision {revision}, newer than this issuer: upgrade paylater-sdk"
        )
    config = _config(conn)
    if "alembic_version" not in sa.inspect(conn).get_table_names():
        command.stamp(config, revision)
    command.upgrade(config, "head")
    return revision, head()


@contextmanager
def migration_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A write transaction to migrate in; on SQLite, with foreign keys off inside it.

    SQLite alters a table by rebuilding it (alembic's batch mode), and with foreign keys
    on, dropping the old copy of a table that other rows refer to fails ("FOREIGN KEY
    constraint failed") on any database with data. The switch only works outside a
    transaction, so it is made on the connection first; the check SQLite skips meanwhile
    is made before the commit: a dangling reference rolls the whole migration back.
    """
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        raw = conn.connection.dbapi_connection
        if sqlite and raw is not None:
            raw.execute("PRAGMA foreign_keys=OFF")  # autocommit mode: applies at once
        try:
            with conn.begin():
                yield conn
                if sqlite:
                    dangling = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if dangling:
                        raise SchemaVersionError(
                            f"the migration would leave {len(dangling)} row(s) referring to "
                            f"rows that do not exist (first in table {dangling[0][0]}); "
                            "nothing was changed"
                        )
        finally:
            if sqlite and raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")
