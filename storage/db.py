"""The engine and sessions: async all the way, so the event loop never waits on the database."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import models  # noqa: F401  (registers the tables)

log = logging.getLogger(__name__)

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/paperclub.db"
SQLITE_BUSY_TIMEOUT_MS = 5000

Sessions = async_sessionmaker[AsyncSession]
T = TypeVar("T")


def async_url(url: str) -> str:
    """The same database URL, with the async driver the bot uses."""
    parsed = make_url(url)
    driver = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg"}
    if parsed.drivername in driver:
        parsed = parsed.set(drivername=driver[parsed.drivername])
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str = DEFAULT_DATABASE_URL, *, echo: bool = False) -> AsyncEngine:
    """An async engine; for SQLite the file's folder is created and WAL, foreign keys and a busy timeout are on."""
    url = async_url(url)
    parsed = make_url(url)
    # Store JSON (authors, categories) as real characters, so "Müller" is indexed and found as written.
    kwargs: dict[str, Any] = {"echo": echo, "json_serializer": functools.partial(json.dumps, ensure_ascii=False)}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_async_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def insert_ignoring_duplicates(dialect: str, table: Any) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` for SQLite and PostgreSQL: a row that exists already is left alone."""
    # Each dialect's module imported by the one that uses it: a bot on SQLite does not hold PostgreSQL's.
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table).on_conflict_do_nothing()


BATCH = 500  # rows per statement, ids per IN (...): under every backend's bound-parameter limit, short loop steps


def chunked(items: Sequence[T], size: int = BATCH) -> Iterator[Sequence[T]]:
    """``items`` a few hundred at a time, for bulk statements and long IN lists."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def make_sessions(engine: AsyncEngine) -> Sessions:
    """A session factory; each service call opens one session as its unit of work."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


async def create_schema(engine: AsyncEngine) -> None:
    """Bring the database up to the newest schema by applying the migrations it lacks (tables, full-text index)."""
    from storage.migrations.run import migrate_engine

    await migrate_engine(engine)
