"""Stats: a group's topic index, and how much and how steadily its members read, counted in the database.

Weeks start on Monday at midnight in the group's time zone. A group may hold 100,000 notes, so nothing here
reads note rows into Python: the database counts, and returns at most one row per week, tag or member.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    case,
    cast,
    column,
    distinct,
    extract,
    func,
    literal,
    union_all,
    values,
)
from sqlalchemy import select as sql_select
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import Sessions
from storage.models import GuildSettings, Note, NoteOrigin, NoteTag, Tag, utcnow
from storage.time_zones import zone_or_utc

TOP_TAGS = 5
MOST_ACTIVE = 5
TAG_NAME_CHARS = 64  # the longest name the tags table holds
_DAY = 86_400
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


# --- weeks and streaks (pure) -------------------------------------------------------------------------------


def week_of(day: date) -> int:
    """The week a local date falls in, counted in whole weeks from Monday 0001-01-01; consecutive weeks differ by 1."""
    return (day.toordinal() - 1) // 7


def current_streak(weeks: Collection[int], *, this_week: int) -> int:
    """Consecutive weeks with a note, up to this week; a week in progress without a note yet counts from last week."""
    end = this_week if this_week in weeks else this_week - 1
    streak = 0
    while end - streak in weeks:
        streak += 1
    return streak


def longest_streak(weeks: Iterable[int]) -> int:
    """The most consecutive weeks with a note, ever."""
    found = set(weeks)
    longest = 0
    for week in found:
        if week - 1 in found:
            continue  # not the start of a run
        length = 1
        while week + length in found:
            length += 1
        longest = max(longest, length)
    return longest


def _offset(zone: tzinfo, at: int) -> int:
    delta = datetime.fromtimestamp(at, UTC).astimezone(zone).utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


def offset_changes(zone: tzinfo, *, start: int, end: int) -> list[tuple[int, int]]:
    """The zone's UTC offsets from ``start`` to ``end`` (Unix seconds): ``(from when, offset in seconds)``, in order.

    The first entry holds from ``start``. Each change is found to the second by stepping a day at a time and
    bisecting, so two changes less than a day apart would be missed; no time zone has them.
    """
    current = _offset(zone, start)
    changes = [(start, current)]
    at = start
    while at < end:
        step = min(at + _DAY, end)
        after = _offset(zone, step)
        if after != current:
            low, high = at, step
            while high - low > 1:
                middle = (low + high) // 2
                if _offset(zone, middle) == current:
                    low = middle
                else:
                    high = middle
            changes.append((high, after))
            current = after
        at = step
    return changes


def local_week(at: datetime, zone: tzinfo) -> int:
    """The week an instant falls in, in a time zone."""
    return week_of(at.astimezone(zone).date())


def month_bounds(at: datetime, zone: tzinfo) -> tuple[date, datetime, datetime]:
    """The calendar month an instant falls in, in a time zone: its first day, and its start and end in UTC."""
    local = at.astimezone(zone)
    first = local.date().replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)

    def midnight(day: date) -> datetime:
        return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)

    return first, midnight(first), midnight(following)


# --- the topic index (pure) ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TagNode:
    """A tag in the group's topic index: how many notes carry it or a tag below it, and the tags below it."""

    name: str  # the whole tag, ``llms/prompting``
    count: int
    children: tuple[TagNode, ...] = ()

    @property
    def label(self) -> str:
        """The last part of the tag, shown under its parent: ``prompting``."""
        return self.name.rsplit("/", 1)[-1]

    @property
    def depth(self) -> int:
        """How far below a top-level tag it is (0 for ``llms``, 1 for ``llms/prompting``)."""
        return self.name.count("/")


def tag_tree(counts: dict[str, int]) -> list[TagNode]:
    """Rolled-up tag counts nested by ``/``, siblings ordered by count (most first), then name."""
    children: dict[str, list[str]] = {}
    roots: list[str] = []
    for name in counts:
        parent = name.rpartition("/")[0]
        if parent and parent in counts:
            children.setdefault(parent, []).append(name)
        else:
            roots.append(name)

    def build(names: list[str]) -> tuple[TagNode, ...]:
        ordered = sorted(names, key=lambda n: (-counts[n], n))
        return tuple(TagNode(name=n, count=counts[n], children=build(children.get(n, []))) for n in ordered)

    return list(build(roots))


def walk_tags(nodes: Iterable[TagNode]) -> Iterable[TagNode]:
    """Every tag in the index, each parent before its children, in display order."""
    for node in nodes:
        yield node
        yield from walk_tags(node.children)


# --- queries: the session first, keyword-only arguments, never commit ------------------------------------------


def epoch_seconds(session: AsyncSession, when: Any) -> ColumnElement[int]:
    """Unix seconds of a stored UTC time, as the database computes them."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":  # created_at is naive UTC text there
        return cast(func.strftime("%s", when), Integer)
    if dialect == "postgresql":
        return cast(func.floor(extract("epoch", when)), BigInteger)
    raise RuntimeError(f"stats are counted on SQLite and PostgreSQL, not {dialect}")


def _offset_at(epoch: ColumnElement[int], changes: Sequence[tuple[int, int]]) -> ColumnElement[int]:
    """The UTC offset in force at ``epoch``, as nested CASEs that halve the changes at each step."""
    if len(changes) == 1:
        return literal(changes[0][1], Integer)
    middle = len(changes) // 2
    return case(
        (epoch >= changes[middle][0], _offset_at(epoch, changes[middle:])),
        else_=_offset_at(epoch, changes[:middle]),
    )


def _note_filter(*, guild_id: int, author_id: int | None) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [col(Note.guild_id) == guild_id]
    if author_id is not None:
        where.append(col(Note.author_id) == author_id)
    return where


async def group_zone(session: AsyncSession, *, guild_id: int) -> tzinfo:
    """The group's time zone (UTC until it picks one)."""
    settings = await session.get(GuildSettings, guild_id)
    return zone_or_utc(settings.timezone if settings else None)


async def note_totals(
    session: AsyncSession, *, guild_id: int, author_id: int | None = None
) -> tuple[int, int, int, datetime | None, datetime | None]:
    """Notes, distinct papers, distinct authors, and the first and last note's time, of a group or one member."""
    where = _note_filter(guild_id=guild_id, author_id=author_id)
    # Three small queries rather than one: each is answered from one of the notes' indexes alone.
    span = select(func.count(col(Note.id)), func.min(col(Note.created_at)), func.max(col(Note.created_at)))
    notes, first, last = (await session.exec(span.where(*where))).one()
    papers = (await session.exec(select(func.count(distinct(col(Note.paper_id)))).where(*where))).one()
    authors = (await session.exec(select(func.count(distinct(col(Note.author_id)))).where(*where))).one()
    return notes, papers, authors, first, last


async def note_weeks(
    session: AsyncSession,
    *,
    guild_id: int,
    author_id: int | None = None,
    zone: tzinfo,
    start: datetime,
    end: datetime,
) -> set[int]:
    """The local weeks (see :func:`week_of`) with at least one note between ``start`` and ``end``.

    The database turns each note's time into its local week with the zone's UTC offsets over that span, so
    it returns one row per week, not per note.
    """
    low, high = int(start.timestamp()), int(end.timestamp()) + 1
    changes = offset_changes(zone, start=low, end=high)
    # A quarter of an hour never spans a local midnight when every offset and change falls on quarter hours
    # (true of every zone in use today), so the database need only tell those apart, not each note's second.
    quarters = all(offset % 900 == 0 for _, offset in changes) and all(at % 900 == 0 for at, _ in changes[1:])
    size = 900 if quarters else 1
    buckets = (
        select((epoch_seconds(session, col(Note.created_at)) // size).label("bucket"))
        .where(*_note_filter(guild_id=guild_id, author_id=author_id))
        .where(col(Note.origin) == NoteOrigin.DISCORD)  # streaks count notes posted, not notes imported
        .distinct()
        .subquery()
    )
    at = buckets.c.bucket * size
    local_day = (at + _offset_at(at, changes)) // _DAY
    week = (local_day + (_EPOCH_ORDINAL - 1)) // 7
    rows = (await session.exec(select(week).select_from(buckets).distinct())).all()
    return {int(w) for w in rows if w is not None}


async def top_tags(
    session: AsyncSession, *, guild_id: int, author_id: int | None = None, limit: int = TOP_TAGS
) -> list[tuple[str, int]]:
    """The tags on most of a group's (or one member's) notes, with how many notes carry each."""
    count = func.count(col(NoteTag.note_id)).label("notes")
    per_tag = select(col(NoteTag.tag_id), count).group_by(col(NoteTag.tag_id))
    if author_id is None:
        per_tag = per_tag.where(col(NoteTag.guild_id) == guild_id)
    else:  # from the member's notes, so the database reads only theirs
        per_tag = per_tag.join(Note, col(Note.id) == col(NoteTag.note_id)).where(
            col(Note.guild_id) == guild_id, col(Note.author_id) == author_id
        )
    counted = per_tag.subquery()
    query = (
        select(col(Tag.name), counted.c.notes)
        .join(counted, counted.c.tag_id == col(Tag.id))
        .where(col(Tag.guild_id) == guild_id)
        .order_by(counted.c.notes.desc(), col(Tag.name))
        .limit(limit)
    )
    return [(name, n) for name, n in (await session.exec(query)).all()]


async def active_members(
    session: AsyncSession, *, guild_id: int, start: datetime, end: datetime, limit: int = MOST_ACTIVE
) -> tuple[int, list[tuple[int, str, int]]]:
    """How many members posted a note between ``start`` and ``end``, and the most active: (id, name, notes).

    A member's name is the one on their latest note.
    """
    where = [col(Note.guild_id) == guild_id, col(Note.created_at) >= start, col(Note.created_at) < end]
    active = (await session.exec(select(func.count(distinct(col(Note.author_id)))).where(*where))).one()
    latest = aliased(Note)
    name = (
        select(col(latest.author_name))
        .where(col(latest.guild_id) == guild_id, col(latest.author_id) == col(Note.author_id))
        .order_by(col(latest.created_at).desc(), col(latest.id).desc())
        .limit(1)
        .scalar_subquery()
    )
    count = func.count(col(Note.id))
    query = (
        select(col(Note.author_id), name, count)
        .where(*where)
        .group_by(col(Note.author_id))
        .order_by(count.desc(), col(Note.author_id))
        .limit(limit)
    )
    top = [(author, str(who), n) for author, who, n in (await session.exec(query)).all()]
    return active, top


async def tag_counts(session: AsyncSession, *, guild_id: int) -> dict[str, int]:
    """Each of the group's tags (and each tag above one) with how many distinct notes carry it or a tag below it.

    Tags without notes are left out. ``llms`` appears when only ``llms/prompting`` is used.
    """
    # A tag stands for itself and for each tag above it: its name cut before each "/". The positions are a
    # fixed list written into the statement, which is therefore the same for every group: it is built once,
    # not once per tag on every call.
    positions = (
        values(column("at", Integer), name="positions", literal_binds=True)
        .data([(at,) for at in range(2, TAG_NAME_CHARS + 1)])
        .cte("positions")
    )
    mine = col(Tag.guild_id) == guild_id
    itself: Select[int, str] = sql_select(col(Tag.id).label("tag_id"), col(Tag.name).label("tag")).where(mine)
    above = (
        sql_select(col(Tag.id), func.substr(col(Tag.name), 1, positions.c.at - 1))
        .join(positions, func.substr(col(Tag.name), positions.c.at, 1) == "/")
        .where(mine)
    )
    ancestry = union_all(itself, above).cte("ancestry")
    query = (
        select(ancestry.c.tag, func.count(distinct(col(NoteTag.note_id))))
        .select_from(ancestry)
        .join(NoteTag, col(NoteTag.tag_id) == ancestry.c.tag_id)
        .where(col(NoteTag.guild_id) == guild_id)
        .group_by(ancestry.c.tag)
    )
    return {tag: n for tag, n in (await session.exec(query)).all()}


# --- what the service returns ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReadingStats:
    """How much and how steadily a member (or the whole group) reads."""

    notes: int
    papers: int
    members: int  # how many members wrote these notes
    streak: int  # consecutive weeks with a note, up to this week (or last week while this one has none yet)
    longest_streak: int
    weeks: int  # weeks with at least one note
    noted_this_week: bool
    top_tags: tuple[tuple[str, int], ...]
    timezone: str
    first_note: datetime | None  # in the group's time zone


@dataclass(frozen=True, slots=True)
class ActiveMember:
    """A member and how many notes they posted this month."""

    author_id: int
    name: str
    notes: int


@dataclass(frozen=True, slots=True)
class GroupStats:
    """The group's reading, and this month's activity in its time zone."""

    reading: ReadingStats
    month: date  # the first day of this month, local
    active_members: int
    most_active: tuple[ActiveMember, ...]


async def reading_stats(
    session: AsyncSession, *, guild_id: int, author_id: int | None, zone: tzinfo, now: datetime
) -> ReadingStats:
    """Counts, streaks and top tags of a group or one member."""
    notes, papers, authors, first, last = await note_totals(session, guild_id=guild_id, author_id=author_id)
    weeks: set[int] = set()
    if first is not None and last is not None:
        weeks = await note_weeks(
            session, guild_id=guild_id, author_id=author_id, zone=zone, start=first, end=max(last, now)
        )
    this_week = local_week(now, zone)
    tags = await top_tags(session, guild_id=guild_id, author_id=author_id)
    return ReadingStats(
        notes=notes,
        papers=papers,
        members=authors,
        streak=current_streak(weeks, this_week=this_week),
        longest_streak=longest_streak(weeks),
        weeks=len(weeks),
        noted_this_week=this_week in weeks,
        top_tags=tuple(tags),
        timezone=str(zone),
        first_note=first.astimezone(zone) if first else None,
    )


class StatsService:
    """Reads a group's stats; each method is one session."""

    def __init__(self, sessions: Sessions, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.sessions = sessions
        self.clock = clock

    async def tags(self, *, guild_id: int) -> list[TagNode]:
        """The group's topic index: tags nested by ``/`` with distinct note counts, most used first."""
        async with self.sessions() as session:
            return tag_tree(await tag_counts(session, guild_id=guild_id))

    async def member(self, *, guild_id: int, author_id: int) -> ReadingStats:
        """One member's notes, papers, weekly streaks and top tags in a group."""
        async with self.sessions() as session:
            zone = await group_zone(session, guild_id=guild_id)
            return await reading_stats(session, guild_id=guild_id, author_id=author_id, zone=zone, now=self.clock())

    async def group(self, *, guild_id: int) -> GroupStats:
        """The whole group's reading, with who was active this month."""
        now = self.clock()
        async with self.sessions() as session:
            zone = await group_zone(session, guild_id=guild_id)
            reading = await reading_stats(session, guild_id=guild_id, author_id=None, zone=zone, now=now)
            month, start, end = month_bounds(now, zone)
            active, top = await active_members(session, guild_id=guild_id, start=start, end=end)
        return GroupStats(
            reading=reading,
            month=month,
            active_members=active,
            most_active=tuple(ActiveMember(author_id=a, name=n, notes=c) for a, n, c in top),
        )
