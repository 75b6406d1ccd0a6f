"""Alembic environment: runs on the connection `labeller.store.migrate` hands it."""

from __future__ import annotations

from alembic import context

from labeller.store.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata)
with context.begin_transaction():
    context.run_migrations()
