"""Database migrations (Alembic): the schema's history, applied on start and by ``python -m bot migrate``.

The revisions live in ``storage/migrations/versions``; the Alembic environment is built here in code, so no
``alembic.ini`` is needed to run them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["FULL_TEXT_TABLES", "MigrationStatus", "include_object", "status", "upgrade"]

FULL_TEXT_TABLES = ("notes_fts", "papers_fts")  # SQLite FTS5 tables and their shadow tables, made by migrations
# PostgreSQL's indexes on the search_vector columns: GIN (0002), and RUM where the server has it (0009)
FULL_TEXT_INDEXES = ("ix_notes_search_vector", "ix_papers_search_vector", "ix_notes_search_rum", "ix_papers_search_rum")


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Leave the full-text index out of comparisons with the models: SQLite's FTS5 tables, and PostgreSQL's
    generated ``search_vector`` columns on notes and papers with their GIN indexes (migration 0002) and, where
    the server has the ``rum`` extension, their RUM indexes (migration 0009)."""
    if name is None:
        return True
    if type_ == "table":
        return not name.startswith(FULL_TEXT_TABLES)
    if type_ == "column":
        return name != "search_vector"
    if type_ == "index":
        return name not in FULL_TEXT_INDEXES
    return True


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    """Where a database stands against the code's migrations."""

    current: str | None  # the revision the database is at (None: never migrated)
    head: str  # the newest revision in the code
    pending: tuple[str, ...]  # revisions still to apply, oldest first

    @property
    def up_to_date(self) -> bool:
        """True when nothing is left to apply."""
        return not self.pending and self.current == self.head


async def upgrade(url: str, revision: str = "head") -> MigrationStatus:
    """Apply every migration up to ``revision``; returns the status after."""
    from storage.migrations.run import upgrade_to

    return await upgrade_to(url, revision)


async def status(url: str) -> MigrationStatus:
    """Where the database at ``url`` stands; raises if it cannot be reached."""
    from storage.migrations.run import read_status

    return await read_status(url)
