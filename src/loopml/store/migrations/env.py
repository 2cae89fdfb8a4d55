"""Alembic environment: runs on the connection loopml hands over (see ``Database.migrate``)."""

from __future__ import annotations

from alembic import context

from loopml.store.sql.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("loopml migrations run through loopml.store.sql.database.Database.migrate()")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
