"""The Alembic environment: migrations run on a connection handed over by :mod:`storage.migrations.run`."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from storage import models  # noqa: F401  (registers the tables)
from storage.migrations import include_object


def run() -> None:
    """Run the migrations on the connection the caller passed in ``config.attributes``."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `python -m bot migrate` (storage.migrations.upgrade)")
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        include_object=include_object,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
