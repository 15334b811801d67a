"""The group's reading queue: papers proposed to read next, members' votes on them, and the order they stand in.

A paper is on the queue while its entry is neither removed nor read; read means a reading session on it was held
(scheduled, and its time has come). Removed and read entries keep their rows and votes: the paper's history.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, func, update
from sqlalchemy import select as core_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import Sessions, insert_ignoring_duplicates
from storage.errors import NotFoundError, PermissionDeniedError, ValidationError
from storage.identity import PaperKey, TitleQuery, parse_paper
from storage.models import Paper, QueueEntry, QueueVote, SessionState, as_utc, utcnow
from storage.papers import PaperView, choice_label, mark_known
from storage.tables import PAPERS, QUEUE_ENTRIES, QUEUE_VOTES, READING_SESSIONS

log = logging.getLogger(__name__)

CHOICE_CHARS = 100  # a choice's value as Discord keeps it
WHY_CHARS = 300  # a proposal's reason: a line or two, shown on its card and in the queue
NOT_QUEUED = (
    "That paper is not on this server's reading queue. Pick one from the list as you type, or see `/queue list`."
)
SEVERAL_QUEUED = (
    "Several papers on the reading queue match those words. Pick the one you mean from the list as you type, or "
    "give its arXiv id or link."
)
GONE = "This paper is no longer on the reading queue ({why}), so it takes no votes. `/queue list` shows what is."

ENTRIES, VOTES, SESSIONS = QUEUE_ENTRIES, QUEUE_VOTES, READING_SESSIONS


@dataclass(frozen=True, slots=True)
class QueueItem:
    """A proposal as members see it, detached from any session."""

    id: int
    guild_id: int
    paper: PaperView
    proposed_by: int
    proposer_name: str
    why: str | None
    source: str  # command, or pin
    channel_id: int | None  # its card, with the vote buttons
    message_id: int | None
    created_at: datetime
    votes: int
    removed_at: datetime | None = None
    read_at: datetime | None = None  # when the session on it was held
    next_session: datetime | None = None  # a session scheduled on it, still to come

    @property
    def queued(self) -> bool:
        """Still on the queue: neither removed nor read."""
        return self.removed_at is None and self.read_at is None


@dataclass(frozen=True, slots=True)
class Proposal:
    """What proposing a paper did: ``added`` (a new entry), ``revived`` (a removed one back), or ``queued`` (it was
    on the queue already, nothing changed)."""

    item: QueueItem
    outcome: str


@dataclass(frozen=True, slots=True)
class QueuePage:
    """Part of the ranked queue."""

    items: tuple[QueueItem, ...]
    total: int
    offset: int


def check_why(why: str | None) -> str | None:
    """A proposal's reason, tidied; too long a one is refused with its length."""
    if why is None or not why.strip():
        return None
    why = " ".join(why.split())
    if len(why) > WHY_CHARS:
        raise ValidationError(f"The reason is {len(why)} characters; keep it to {WHY_CHARS} (a line or two).")
    return why


# Queries: the session first, keyword-only arguments, never commit.


def _held(now: datetime) -> ColumnElement[bool]:
    """The entry's paper was read in its group: a session on it was held (scheduled, and its time has come)."""
    return exists().where(
        SESSIONS.c.guild_id == ENTRIES.c.guild_id,
        SESSIONS.c.paper_id == ENTRIES.c.paper_id,
        SESSIONS.c.state == SessionState.SCHEDULED,
        SESSIONS.c.starts_at <= now,
    )


def _votes() -> Any:
    """How many votes the entry has, as a column."""
    return core_select(func.count()).where(VOTES.c.entry_id == ENTRIES.c.id).scalar_subquery()


def _queued(guild_id: int, now: datetime) -> list[ColumnElement[bool]]:
    return [ENTRIES.c.guild_id == guild_id, ENTRIES.c.removed_at.is_(None), ~_held(now)]


def _ranked(votes: Any) -> list[Any]:
    """Most votes first, then the oldest proposal (the id settles proposals made in the same instant)."""
    return [votes.desc(), ENTRIES.c.created_at, ENTRIES.c.id]


async def queue_top(session: AsyncSession, *, guild_id: int, now: datetime) -> QueueEntry | None:
    """The group's next paper by the queue: most votes, then the oldest proposal; removed and read ones left out."""
    votes = _votes()
    query = select(QueueEntry).where(*_queued(guild_id, now)).order_by(*_ranked(votes)).limit(1)
    return (await session.exec(query)).first()


async def ranked_entries(
    session: AsyncSession, *, guild_id: int, now: datetime, offset: int = 0, limit: int = 10
) -> list[tuple[QueueEntry, int]]:
    """The group's queue in order, as (entry, votes), ``limit`` from ``offset``."""
    votes = _votes()
    query = (
        select(QueueEntry, votes.label("votes"))
        .where(*_queued(guild_id, now))
        .order_by(*_ranked(votes))
        .offset(offset)
        .limit(limit)
    )
    return [(entry, count) for entry, count in (await session.exec(query)).all()]


async def queue_size(session: AsyncSession, *, guild_id: int, now: datetime) -> int:
    """How many papers are on the group's queue."""
    conn = await session.connection()
    return (await conn.execute(core_select(func.count()).select_from(ENTRIES).where(*_queued(guild_id, now)))).one()[0]


async def queue_entry(session: AsyncSession, *, guild_id: int, entry_id: int) -> QueueEntry | None:
    """The group's entry with this id (removed and read ones too); another group's is not found."""
    query = select(QueueEntry).where(QueueEntry.id == entry_id, QueueEntry.guild_id == guild_id)
    return (await session.exec(query)).first()


async def entry_for_paper(session: AsyncSession, *, guild_id: int, paper_id: int) -> QueueEntry | None:
    """The group's entry for this paper, whatever its state."""
    query = select(QueueEntry).where(QueueEntry.guild_id == guild_id, QueueEntry.paper_id == paper_id)
    return (await session.exec(query)).first()


async def vote_count(session: AsyncSession, *, entry_id: int) -> int:
    """The entry's votes, counted now."""
    conn = await session.connection()
    return (await conn.execute(core_select(func.count()).where(VOTES.c.entry_id == entry_id))).one()[0]


async def read_when(session: AsyncSession, *, guild_id: int, paper_id: int, now: datetime) -> datetime | None:
    """When the group last read the paper: its latest session that was held, if any."""
    conn = await session.connection()
    query = core_select(func.max(SESSIONS.c.starts_at)).where(
        SESSIONS.c.guild_id == guild_id,
        SESSIONS.c.paper_id == paper_id,
        SESSIONS.c.state == SessionState.SCHEDULED,
        SESSIONS.c.starts_at <= now,
    )
    found = (await conn.execute(query)).one()[0]
    return as_utc(found) if found is not None else None


async def next_sessions(
    session: AsyncSession, *, guild_id: int, paper_ids: list[int], now: datetime
) -> dict[int, datetime]:
    """The soonest session still to come on each of these papers, by paper id (papers with none left out)."""
    if not paper_ids:
        return {}
    conn = await session.connection()
    query = (
        core_select(SESSIONS.c.paper_id, func.min(SESSIONS.c.starts_at))
        .where(
            SESSIONS.c.guild_id == guild_id,
            SESSIONS.c.paper_id.in_(paper_ids),
            SESSIONS.c.state == SessionState.SCHEDULED,
            SESSIONS.c.starts_at > now,
        )
        .group_by(SESSIONS.c.paper_id)
    )
    return {paper_id: as_utc(at) for paper_id, at in await conn.execute(query)}


async def _items(
    session: AsyncSession, *, guild_id: int, rows: list[tuple[QueueEntry, int]], now: datetime, read: bool = False
) -> list[QueueItem]:
    """Views of entries with their vote counts, their papers and their coming sessions."""
    papers = {
        p.id: p
        for p in (await session.exec(select(Paper).where(col(Paper.id).in_([e.paper_id for e, _ in rows])))).all()
    }
    coming = await next_sessions(session, guild_id=guild_id, paper_ids=[e.paper_id for e, _ in rows], now=now)
    items = []
    for entry, votes in rows:
        assert entry.id is not None
        read_at = await read_when(session, guild_id=guild_id, paper_id=entry.paper_id, now=now) if read else None
        items.append(
            QueueItem(
                id=entry.id,
                guild_id=entry.guild_id,
                paper=PaperView.of(papers[entry.paper_id]),
                proposed_by=entry.proposed_by,
                proposer_name=entry.proposer_name,
                why=entry.why,
                source=entry.source,
                channel_id=entry.channel_id,
                message_id=entry.message_id,
                created_at=as_utc(entry.created_at),
                votes=votes,
                removed_at=as_utc(entry.removed_at) if entry.removed_at else None,
                read_at=read_at,
                next_session=coming.get(entry.paper_id),
            )
        )
    return items


async def queue_items(
    session: AsyncSession, *, guild_id: int, now: datetime, offset: int = 0, limit: int = 10
) -> list[QueueItem]:
    """The group's queue in order, ``limit`` from ``offset``, with votes, papers and coming sessions."""
    rows = await ranked_entries(session, guild_id=guild_id, now=now, offset=offset, limit=limit)
    return await _items(session, guild_id=guild_id, rows=rows, now=now)


async def _item(session: AsyncSession, *, entry: QueueEntry, now: datetime) -> QueueItem:
    """One entry's view, its votes counted now and whether it was read."""
    assert entry.id is not None
    votes = await vote_count(session, entry_id=entry.id)
    return (await _items(session, guild_id=entry.guild_id, rows=[(entry, votes)], now=now, read=True))[0]


async def queued_titles(session: AsyncSession, *, guild_id: int, now: datetime) -> dict[str, str]:
    """Key -> title of every queued paper, in the queue's order."""
    votes = _votes()
    query = (
        core_select(PAPERS.c.key, func.coalesce(PAPERS.c.title, PAPERS.c.key))
        .join(ENTRIES, ENTRIES.c.paper_id == PAPERS.c.id)
        .where(*_queued(guild_id, now))
        .order_by(*_ranked(votes))
        .limit(500)
    )
    conn = await session.connection()
    return {key: title for key, title in await conn.execute(query)}


async def named_entry(session: AsyncSession, *, guild_id: int, text: str, now: datetime) -> QueueEntry:
    """The group's queued entry a member names: its paper's id or link, or words from its title."""
    from rapidfuzz import fuzz, process, utils

    titles = await queued_titles(session, guild_id=guild_id, now=now)
    key: str | None = None
    chosen = [k for k in titles if k == text or (len(text) == CHOICE_CHARS and k.startswith(text))]
    if len(chosen) == 1:  # a choice from the list as one types: its key, cut to Discord's 100 characters
        return await _entry_of(session, guild_id=guild_id, key=chosen[0])
    wanted = parse_paper(text)
    if isinstance(wanted, PaperKey):
        key = wanted.key if wanted.key in titles else None
    elif isinstance(wanted, TitleQuery) and titles:
        hits = process.extract(
            wanted.text, titles, scorer=fuzz.WRatio, processor=utils.default_process, score_cutoff=80, limit=2
        )
        if len(hits) == 2 and not hits[0][1] == 100 > hits[1][1]:  # taking one off is never a guess between two
            raise ValidationError(SEVERAL_QUEUED)
        key = hits[0][2] if hits else None
    if key is None:
        raise NotFoundError(NOT_QUEUED)
    return await _entry_of(session, guild_id=guild_id, key=key)


async def _entry_of(session: AsyncSession, *, guild_id: int, key: str) -> QueueEntry:
    query = (
        select(QueueEntry)
        .join(Paper, col(Paper.id) == col(QueueEntry.paper_id))
        .where(QueueEntry.guild_id == guild_id, Paper.key == key)
    )
    entry = (await session.exec(query)).first()
    if entry is None:
        raise NotFoundError(NOT_QUEUED)
    return entry


async def open_entry(session: AsyncSession, *, guild_id: int, entry_id: int, now: datetime) -> QueueEntry:
    """The entry, if it still takes votes; a removed or read one is refused, saying which."""
    entry = await queue_entry(session, guild_id=guild_id, entry_id=entry_id)
    if entry is None:
        raise NotFoundError(NOT_QUEUED)
    if entry.removed_at is not None:
        raise ValidationError(GONE.format(why="it was taken off"))
    if (read_at := await read_when(session, guild_id=guild_id, paper_id=entry.paper_id, now=now)) is not None:
        raise ValidationError(GONE.format(why=f"the group read it on {read_at:%d %B %Y}"))
    return entry


class QueueService:
    """Proposals, votes and the ranked queue of each group; each method is one transaction."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def propose(
        self,
        *,
        guild_id: int,
        paper_id: int,
        member_id: int,
        member_name: str,
        why: str | None = None,
        source: str = "command",
        now: datetime | None = None,
    ) -> Proposal:
        """Put a paper on the group's queue: once, however often or however many members at once propose it.

        A paper on the queue already is left as it is; a removed one comes back as a new proposal (its old votes
        dropped); a paper the group has read is refused, saying when it was read.
        """
        why = check_why(why)
        now = now or utcnow()
        async with self.sessions() as session:
            read_at = await read_when(session, guild_id=guild_id, paper_id=paper_id, now=now)
            if read_at is not None:
                raise ValidationError(
                    f"The group already read this paper: its session was on {read_at:%d %B %Y} (UTC). "
                    "The queue is for papers still to read."
                )
            conn = await session.connection()
            inserted = await conn.execute(
                insert_ignoring_duplicates(conn.dialect.name, ENTRIES),
                {
                    "guild_id": guild_id,
                    "paper_id": paper_id,
                    "proposed_by": member_id,
                    "proposer_name": member_name[:100],
                    "why": why,
                    "source": source,
                    "created_at": now,
                },
            )
            entry = await entry_for_paper(session, guild_id=guild_id, paper_id=paper_id)
            assert entry is not None and entry.id is not None
            if inserted.rowcount == 1:
                outcome = "added"
            elif entry.removed_at is not None:
                await session.exec(delete(QueueVote).where(col(QueueVote.entry_id) == entry.id))  # type: ignore[call-overload]
                revived = await session.exec(
                    update(QueueEntry)  # type: ignore[call-overload]
                    .where(col(QueueEntry.id) == entry.id, col(QueueEntry.removed_at).is_not(None))
                    .values(
                        removed_at=None,
                        removed_by=None,
                        proposed_by=member_id,
                        proposer_name=member_name[:100],
                        why=why,
                        source=source,
                        channel_id=None,
                        message_id=None,
                        created_at=now,
                    )
                )
                outcome = "revived" if revived.rowcount == 1 else "queued"  # another member brought it back first
                await session.refresh(entry)
            else:
                outcome = "queued"
            await mark_known(session, guild_id=guild_id, paper_id=paper_id, source="queue")
            item = await _item(session, entry=entry, now=now)
            await session.commit()
        if outcome != "queued":
            log.info("guild=%s queue entry=%s %s by %s (%s)", guild_id, entry.id, outcome, member_id, source)
        return Proposal(item=item, outcome=outcome)

    async def vote(self, *, guild_id: int, entry_id: int, member_id: int, now: datetime | None = None) -> bool:
        """A member's vote for a queued paper; False when they had voted already (one vote per member)."""
        now = now or utcnow()
        async with self.sessions() as session:
            await open_entry(session, guild_id=guild_id, entry_id=entry_id, now=now)
            conn = await session.connection()
            added = await conn.execute(
                insert_ignoring_duplicates(conn.dialect.name, VOTES),
                {"entry_id": entry_id, "member_id": member_id, "guild_id": guild_id, "created_at": now},
            )
            # Checked again once written: a removal that came in between is seen (the vote is then not kept).
            removed = ENTRIES.c.id == entry_id, ENTRIES.c.removed_at.is_not(None)
            if (await conn.execute(core_select(ENTRIES.c.id).where(*removed))).first() is not None:
                raise ValidationError(GONE.format(why="it was taken off"))
            await session.commit()
            return added.rowcount == 1

    async def unvote(self, *, guild_id: int, entry_id: int, member_id: int, now: datetime | None = None) -> bool:
        """Take back a member's vote; False when they had none on it."""
        now = now or utcnow()
        async with self.sessions() as session:
            await open_entry(session, guild_id=guild_id, entry_id=entry_id, now=now)
            gone = await session.exec(
                delete(QueueVote).where(  # type: ignore[call-overload]
                    col(QueueVote.entry_id) == entry_id,
                    col(QueueVote.member_id) == member_id,
                    col(QueueVote.guild_id) == guild_id,
                )
            )
            await session.commit()
            return bool(gone.rowcount)

    async def item(self, *, guild_id: int, entry_id: int, now: datetime | None = None) -> QueueItem:
        """One of the group's proposals, its votes counted now (removed and read ones too)."""
        async with self.sessions() as session:
            entry = await queue_entry(session, guild_id=guild_id, entry_id=entry_id)
            if entry is None:
                raise NotFoundError(NOT_QUEUED)
            return await _item(session, entry=entry, now=now or utcnow())

    async def page(self, *, guild_id: int, offset: int = 0, limit: int = 10, now: datetime | None = None) -> QueuePage:
        """Part of the group's queue, ranked: most votes first, then the oldest proposal."""
        now = now or utcnow()
        async with self.sessions() as session:
            items = await queue_items(session, guild_id=guild_id, now=now, offset=offset, limit=limit)
            total = await queue_size(session, guild_id=guild_id, now=now)
        return QueuePage(items=tuple(items), total=total, offset=offset)

    async def top_three(self, *, guild_id: int, now: datetime | None = None) -> list[QueueItem]:
        """The three papers at the top of the group's queue."""
        return list((await self.page(guild_id=guild_id, limit=3, now=now)).items)

    async def set_card(self, *, guild_id: int, entry_id: int, channel_id: int, message_id: int) -> None:
        """Remember the message that shows a proposal with its vote buttons."""
        async with self.sessions() as session:
            await session.exec(
                update(QueueEntry)  # type: ignore[call-overload]
                .where(col(QueueEntry.id) == entry_id, col(QueueEntry.guild_id) == guild_id)
                .values(channel_id=channel_id, message_id=message_id)
            )
            await session.commit()

    async def remove(
        self, *, guild_id: int, text: str, member_id: int, moderator: bool, now: datetime | None = None
    ) -> QueueItem:
        """Take a paper off the queue, keeping its history. Its proposer or a moderator may."""
        now = now or utcnow()
        async with self.sessions() as session:
            entry = await named_entry(session, guild_id=guild_id, text=text, now=now)
            if not moderator and entry.proposed_by != member_id:
                raise PermissionDeniedError(
                    f"{entry.proposer_name} proposed this paper; only they or a moderator (Manage Messages) can "
                    "take it off the queue."
                )
            await session.exec(
                update(QueueEntry)  # type: ignore[call-overload]
                .where(col(QueueEntry.id) == entry.id)
                .values(removed_at=now, removed_by=member_id)
            )
            await session.refresh(entry)
            item = await _item(session, entry=entry, now=now)
            await session.commit()
        log.info("guild=%s queue entry=%s removed by %s", guild_id, entry.id, member_id)
        return item

    async def choices(self, *, guild_id: int, text: str, limit: int = 25) -> list[tuple[str, str]]:
        """(paper key, label) of the queued papers best matching what is typed so far, the top of the queue first."""
        from rapidfuzz import fuzz, process, utils  # loaded on first use, not held from start (bench/idle_memory.py)

        async with self.sessions() as session:
            titles = await queued_titles(session, guild_id=guild_id, now=utcnow())
        labels = {key: choice_label(title, key) for key, title in titles.items()}
        if text.strip():
            hits = process.extract(text, labels, scorer=fuzz.WRatio, processor=utils.default_process, limit=limit)
            keys = [key for _, _, key in hits]
        else:
            keys = list(labels)[:limit]
        return [(key, labels[key]) for key in keys]
