"""Running Alembic from code: on the bot's own engine, in its event loop (the work itself is synchronous)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.migrations import MigrationStatus

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent


def config(connection: Any = None) -> Config:
    """An Alembic config for the migrations in this package; ``connection`` is what they run on."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = connection
    return cfg


def _status(connection: Any) -> MigrationStatus:
    script = ScriptDirectory.from_config(config())
    head = script.get_current_head()
    assert head is not None, "no migrations found"
    current = MigrationContext.configure(connection).get_current_revision()
    pending = [rev.revision for rev in script.iterate_revisions(head, current)] if current != head else []
    return MigrationStatus(current=current, head=head, pending=tuple(reversed(pending)))


def _upgrade(connection: Any, revision: str) -> None:
    command.upgrade(config(connection), revision)


def _downgrade(connection: Any, revision: str) -> None:
    command.downgrade(config(connection), revision)


def _driver_autocommit(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # the driver no longer opens transactions by itself...


def _begin_immediately(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")  # ...we open one, which then covers CREATE and ALTER as well


@asynccontextmanager
async def transactional_ddl(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """An engine on the same database whose transactions hold DDL too, so a migration applies whole or not at all.

    PostgreSQL's do already. Python's sqlite3 driver opens a transaction only before INSERT, UPDATE or DELETE,
    so the CREATE TABLEs of a migration are each committed at once: a process stopped halfway left half the tables
    and no revision, and every later start failed with "table ... already exists". For SQLite files this is a
    short-lived engine of its own that takes the write lock at BEGIN (SQLAlchemy's recipe for pysqlite), leaving
    the bot's engine as it is.
    """
    database = engine.url.database or ""
    if engine.dialect.name != "sqlite" or database in ("", ":memory:"):
        yield engine
        return
    from storage.db import make_engine

    own = make_engine(engine.url.render_as_string(hide_password=False))
    event.listen(own.sync_engine, "connect", _driver_autocommit)
    event.listen(own.sync_engine, "begin", _begin_immediately)
    try:
        yield own
    finally:
        await own.dispose()


async def migrate_engine(engine: AsyncEngine, revision: str = "head") -> MigrationStatus:
    """Apply migrations up to ``revision`` on an engine, all in one transaction; returns where the database stands."""
    async with transactional_ddl(engine) as migrating, migrating.begin() as conn:
        before = await conn.run_sync(_status)
        if before.current != revision and not (revision == "head" and before.up_to_date):
            await conn.run_sync(_upgrade, revision)
    async with engine.connect() as conn:
        after = await conn.run_sync(_status)
    if before.current != after.current:
        log.info("database migrated from %s to %s", before.current or "empty", after.current)
    return after


async def downgrade_engine(engine: AsyncEngine, revision: str) -> MigrationStatus:
    """Undo migrations down to ``revision`` (``base``: an empty database)."""
    async with transactional_ddl(engine) as migrating, migrating.begin() as conn:
        await conn.run_sync(_downgrade, revision)
    async with engine.connect() as conn:
        return await conn.run_sync(_status)


async def upgrade_to(url: str, revision: str = "head") -> MigrationStatus:
    """Apply migrations to the database at ``url``."""
    from storage.db import make_engine

    engine = make_engine(url)
    try:
        return await migrate_engine(engine, revision)
    finally:
        await engine.dispose()


async def read_status(url: str) -> MigrationStatus:
    """Where the database at ``url`` stands."""
    from storage.db import make_engine

    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_status)
    finally:
        await engine.dispose()
