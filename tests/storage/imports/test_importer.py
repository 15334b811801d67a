"""Applying an import plan on a real database: what is written, idempotence, aliases, and the digest's week."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlmodel import select

from storage.db import Sessions
from storage.digests.content import DigestContent
from storage.errors import ValidationError
from storage.identity import title_key
from storage.imports.importer import Author, ImportPreview, ImportService, read_document
from storage.imports.plan import ImportPlan, NoteStatus, PlannedNote, PlannedPaper, Shape
from storage.models import ImportRun, ImportState, Note, NoteOrigin, Paper, PaperAlias, TitleLookup
from storage.search import SearchService
from storage.stats import StatsService

GUILD, OTHER = 500_000_000_000_000_001, 500_000_000_000_000_002
ANN = Author(id=700_000_000_000_000_001, name="ann")
MOD = 700_000_000_000_000_003
NOW = datetime(2025, 10, 1, 15, 0, tzinfo=UTC)


def plan() -> ImportPlan:
    """Three notes (an arXiv paper, a title-only paper with a citation, an undated WIP) and a listed paper."""
    return ImportPlan(
        shape=Shape.RUNNING_LOG,
        notes=[
            PlannedNote(
                paper=PlannedPaper(title="Chain of Thought Prompting", key="arxiv:2201.11903", line=3),
                body="## Method\nStep by step.\n\n## Questions\n- Does it scale down?",
                tags=["llms/prompting", "Reasoning"],
                written_on=date(2025, 9, 21),
                line=3,
            ),
            PlannedNote(
                paper=PlannedPaper(title="P\\(^3\\)SUM: Preserving Author's Perspective", surnames=("liu",), year=2024),
                body="Summaries that keep the stance.",
                written_on=date(2025, 9, 28),
                status=NoteStatus.PARTIAL,
                line=20,
            ),
            PlannedNote(
                paper=PlannedPaper(title="Length Generalization in Transformers", year=2023),
                body="WIP",
                status=NoteStatus.WIP,
                written_on=None,
                line=40,
            ),
        ],
        papers=[
            PlannedPaper(
                title="Sparse Mixture Routers Revisited", abstract="We revisit quokka routing in sparse experts."
            )
        ],
    )


def preview(made: ImportPlan) -> ImportPreview:
    return ImportPreview(file_name="log.md", digest="0" * 64, plan=made)


async def test_a_plan_becomes_dated_imported_notes_with_tags_and_queued_titles(sessions: Sessions) -> None:
    outcome = await ImportService(sessions).apply(preview(plan()), guild_id=GUILD, member_id=MOD, author=ANN, now=NOW)
    assert (outcome.notes_created, outcome.notes_kept, outcome.papers_known, outcome.titles_queued) == (3, 0, 4, 3)
    async with sessions() as session:
        notes = (await session.exec(select(Note).order_by(Note.id))).all()  # type: ignore[arg-type]
        assert [n.created_at for n in notes] == [
            datetime(2025, 9, 21, 12, tzinfo=UTC),
            datetime(2025, 9, 28, 12, tzinfo=UTC),
            NOW,  # undated: marked so, never given a made-up day
        ]
        assert [(n.status, n.undated, n.origin) for n in notes] == [
            (NoteStatus.DONE, False, NoteOrigin.IMPORT),
            (NoteStatus.PARTIAL, False, NoteOrigin.IMPORT),
            (NoteStatus.WIP, True, NoteOrigin.IMPORT),
        ]
        assert {n.author_id for n in notes} == {ANN.id}
        tags = (await session.exec(text("SELECT name FROM tags ORDER BY name"))).all()  # type: ignore[call-overload]
        assert [t[0] for t in tags] == ["llms/prompting", "reasoning"]
        titled = (await session.exec(select(Paper).where(Paper.key.startswith("title:")))).all()  # type: ignore[attr-defined]
        assert sorted(p.key for p in titled) == [
            title_key(GUILD, "length generalization in transformers"),
            title_key(GUILD, "p 3 sum preserving author s perspective"),
            title_key(GUILD, "sparse mixture routers revisited"),
        ]
        lookups = (await session.exec(select(TitleLookup).order_by(TitleLookup.id))).all()  # type: ignore[arg-type]
        assert [(lk.surnames, lk.year, lk.state) for lk in lookups][:2] == [
            (["liu"], 2024, "pending"),
            ([], 2023, "pending"),
        ]
        arxiv = (await session.exec(select(Paper).where(Paper.key == "arxiv:2201.11903"))).one()
        assert arxiv.metadata_status == "pending" and arxiv.title is None  # arXiv fills it in, not the document
        run = (await session.exec(select(ImportRun))).one()
        assert run.state == ImportState.RESOLVING and run.counts["notes_created"] == 3


async def test_importing_the_same_document_twice_creates_nothing_new(sessions: Sessions) -> None:
    service = ImportService(sessions)
    await service.apply(preview(plan()), guild_id=GUILD, member_id=MOD, author=ANN, now=NOW)
    again = await service.apply(preview(plan()), guild_id=GUILD, member_id=MOD, author=ANN, now=NOW)
    assert (again.notes_created, again.notes_kept, again.papers_known, again.titles_queued) == (0, 3, 0, 0)
    async with sessions() as session:
        for table, rows in (("notes", 3), ("papers", 4), ("title_lookups", 3), ("guild_papers", 4), ("note_tags", 2)):
            count = (await session.exec(text(f"SELECT count(*) FROM {table}"))).one()[0]  # type: ignore[call-overload]
            assert count == rows, table


async def test_a_title_resolved_before_is_found_by_its_alias(sessions: Sessions) -> None:
    async with sessions() as session:
        paper = Paper(key="arxiv:2401.00001", title="Length Generalization in Transformers", metadata_status="ok")
        session.add(paper)
        await session.flush()
        assert paper.id is not None
        session.add(PaperAlias(key=title_key(GUILD, "length generalization in transformers"), paper_id=paper.id))
        await session.commit()
        arxiv_id = paper.id
    await ImportService(sessions).apply(preview(plan()), guild_id=GUILD, member_id=MOD, author=ANN, now=NOW)
    async with sessions() as session:
        note = (await session.exec(select(Note).where(Note.paper_id == arxiv_id))).one()
        assert note.body == "WIP"
        keys = (await session.exec(select(Paper.key))).all()
        assert title_key(GUILD, "length generalization in transformers") not in keys


async def test_the_same_title_in_two_groups_is_two_private_papers(sessions: Sessions) -> None:
    service = ImportService(sessions)
    await service.apply(preview(plan()), guild_id=GUILD, member_id=MOD, author=ANN, now=NOW)
    await service.apply(preview(plan()), guild_id=OTHER, member_id=MOD, author=ANN, now=NOW)
    async with sessions() as session:
        rows = (await session.exec(select(Paper.key).where(Paper.key.startswith("title:")))).all()  # type: ignore[attr-defined]
    assert len(rows) == 6 and sum(str(OTHER) in key for key in rows) == 3


async def test_imported_notes_are_not_this_weeks_news_and_count_toward_no_streak(sessions: Sessions) -> None:
    now = datetime.now(UTC)
    made = plan()
    for note in made.notes:
        note.written_on = now.date()  # dated today by the document
    await ImportService(sessions).apply(preview(made), guild_id=GUILD, member_id=MOD, author=ANN, now=now)
    data = await DigestContent(sessions).collect(
        guild_id=GUILD, start=now - timedelta(days=7), end=now + timedelta(days=1), timezone="UTC"
    )
    assert data.notes == ()
    stats = await StatsService(sessions).member(guild_id=GUILD, author_id=ANN.id)
    assert (stats.streak, stats.noted_this_week, stats.notes) == (0, False, 3)


async def test_listed_papers_are_searchable_at_once(sessions: Sessions) -> None:
    await ImportService(sessions).apply(preview(plan()), guild_id=GUILD, member_id=MOD, author=ANN, now=NOW)
    page = await SearchService(sessions).search(guild_id=GUILD, query="quokka routing")
    assert [hit.paper_title for hit in page.hits] == ["Sparse Mixture Routers Revisited"]
    assert (await SearchService(sessions).search(guild_id=OTHER, query="quokka routing")).hits == ()


async def test_a_note_that_breaks_a_limit_is_reported_and_the_rest_are_written(sessions: Sessions) -> None:
    made = plan()
    made.notes[1].body = "x" * 100_001
    outcome = await ImportService(sessions).apply(preview(made), guild_id=GUILD, member_id=MOD, author=ANN, now=NOW)
    assert outcome.notes_created == 2
    assert len(outcome.notes_refused) == 1 and outcome.notes_refused[0].startswith("line 20:")


@pytest.mark.parametrize(
    ("name", "data", "needle"),
    [
        ("notes.md", b"", "empty"),
        ("notes.md", b"   \n\n", "empty"),
        ("notes.pdf", b"%PDF-1.4", "not a notes file"),
        ("notes.md", b"\x89PNG\r\n\x1a\n\x00\x00", "binary"),
        ("notes.md", "café".encode("latin-1"), "not UTF-8"),
        ("notes.md", b"x" * 5_000_001, "5 MB"),
    ],
)
def test_bad_files_are_refused_with_a_reason(name: str, data: bytes, needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        read_document(name, data)


async def test_two_imports_of_one_document_at_once_write_each_note_once(sessions: Sessions) -> None:
    service = ImportService(sessions)
    first, second = await asyncio.gather(
        service.apply(preview(plan()), guild_id=GUILD, member_id=MOD, author=ANN, now=NOW),
        service.apply(preview(plan()), guild_id=GUILD, member_id=MOD, author=ANN, now=NOW),
    )
    assert sorted([first.notes_created, second.notes_created]) == [0, 3]
    assert first.notes_kept + second.notes_kept == 3
    async with sessions() as session:
        assert (await session.exec(text("SELECT count(*) FROM notes"))).one()[0] == 3  # type: ignore[call-overload]
