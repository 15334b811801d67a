"""Weekly digests: each group's schedule, the record of every week's run, and what a week held.

The schedule rows are the source of truth: the scheduler is rebuilt from them at start-up. A run row, unique
per (group, week), is written before the first message and completed with the message ids after, so a week
gets exactly one digest across restarts and crashes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import Sessions, chunked
from storage.errors import NotFoundError, ValidationError
from storage.identity import PaperKey
from storage.models import (
    DigestPick,
    DigestRun,
    DigestRunState,
    DigestSchedule,
    Feed,
    FeedEntry,
    GuildSettings,
    Note,
    NoteOrigin,
    NoteTag,
    Paper,
    Subscription,
    Tag,
    utcnow,
)
from storage.stats import current_streak, local_week
from storage.text import first_line, questions
from storage.time_zones import zone_or_utc

_NOTES = Note.__table__  # type: ignore[attr-defined]
_NOTE_TAGS = NoteTag.__table__  # type: ignore[attr-defined]
_TAGS = Tag.__table__  # type: ignore[attr-defined]
_PAPERS = Paper.__table__  # type: ignore[attr-defined]
_FEEDS = Feed.__table__  # type: ignore[attr-defined]
_ENTRIES = FeedEntry.__table__  # type: ignore[attr-defined]
_SUBSCRIPTIONS = Subscription.__table__  # type: ignore[attr-defined]
_PICKS = DigestPick.__table__  # type: ignore[attr-defined]


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


@dataclass(frozen=True, slots=True)
class ScheduleView:
    """A group's digest schedule, detached from any session."""

    guild_id: int
    channel_id: int
    weekday: int
    hour: int
    minute: int
    timezone: str
    enabled: bool
    quiet_weeks: bool
    since: datetime | None = None  # when it was last set: weeks due before then are not its to catch up


@dataclass(frozen=True, slots=True)
class RunView:
    """One week's digest run."""

    id: int
    guild_id: int
    period_start: datetime
    period_end: datetime
    channel_id: int
    state: str
    parts: int
    message_ids: tuple[int, ...]
    reason: str | None
    trigger: str
    created_at: datetime
    finished_at: datetime | None
    rendered: tuple[Any, ...] | None = None  # the parts as rendered before the first was sent (None: not yet)


def _schedule_view(row: DigestSchedule) -> ScheduleView:
    hour, minute = (int(part) for part in row.time.split(":"))
    return ScheduleView(
        guild_id=row.guild_id,
        channel_id=row.channel_id,
        weekday=row.weekday,
        hour=hour,
        minute=minute,
        timezone=row.timezone,
        enabled=row.enabled,
        quiet_weeks=row.quiet_weeks,
        since=_utc(row.updated_at),
    )


def _run_view(row: DigestRun) -> RunView:
    assert row.id is not None
    return RunView(
        id=row.id,
        guild_id=row.guild_id,
        period_start=_utc(row.period_start),
        period_end=_utc(row.period_end),
        channel_id=row.channel_id,
        state=row.state,
        parts=row.parts,
        message_ids=tuple(row.message_ids or ()),
        reason=row.reason,
        trigger=row.trigger,
        created_at=_utc(row.created_at),
        finished_at=_utc(row.finished_at) if row.finished_at else None,
        rendered=tuple(row.rendered) if row.rendered is not None else None,
    )


def _abs_url(key: str) -> str:
    """A paper's page (the common arXiv case without parsing the key again)."""
    return f"https://arxiv.org/abs/{key[6:]}" if key.startswith("arxiv:") else PaperKey(key).abs_url


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


DEFAULT_WEEKDAY, DEFAULT_TIME = 0, (9, 0)  # a group's digest until it sets its own: Mondays at 09:00
STREAK_LOOKBACK = timedelta(weeks=104)  # how far back a current streak is counted
TROUBLE_FAILURES = 3  # a feed failing this many times in a row shows in the digest


class DigestService:
    """Schedules, runs and the week's content; each method is one transaction."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    # --- schedules ------------------------------------------------------------------------------------------

    async def set_schedule(
        self,
        *,
        guild_id: int,
        channel_id: int,
        weekday: int,
        hour: int,
        minute: int,
        timezone: str,
        updated_by: int,
        quiet_weeks: bool | None = None,
    ) -> ScheduleView:
        """Create or change the group's schedule (and turn it on); the group's time zone follows it."""
        if not (0 <= weekday <= 6 and 0 <= hour <= 23 and 0 <= minute <= 59):
            raise ValidationError("The day is Monday to Sunday and the time 00:00 to 23:59.")
        async with self.sessions() as session:
            row = await session.get(DigestSchedule, guild_id)
            if row is None:
                row = DigestSchedule(guild_id=guild_id, channel_id=channel_id, updated_by=updated_by)
                session.add(row)
            row.channel_id, row.weekday, row.time = channel_id, weekday, f"{hour:02d}:{minute:02d}"
            row.timezone, row.enabled, row.updated_by, row.updated_at = timezone, True, updated_by, utcnow()
            if quiet_weeks is not None:
                row.quiet_weeks = quiet_weeks
            group = await session.get(GuildSettings, guild_id)
            if group is None:
                session.add(GuildSettings(guild_id=guild_id, timezone=timezone))
            else:
                group.timezone = timezone
            await session.commit()
            return _schedule_view(row)

    async def schedule(self, *, guild_id: int) -> ScheduleView | None:
        """The group's schedule, if it has one (on or off)."""
        async with self.sessions() as session:
            row = await session.get(DigestSchedule, guild_id)
            return _schedule_view(row) if row else None

    async def schedule_or_default(self, *, guild_id: int, channel_id: int) -> ScheduleView:
        """The group's schedule, or the one a group without a schedule gets (off, Monday 09:00 in the group's own
        time zone, posted in ``channel_id``): what ``/digest now`` and ``/digest preview`` work with before any
        ``/digest schedule``."""
        async with self.sessions() as session:
            row = await session.get(DigestSchedule, guild_id)
            if row is not None:
                return _schedule_view(row)
            group = await session.get(GuildSettings, guild_id)
        return ScheduleView(
            guild_id=guild_id,
            channel_id=channel_id,
            weekday=DEFAULT_WEEKDAY,
            hour=DEFAULT_TIME[0],
            minute=DEFAULT_TIME[1],
            timezone=(group.timezone if group else None) or "UTC",
            enabled=False,
            quiet_weeks=True,
        )

    async def turn_off(self, *, guild_id: int, updated_by: int) -> ScheduleView:
        """Stop the weekly digest; the schedule is kept for turning it on again."""
        async with self.sessions() as session:
            row = await session.get(DigestSchedule, guild_id)
            if row is None or not row.enabled:
                raise NotFoundError("The weekly digest is not on in this server. Start it with `/digest schedule`.")
            row.enabled, row.updated_by, row.updated_at = False, updated_by, utcnow()
            await session.commit()
            return _schedule_view(row)

    async def enabled(self) -> list[ScheduleView]:
        """Every group's schedule that is on."""
        async with self.sessions() as session:
            rows = (await session.exec(select(DigestSchedule).where(col(DigestSchedule.enabled).is_(True)))).all()
            return [_schedule_view(row) for row in rows]

    # --- runs -----------------------------------------------------------------------------------------------

    async def begin(
        self, *, guild_id: int, period_start: datetime, period_end: datetime, channel_id: int, trigger: str
    ) -> tuple[RunView, bool]:
        """The week's run, recorded now if there is none; returns it and whether this call created it.

        The unique (group, week) row is what makes a digest exactly-once: a second caller, after a restart or
        in another process, finds the first one's run and leaves it be (or resumes it, if it is unfinished).
        """
        async with self.sessions() as session:
            found = await self._run(session, guild_id=guild_id, period_start=period_start)
            if found is not None:
                return _run_view(found), False
            row = DigestRun(
                guild_id=guild_id,
                period_start=period_start,
                period_end=period_end,
                channel_id=channel_id,
                state=DigestRunState.POSTING,
                trigger=trigger,
            )
            session.add(row)
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()
                found = await self._run(session, guild_id=guild_id, period_start=period_start)
                assert found is not None
                return _run_view(found), False
            return _run_view(row), True

    async def skip(
        self, *, guild_id: int, period_start: datetime, period_end: datetime, channel_id: int, reason: str
    ) -> bool:
        """Record that a week's digest was skipped (the bot was down past the grace period); False if it had one."""
        async with self.sessions() as session:
            if await self._run(session, guild_id=guild_id, period_start=period_start) is not None:
                return False
            session.add(
                DigestRun(
                    guild_id=guild_id,
                    period_start=period_start,
                    period_end=period_end,
                    channel_id=channel_id,
                    state=DigestRunState.SKIPPED,
                    reason=reason[:500],
                    trigger="catch-up",
                    finished_at=utcnow(),
                )
            )
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()
                return False
            return True

    async def set_parts(self, *, run_id: int, parts: Sequence[Any]) -> tuple[Any, ...]:
        """Keep the digest's parts as rendered (plain JSON), before the first is sent; returns the parts kept.

        The first rendering kept is the run's for good: a resume posts it, never a new one, so no part changes
        between a stop and the restart. A run that has its parts already keeps them, and those are returned.
        """
        async with self.sessions() as session:
            row = await session.get(DigestRun, run_id)
            if row is None:
                raise NotFoundError("That digest run is gone.")
            if row.rendered is None:
                row.rendered, row.parts = list(parts), len(parts)
                await session.commit()
            return tuple(row.rendered)

    async def part_sent(self, *, run_id: int, message_id: int) -> RunView:
        """One more part is in the channel."""
        async with self.sessions() as session:
            row = await session.get(DigestRun, run_id)
            if row is None:
                raise NotFoundError("That digest run is gone.")
            row.message_ids = [*(row.message_ids or []), message_id]
            if row.parts and len(row.message_ids) >= row.parts:
                row.state, row.finished_at = DigestRunState.SENT, utcnow()
            await session.commit()
            return _run_view(row)

    async def finish(self, *, run_id: int) -> None:
        """Every part is in the channel."""
        async with self.sessions() as session:
            row = await session.get(DigestRun, run_id)
            if row is not None and row.state == DigestRunState.POSTING:
                row.state, row.finished_at = DigestRunState.SENT, utcnow()
                await session.commit()

    async def fail(self, *, run_id: int, reason: str) -> None:
        """The digest could not be posted (the channel is gone or forbidden): the reason is kept for preview."""
        async with self.sessions() as session:
            row = await session.get(DigestRun, run_id)
            if row is not None:
                row.state, row.reason, row.finished_at = DigestRunState.FAILED, reason[:500], utcnow()
                await session.commit()

    async def unfinished(self) -> list[RunView]:
        """Runs a stopped process left in the middle of posting."""
        async with self.sessions() as session:
            query = select(DigestRun).where(DigestRun.state == DigestRunState.POSTING).order_by(col(DigestRun.id))
            return [_run_view(row) for row in (await session.exec(query)).all()]

    async def get_run(self, *, run_id: int) -> RunView | None:
        """One run by id."""
        async with self.sessions() as session:
            row = await session.get(DigestRun, run_id)
            return _run_view(row) if row else None

    async def retry(self, *, run_id: int, channel_id: int) -> RunView:
        """Post a failed week again (a moderator fixed the channel), whole and as the week stands now."""
        async with self.sessions() as session:
            row = await session.get(DigestRun, run_id)
            if row is None:
                raise NotFoundError("That digest run is gone.")
            if row.state == DigestRunState.FAILED:
                row.state, row.reason, row.finished_at, row.channel_id = DigestRunState.POSTING, None, None, channel_id
                row.message_ids, row.rendered, row.parts = [], None, 0
                await session.commit()
            return _run_view(row)

    async def covered_until(self, *, guild_id: int, before: datetime) -> datetime | None:
        """Where the group's latest digest ending before ``before`` ended: posted, being posted or skipped (a
        failed one covers nothing: a moderator may post it again)."""
        async with self.sessions() as session:
            query = select(func.max(DigestRun.period_end)).where(
                DigestRun.guild_id == guild_id,
                col(DigestRun.period_end) < _utc(before),
                col(DigestRun.state) != DigestRunState.FAILED,
            )
            found = (await session.exec(query)).one()
            return _utc(found) if found is not None else None

    async def latest_run(self, *, guild_id: int) -> RunView | None:
        """The group's most recent run."""
        async with self.sessions() as session:
            query = (
                select(DigestRun)
                .where(DigestRun.guild_id == guild_id)
                .order_by(col(DigestRun.period_start).desc(), col(DigestRun.id).desc())
            )
            row = (await session.exec(query)).first()
            return _run_view(row) if row else None

    async def _run(self, session: AsyncSession, *, guild_id: int, period_start: datetime) -> DigestRun | None:
        query = select(DigestRun).where(DigestRun.guild_id == guild_id, DigestRun.period_start == period_start)
        return (await session.exec(query)).first()

    # --- the week's content ---------------------------------------------------------------------------------

    async def collect(self, *, guild_id: int, start: datetime, end: datetime, timezone: str) -> DigestData:
        """Everything the digest for [start, end) shows: notes, feed papers, interests, troubles, stats."""
        zone = zone_or_utc(timezone)
        async with self.sessions() as session:
            conn = await session.connection()
            notes_q = (
                sa_select(
                    _NOTES.c.id,
                    _NOTES.c.author_id,
                    _NOTES.c.author_name,
                    _NOTES.c.body,
                    _NOTES.c.channel_id,
                    _NOTES.c.message_id,
                    _NOTES.c.created_at,
                    _PAPERS.c.key,
                    _PAPERS.c.title,
                )
                .join(_PAPERS, _PAPERS.c.id == _NOTES.c.paper_id)
                .where(
                    _NOTES.c.guild_id == guild_id,
                    _NOTES.c.created_at >= start,
                    _NOTES.c.created_at < end,
                    _NOTES.c.origin == NoteOrigin.DISCORD,  # imported notes are history, never this week's news
                )
                .order_by(_NOTES.c.created_at, _NOTES.c.id)
            )
            note_rows = (await conn.execute(notes_q)).all()
            tags_by_note: dict[int, list[str]] = {}
            for chunk in chunked([row.id for row in note_rows]):
                tag_q = (
                    sa_select(_NOTE_TAGS.c.note_id, _TAGS.c.name)
                    .join(_TAGS, _TAGS.c.id == _NOTE_TAGS.c.tag_id)
                    .where(_NOTE_TAGS.c.note_id.in_(chunk))
                    .order_by(_TAGS.c.name)
                )
                for note_id, name in await conn.execute(tag_q):
                    tags_by_note.setdefault(note_id, []).append(name)
            notes = tuple(
                DigestNote(
                    note_id=row.id,
                    author_id=row.author_id,
                    author_name=row.author_name,
                    paper_title=row.title or row.key.split(":", 1)[1],
                    paper_url=PaperKey(row.key).abs_url,
                    tags=tuple(tags_by_note.get(row.id, ())),
                    first_line=first_line(row.body, limit=300),
                    questions=tuple(questions(row.body)),
                    jump_url=(
                        f"https://discord.com/channels/{guild_id}/{row.channel_id}/{row.message_id}"
                        if row.channel_id and row.message_id
                        else None
                    ),
                    created_at=_utc(row.created_at),
                )
                for row in note_rows
            )
            subs = list(
                await conn.execute(
                    sa_select(
                        _SUBSCRIPTIONS.c.id,
                        _SUBSCRIPTIONS.c.feed_id,
                        _SUBSCRIPTIONS.c.source,
                        _SUBSCRIPTIONS.c.channel_id,
                        _SUBSCRIPTIONS.c.keywords,
                        _SUBSCRIPTIONS.c.exclude,
                        _SUBSCRIPTIONS.c.paused,
                        _SUBSCRIPTIONS.c.pause_reason,
                        _FEEDS.c.last_error,
                        _FEEDS.c.failures,
                    )
                    .join(_FEEDS, _FEEDS.c.id == _SUBSCRIPTIONS.c.feed_id)
                    .where(_SUBSCRIPTIONS.c.guild_id == guild_id)
                    .order_by(_SUBSCRIPTIONS.c.id)
                )
            )
            papers: tuple[DigestPaper, ...] = ()
            feed_ids = list({row.feed_id for row in subs})
            if feed_ids:
                first_seen = (
                    sa_select(_ENTRIES.c.paper_id, func.min(_ENTRIES.c.first_seen).label("seen"))
                    .where(
                        _ENTRIES.c.feed_id.in_(feed_ids), _ENTRIES.c.first_seen >= start, _ENTRIES.c.first_seen < end
                    )
                    .group_by(_ENTRIES.c.paper_id)
                    .subquery()
                )
                paper_q = (  # no abstracts: what matched was decided at ingest (DigestPick), and cards show titles
                    sa_select(
                        _PAPERS.c.id,
                        _PAPERS.c.key,
                        _PAPERS.c.title,
                        _PAPERS.c.categories[0].as_string().label("primary"),
                    )
                    .join(first_seen, first_seen.c.paper_id == _PAPERS.c.id)
                    .order_by(first_seen.c.seen, _PAPERS.c.id)
                )
                rows = (await conn.execute(paper_q)).all()
                made: list[DigestPaper] = []
                for chunk in chunked(rows, 1000):  # thousands of papers: let the event loop in between
                    made.extend(
                        DigestPaper(
                            paper_id=row.id,
                            key=row.key,
                            title=row.title or row.key.split(":", 1)[1],
                            url=_abs_url(row.key),
                            abstract="",
                            categories=(row.primary,) if row.primary else (),
                        )
                        for row in chunk
                    )
                    await asyncio.sleep(0)
                papers = tuple(made)
            picks_q = sa_select(_PICKS.c.paper_id, _PICKS.c.reason).where(
                _PICKS.c.guild_id == guild_id, _PICKS.c.picked_at >= start, _PICKS.c.picked_at < end
            )
            picked = tuple((paper_id, reason) for paper_id, reason in await conn.execute(picks_q))
            tags = tuple(
                await conn.scalars(sa_select(_TAGS.c.name).where(_TAGS.c.guild_id == guild_id).order_by(_TAGS.c.name))
            )
            stats = await self._stats(conn, guild_id=guild_id, notes=notes, end=end, zone=zone)
        return DigestData(
            guild_id=guild_id,
            start=start.astimezone(zone),
            end=end.astimezone(zone),
            timezone=timezone,
            notes=notes,
            papers=papers,
            filters=tuple(FeedFilter(row.id, row.source, row.keywords, row.exclude) for row in subs if row.keywords),
            tags=tags,
            troubles=tuple(
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
            ),
            stats=stats,
            picked=picked,
        )

    async def _stats(
        self, conn: Any, *, guild_id: int, notes: Sequence[DigestNote], end: datetime, zone: tzinfo
    ) -> DigestStats:
        authors = {note.author_id: note.author_name for note in notes}
        best, holder = 0, None
        if authors:
            query = sa_select(_NOTES.c.author_id, _NOTES.c.created_at).where(
                _NOTES.c.guild_id == guild_id,
                _NOTES.c.author_id.in_(list(authors)),
                _NOTES.c.created_at >= end - STREAK_LOOKBACK,
                _NOTES.c.created_at < end,
                _NOTES.c.origin == NoteOrigin.DISCORD,  # streaks count notes posted, not notes imported
            )
            weeks: dict[int, set[int]] = {}
            for author_id, created in await conn.execute(query):
                weeks.setdefault(author_id, set()).add(local_week(_utc(created), zone))
            last_week = local_week(end - timedelta(microseconds=1), zone)
            for author_id, seen in weeks.items():
                streak = current_streak(seen, this_week=last_week)
                if streak > best:
                    best, holder = streak, authors[author_id]
        return DigestStats(notes=len(notes), active_members=len(authors), longest_streak=best, streak_holder=holder)
