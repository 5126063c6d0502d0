"""Alembic's environment for the issuer: run on the connection the issuer hands over.

The issuer (``paylater issuer migrate``, or start-up on an empty database) opens the
transaction and holds the start-up lock; migrations run inside it, so a failed migration
leaves the database as it was (PostgreSQL and SQLite both have transactional DDL).
"""

from __future__ import annotations

from alembic import context

from paylater_sdk.issuer.storage.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
