"""Every message a note was posted as is kept, so an edit or a delete can take them all back."""

from __future__ import annotations

from sqlalchemy import text

from storage.db import Sessions
from storage.models import Paper
from storage.notes import NoteService

GUILD, OTHER_GUILD = 1, 2
ANN = 7


async def _paper(sessions: Sessions) -> int:
    async with sessions() as session:
        paper = Paper(key="arxiv:1706.03762", title="Attention")
        session.add(paper)
        await session.commit()
        assert paper.id is not None
        return paper.id


async def test_every_message_id_is_kept_in_order_and_replaced_whole(sessions: Sessions) -> None:
    notes = NoteService(sessions)
    note = await notes.add(
        guild_id=GUILD, paper_id=await _paper(sessions), author_id=ANN, author_name="ann", body="x", tags=[]
    )
    assert note.message_ids == ()
    await notes.set_message(guild_id=GUILD, note_id=note.id, channel_id=10, message_id=101, message_ids=[101, 102, 103])
    kept = await notes.get(guild_id=GUILD, note_id=note.id)
    assert (kept.channel_id, kept.message_id, kept.message_ids) == (10, 101, (101, 102, 103))
    await notes.set_message(guild_id=GUILD, note_id=note.id, channel_id=10, message_id=201, message_ids=[201])
    assert (await notes.get(guild_id=GUILD, note_id=note.id)).message_ids == (201,)
    # a re-post that failed leaves the note pointing at nothing, not at deleted messages
    await notes.set_message(guild_id=GUILD, note_id=note.id, channel_id=None, message_id=None)
    gone = await notes.get(guild_id=GUILD, note_id=note.id)
    assert (gone.channel_id, gone.message_id, gone.message_ids, gone.jump_url) == (None, None, (), None)
    # another server cannot point this group's note anywhere
    await notes.set_message(guild_id=OTHER_GUILD, note_id=note.id, channel_id=11, message_id=301, message_ids=[301])
    assert (await notes.get(guild_id=GUILD, note_id=note.id)).message_ids == ()


async def test_a_note_posted_before_all_parts_were_kept_knows_its_first_message(sessions: Sessions) -> None:
    notes = NoteService(sessions)
    note = await notes.add(
        guild_id=GUILD, paper_id=await _paper(sessions), author_id=ANN, author_name="ann", body="x", tags=[]
    )
    async with sessions() as session:
        await session.exec(  # type: ignore[call-overload]
            text("UPDATE notes SET channel_id = 10, message_id = 55 WHERE id = :id").bindparams(id=note.id)
        )
        await session.commit()
    assert (await notes.get(guild_id=GUILD, note_id=note.id)).message_ids == (55,)
