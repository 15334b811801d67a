"""Stats on a real SQLite file: counts, local weeks and streaks, top tags, this month's members, the topic index."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import update

from storage.db import Sessions
from storage.models import GuildSettings, Note, Paper
from storage.notes import NoteService
from storage.stats import (
    StatsService,
    TagNode,
    current_streak,
    local_week,
    longest_streak,
    month_bounds,
    note_weeks,
    offset_changes,
    tag_counts,
    tag_tree,
    walk_tags,
    week_of,
)

GUILD, OTHER_GUILD = 1001, 2002
ANN, BOB, CARL = 11, 22, 33


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


class Library:
    """Notes written at chosen times, through the note service."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions
        self.notes = NoteService(sessions)
        self.papers: list[int] = []

    async def paper(self, i: int) -> int:
        while len(self.papers) <= i:
            async with self.sessions() as session:
                paper = Paper(key=f"arxiv:2401.{len(self.papers):05d}", title=f"Paper {len(self.papers)}")
                session.add(paper)
                await session.commit()
                assert paper.id is not None
                self.papers.append(paper.id)
        return self.papers[i]

    async def note(
        self,
        at: datetime,
        *,
        guild: int = GUILD,
        author: int = ANN,
        paper: int = 0,
        tags: list[str] | None = None,
        name: str | None = None,
    ) -> int:
        view = await self.notes.add(
            guild_id=guild,
            paper_id=await self.paper(paper),
            author_id=author,
            author_name=name or f"member{author}",
            body="notes",
            tags=tags or [],
        )
        async with self.sessions() as session:
            await session.exec(update(Note).where(Note.id == view.id).values(created_at=at))  # type: ignore[call-overload]
            await session.commit()
        return view.id

    async def timezone(self, guild: int, name: str) -> None:
        async with self.sessions() as session:
            session.add(GuildSettings(guild_id=guild, timezone=name))
            await session.commit()


@pytest.fixture
def library(sessions: Sessions) -> Library:
    return Library(sessions)


def service(sessions: Sessions, now: datetime) -> StatsService:
    return StatsService(sessions, clock=lambda: now)


# --- weeks and streaks -------------------------------------------------------------------------------------


def test_weeks_start_on_monday() -> None:
    monday = date(2025, 3, 31)
    assert monday.weekday() == 0
    assert {week_of(monday + timedelta(days=i)) for i in range(7)} == {week_of(monday)}
    assert week_of(monday - timedelta(days=1)) == week_of(monday) - 1
    assert week_of(date(1, 1, 1)) == 0 and date(1, 1, 1).weekday() == 0


def test_weeks_run_on_across_year_ends() -> None:
    # 2020 has an ISO week 53; week numbers that restart each January would break these streaks
    for before, after in [(date(2020, 12, 31), date(2021, 1, 4)), (date(2025, 12, 29), date(2026, 1, 5))]:
        assert week_of(after) == week_of(before) + 1


def test_current_streak_counts_from_last_week_while_this_week_has_no_note() -> None:
    assert current_streak({8, 9}, this_week=10) == 2
    assert current_streak({8, 9, 10}, this_week=10) == 3
    assert current_streak({7, 8}, this_week=10) == 0  # last week was missed
    assert current_streak(set(), this_week=10) == 0
    assert current_streak({10, 11}, this_week=10) == 1  # a note dated ahead of now does not count yet


def test_longest_streak_finds_the_longest_run() -> None:
    assert longest_streak([]) == 0
    assert longest_streak([5]) == 1
    assert longest_streak([1, 2, 3, 7, 8, 10, 11, 12, 13]) == 4
    assert longest_streak([3, 3, 2, 1]) == 3


weeks_sets = st.sets(st.integers(min_value=0, max_value=60), max_size=40)


@given(weeks=weeks_sets, this_week=st.integers(min_value=0, max_value=60))
def test_streaks_never_exceed_the_weeks_with_notes(weeks: set[int], this_week: int) -> None:
    current = current_streak(weeks, this_week=this_week)
    assert current <= longest_streak(weeks) <= len(weeks)


@given(weeks=weeks_sets, this_week=st.integers(min_value=0, max_value=60))
def test_a_note_this_week_never_lowers_the_current_streak(weeks: set[int], this_week: int) -> None:
    before = current_streak(weeks, this_week=this_week)
    after = current_streak(weeks | {this_week}, this_week=this_week)
    assert after >= before and after >= 1


@given(weeks=weeks_sets)
def test_longest_streak_matches_counting_runs_one_by_one(weeks: set[int]) -> None:
    best = run = 0
    for week in range(62):
        run = run + 1 if week in weeks else 0
        best = max(best, run)
    assert longest_streak(weeks) == best


ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",  # half-hour daylight saving
    "Asia/Kathmandu",  # +5:45
    "America/St_Johns",
    "Africa/Casablanca",  # daylight saving paused for Ramadan
    "Pacific/Apia",  # skipped a whole day in 2011
]


@given(
    zone=st.sampled_from(ZONES),
    start=st.integers(min_value=utc(2005, 1, 1).timestamp(), max_value=utc(2030, 1, 1).timestamp()),
    span=st.integers(min_value=0, max_value=3 * 366 * 86_400),
    probe=st.floats(min_value=0, max_value=1),
)
def test_offset_changes_agree_with_the_time_zone_everywhere(zone: str, start: int, span: int, probe: float) -> None:
    tz = ZoneInfo(zone)
    changes = offset_changes(tz, start=start, end=start + span)
    assert changes[0][0] == start
    assert [at for at, _ in changes] == sorted({at for at, _ in changes})
    at = start + int(span * probe)
    offset = next(o for since, o in reversed(changes) if since <= at)
    expected = datetime.fromtimestamp(at, UTC).astimezone(tz).utcoffset()
    assert expected is not None and offset == expected.total_seconds()


@pytest.mark.parametrize(
    ("zone", "year"),
    [
        ("Europe/Berlin", 2025),
        ("America/Noronha", 2000),  # daylight saving that lasted one week, 8 to 15 October
        ("Africa/Casablanca", 2012),  # paused for Ramadan: four changes in the year
        ("Australia/Lord_Howe", 2024),
    ],
)
def test_offset_changes_find_every_change_to_the_second(zone: str, year: int) -> None:
    tz = ZoneInfo(zone)
    start, end = int(utc(year, 1, 1).timestamp()), int(utc(year + 1, 1, 1).timestamp())

    def offset(at: int) -> int:
        delta = datetime.fromtimestamp(at, UTC).astimezone(tz).utcoffset()
        assert delta is not None
        return int(delta.total_seconds())

    expected = [(start, offset(start))]
    for at in range(start, end, 900):  # a quarter hour at a time, then second by second: no two changes are closer
        if offset(at) != expected[-1][1]:
            second = next(s for s in range(at - 899, at + 1) if offset(s) != expected[-1][1])
            expected.append((second, offset(second)))
    assert len(expected) >= 3
    assert offset_changes(tz, start=start, end=end) == expected


def test_month_bounds_follow_the_local_calendar() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    first, start, end = month_bounds(utc(2025, 5, 31, 22, 30), berlin)  # already June 1 in Berlin
    assert first == date(2025, 6, 1)
    assert (start, end) == (utc(2025, 5, 31, 22), utc(2025, 6, 30, 22))
    first, start, end = month_bounds(utc(2025, 12, 31, 23, 30), berlin)  # New Year in Berlin
    assert first == date(2026, 1, 1) and start == utc(2025, 12, 31, 23) and end == utc(2026, 1, 31, 23)
    first, start, end = month_bounds(utc(2025, 3, 1, 3), ZoneInfo("America/New_York"))  # still February there
    assert first == date(2025, 2, 1) and end == utc(2025, 3, 1, 5)


# --- local weeks from the database ----------------------------------------------------------------------------


async def test_week_boundary_is_local_monday_midnight_not_utc(sessions: Sessions, library: Library) -> None:
    await library.timezone(GUILD, "Europe/Berlin")
    for guild in (GUILD, OTHER_GUILD):  # the same two notes in a Berlin group and in a UTC group
        await library.note(utc(2025, 1, 5, 22, 30), guild=guild, paper=0)  # Sunday 23:30 in Berlin
        await library.note(utc(2025, 1, 5, 23, 30), guild=guild, paper=1)  # Monday 00:30 in Berlin, Sunday in UTC
    stats = service(sessions, utc(2025, 1, 8, 12))
    berlin = await stats.member(guild_id=GUILD, author_id=ANN)
    assert (berlin.weeks, berlin.streak, berlin.noted_this_week, berlin.timezone) == (2, 2, True, "Europe/Berlin")
    plain = await stats.member(guild_id=OTHER_GUILD, author_id=ANN)
    assert (plain.weeks, plain.streak, plain.noted_this_week, plain.timezone) == (1, 1, False, "UTC")


@pytest.mark.parametrize(
    ("zone", "sunday_night", "monday_morning"),
    [
        # Berlin springs forward on Sunday 2025-03-30: Monday starts at 22:00 UTC (not 23:00)
        ("Europe/Berlin", utc(2025, 3, 30, 21, 30), utc(2025, 3, 30, 22, 30)),
        # and falls back on Sunday 2025-10-26: Monday starts at 23:00 UTC (not 22:00)
        ("Europe/Berlin", utc(2025, 10, 26, 22, 30), utc(2025, 10, 26, 23, 30)),
        # New York springs forward on Sunday 2025-03-09: Monday starts at 04:00 UTC (not 05:00)
        ("America/New_York", utc(2025, 3, 10, 3, 30), utc(2025, 3, 10, 4, 30)),
        # and falls back on Sunday 2025-11-02: Monday starts at 05:00 UTC (not 04:00)
        ("America/New_York", utc(2025, 11, 3, 4, 30), utc(2025, 11, 3, 5, 30)),
        # Kathmandu is 5:45 ahead: Monday starts at 18:15 UTC on Sunday, on a quarter hour
        ("Asia/Kathmandu", utc(2025, 1, 5, 18, 14, 59), utc(2025, 1, 5, 18, 15)),
        # Liberia was 0:44:30 behind until 1972: Monday started at 00:44:30 UTC, off any quarter hour
        ("Africa/Monrovia", utc(1971, 3, 1, 0, 44, 29), utc(1971, 3, 1, 0, 44, 30)),
    ],
)
async def test_sunday_night_and_monday_morning_are_different_weeks(
    sessions: Sessions, library: Library, zone: str, sunday_night: datetime, monday_morning: datetime
) -> None:
    tz = ZoneInfo(zone)
    assert sunday_night.astimezone(tz).weekday() == 6 and monday_morning.astimezone(tz).weekday() == 0
    await library.timezone(GUILD, zone)
    await library.note(sunday_night, paper=0)
    await library.note(monday_morning, paper=1)
    stats = await service(sessions, monday_morning + timedelta(days=2)).member(guild_id=GUILD, author_id=ANN)
    assert (stats.weeks, stats.streak, stats.longest_streak) == (2, 2, 2)
    assert stats.first_note is not None and stats.first_note.weekday() == 6  # shown in the group's time zone


async def test_weeks_from_the_database_match_the_time_zone_note_by_note(sessions: Sessions, library: Library) -> None:
    rnd = random.Random(20250330)
    instants = [utc(2015, 1, 1) + timedelta(seconds=rnd.randrange(11 * 365 * 86_400)) for _ in range(60)]
    for zone in ("Europe/Berlin", "America/New_York", "Asia/Kathmandu", "Australia/Lord_Howe"):
        tz = ZoneInfo(zone)
        for _ in range(8):  # a second either side of some local Monday midnights
            day = date(2015, 1, 5) + timedelta(weeks=rnd.randrange(570))
            midnight = datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)
            instants += [midnight - timedelta(seconds=1), midnight]
    for i, at in enumerate(instants):
        await library.note(at, author=i, paper=0)
    start, end = min(instants), max(instants)
    for zone in [*ZONES, "Africa/Monrovia"]:
        tz = ZoneInfo(zone)
        async with sessions() as session:
            found = await note_weeks(session, guild_id=GUILD, zone=tz, start=start, end=end)
        assert found == {local_week(at, tz) for at in instants}, zone


async def test_streaks_run_across_the_new_year(sessions: Sessions, library: Library) -> None:
    for i, day in enumerate([date(2020, 12, 16), date(2020, 12, 23), date(2020, 12, 30), date(2021, 1, 6)]):
        await library.note(datetime(day.year, day.month, day.day, 12, tzinfo=UTC), paper=i)
    stats = await service(sessions, utc(2021, 1, 13, 9)).member(guild_id=GUILD, author_id=ANN)
    assert (stats.streak, stats.longest_streak, stats.noted_this_week) == (4, 4, False)


async def test_a_missed_week_ends_the_current_streak_but_not_the_longest(sessions: Sessions, library: Library) -> None:
    monday = utc(2025, 6, 2, 9)
    for i, weeks_ago in enumerate([2, 3, 4]):  # three weeks in a row, then nothing last week
        await library.note(monday - timedelta(weeks=weeks_ago), paper=i)
    stats = service(sessions, monday + timedelta(days=2))
    before = await stats.member(guild_id=GUILD, author_id=ANN)
    assert (before.streak, before.longest_streak, before.weeks) == (0, 3, 3)
    await library.note(monday - timedelta(weeks=1), paper=3)  # the gap filled
    after = await stats.member(guild_id=GUILD, author_id=ANN)
    assert (after.streak, after.longest_streak, after.noted_this_week) == (4, 4, False)
    await library.note(monday + timedelta(days=1), paper=4)  # and one this week
    assert (await stats.member(guild_id=GUILD, author_id=ANN)).streak == 5


# --- counts, tags, members ------------------------------------------------------------------------------------


async def test_member_and_group_counts(sessions: Sessions, library: Library) -> None:
    now = utc(2025, 6, 18, 12)
    await library.note(now - timedelta(days=1), author=ANN, paper=0, tags=["llms", "eval"])
    await library.note(now - timedelta(days=2), author=ANN, paper=1, tags=["llms"])
    await library.note(now - timedelta(days=3), author=BOB, paper=0, tags=["rl"])  # the same paper as Ann's
    stats = service(sessions, now)
    ann = await stats.member(guild_id=GUILD, author_id=ANN)
    assert (ann.notes, ann.papers, ann.members) == (2, 2, 1)
    assert ann.top_tags == (("llms", 2), ("eval", 1))
    assert ann.first_note == now - timedelta(days=2)
    group = await stats.group(guild_id=GUILD)
    assert (group.reading.notes, group.reading.papers, group.reading.members) == (3, 2, 2)
    assert group.reading.top_tags == (("llms", 2), ("eval", 1), ("rl", 1))
    nobody = await stats.member(guild_id=GUILD, author_id=CARL)
    assert (nobody.notes, nobody.streak, nobody.longest_streak, nobody.top_tags, nobody.first_note) == (
        0,
        0,
        0,
        (),
        None,
    )


async def test_top_tags_are_the_five_most_used_ties_by_name(sessions: Sessions, library: Library) -> None:
    now = utc(2025, 6, 18, 12)
    uses = {"a": 1, "b": 3, "c": 2, "d": 2, "e": 1, "f": 4, "g/h": 2}
    for i in range(4):
        await library.note(now, paper=i, tags=[t for t, n in uses.items() if n > i])
    stats = await service(sessions, now).member(guild_id=GUILD, author_id=ANN)
    assert stats.top_tags == (("f", 4), ("b", 3), ("c", 2), ("d", 2), ("g/h", 2))


async def test_active_members_this_month_in_the_group_time_zone(sessions: Sessions, library: Library) -> None:
    await library.timezone(GUILD, "Europe/Berlin")
    now = utc(2025, 6, 15, 12)
    await library.note(utc(2025, 6, 10), author=ANN, paper=0, name="ann")
    await library.note(utc(2025, 6, 12), author=ANN, paper=1, name="Ann B.")  # renamed since
    await library.note(utc(2025, 6, 2), author=ANN, paper=2, name="ann")
    await library.note(utc(2025, 5, 31, 22, 30), author=BOB, paper=0, name="bob")  # June 1, 00:30 in Berlin
    await library.note(utc(2025, 5, 31, 21, 30), author=CARL, paper=0, name="carl")  # May 31, 23:30 in Berlin
    await library.note(utc(2025, 6, 30, 22, 30), author=CARL, paper=1, name="carl")  # July 1 in Berlin
    group = await service(sessions, now).group(guild_id=GUILD)
    assert group.month == date(2025, 6, 1)
    assert group.active_members == 2
    assert [(m.author_id, m.name, m.notes) for m in group.most_active] == [(ANN, "Ann B.", 3), (BOB, "bob", 1)]
    assert group.reading.members == 3


async def test_most_active_lists_at_most_five(sessions: Sessions, library: Library) -> None:
    now = utc(2025, 6, 15, 12)
    for author in range(1, 8):
        for paper in range(author):
            await library.note(now - timedelta(hours=paper), author=author, paper=paper)
    group = await service(sessions, now).group(guild_id=GUILD)
    assert group.active_members == 7
    assert [(m.author_id, m.notes) for m in group.most_active] == [(7, 7), (6, 6), (5, 5), (4, 4), (3, 3)]


async def test_unknown_time_zone_counts_in_utc(sessions: Sessions, library: Library) -> None:
    await library.timezone(GUILD, "Mars/Olympus_Mons")
    await library.note(utc(2025, 1, 5, 23, 30))
    stats = await service(sessions, utc(2025, 1, 6, 1)).member(guild_id=GUILD, author_id=ANN)
    assert (stats.timezone, stats.streak, stats.noted_this_week) == ("UTC", 1, False)


# --- the topic index --------------------------------------------------------------------------------------------


def test_tag_tree_nests_and_orders_by_count_then_name() -> None:
    tree = tag_tree({"rl": 2, "llms": 5, "llms/prompting": 3, "llms/agents": 3, "llms/prompting/cot": 1, "cv": 2})
    assert [(n.name, n.count, n.depth) for n in walk_tags(tree)] == [
        ("llms", 5, 0),
        ("llms/agents", 3, 1),
        ("llms/prompting", 3, 1),
        ("llms/prompting/cot", 1, 2),
        ("cv", 2, 0),
        ("rl", 2, 0),
    ]
    assert tree[0].children[1].label == "prompting"
    assert tag_tree({}) == []


async def test_tag_counts_roll_up_distinct_notes(sessions: Sessions, library: Library) -> None:
    now = utc(2025, 6, 1)
    await library.note(now, paper=0, tags=["llms", "llms/prompting"])  # counted once under llms
    await library.note(now, paper=1, tags=["llms/prompting/cot", "llms/prompting", "rl"])
    await library.note(now, paper=2, tags=["ml/theory"])  # ml itself is on no note
    await library.note(now, paper=3, tags=["ml/theory/pac"], author=BOB)
    gone = await library.note(now, paper=4, tags=["vision"])
    await library.notes.delete(guild_id=GUILD, note_id=gone, member_id=ANN, moderator=False)
    expected = {
        "llms": 2,
        "llms/prompting": 2,
        "llms/prompting/cot": 1,
        "rl": 1,
        "ml": 2,
        "ml/theory": 2,
        "ml/theory/pac": 1,
    }
    async with sessions() as session:
        assert await tag_counts(session, guild_id=GUILD) == expected
    tree = await service(sessions, now).tags(guild_id=GUILD)
    assert [(n.name, n.count) for n in tree] == [("llms", 2), ("ml", 2), ("rl", 1)]
    assert tree[1].children == (TagNode("ml/theory", 2, (TagNode("ml/theory/pac", 1),)),)


async def test_a_group_without_tags_has_an_empty_index(sessions: Sessions, library: Library) -> None:
    await library.note(utc(2025, 6, 1))
    assert await service(sessions, utc(2025, 6, 2)).tags(guild_id=GUILD) == []


async def test_groups_never_see_each_others_notes(sessions: Sessions, library: Library) -> None:
    now = utc(2025, 6, 18, 12)
    await library.note(now, guild=GUILD, paper=0, tags=["llms/prompting"])
    for i in range(3):  # the same member, busier elsewhere
        await library.note(now - timedelta(weeks=i), guild=OTHER_GUILD, paper=i, tags=["secret", "llms/agents"])
    stats = service(sessions, now)
    tree = await stats.tags(guild_id=GUILD)
    assert [(n.name, n.count) for n in walk_tags(tree)] == [("llms", 1), ("llms/prompting", 1)]
    ann = await stats.member(guild_id=GUILD, author_id=ANN)
    assert (ann.notes, ann.papers, ann.streak, ann.longest_streak, ann.top_tags) == (
        1,
        1,
        1,
        1,
        (("llms/prompting", 1),),
    )
    group = await stats.group(guild_id=GUILD)
    assert (group.reading.notes, group.active_members, group.most_active[0].notes) == (1, 1, 1)
    assert group.reading.top_tags == (("llms/prompting", 1),)
    elsewhere = await stats.group(guild_id=OTHER_GUILD)
    assert (elsewhere.reading.notes, elsewhere.reading.streak) == (3, 3)
    assert await stats.tags(guild_id=3003) == []
