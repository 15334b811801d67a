"""What one week held for a group's digest: the notes written, the papers its feeds listed, its interests, the
feeds in trouble, the week's stats and the top of the reading queue, read in one transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import Sessions, chunked
from storage.identity import PaperKey, display_title
from storage.message_links import jump_url
from storage.models import NoteOrigin, as_utc, utcnow
from storage.note_text import first_line, questions
from storage.notes import note_tags
from storage.queue import QueueItem, queue_items
from storage.reading_sessions import SessionView, sessions_between
from storage.stats import current_streak, local_week
from storage.tables import DIGEST_PICKS, FEED_ENTRIES, FEEDS, NOTES, PAPERS, SUBSCRIPTIONS, TAGS
from storage.time_zones import zone_or_utc

STREAK_LOOKBACK = timedelta(weeks=104)  # how far back a current streak is counted
TROUBLE_FAILURES = 3  # a feed failing this many times in a row shows in the digest
SESSIONS_AHEAD = timedelta(days=7)  # the digest lists the week's reading sessions and the next week's
QUEUE_TOP = 3  # papers from the top of the reading queue


@dataclass(frozen=True, slots=True)
class DigestNote:
    """A note written in the week, as the digest lists it."""

    note_id: int
    author_id: int
    author_name: str
    paper_title: str
    paper_url: str
    tags: tuple[str, ...]
    first_line: str  # the note's opening words, one line
    questions: tuple[str, ...]  # from its Questions section
    jump_url: str | None  # the message the note was posted as
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DigestPaper:
    """A paper one of the group's feeds listed in the week."""

    paper_id: int
    key: str
    title: str
    url: str
    abstract: str  # empty when read for a digest: the digest needs titles only
    categories: tuple[str, ...]  # primary first (only the primary one when read for a digest)
    first_seen: datetime | None = None  # when a feed first listed it in the week (not read for a digest: order is)


@dataclass(frozen=True, slots=True)
class FeedFilter:
    """One subscription's interests: its source and keywords (a subscription without keywords adds none)."""

    subscription_id: int
    source: str
    keywords: str | None
    exclude: str | None


@dataclass(frozen=True, slots=True)
class FeedTrouble:
    """A subscription that is paused or whose feed keeps failing."""

    subscription_id: int
    source: str
    channel_id: int
    paused: bool
    reason: str | None  # why it is paused
    last_error: str | None
    failures: int


@dataclass(frozen=True, slots=True)
class DigestStats:
    """The stats line."""

    notes: int
    active_members: int
    longest_streak: int  # weeks in a row with a note, the longest among members right now
    streak_holder: str | None  # who has it (a display name)


@dataclass(frozen=True, slots=True)
class DigestData:
    """Everything one week's digest is built from, detached from any session."""

    guild_id: int
    start: datetime  # the week's bounds, aware, in the group's time zone; end is exclusive
    end: datetime
    timezone: str
    notes: tuple[DigestNote, ...]  # oldest first
    papers: tuple[DigestPaper, ...]  # every paper the group's feeds listed in the week, first seen first
    filters: tuple[FeedFilter, ...]
    tags: tuple[str, ...]  # the group's tags
    troubles: tuple[FeedTrouble, ...]
    stats: DigestStats
    picked: tuple[tuple[int, str], ...] = ()  # (paper id, reason): papers its subscriptions' keywords kept
    sessions: tuple[SessionView, ...] = ()  # reading sessions in the week and the week after, soonest first
    queue: tuple[QueueItem, ...] = ()  # the top of the reading queue when the week ended


def _abs_url(key: str) -> str:
    """A paper's page (the common arXiv case without parsing the key again)."""
    return f"https://arxiv.org/abs/{key[6:]}" if key.startswith("arxiv:") else PaperKey(key).abs_url


async def week_notes(session: AsyncSession, *, guild_id: int, start: datetime, end: datetime) -> tuple[DigestNote, ...]:
    """The notes members posted in [start, end), oldest first, with their tags."""
    conn = await session.connection()
    query = (
        sa_select(
            NOTES.c.id,
            NOTES.c.author_id,
            NOTES.c.author_name,
            NOTES.c.body,
            NOTES.c.channel_id,
            NOTES.c.message_id,
            NOTES.c.created_at,
            PAPERS.c.key,
            PAPERS.c.title,
        )
        .join(PAPERS, PAPERS.c.id == NOTES.c.paper_id)
        .where(
            NOTES.c.guild_id == guild_id,
            NOTES.c.created_at >= start,
            NOTES.c.created_at < end,
            NOTES.c.origin == NoteOrigin.DISCORD,  # imported notes are history, never this week's news
        )
        .order_by(NOTES.c.created_at, NOTES.c.id)
    )
    rows = (await conn.execute(query)).all()
    tags = await note_tags(session, guild_id=guild_id, note_ids=[row.id for row in rows], by_name=True)
    return tuple(
        DigestNote(
            note_id=row.id,
            author_id=row.author_id,
            author_name=row.author_name,
            paper_title=display_title(row.key, row.title),
            paper_url=PaperKey(row.key).abs_url,
            tags=tuple(tags.get(row.id, ())),
            first_line=first_line(row.body, limit=300),
            questions=tuple(questions(row.body)),
            jump_url=jump_url(guild_id, row.channel_id, row.message_id),
            created_at=as_utc(row.created_at),
        )
        for row in rows
    )


async def group_subscriptions(session: AsyncSession, *, guild_id: int) -> list[Any]:
    """The group's subscriptions with their feeds' health, oldest first (rows)."""
    conn = await session.connection()
    query = (
        sa_select(
            SUBSCRIPTIONS.c.id,
            SUBSCRIPTIONS.c.feed_id,
            SUBSCRIPTIONS.c.source,
            SUBSCRIPTIONS.c.channel_id,
            SUBSCRIPTIONS.c.keywords,
            SUBSCRIPTIONS.c.exclude,
            SUBSCRIPTIONS.c.paused,
            SUBSCRIPTIONS.c.pause_reason,
            FEEDS.c.last_error,
            FEEDS.c.failures,
        )
        .join(FEEDS, FEEDS.c.id == SUBSCRIPTIONS.c.feed_id)
        .where(SUBSCRIPTIONS.c.guild_id == guild_id)
        .order_by(SUBSCRIPTIONS.c.id)
    )
    return list(await conn.execute(query))


def _filters(subs: Sequence[Any]) -> tuple[FeedFilter, ...]:
    """The interests of the subscriptions that have keywords."""
    return tuple(FeedFilter(row.id, row.source, row.keywords, row.exclude) for row in subs if row.keywords)


def _troubles(subs: Sequence[Any]) -> tuple[FeedTrouble, ...]:
    """The subscriptions that are paused or whose feed keeps failing."""
    return tuple(
        FeedTrouble(
            subscription_id=row.id,
            source=row.source,
            channel_id=row.channel_id,
            paused=bool(row.paused),
            reason=row.pause_reason,
            last_error=row.last_error,
            failures=row.failures,
        )
        for row in subs
        if row.paused or row.failures >= TROUBLE_FAILURES
    )


async def week_papers(
    session: AsyncSession, *, feed_ids: Sequence[int], start: datetime, end: datetime
) -> tuple[DigestPaper, ...]:
    """Every paper these feeds first listed in [start, end), first seen first: titles and primary categories."""
    if not feed_ids:
        return ()
    conn = await session.connection()
    first_seen = (
        sa_select(FEED_ENTRIES.c.paper_id, func.min(FEED_ENTRIES.c.first_seen).label("seen"))
        .where(
            FEED_ENTRIES.c.feed_id.in_(list(feed_ids)),
            FEED_ENTRIES.c.first_seen >= start,
            FEED_ENTRIES.c.first_seen < end,
        )
        .group_by(FEED_ENTRIES.c.paper_id)
        .subquery()
    )
    query = (  # no abstracts: what matched was decided at ingest (DigestPick), and cards show titles
        sa_select(
            PAPERS.c.id,
            PAPERS.c.key,
            PAPERS.c.title,
            PAPERS.c.categories[0].as_string().label("primary"),
        )
        .join(first_seen, first_seen.c.paper_id == PAPERS.c.id)
        .order_by(first_seen.c.seen, PAPERS.c.id)
    )
    rows = (await conn.execute(query)).all()
    made: list[DigestPaper] = []
    for chunk in chunked(rows, 1000):  # thousands of papers: let the event loop in between
        made.extend(
            DigestPaper(
                paper_id=row.id,
                key=row.key,
                title=display_title(row.key, row.title),
                url=_abs_url(row.key),
                abstract="",
                categories=(row.primary,) if row.primary else (),
            )
            for row in chunk
        )
        await asyncio.sleep(0)
    return tuple(made)


async def week_picks(
    session: AsyncSession, *, guild_id: int, start: datetime, end: datetime
) -> tuple[tuple[int, str], ...]:
    """(paper id, reason) of the papers the group's subscriptions' keywords kept in [start, end)."""
    conn = await session.connection()
    query = sa_select(DIGEST_PICKS.c.paper_id, DIGEST_PICKS.c.reason).where(
        DIGEST_PICKS.c.guild_id == guild_id, DIGEST_PICKS.c.picked_at >= start, DIGEST_PICKS.c.picked_at < end
    )
    return tuple((paper_id, reason) for paper_id, reason in await conn.execute(query))


async def group_tags(session: AsyncSession, *, guild_id: int) -> tuple[str, ...]:
    """The group's tags, by name."""
    conn = await session.connection()
    return tuple(await conn.scalars(sa_select(TAGS.c.name).where(TAGS.c.guild_id == guild_id).order_by(TAGS.c.name)))


async def week_stats(
    session: AsyncSession, *, guild_id: int, notes: Sequence[DigestNote], end: datetime, zone: tzinfo
) -> DigestStats:
    """The stats line: the week's notes and authors, and the longest current streak among those authors."""
    authors = {note.author_id: note.author_name for note in notes}
    best, holder = 0, None
    if authors:
        conn = await session.connection()
        query = sa_select(NOTES.c.author_id, NOTES.c.created_at).where(
            NOTES.c.guild_id == guild_id,
            NOTES.c.author_id.in_(list(authors)),
            NOTES.c.created_at >= end - STREAK_LOOKBACK,
            NOTES.c.created_at < end,
            NOTES.c.origin == NoteOrigin.DISCORD,  # streaks count notes posted, not notes imported
        )
        weeks: dict[int, set[int]] = {}
        for author_id, created in await conn.execute(query):
            weeks.setdefault(author_id, set()).add(local_week(as_utc(created), zone))
        last_week = local_week(end - timedelta(microseconds=1), zone)
        for author_id, seen in weeks.items():
            streak = current_streak(seen, this_week=last_week)
            if streak > best:
                best, holder = streak, authors[author_id]
    return DigestStats(notes=len(notes), active_members=len(authors), longest_streak=best, streak_holder=holder)


class DigestContent:
    """Reads what a week's digest shows."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def collect(self, *, guild_id: int, start: datetime, end: datetime, timezone: str) -> DigestData:
        """Everything the digest for [start, end) shows: notes, feed papers, interests, troubles, stats."""
        zone = zone_or_utc(timezone)
        async with self.sessions() as session:
            notes = await week_notes(session, guild_id=guild_id, start=start, end=end)
            subs = await group_subscriptions(session, guild_id=guild_id)
            papers = await week_papers(session, feed_ids=list({row.feed_id for row in subs}), start=start, end=end)
            picked = await week_picks(session, guild_id=guild_id, start=start, end=end)
            tags = await group_tags(session, guild_id=guild_id)
            stats = await week_stats(session, guild_id=guild_id, notes=notes, end=end, zone=zone)
            meetings = await sessions_between(session, guild_id=guild_id, start=start, end=end + SESSIONS_AHEAD)
            queue = await queue_items(session, guild_id=guild_id, now=min(end, utcnow()), limit=QUEUE_TOP)
        return DigestData(
            guild_id=guild_id,
            start=start.astimezone(zone),
            end=end.astimezone(zone),
            timezone=timezone,
            notes=notes,
            papers=papers,
            filters=_filters(subs),
            tags=tags,
            troubles=_troubles(subs),
            stats=stats,
            picked=picked,
            sessions=tuple(meetings),
            queue=tuple(queue),
        )
