"""Alembic environment: runs on the connection handed over by `gateway.store.engine.migrate`."""

from __future__ import annotations

from alembic import context

from gateway.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - offline SQL generation is not supported
    raise RuntimeError("run migrations through `kefu-gateway serve` (gateway.store.engine.migrate)")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
