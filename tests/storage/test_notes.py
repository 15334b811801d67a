"""Notes on a real SQLite file: one per member and paper, versions kept, groups kept apart."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from storage.db import Sessions
from storage.errors import AlreadyNotedError, NotFoundError, PermissionDeniedError, ValidationError
from storage.identity import paper_key
from storage.metadata import PaperMetadata
from storage.models import MetadataStatus
from storage.notes import NoteService
from storage.papers import Ambiguous, PaperService

GUILD, OTHER_GUILD = 1001, 2002
ANN, BOB = 11, 22


class FakeSource:
    """A metadata source that knows a fixed set of papers, or fails on demand."""

    def __init__(self, papers: dict[str, str] | None = None, *, failing: bool = False) -> None:
        self.papers = papers or {}
        self.failing = failing
        self.fetched: list[list[str]] = []

    async def fetch(self, keys: list[str]) -> dict[str, PaperMetadata | None]:
        self.fetched.append(list(keys))
        if self.failing:
            raise ConnectionError("arXiv is down")
        return {
            k: PaperMetadata(key=k, title=self.papers[k], authors=("A. Author",)) if k in self.papers else None
            for k in keys
        }

    async def search_title(self, text: str, *, limit: int = 5) -> list[PaperMetadata]:
        if self.failing:
            raise ConnectionError("arXiv is down")
        return [PaperMetadata(key=k, title=t) for k, t in self.papers.items() if text.lower() in t.lower()][:limit]


@pytest.fixture
def source() -> FakeSource:
    return FakeSource({"arxiv:1706.03762": "Attention Is All You Need", "arxiv:2403.17887": "Model Merging Survey"})


@pytest.fixture
def papers(sessions: Sessions, source: FakeSource) -> PaperService:
    return PaperService(sessions, source)


@pytest.fixture
def notes(sessions: Sessions) -> NoteService:
    return NoteService(sessions)


@pytest.mark.sqlite_only("WAL, foreign keys and the busy timeout are SQLite pragmas")
async def test_database_file_uses_wal_and_foreign_keys(sessions: Sessions) -> None:
    async with sessions() as session:
        assert (await session.exec(text("PRAGMA journal_mode"))).one()[0] == "wal"  # type: ignore[call-overload]
        assert (await session.exec(text("PRAGMA foreign_keys"))).one()[0] == 1  # type: ignore[call-overload]
        assert (await session.exec(text("PRAGMA busy_timeout"))).one()[0] >= 1000  # type: ignore[call-overload]


async def test_second_note_on_same_paper_offers_update(papers: PaperService, notes: NoteService) -> None:
    paper = await papers.ensure(paper_key("1706.03762v3"))
    first = await notes.add(guild_id=GUILD, paper_id=paper.id, author_id=ANN, author_name="Ann", body="one", tags=[])
    with pytest.raises(AlreadyNotedError) as caught:
        await notes.add(guild_id=GUILD, paper_id=paper.id, author_id=ANN, author_name="Ann", body="two", tags=[])
    assert caught.value.note_id == first.id
    assert (await notes.page(guild_id=GUILD)).total == 1
    # another member, or the same member in another group, may note the same paper
    await notes.add(guild_id=GUILD, paper_id=paper.id, author_id=BOB, author_name="Bob", body="b", tags=[])
    await notes.add(guild_id=OTHER_GUILD, paper_id=paper.id, author_id=ANN, author_name="Ann", body="c", tags=[])


async def test_members_noting_one_new_paper_at_once_are_all_saved(papers: PaperService, notes: NoteService) -> None:
    """The first note on a paper makes it known to the group; several members doing that at once all succeed."""
    paper = await papers.ensure(paper_key("2403.17887"))
    members = range(100, 108)
    saved = await asyncio.gather(
        *(
            notes.add(guild_id=GUILD, paper_id=paper.id, author_id=m, author_name=f"m{m}", body="at once", tags=[])
            for m in members
        ),
        return_exceptions=True,
    )
    assert [s for s in saved if isinstance(s, BaseException)] == []
    assert (await notes.page(guild_id=GUILD)).total == len(members)


async def test_edit_keeps_every_earlier_version(papers: PaperService, notes: NoteService) -> None:
    paper = await papers.ensure(paper_key("1706.03762"))
    note = await notes.add(
        guild_id=GUILD, paper_id=paper.id, author_id=ANN, author_name="Ann", body="v1", tags=["llms"]
    )
    await notes.edit(guild_id=GUILD, note_id=note.id, editor_id=ANN, body="v2")
    latest = await notes.edit(guild_id=GUILD, note_id=note.id, editor_id=ANN, body="v3", tags=["rl", "llms/x"])
    assert (latest.body, latest.revision, latest.tags) == ("v3", 3, ("rl", "llms/x"))
    history = await notes.revisions(guild_id=GUILD, note_id=note.id)
    assert [(r.revision, r.body, r.tags) for r in history] == [(1, "v1", ["llms"]), (2, "v2", ["llms"])]


async def test_edit_by_other_member_is_refused_and_changes_nothing(papers: PaperService, notes: NoteService) -> None:
    paper = await papers.ensure(paper_key("1706.03762"))
    note = await notes.add(guild_id=GUILD, paper_id=paper.id, author_id=ANN, author_name="Ann", body="mine", tags=[])
    with pytest.raises(PermissionDeniedError):
        await notes.edit(guild_id=GUILD, note_id=note.id, editor_id=BOB, body="hijack")
    with pytest.raises(PermissionDeniedError):
        await notes.delete(guild_id=GUILD, note_id=note.id, member_id=BOB, moderator=False)
    assert (await notes.get(guild_id=GUILD, note_id=note.id)).body == "mine"


async def test_note_of_another_group_behaves_like_a_missing_note(papers: PaperService, notes: NoteService) -> None:
    paper = await papers.ensure(paper_key("1706.03762"))
    note = await notes.add(guild_id=GUILD, paper_id=paper.id, author_id=ANN, author_name="Ann", body="x", tags=[])
    errors = []
    for note_id in (note.id, 999_999):
        for call in (
            notes.get(guild_id=OTHER_GUILD, note_id=note_id),
            notes.edit(guild_id=OTHER_GUILD, note_id=note_id, editor_id=ANN, body="y"),
            notes.delete(guild_id=OTHER_GUILD, note_id=note_id, member_id=ANN, moderator=True),
        ):
            with pytest.raises(NotFoundError) as caught:
                await call
            errors.append(caught.value.message.replace(str(note_id), "N"))
    assert len(set(errors)) == 1
    assert (await notes.page(guild_id=OTHER_GUILD)).total == 0
    assert await notes.autocomplete(guild_id=OTHER_GUILD, author_id=None, text="") == []


async def test_delete_removes_versions_and_tags(sessions: Sessions, papers: PaperService, notes: NoteService) -> None:
    paper = await papers.ensure(paper_key("1706.03762"))
    note = await notes.add(guild_id=GUILD, paper_id=paper.id, author_id=ANN, author_name="Ann", body="a", tags=["t"])
    await notes.edit(guild_id=GUILD, note_id=note.id, editor_id=ANN, body="b")
    await notes.delete(guild_id=GUILD, note_id=note.id, member_id=BOB, moderator=True)
    async with sessions() as session:
        for table in ("notes", "note_revisions", "note_tags"):
            assert (await session.exec(text(f"SELECT count(*) FROM {table}"))).one()[0] == 0  # type: ignore[call-overload]


async def test_invalid_body_leaves_the_note_unchanged(papers: PaperService, notes: NoteService) -> None:
    paper = await papers.ensure(paper_key("1706.03762"))
    note = await notes.add(guild_id=GUILD, paper_id=paper.id, author_id=ANN, author_name="Ann", body="keep", tags=[])
    for bad in ("   \n ", "x" * 100_001, "a\x00b"):
        with pytest.raises(ValidationError):
            await notes.edit(guild_id=GUILD, note_id=note.id, editor_id=ANN, body=bad)
    after = await notes.get(guild_id=GUILD, note_id=note.id)
    assert (after.body, after.revision) == ("keep", 1)


async def test_list_filters_and_pages_newest_first(papers: PaperService, notes: NoteService) -> None:
    paper = await papers.ensure(paper_key("1706.03762"))
    ids = []
    for i in range(12):
        other = await papers.ensure(paper_key(f"https://example.org/p{i}"))
        note = await notes.add(
            guild_id=GUILD,
            paper_id=other.id,
            author_id=ANN if i % 2 else BOB,
            author_name="x",
            body=f"n{i}",
            tags=["llms/prompting"] if i % 3 == 0 else ["rl"],
        )
        ids.append(note.id)
    await notes.add(guild_id=GUILD, paper_id=paper.id, author_id=ANN, author_name="Ann", body="p", tags=[])
    first = await notes.page(guild_id=GUILD, limit=5)
    assert (first.total, first.pages, len(first.notes)) == (13, 3, 5)
    assert [n.body for n in first.notes][:2] == ["p", "n11"]
    tagged = await notes.page(guild_id=GUILD, tag="llms")  # a parent tag finds its sub-tags
    assert sorted(n.body for n in tagged.notes) == ["n0", "n3", "n6", "n9"]
    assert (await notes.page(guild_id=GUILD, author_id=ANN, paper_id=paper.id)).total == 1
    assert await notes.tags(guild_id=GUILD) == [("rl", 8), ("llms/prompting", 4)]


async def test_a_later_page_keeps_each_notes_tags_in_their_order_and_a_page_past_the_end_still_counts(
    papers: PaperService, notes: NoteService
) -> None:
    for i in range(4):
        paper = await papers.ensure(paper_key(f"https://example.org/q{i}"))
        await notes.add(
            guild_id=GUILD,
            paper_id=paper.id,
            author_id=ANN,
            author_name="Ann",
            body=f"q{i}",
            tags=["zeta", "alpha", f"t{i}"],
        )
    second = await notes.page(guild_id=GUILD, offset=2, limit=2)
    assert [(n.body, n.tags, n.paper.key) for n in second.notes] == [
        ("q1", ("zeta", "alpha", "t1"), paper_key("https://example.org/q1").key),
        ("q0", ("zeta", "alpha", "t0"), paper_key("https://example.org/q0").key),
    ]
    assert (second.total, second.page, second.pages) == (4, 2, 2)
    beyond = await notes.page(guild_id=GUILD, offset=10, limit=2)
    assert (beyond.notes, beyond.total) == ((), 4)
    assert (await notes.page(guild_id=OTHER_GUILD, offset=10)).total == 0


async def test_a_version_a_member_types_never_changes_the_shared_paper(sessions: Sessions, source: FakeSource) -> None:
    papers = PaperService(sessions, source)
    stored = await papers.ensure(paper_key("2403.17887"))
    again = await papers.ensure(paper_key("2403.17887v99"))
    assert again.id == stored.id and again.version == stored.version != 99


async def test_unknown_arxiv_id_is_refused(papers: PaperService) -> None:
    with pytest.raises(NotFoundError):
        await papers.ensure(paper_key("2401.00001"))


async def test_arxiv_down_saves_paper_pending_then_job_fills_it(sessions: Sessions, source: FakeSource) -> None:
    source.failing = True
    papers = PaperService(sessions, source)
    paper = await papers.ensure(paper_key("2403.17887v2"))
    assert paper.pending and paper.title is None and paper.version is None  # the version comes from arXiv only
    assert await papers.fill_pending() == 0  # still down
    source.failing = False
    assert await papers.fill_pending() == 1
    filled = await papers.get(paper.id)
    assert (filled.title, filled.metadata_status) == ("Model Merging Survey", MetadataStatus.OK)


async def test_slow_source_leaves_metadata_pending(sessions: Sessions) -> None:
    class Slow(FakeSource):
        async def fetch(self, keys: list[str]) -> dict[str, PaperMetadata | None]:
            await asyncio.sleep(5)
            return {}

    papers = PaperService(sessions, Slow(), lookup_timeout=0.05)
    assert (await papers.ensure(paper_key("1706.03762"))).pending


async def test_title_resolution_prefers_known_papers_then_asks(
    papers: PaperService, notes: NoteService, source: FakeSource
) -> None:
    known = await papers.ensure(paper_key("1706.03762"))
    await notes.add(guild_id=GUILD, paper_id=known.id, author_id=ANN, author_name="Ann", body="x", tags=[])
    source.fetched.clear()
    assert (await papers.resolve(guild_id=GUILD, text="attention is all you need")).id == known.id
    assert source.fetched == []  # no arXiv request for a paper the group knows
    found = await papers.resolve(guild_id=OTHER_GUILD, text="merging")  # not clearly right: the member picks
    assert isinstance(found, Ambiguous) and [c.key for c in found.candidates] == ["arxiv:2403.17887"]
    with pytest.raises(NotFoundError):
        await papers.resolve(guild_id=GUILD, text="quantum gravity in a teacup")


async def test_find_known_only_matches_the_groups_papers(papers: PaperService, notes: NoteService) -> None:
    known = await papers.ensure(paper_key("1706.03762"))
    other = await papers.ensure(paper_key("2403.17887"))
    await notes.add(guild_id=GUILD, paper_id=known.id, author_id=ANN, author_name="Ann", body="x", tags=[])
    await notes.add(guild_id=OTHER_GUILD, paper_id=other.id, author_id=ANN, author_name="Ann", body="x", tags=[])
    assert (await papers.find_known(guild_id=GUILD, text="https://arxiv.org/abs/1706.03762v2")).id == known.id
    assert (await papers.find_known(guild_id=GUILD, text="attention is all")).id == known.id
    assert await papers.find_known(guild_id=GUILD, text="2403.17887") is None  # another group's paper
    assert await papers.find_known(guild_id=GUILD, text="quantum chromodynamics lattice") is None
