"""Notes per member per day: a member adds at most the operator's number of notes in one server in 24 hours."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import text, update

from storage.db import Sessions
from storage.errors import LimitReachedError
from storage.imports.importer import Author, ImportPreview, ImportService
from storage.imports.plan import ImportPlan, PlannedNote, PlannedPaper, Shape
from storage.models import Note, utcnow
from storage.notes import MAX_NOTES_PER_DAY, NoteService
from tests.storage.stored_papers import add_papers

GUILD, OTHER_GUILD = 1001, 2002
ANN, BOB = 11, 22
CAP = 3
PAIRS = 8


async def count(sessions: Sessions, sql: str) -> int:
    async with sessions() as session:
        return int((await session.exec(text(sql))).one()[0])  # type: ignore[call-overload]


async def add(
    notes: NoteService, paper_id: int, *, author: int = ANN, guild: int = GUILD, tags: list[str] | None = None
):
    return await notes.add(
        guild_id=guild, paper_id=paper_id, author_id=author, author_name="member", body="read it", tags=tags or []
    )


def test_the_default_is_fifty_a_day() -> None:
    assert MAX_NOTES_PER_DAY == 50
    assert NoteService(None).max_per_day == MAX_NOTES_PER_DAY  # type: ignore[arg-type]


async def test_the_cap_is_reached_exactly_and_a_refused_note_leaves_nothing(sessions: Sessions) -> None:
    notes = NoteService(sessions, max_per_day=CAP)
    papers = await add_papers(sessions, CAP + 1)
    for paper_id in papers[:CAP]:
        await add(notes, paper_id)
    with pytest.raises(LimitReachedError) as refused:
        await add(notes, papers[CAP], tags=["new-tag"])
    message = refused.value.message
    assert f"You've added {CAP} notes in this server in the last 24 hours" in message
    assert f"this bot allows {CAP}" in message and "about 24 hours" in message
    assert await count(sessions, "SELECT count(*) FROM notes") == CAP
    assert await count(sessions, "SELECT count(*) FROM tags") == 0
    assert await count(sessions, "SELECT count(*) FROM note_tags") == 0
    assert await count(sessions, f"SELECT count(*) FROM guild_papers WHERE paper_id = {papers[CAP]}") == 0


async def test_other_members_and_other_servers_keep_their_own_count(sessions: Sessions) -> None:
    notes = NoteService(sessions, max_per_day=CAP)
    papers = await add_papers(sessions, CAP + 1)
    for paper_id in papers[:CAP]:
        await add(notes, paper_id)
    with pytest.raises(LimitReachedError):
        await add(notes, papers[CAP])
    for paper_id in papers[1:]:  # each has a full day's worth of their own
        await add(notes, paper_id, author=BOB)
        await add(notes, paper_id, guild=OTHER_GUILD)
    assert await count(sessions, "SELECT count(*) FROM notes") == 3 * CAP


async def test_imported_notes_and_edits_do_not_count(sessions: Sessions) -> None:
    notes = NoteService(sessions, max_per_day=CAP)
    imported = ImportPlan(
        shape=Shape.RUNNING_LOG,
        notes=[
            PlannedNote(paper=PlannedPaper(title=f"Imported paper {i}"), body="from my log", written_on=None, line=i)
            for i in range(CAP + 2)
        ],
    )
    preview = ImportPreview(file_name="log.md", digest="0" * 64, plan=imported)
    outcome = await ImportService(sessions).apply(
        preview, guild_id=GUILD, member_id=ANN, author=Author(id=ANN, name="ann"), now=utcnow()
    )
    assert outcome.notes_created == CAP + 2  # dated today, by the same member, in the same server
    papers = await add_papers(sessions, CAP + 1)
    first = await add(notes, papers[0])
    for i in range(CAP + 2):
        await notes.edit(guild_id=GUILD, note_id=first.id, editor_id=ANN, body=f"version {i}")
    for paper_id in papers[1:CAP]:
        await add(notes, paper_id)
    with pytest.raises(LimitReachedError):
        await add(notes, papers[CAP])


async def test_a_note_a_day_old_makes_room_and_the_refusal_says_when(sessions: Sessions) -> None:
    notes = NoteService(sessions, max_per_day=CAP)
    papers = await add_papers(sessions, CAP + 2)
    added = [await add(notes, paper_id) for paper_id in papers[:CAP]]
    async with sessions() as session:
        now = utcnow()
        for note, age in ((added[0], timedelta(hours=25)), (added[1], timedelta(hours=20))):
            await session.exec(update(Note).where(Note.id == note.id).values(created_at=now - age))  # type: ignore[call-overload, arg-type]
        await session.commit()
    await add(notes, papers[CAP])  # the first note is over a day old
    with pytest.raises(LimitReachedError) as refused:
        await add(notes, papers[CAP + 1])
    assert "You can add another in about 4 hours." in refused.value.message  # when the 20-hour-old note is a day old


async def test_two_notes_at_once_with_one_place_left_exactly_one_is_saved(sessions: Sessions) -> None:
    notes = NoteService(sessions, max_per_day=CAP)
    papers = await add_papers(sessions, PAIRS * (CAP + 1))
    members = {100 + m: papers[m * (CAP + 1) : (m + 1) * (CAP + 1)] for m in range(PAIRS)}
    for member, theirs in members.items():
        for paper_id in theirs[: CAP - 1]:
            await add(notes, paper_id, author=member)
    # A pair at once for each member, all of them together: no order may let both of a pair in.
    results = await asyncio.gather(
        *(add(notes, paper_id, author=member) for member, theirs in members.items() for paper_id in theirs[CAP - 1 :]),
        return_exceptions=True,
    )
    for member, pair in zip(members, zip(results[::2], results[1::2], strict=True), strict=True):
        assert sorted(type(r).__name__ for r in pair) == ["LimitReachedError", "NoteView"], (member, pair)
    assert await count(sessions, "SELECT count(*) FROM notes") == CAP * PAIRS
