"""A paper's one discussion thread in a group: where later notes, session announcements and new versions go.

A thread is recorded once per (group, paper): the first to record one wins, and a thread that is gone is replaced
only by whoever saw that very thread gone (the old thread's id is compared in the same statement). Two members
posting the first notes on a paper at once therefore end up in one thread: the loser is answered with the
winner's thread, and removes its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select as core_select
from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import Sessions, insert_ignoring_duplicates
from storage.models import Note, PaperThread, utcnow
from storage.tables import PAPER_THREADS


@dataclass(frozen=True, slots=True)
class ThreadPlace:
    """Where a paper's thread is: the channel it hangs off, and the thread itself (``gone`` once it was deleted on
    Discord: linked no more, and replaced by the next note's thread)."""

    channel_id: int
    thread_id: int
    gone: bool = False


def linked_thread(place: ThreadPlace | PaperThread | None) -> int | None:
    """The paper's thread members are sent to: none when it has none, or once it was deleted on Discord."""
    return place.thread_id if place is not None and not place.gone else None


async def paper_thread(session: AsyncSession, *, guild_id: int, paper_id: int) -> PaperThread | None:
    """The group's thread on this paper, if it has one."""
    return await session.get(PaperThread, (guild_id, paper_id))


async def discussion_place(session: AsyncSession, *, guild_id: int, paper_id: int) -> tuple[int, int | None] | None:
    """Where to say something about a paper to a group: ``(channel_id, thread_id)``.

    - the paper's thread: ``(the channel it hangs off, the thread)``; send into ``thread_id``;
    - a thread deleted on Discord: ``(the channel it hung off, None)``;
    - else the channel of the group's latest note posted on it: ``(that channel, None)``;
    - else ``None`` (the group never posted about it on Discord).

    Sending into a thread can still fail when it was deleted, or archived and locked, since it was recorded.
    """
    thread = await paper_thread(session, guild_id=guild_id, paper_id=paper_id)
    if thread is not None:
        return thread.channel_id, linked_thread(thread)
    latest = (
        await session.exec(
            select(col(Note.channel_id))
            .where(col(Note.guild_id) == guild_id, col(Note.paper_id) == paper_id, col(Note.channel_id).is_not(None))
            .order_by(col(Note.created_at).desc(), col(Note.id).desc())
            .limit(1)
        )
    ).first()
    return (latest, None) if latest is not None else None


async def record_thread(
    session: AsyncSession,
    *,
    guild_id: int,
    paper_id: int,
    channel_id: int,
    thread_id: int,
    replacing: int | None = None,
) -> ThreadPlace:
    """Record ``thread_id`` as the paper's thread, unless another one got there first: the thread that stands.

    ``replacing``: the thread that was found gone; it is replaced only if it is still the one recorded.
    """
    conn = await session.connection()
    where = (PAPER_THREADS.c.guild_id == guild_id, PAPER_THREADS.c.paper_id == paper_id)
    if replacing is not None:
        await conn.execute(
            update(PAPER_THREADS)
            .where(*where, PAPER_THREADS.c.thread_id == replacing)
            .values(channel_id=channel_id, thread_id=thread_id, created_at=utcnow(), gone=False)
        )
    row = {"guild_id": guild_id, "paper_id": paper_id, "channel_id": channel_id, "thread_id": thread_id}
    await conn.execute(insert_ignoring_duplicates(conn.dialect.name, PAPER_THREADS), [{**row, "created_at": utcnow()}])
    standing = (
        await conn.execute(
            core_select(PAPER_THREADS.c.channel_id, PAPER_THREADS.c.thread_id, PAPER_THREADS.c.gone).where(*where)
        )
    ).one()
    return ThreadPlace(channel_id=standing[0], thread_id=standing[1], gone=standing[2])


async def forget_thread(session: AsyncSession, *, guild_id: int, thread_id: int) -> bool:
    """Mark the group's paper thread ``thread_id`` gone (deleted on Discord); whether it was a paper's thread."""
    conn = await session.connection()
    marked = await conn.execute(
        update(PAPER_THREADS)
        .where(PAPER_THREADS.c.guild_id == guild_id, PAPER_THREADS.c.thread_id == thread_id)
        .values(gone=True)
    )
    return bool(marked.rowcount)


async def forget_channel_threads(session: AsyncSession, *, guild_id: int, channel_id: int) -> int:
    """Mark gone the group's paper threads hanging off ``channel_id``, a channel deleted on Discord (its threads go
    with it, and Discord says nothing of them); how many were marked."""
    conn = await session.connection()
    marked = await conn.execute(
        update(PAPER_THREADS)
        .where(
            PAPER_THREADS.c.guild_id == guild_id,
            PAPER_THREADS.c.channel_id == channel_id,
            ~PAPER_THREADS.c.gone,
        )
        .values(gone=True)
    )
    return int(marked.rowcount or 0)


class PaperThreads:
    """Each paper's one discussion thread in a group."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def thread(self, *, guild_id: int, paper_id: int) -> ThreadPlace | None:
        """The paper's thread in the group, if it has one."""
        async with self.sessions() as session:
            row = await paper_thread(session, guild_id=guild_id, paper_id=paper_id)
            return None if row is None else ThreadPlace(row.channel_id, row.thread_id, gone=row.gone)

    async def forget(self, *, guild_id: int, thread_id: int) -> bool:
        """A thread deleted on Discord: if it was a paper's thread, linked no more (see :func:`forget_thread`)."""
        async with self.sessions.begin() as session:
            return await forget_thread(session, guild_id=guild_id, thread_id=thread_id)

    async def forget_channel(self, *, guild_id: int, channel_id: int) -> int:
        """A channel deleted on Discord: its papers' threads are linked no more (see :func:`forget_channel_threads`)."""
        async with self.sessions.begin() as session:
            return await forget_channel_threads(session, guild_id=guild_id, channel_id=channel_id)

    async def record(
        self, *, guild_id: int, paper_id: int, channel_id: int, thread_id: int, replacing: int | None = None
    ) -> ThreadPlace:
        """Record a thread just opened for the paper (see :func:`record_thread`); the thread that stands."""
        async with self.sessions.begin() as session:
            return await record_thread(
                session,
                guild_id=guild_id,
                paper_id=paper_id,
                channel_id=channel_id,
                thread_id=thread_id,
                replacing=replacing,
            )

    async def place(self, *, guild_id: int, paper_id: int) -> tuple[int, int | None] | None:
        """Where to say something about the paper to the group (see :func:`discussion_place`)."""
        async with self.sessions() as session:
            return await discussion_place(session, guild_id=guild_id, paper_id=paper_id)
