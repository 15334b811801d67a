"""Running Alembic from code: on the bot's own engine, in its event loop (the work itself is synchronous)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
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


async def migrate_engine(engine: AsyncEngine, revision: str = "head") -> MigrationStatus:
    """Apply migrations up to ``revision`` on an engine; returns where the database stands after."""
    async with engine.begin() as conn:
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
    async with engine.begin() as conn:
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
