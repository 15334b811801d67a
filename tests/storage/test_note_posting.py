"""Posting a note on the paper a member names: the paper found once, the member's room checked, the note saved."""

from __future__ import annotations

import pytest

from storage.db import Sessions
from storage.errors import LimitReachedError, UserFacingError
from storage.identity import TitleQuery, paper_key, parse_paper
from storage.note_posting import NotePosting, NoteTaken
from storage.notes import NoteService, NoteView
from storage.papers import Ambiguous, PaperService
from storage.titles import TitleService
from tests.storage.test_notes import ANN, BOB, GUILD, FakeSource


@pytest.fixture
def source() -> FakeSource:
    return FakeSource({"arxiv:1706.03762": "Attention Is All You Need", "arxiv:2403.17887": "Model Merging Survey"})


@pytest.fixture
def posting(sessions: Sessions, source: FakeSource) -> NotePosting:
    papers = PaperService(sessions, source)
    return NotePosting(notes=NoteService(sessions, max_per_day=2), papers=papers, titles=TitleService(sessions))


async def test_a_note_on_a_typed_id_is_saved_on_that_paper(posting: NotePosting) -> None:
    saved = await posting.add(
        guild_id=GUILD, author_id=ANN, author_name="Ann", paper=parse_paper("1706.03762"), body="Good.", tags=["llms"]
    )
    assert isinstance(saved, NoteView)
    assert saved.paper.key == "arxiv:1706.03762" and saved.tags == ("llms",)


async def test_a_second_note_on_the_same_paper_comes_back_to_update(posting: NotePosting) -> None:
    first = await posting.add(
        guild_id=GUILD, author_id=ANN, author_name="Ann", paper=paper_key("1706.03762"), body="One.", tags=[]
    )
    again = await posting.add(
        guild_id=GUILD, author_id=ANN, author_name="Ann", paper=paper_key("1706.03762"), body="Two.", tags=[]
    )
    assert isinstance(first, NoteView) and isinstance(again, NoteTaken)
    assert again.note_id == first.id and again.paper.key == "arxiv:1706.03762"


async def test_words_matching_several_papers_give_the_candidates(posting: NotePosting, source: FakeSource) -> None:
    source.papers["arxiv:2401.00001"] = "Model Merging Survey Revisited"
    found = await posting.add(
        guild_id=GUILD, author_id=ANN, author_name="Ann", paper=TitleQuery("model merging"), body="x", tags=[]
    )
    assert isinstance(found, Ambiguous)


async def test_before_the_form_an_existing_note_is_offered_and_a_full_day_is_refused(posting: NotePosting) -> None:
    key = paper_key("1706.03762")
    assert await posting.start_note(guild_id=GUILD, author_id=ANN, paper=key) is None
    note = await posting.add(guild_id=GUILD, author_id=ANN, author_name="Ann", paper=key, body="One.", tags=[])
    assert isinstance(note, NoteView)
    existing = await posting.start_note(guild_id=GUILD, author_id=ANN, paper=note.paper)
    assert existing is not None and existing.id == note.id
    await posting.add(
        guild_id=GUILD, author_id=ANN, author_name="Ann", paper=paper_key("2403.17887"), body="Two.", tags=[]
    )
    with pytest.raises(LimitReachedError):
        await posting.start_note(guild_id=GUILD, author_id=ANN, paper=TitleQuery("anything"))


async def test_only_its_author_edits_a_note(posting: NotePosting) -> None:
    note = await posting.add(
        guild_id=GUILD, author_id=ANN, author_name="Ann", paper=paper_key("1706.03762"), body="One.", tags=[]
    )
    assert isinstance(note, NoteView)
    with pytest.raises(UserFacingError, match="only its author can edit it"):
        await posting.editable(guild_id=GUILD, note_id=note.id, editor_id=BOB)
    edited = await posting.edit(guild_id=GUILD, note_id=note.id, editor_id=ANN, body="Two.", tags=None, paper=None)
    assert edited.body == "Two." and edited.revision == 2
