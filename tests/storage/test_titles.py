"""Title lookups on the storage side: the fair queue, and applying what arXiv matched (no HTTP here)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlmodel import col, func, select

from storage.db import Sessions
from storage.identity import title_key
from storage.imports.plan import normalise_title
from storage.metadata import PaperMetadata
from storage.models import (
    GuildPaper,
    ImportRun,
    ImportState,
    MetadataStatus,
    Note,
    NoteOrigin,
    NoteRevision,
    Paper,
    PaperAlias,
    TitleLookup,
    TitleLookupState,
    utcnow,
)
from storage.notes import note_tags, set_tags
from storage.titles import TitleOutcome, TitleService

GUILD_A = 111_000_000_000_000_001
GUILD_B = 222_000_000_000_000_002
ALICE = 900_000_000_000_000_001
BOB = 900_000_000_000_000_002

TOOLFORMER = "Toolformer: Language Models Can Teach Themselves to Use Tools"
TOOLFORMER_META = PaperMetadata(
    key="arxiv:2302.04761",
    title="Toolformer: Language Models Can Teach Themselves to Use Tools",
    version=1,
    authors=("Timo Schick", "Jane Dwivedi-Yu", "Roberto Dessì", "Roberta Raileanu"),
    abstract="Language models exhibit remarkable abilities to solve new tasks from just a few examples.",
    categories=("cs.CL",),
    published=datetime(2023, 2, 9, 18, 59, tzinfo=UTC),
    updated=datetime(2023, 2, 9, 18, 59, tzinfo=UTC),
)


async def seed_import(sessions: Sessions, *, guild_id: int, state: str = ImportState.RESOLVING) -> int:
    """An import run as the importer leaves it once its notes are written."""
    async with sessions() as session:
        run = ImportRun(
            guild_id=guild_id,
            member_id=ALICE,
            file_name="reading-log.md",
            digest="0" * 64,
            shape="running-log",
            state=state,
            channel_id=555,
            message_id=777,
        )
        session.add(run)
        await session.commit()
        assert run.id is not None
        return run.id


async def seed_title(
    sessions: Sessions,
    *,
    guild_id: int,
    title: str,
    surnames: Sequence[str] = (),
    year: int | None = None,
    import_id: int | None = None,
    notes: Sequence[tuple[int, str]] = (),
    tags: Sequence[str] = (),
) -> int:
    """A title-only paper the way the importer makes it (known to the group, with notes), and its lookup."""
    key = title_key(guild_id, normalise_title(title))
    async with sessions() as session:
        paper = Paper(key=key, title=title, metadata_status=MetadataStatus.MISSING)
        session.add(paper)
        await session.flush()
        assert paper.id is not None
        session.add(GuildPaper(guild_id=guild_id, paper_id=paper.id, source="import"))
        for author_id, body in notes:
            note = Note(
                guild_id=guild_id,
                paper_id=paper.id,
                author_id=author_id,
                author_name=f"member {author_id % 10}",
                body=body,
                origin=NoteOrigin.IMPORT,
            )
            session.add(note)
            await session.flush()
            assert note.id is not None
            await set_tags(session, guild_id=guild_id, note_id=note.id, names=list(tags))
        lookup = TitleLookup(
            guild_id=guild_id, title_key=key, import_id=import_id, title=title, surnames=list(surnames), year=year
        )
        session.add(lookup)
        await session.commit()
        assert lookup.id is not None
        return lookup.id


async def lookup_row(sessions: Sessions, lookup_id: int) -> TitleLookup:
    async with sessions() as session:
        row = await session.get(TitleLookup, lookup_id)
        assert row is not None
        return row


async def paper_by_key(sessions: Sessions, key: str) -> Paper | None:
    async with sessions() as session:
        return (await session.exec(select(Paper).where(Paper.key == key))).first()


async def paper_count(sessions: Sessions) -> int:
    async with sessions() as session:
        return (await session.exec(select(func.count()).select_from(Paper))).one()


async def test_pending_titles_take_turns_between_groups(sessions: Sessions) -> None:
    big = [await seed_title(sessions, guild_id=GUILD_A, title=f"Scaling study number {i}") for i in range(30)]
    small = [await seed_title(sessions, guild_id=GUILD_B, title=f"Probing study number {i}") for i in range(3)]
    batch = await TitleService(sessions).pending(limit=10)
    assert [item.id for item in batch] == [big[0], small[0], big[1], small[1], big[2], small[2], *big[3:7]]


async def test_the_least_recently_served_group_goes_first(sessions: Sessions) -> None:
    service = TitleService(sessions)
    first = {g: await seed_title(sessions, guild_id=g, title="Sparse mixtures of experts") for g in (1, 2, 3)}
    second = {g: await seed_title(sessions, guild_id=g, title="Dense retrieval at scale") for g in (1, 2, 3)}
    batch = await service.pending(limit=2)
    assert [item.guild_id for item in batch] == [1, 2]
    await service.apply([TitleOutcome(item.id, None) for item in batch])
    batch = await service.pending(limit=2)
    assert [item.id for item in batch] == [first[3], second[1]]  # group 3 waited; then 1 and 2 were served together


async def test_titles_of_an_import_still_being_written_wait(sessions: Sessions) -> None:
    writing = await seed_import(sessions, guild_id=GUILD_A, state=ImportState.APPLYING)
    written = await seed_import(sessions, guild_id=GUILD_A)
    await seed_title(sessions, guild_id=GUILD_A, title="Half written import paper", import_id=writing)
    ready = await seed_title(sessions, guild_id=GUILD_A, title="Finished import paper", import_id=written)
    loose = await seed_title(sessions, guild_id=GUILD_A, title="A paper from no import")
    assert [item.id for item in await TitleService(sessions).pending(limit=20)] == [ready, loose]


async def test_titles_of_an_import_whose_process_stopped_while_applying_are_released(sessions: Sessions) -> None:
    stalled = await seed_import(sessions, guild_id=GUILD_A, state=ImportState.APPLYING)
    recent = await seed_import(sessions, guild_id=GUILD_A, state=ImportState.APPLYING)
    async with sessions() as session:
        run = await session.get(ImportRun, stalled)
        assert run is not None
        run.created_at = utcnow() - timedelta(hours=2)
        await session.commit()
    left = await seed_title(sessions, guild_id=GUILD_A, title="Left behind by a stopped process", import_id=stalled)
    await seed_title(sessions, guild_id=GUILD_A, title="Still being written", import_id=recent)
    service = TitleService(sessions)
    assert await service.pending(limit=20) == []
    await service.settle_imports()
    assert [item.id for item in await service.pending(limit=20)] == [left]


async def test_a_claimed_import_left_applying_is_never_taken_as_written(sessions: Sessions) -> None:
    """Imports are claimed while they are applied; one whose process stopped is rolled back, not promoted."""
    from storage.leases import LeaseService

    claimed = await seed_import(sessions, guild_id=GUILD_A, state=ImportState.APPLYING)
    async with sessions() as session:
        run = await session.get(ImportRun, claimed)
        assert run is not None
        run.created_at = utcnow() - timedelta(hours=2)  # its process has been gone a while: the claim ran out
        await session.commit()
    await LeaseService(sessions, holder="gone").hold(f"import:{claimed}", ttl=timedelta(0))
    await seed_title(sessions, guild_id=GUILD_A, title="Half of a stopped import", import_id=claimed)
    service = TitleService(sessions)
    await service.settle_imports()
    assert await service.pending(limit=20) == []
    async with sessions() as session:
        run = await session.get(ImportRun, claimed)
        assert run is not None and run.state == ImportState.APPLYING  # left for the roll-back


async def test_a_match_turns_the_title_paper_into_the_arxiv_paper(sessions: Sessions) -> None:
    run = await seed_import(sessions, guild_id=GUILD_A)
    lookup = await seed_title(
        sessions,
        guild_id=GUILD_A,
        title=TOOLFORMER,
        surnames=["schick"],
        year=2023,
        import_id=run,
        notes=[(ALICE, "## Method\nSelf-supervised API call insertion.")],
    )
    key = title_key(GUILD_A, normalise_title(TOOLFORMER))
    before = await paper_by_key(sessions, key)
    assert before is not None

    views = await TitleService(sessions).apply([TitleOutcome(lookup, TOOLFORMER_META)])
    assert views is not None

    assert await paper_by_key(sessions, key) is None
    after = await paper_by_key(sessions, "arxiv:2302.04761")
    assert after is not None and after.id == before.id
    assert after.metadata_status == MetadataStatus.OK
    assert after.authors == list(TOOLFORMER_META.authors) and after.published == TOOLFORMER_META.published
    assert after.version == 1
    async with sessions() as session:
        notes = (await session.exec(select(Note).where(Note.paper_id == after.id))).all()
        assert [n.body for n in notes] == ["## Method\nSelf-supervised API call insertion."]
        assert await session.get(GuildPaper, (GUILD_A, after.id)) is not None
        alias = await session.get(PaperAlias, key)
        assert alias is not None and alias.paper_id == after.id
        row = await session.get(ImportRun, run)
        assert row is not None and row.state == ImportState.DONE and row.finished_at is not None
    resolved = await lookup_row(sessions, lookup)
    assert resolved.state == TitleLookupState.RESOLVED and resolved.resolved_key == "arxiv:2302.04761"
    assert [(v.import_id, v.resolved, v.unresolved, v.pending, v.channel_id, v.message_id) for v in views] == [
        (run, 1, 0, 0, 555, 777)
    ]


async def test_a_match_on_a_stored_paper_folds_the_notes_in_and_keeps_both_texts(sessions: Sessions) -> None:
    async with sessions() as session:
        stored = Paper(key="arxiv:2302.04761", title=TOOLFORMER, metadata_status=MetadataStatus.OK)
        session.add(stored)
        await session.flush()
        assert stored.id is not None
        mine = Note(
            guild_id=GUILD_A, paper_id=stored.id, author_id=ALICE, author_name="alice", body="Posted on Discord."
        )
        session.add(mine)
        session.add(GuildPaper(guild_id=GUILD_A, paper_id=stored.id, source="note"))
        await session.flush()
        assert mine.id is not None
        await set_tags(session, guild_id=GUILD_A, note_id=mine.id, names=["tools"])
        await session.commit()
        stored_id, my_note = stored.id, mine.id
    run = await seed_import(sessions, guild_id=GUILD_A)
    lookup = await seed_title(
        sessions,
        guild_id=GUILD_A,
        title=TOOLFORMER,
        import_id=run,
        notes=[(ALICE, "From the old doc: ## Questions\nWhy five API tools?"), (BOB, "Bob's imported note.")],
        tags=["agents"],
    )
    title_paper = await paper_by_key(sessions, title_key(GUILD_A, normalise_title(TOOLFORMER)))
    assert title_paper is not None

    await TitleService(sessions).apply([TitleOutcome(lookup, TOOLFORMER_META)])

    assert await paper_by_key(sessions, title_paper.key) is None
    async with sessions() as session:
        assert await session.get(Paper, title_paper.id) is None
        notes = (await session.exec(select(Note).where(Note.paper_id == stored_id).order_by(col(Note.id)))).all()
        assert notes[0].id == my_note
        assert [n.author_id for n in notes] == [ALICE, BOB]
        merged = notes[0]
        assert merged.body == "Posted on Discord.\n\n---\n\nFrom the old doc: ## Questions\nWhy five API tools?"
        assert merged.revision == 2
        revisions = (await session.exec(select(NoteRevision).where(NoteRevision.note_id == my_note))).all()
        assert [(r.revision, r.body, r.tags) for r in revisions] == [(1, "Posted on Discord.", ["tools"])]
        assert (await note_tags(session, guild_id=GUILD_A, note_ids=[my_note]))[my_note] == ["tools", "agents"]
        assert notes[1].body == "Bob's imported note."
        links = (await session.exec(select(GuildPaper).where(GuildPaper.guild_id == GUILD_A))).all()
        assert [link.paper_id for link in links] == [stored_id]
        alias = await session.get(PaperAlias, title_paper.key)
        assert alias is not None and alias.paper_id == stored_id
    assert await paper_count(sessions) == 1


async def test_no_acceptable_candidate_leaves_a_title_paper_findable(sessions: Sessions) -> None:
    run = await seed_import(sessions, guild_id=GUILD_A)
    lookup = await seed_title(sessions, guild_id=GUILD_A, title="Our lab's unpublished memo", import_id=run)
    views = await TitleService(sessions).apply([TitleOutcome(lookup, None)])
    assert views is not None
    row = await lookup_row(sessions, lookup)
    assert row.state == TitleLookupState.UNRESOLVED and row.resolved_key is None and row.attempts == 1
    paper = await paper_by_key(sessions, row.title_key)
    assert paper is not None and paper.title == "Our lab's unpublished memo"
    assert [(v.resolved, v.unresolved, v.pending) for v in views] == [(0, 1, 0)]


async def test_postponed_titles_stay_pending_with_the_attempt_counted(sessions: Sessions) -> None:
    run = await seed_import(sessions, guild_id=GUILD_A)
    lookup = await seed_title(sessions, guild_id=GUILD_A, title=TOOLFORMER, import_id=run)
    service = TitleService(sessions)
    await service.postpone([lookup])
    row = await lookup_row(sessions, lookup)
    assert (row.state, row.attempts) == (TitleLookupState.PENDING, 1) and row.checked_at is not None
    assert [item.id for item in await service.pending(limit=5)] == [lookup]
    async with sessions() as session:
        run_row = await session.get(ImportRun, run)
        assert run_row is not None and run_row.state == ImportState.RESOLVING


async def test_resolving_one_group_never_touches_another_groups_paper_of_the_same_title(sessions: Sessions) -> None:
    mine = await seed_title(sessions, guild_id=GUILD_A, title=TOOLFORMER, notes=[(ALICE, "A's note")])
    await seed_title(sessions, guild_id=GUILD_B, title=TOOLFORMER, notes=[(BOB, "B's note")])
    theirs_key = title_key(GUILD_B, normalise_title(TOOLFORMER))
    await TitleService(sessions).apply([TitleOutcome(mine, TOOLFORMER_META)])
    theirs = await paper_by_key(sessions, theirs_key)
    assert theirs is not None and theirs.metadata_status == MetadataStatus.MISSING
    async with sessions() as session:
        notes = (await session.exec(select(Note.body).where(Note.paper_id == theirs.id))).all()
        assert notes == ["B's note"]
        assert await session.get(PaperAlias, theirs_key) is None
        arxiv = await paper_by_key(sessions, "arxiv:2302.04761")
        assert arxiv is not None
        assert await session.get(GuildPaper, (GUILD_B, arxiv.id)) is None
    assert [item.guild_id for item in await TitleService(sessions).pending(limit=5)] == [GUILD_B]


async def test_the_second_group_resolving_the_same_paper_joins_it(sessions: Sessions) -> None:
    service = TitleService(sessions)
    a = await seed_title(sessions, guild_id=GUILD_A, title=TOOLFORMER, notes=[(ALICE, "A's note")])
    b = await seed_title(sessions, guild_id=GUILD_B, title=TOOLFORMER, notes=[(ALICE, "B's note")])
    await service.apply([TitleOutcome(a, TOOLFORMER_META), TitleOutcome(b, TOOLFORMER_META)])
    arxiv = await paper_by_key(sessions, "arxiv:2302.04761")
    assert arxiv is not None
    async with sessions() as session:
        rows = (await session.exec(select(Note.guild_id, Note.body).where(Note.paper_id == arxiv.id))).all()
        assert sorted(rows) == [(GUILD_A, "A's note"), (GUILD_B, "B's note")]
        assert await session.get(GuildPaper, (GUILD_B, arxiv.id)) is not None
    assert await paper_count(sessions) == 1


async def test_a_lookup_settled_elsewhere_is_not_applied_twice(sessions: Sessions) -> None:
    lookup = await seed_title(sessions, guild_id=GUILD_A, title=TOOLFORMER)
    service = TitleService(sessions)
    await service.apply([TitleOutcome(lookup, None)])
    await service.apply([TitleOutcome(lookup, TOOLFORMER_META)])
    row = await lookup_row(sessions, lookup)
    assert (row.state, row.attempts) == (TitleLookupState.UNRESOLVED, 1)
    assert await paper_by_key(sessions, "arxiv:2302.04761") is None


async def test_an_import_left_resolving_with_nothing_pending_is_finished(sessions: Sessions) -> None:
    empty = await seed_import(sessions, guild_id=GUILD_A)
    busy = await seed_import(sessions, guild_id=GUILD_B)
    await seed_title(sessions, guild_id=GUILD_B, title=TOOLFORMER, import_id=busy)
    views = await TitleService(sessions).settle_imports()
    assert [(v.import_id, v.pending) for v in views] == [(empty, 0)]
    async with sessions() as session:
        states = {r.id: r.state for r in (await session.exec(select(ImportRun))).all()}
    assert states == {empty: ImportState.DONE, busy: ImportState.RESOLVING}
