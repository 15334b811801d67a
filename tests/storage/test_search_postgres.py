"""PostgreSQL's search with and without the rum extension: RUM indexes where the server has it (migration 0009),
every match ranked without them, and a migration that runs either way."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import Sessions, make_engine, make_sessions
from storage.identity import paper_key
from storage.migrations.run import downgrade_engine, migrate_engine
from storage.notes import NoteService
from storage.papers import PaperService
from storage.search import SearchService, pg_ranks_in_index
from tests.conftest import _admin_url, _database
from tests.storage.test_search import OTHER, G, Source

RUM_INDEXES = "SELECT count(*) FROM pg_indexes WHERE indexname IN ('ix_notes_search_rum', 'ix_papers_search_rum')"


def _admin() -> str:
    return _admin_url().replace("postgresql+asyncpg://", "postgresql://")


async def _as_admin(*statements: str) -> None:
    admin = await asyncpg.connect(_admin())
    try:
        for statement in statements:
            await admin.execute(statement)
    finally:
        await admin.close()


async def _server_has_rum() -> bool:
    conn = await asyncpg.connect(_admin())
    try:
        return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'rum')"))
    finally:
        await conn.close()


@pytest.fixture
async def plain_role_url(postgres_template: str | None) -> AsyncIterator[str]:
    """An empty database owned by a role that may not create the rum extension (it is not a superuser)."""
    if postgres_template is None:
        pytest.skip("PostgreSQL's rum extension: the --db postgresql pass runs this")
    role, name, password = f"plain_{uuid.uuid4().hex[:12]}", f"t_{uuid.uuid4().hex[:16]}", uuid.uuid4().hex
    await _as_admin(
        f"CREATE ROLE {role} LOGIN NOSUPERUSER PASSWORD '{password}'", f"CREATE DATABASE {name} OWNER {role}"
    )
    url = make_url(_database(_admin_url(), name)).set(username=role, password=password)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        await _as_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"DROP ROLE IF EXISTS {role}")


async def _old_note_and_many_newer(sessions: Sessions) -> tuple[int, list[int]]:
    """An early note that says "numbat" six times, then 90 newer ones that say it once (a third in another
    group); the early note's id and this group's newer ones', newest first."""
    papers, notes = PaperService(sessions, Source()), NoteService(sessions)
    ids = []
    for i in range(90):
        p = await papers.ensure(paper_key(f"https://example.org/w{i}"))
        body = "numbat " * 6 if i == 0 else f"numbat and some other words, {i}"
        note = await notes.add(
            guild_id=OTHER if i % 3 == 2 else G,
            paper_id=p.id,
            author_id=1_000 + i,
            author_name="Ann",
            body=body,
            tags=[],
        )
        if i % 3 != 2:
            ids.append(note.id)
    return ids[0], ids[:0:-1]


async def _ranks_in_index(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        return await pg_ranks_in_index(conn)


async def test_where_the_server_has_rum_search_ranks_inside_its_indexes(sessions: Sessions) -> None:
    engine = sessions.kw["bind"]
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's rum extension: the --db postgresql pass runs this")
    if not await _server_has_rum():
        pytest.skip("this PostgreSQL server has no rum extension (Debian: postgresql-NN-rum)")
    assert await _ranks_in_index(engine)
    early, newer = await _old_note_and_many_newer(sessions)
    page = await SearchService(sessions).search(guild_id=G, query="numbat", limit=100)
    assert [h.note_id for h in page.hits] == [early, *newer]  # every match of the group, the best first, then newest


async def test_without_rum_the_migrations_run_and_search_ranks_every_match(plain_role_url: str) -> None:
    engine = make_engine(plain_role_url)
    try:
        assert (await migrate_engine(engine)).up_to_date  # the extension refused, and the migration goes on
        async with engine.connect() as conn:
            assert (await conn.execute(text(RUM_INDEXES))).scalar_one() == 0
        assert not await _ranks_in_index(engine)
        sessions = make_sessions(engine)
        early, newer = await _old_note_and_many_newer(sessions)
        search = SearchService(sessions)
        page = await search.search(guild_id=G, query="numbat", limit=100)
        assert [h.note_id for h in page.hits] == [early, *newer]
        prefixed = await search.search(guild_id=G, query="numb*", limit=3)
        assert [h.note_id for h in prefixed.hits] == [early, *newer[:2]] and prefixed.has_more
        assert (await downgrade_engine(engine, "0008")).current == "0008"
    finally:
        await engine.dispose()


async def test_the_rum_migration_undoes_and_redoes(empty_db_url: str) -> None:
    if not empty_db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's rum extension: the --db postgresql pass runs this")
    if not await _server_has_rum():
        pytest.skip("this PostgreSQL server has no rum extension (Debian: postgresql-NN-rum)")
    engine = make_engine(empty_db_url)
    extension = "SELECT count(*) FROM pg_extension WHERE extname = 'rum'"
    try:
        await migrate_engine(engine)
        async with engine.connect() as conn:
            assert (await conn.execute(text(RUM_INDEXES))).scalar_one() == 2
            assert (await conn.execute(text(extension))).scalar_one() == 1
        await downgrade_engine(engine, "0008")
        async with engine.connect() as conn:
            assert (await conn.execute(text(RUM_INDEXES))).scalar_one() == 0
            assert (await conn.execute(text(extension))).scalar_one() == 0  # it made the extension, so it drops it
        await migrate_engine(engine)
        async with engine.connect() as conn:
            assert (await conn.execute(text(RUM_INDEXES))).scalar_one() == 2
    finally:
        await engine.dispose()
