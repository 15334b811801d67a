"""Migrations on real SQLite files: they build exactly the models' schema, keep every row, and undo cleanly."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, column, event, insert, inspect, table, text
from sqlmodel import SQLModel

from storage.db import make_engine
from storage.migrations import include_object, status, upgrade
from storage.migrations.run import downgrade_engine, migrate_engine

FIRST = "0001"
WHEN = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)

# One row for every table, as the first revision's schema has it (later revisions must keep them readable).
ROWS: dict[str, list[dict[str, Any]]] = {
    "papers": [
        {
            "id": 1,
            "key": "arxiv:2403.17887",
            "version": 2,
            "title": "Model merging",
            "authors": ["Ann Lee"],
            "abstract": "We merge.",
            "categories": ["cs.LG"],
            "metadata_status": "ok",
            "metadata_attempts": 0,
            "created_at": WHEN,
            "searchable": False,
        }
    ],
    "guild_settings": [
        {"guild_id": 1, "note_threads": False, "link_cards": True, "timezone": "Europe/Berlin", "created_at": WHEN}
    ],
    "guild_papers": [{"guild_id": 1, "paper_id": 1, "source": "note", "first_seen": WHEN}],
    "notes": [
        {
            "id": 1,
            "guild_id": 1,
            "paper_id": 1,
            "author_id": 7,
            "author_name": "ann",
            "body": "Summary\nMerging works.\n\nQuestions\n- Why?",
            "revision": 2,
            "created_at": WHEN,
            "updated_at": WHEN,
        }
    ],
    "note_revisions": [
        {
            "id": 1,
            "guild_id": 1,
            "note_id": 1,
            "revision": 1,
            "body": "first",
            "tags": "[]",
            "editor_id": 7,
            "written_at": WHEN,
            "replaced_at": WHEN,
        }
    ],
    "tags": [{"id": 1, "guild_id": 1, "name": "merging"}],
    "note_tags": [{"note_id": 1, "tag_id": 1, "guild_id": 1}],
    "feeds": [
        {"id": 1, "url": "https://rss.arxiv.org/rss/cs.LG", "kind": "arxiv-listing", "failures": 0, "created_at": WHEN}
    ],
    "subscriptions": [
        {
            "id": 1,
            "guild_id": 1,
            "channel_id": 10,
            "feed_id": 1,
            "source": "cs.LG",
            "keywords": "merging",
            "mode": "post",
            "paused": False,
            "created_by": 9,
            "created_at": WHEN,
            "delivered": 1,
            "seen_entry_id": 1,
        }
    ],
    "feed_entries": [{"id": 1, "feed_id": 1, "paper_id": 1, "announce_type": "new", "version": 2, "first_seen": WHEN}],
    "deliveries": [
        {
            "id": 1,
            "guild_id": 1,
            "subscription_id": 1,
            "paper_id": 1,
            "state": "sent",
            "channel_id": 10,
            "message_id": 55,
            "created_at": WHEN,
        }
    ],
    "digest_picks": [{"guild_id": 1, "paper_id": 1, "reason": "matches “merging” (cs.LG feed)", "picked_at": WHEN}],
    "digest_schedules": [
        {
            "guild_id": 1,
            "channel_id": 10,
            "weekday": 0,
            "time": "09:00",
            "timezone": "Europe/Berlin",
            "enabled": True,
            "quiet_weeks": True,
            "updated_by": 9,
            "updated_at": WHEN,
        }
    ],
    "digest_runs": [
        {
            "id": 1,
            "guild_id": 1,
            "period_start": WHEN,
            "period_end": WHEN,
            "channel_id": 10,
            "state": "sent",
            "parts": 1,
            "message_ids": "[56]",
            "trigger": "schedule",
            "created_at": WHEN,
        }
    ],
}


# Tables a later revision made: the first revision has no rows for them.
ADDED_LATER = {
    "leases": "0003",
    "imports": "0004",
    "paper_aliases": "0004",
    "title_lookups": "0004",
    **dict.fromkeys(
        (
            "queue_entries",
            "queue_votes",
            "reading_sessions",
            "session_reminders",
            "presenter_rotation",
            "paper_threads",
            "version_notices",
        ),
        "0010",
    ),
}


def table_of(name: str, row: dict[str, Any]) -> Any:
    """The table with just the columns a row names, typed as the models type them."""
    model = SQLModel.metadata.tables[name]
    return table(name, *(column(key, model.c[key].type) for key in row))


def _differences(connection: Any) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"include_object": include_object, "compare_type": True, "target_metadata": SQLModel.metadata}
    )
    return compare_metadata(context, SQLModel.metadata)


async def test_the_migrations_build_exactly_the_models_schema(empty_db_url: str) -> None:
    url = empty_db_url
    before = await status(url)
    assert before.current is None and before.pending and not before.up_to_date
    after = await upgrade(url)
    assert after.up_to_date and after.current == after.head
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_differences) == []  # no drift: autogenerate would write nothing
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert set(SQLModel.metadata.tables) <= tables
        if engine.dialect.name == "sqlite":
            assert {"notes_fts", "papers_fts"} <= tables
    finally:
        await engine.dispose()
    assert (await upgrade(url)).current == after.current  # running again changes nothing


async def test_a_database_at_the_first_revision_keeps_every_row_up_to_head(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    try:
        await migrate_engine(engine, FIRST)
        async with engine.begin() as conn:
            names = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            assert set(ROWS) == {n for n in names if not n.startswith(("notes_fts", "papers_fts", "alembic"))}
            for table, rows in ROWS.items():  # in an order the foreign keys accept
                # Only the columns the first revision had: later columns' defaults belong to later revisions.
                await conn.execute(insert(table_of(table, rows[0])), rows)
        head = await migrate_engine(engine)
        assert head.up_to_date
        async with engine.connect() as conn:
            for table, rows in ROWS.items():
                count = (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
                assert count == len(rows), table
            body = (await conn.execute(text("SELECT body FROM notes WHERE id = 1"))).scalar_one()
            assert body == ROWS["notes"][0]["body"]
            kept = (await conn.execute(text("SELECT origin, status, undated FROM notes WHERE id = 1"))).one()
            assert tuple(kept) == ("discord", "done", False)  # notes from before imports were posted on Discord
            ids = (await conn.execute(text("SELECT message_ids FROM notes WHERE id = 1"))).scalar_one()
            assert ids in ("[]", [])  # posted before every part was kept: only message_id knows where it is
            run = (await conn.execute(text("SELECT state, rendered FROM digest_runs WHERE id = 1"))).one()
            assert tuple(run) == ("sent", None)  # a run from before: its parts were not kept
            if engine.dialect.name == "sqlite":
                query = "SELECT rowid FROM notes_fts WHERE notes_fts MATCH 'merging'"
                assert (await conn.execute(text(query))).all() == [(1,)]  # the full-text index holds the old note
    finally:
        await engine.dispose()


async def test_downgrade_leaves_an_empty_database_that_upgrades_again(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    try:
        await migrate_engine(engine)
        gone = await downgrade_engine(engine, "base")
        assert gone.current is None
        async with engine.connect() as conn:
            names = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert names <= {"alembic_version"}
        assert (await migrate_engine(engine)).up_to_date
    finally:
        await engine.dispose()


def test_rows_name_every_table() -> None:
    assert set(ROWS) | set(ADDED_LATER) == set(SQLModel.metadata.tables)
    assert all(rows for rows in ROWS.values())


@pytest.mark.parametrize(
    ("start", "stop_at", "later"),
    [
        (None, "GUILD_SETTINGS", {"digest_runs", "digest_schedules", "feeds"}),  # a new database's first start
        (FIRST, "PAPER_ALIASES", {"leases", "imports", "paper_aliases"}),  # an upgrade over several revisions
    ],
)
async def test_an_upgrade_that_fails_halfway_leaves_the_database_as_it_was(
    empty_db_url: str, start: str | None, stop_at: str, later: set[str]
) -> None:
    """A process stopped inside a migration must not leave half its tables: the next start upgrades cleanly."""
    engine = make_engine(empty_db_url)
    try:
        if start is not None:
            await migrate_engine(engine, start)

        def stop_halfway(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if statement.lstrip().upper().startswith(f"CREATE TABLE {stop_at}"):
                raise RuntimeError("stopped halfway through a migration")

        event.listen(Engine, "before_cursor_execute", stop_halfway)
        try:
            with pytest.raises(RuntimeError, match="halfway"):
                await migrate_engine(engine)
        finally:
            event.remove(Engine, "before_cursor_execute", stop_halfway)
        assert (await status(empty_db_url)).current == start
        async with engine.connect() as conn:
            names = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert not names & later  # nothing of the revisions that failed stayed
        assert (await migrate_engine(engine)).up_to_date
    finally:
        await engine.dispose()
