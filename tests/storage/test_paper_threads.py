"""A paper's one thread in a group: recorded once however many race to open it, replaced only by whoever saw it
gone, and the place to say something about a paper (its thread, else the channel of its latest note)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from storage.db import Sessions
from storage.models import Note, Paper, utcnow
from storage.paper_threads import PaperThreads, ThreadPlace

GUILD, OTHER_GUILD = 1001, 2002
ANN, BOB = 11, 22
CHANNEL, OTHER_CHANNEL = 501, 502


async def paper(sessions: Sessions, key: str = "arxiv:1706.03762") -> int:
    async with sessions.begin() as session:
        row = Paper(key=key, title="Attention Is All You Need")
        session.add(row)
        await session.flush()
        assert row.id is not None
        return row.id


async def note(sessions: Sessions, paper_id: int, *, author: int, channel: int | None, age: int, guild: int = GUILD):
    async with sessions.begin() as session:
        session.add(
            Note(
                guild_id=guild,
                paper_id=paper_id,
                author_id=author,
                author_name="someone",
                body="text",
                channel_id=channel,
                message_id=channel and channel + 1000,
                created_at=utcnow() - timedelta(hours=age),
                updated_at=utcnow(),
            )
        )


async def test_racing_threads_one_is_recorded_and_every_racer_is_told_which(sessions: Sessions) -> None:
    threads = PaperThreads(sessions)
    paper_id = await paper(sessions)
    answers = await asyncio.gather(
        *(threads.record(guild_id=GUILD, paper_id=paper_id, channel_id=CHANNEL, thread_id=9000 + n) for n in range(8))
    )
    standing = await threads.thread(guild_id=GUILD, paper_id=paper_id)
    assert standing is not None and 9000 <= standing.thread_id < 9008
    assert set(answers) == {standing}  # every racer answered with the one that stands
    assert await threads.thread(guild_id=OTHER_GUILD, paper_id=paper_id) is None


async def test_a_gone_thread_is_replaced_once_by_whoever_saw_it_gone(sessions: Sessions) -> None:
    threads = PaperThreads(sessions)
    paper_id = await paper(sessions)
    await threads.record(guild_id=GUILD, paper_id=paper_id, channel_id=CHANNEL, thread_id=1)
    kept = await threads.record(guild_id=GUILD, paper_id=paper_id, channel_id=CHANNEL, thread_id=2)
    assert kept == ThreadPlace(channel_id=CHANNEL, thread_id=1)  # not gone: a new thread does not replace it
    answers = await asyncio.gather(
        *(
            threads.record(guild_id=GUILD, paper_id=paper_id, channel_id=OTHER_CHANNEL, thread_id=10 + n, replacing=1)
            for n in range(6)
        )
    )
    standing = await threads.thread(guild_id=GUILD, paper_id=paper_id)
    assert standing is not None and standing.channel_id == OTHER_CHANNEL and 10 <= standing.thread_id < 16
    assert set(answers) == {standing}
    late = await threads.record(guild_id=GUILD, paper_id=paper_id, channel_id=CHANNEL, thread_id=99, replacing=1)
    assert late == standing  # thread 1 was replaced already: the late one is told the new thread


async def test_discussion_place_is_the_thread_else_the_latest_note_channel(sessions: Sessions) -> None:
    threads = PaperThreads(sessions)
    paper_id = await paper(sessions)
    assert await threads.place(guild_id=GUILD, paper_id=paper_id) is None
    await note(sessions, paper_id, author=ANN, channel=CHANNEL, age=5)
    await note(sessions, paper_id, author=BOB, channel=OTHER_CHANNEL, age=1)
    await note(sessions, paper_id, author=ANN, channel=777, age=0, guild=OTHER_GUILD)  # another group's
    assert await threads.place(guild_id=GUILD, paper_id=paper_id) == (OTHER_CHANNEL, None)
    await threads.record(guild_id=GUILD, paper_id=paper_id, channel_id=CHANNEL, thread_id=4242)
    assert await threads.place(guild_id=GUILD, paper_id=paper_id) == (CHANNEL, 4242)
    assert await threads.place(guild_id=OTHER_GUILD, paper_id=paper_id) == (777, None)


async def test_discussion_place_skips_notes_never_posted(sessions: Sessions) -> None:
    threads = PaperThreads(sessions)
    paper_id = await paper(sessions)
    await note(sessions, paper_id, author=ANN, channel=CHANNEL, age=5)
    await note(sessions, paper_id, author=BOB, channel=None, age=0)  # imported, or its post failed
    assert await threads.place(guild_id=GUILD, paper_id=paper_id) == (CHANNEL, None)


async def test_a_thread_deleted_on_discord_is_marked_gone_in_its_group_only_and_its_notices_go_to_its_channel(
    sessions: Sessions,
) -> None:
    threads = PaperThreads(sessions)
    paper_id = await paper(sessions)
    await threads.record(guild_id=GUILD, paper_id=paper_id, channel_id=CHANNEL, thread_id=1)
    await threads.record(guild_id=OTHER_GUILD, paper_id=paper_id, channel_id=OTHER_CHANNEL, thread_id=2)
    await note(sessions, paper_id, author=ANN, channel=1, age=1)  # posted in the thread
    assert not await threads.forget(guild_id=OTHER_GUILD, thread_id=1)  # not that group's thread
    assert not await threads.forget(guild_id=GUILD, thread_id=99)  # no paper's thread
    assert await threads.forget(guild_id=GUILD, thread_id=1)
    assert await threads.thread(guild_id=GUILD, paper_id=paper_id) == ThreadPlace(CHANNEL, 1, gone=True)
    assert await threads.place(guild_id=GUILD, paper_id=paper_id) == (CHANNEL, None)  # where it hung off
    assert await threads.place(guild_id=OTHER_GUILD, paper_id=paper_id) == (OTHER_CHANNEL, 2)
    again = await threads.record(guild_id=GUILD, paper_id=paper_id, channel_id=CHANNEL, thread_id=3, replacing=1)
    assert again == ThreadPlace(CHANNEL, 3) and await threads.place(guild_id=GUILD, paper_id=paper_id) == (CHANNEL, 3)
