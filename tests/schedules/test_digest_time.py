"""Digest period arithmetic: due instants and weeks across DST changes, parsing, zones, labels."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schedules.digest_time import (
    describe,
    discord_timestamp,
    format_time,
    last_due,
    next_due,
    occurrence,
    parse_time,
    parse_weekday,
    period_for,
    period_label,
)
from storage.errors import ValidationError
from storage.time_zones import MAX_CHOICES, timezone_choices, zone

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
SYDNEY = ZoneInfo("Australia/Sydney")
HOUR = timedelta(hours=1)
WEEK = timedelta(days=7)
US = timedelta(microseconds=1)
MON, SUN = 0, 6


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def hours(delta: timedelta) -> float:
    return delta / HOUR


def local(moment: datetime, tz: ZoneInfo) -> tuple[str, str]:
    """The wall clock and the zone abbreviation at ``moment``."""
    shown = moment.astimezone(tz)
    return shown.strftime("%Y-%m-%d %H:%M"), shown.tzname() or ""


# ------------------------------------------------------------------------------------- weeks across DST changes

# (zone, due on the first Monday after the change, hours in the week that ends there)
DST_WEEKS = [
    pytest.param(NY, date(2025, 3, 10), 167, id="new-york-spring"),
    pytest.param(NY, date(2025, 11, 3), 169, id="new-york-fall"),
    pytest.param(BERLIN, date(2025, 3, 31), 167, id="berlin-spring"),
    pytest.param(BERLIN, date(2025, 10, 27), 169, id="berlin-fall"),
    pytest.param(SYDNEY, date(2025, 4, 7), 169, id="sydney-dst-ends"),
    pytest.param(SYDNEY, date(2025, 10, 6), 167, id="sydney-dst-starts"),
]


@pytest.mark.parametrize(("tz", "day", "length"), DST_WEEKS)
def test_a_week_across_a_dst_change_is_counted_in_local_days(tz: ZoneInfo, day: date, length: int) -> None:
    due = occurrence(day, 9, 0, tz)
    start, end = period_for(due, tz, hour=9, minute=0)
    assert end == due
    assert hours(end - start) == length
    assert local(start, tz)[0] == f"{day - WEEK} 09:00"
    assert local(end, tz)[0] == f"{day} 09:00"
    assert period_for(due, tz) == (start, end)  # 09:00 exists on both days: the wall time of ``due`` suffices
    # the weeks on either side are plain 168-hour weeks, and the three tile
    before = period_for(start, tz, hour=9, minute=0)
    after = period_for(next_due(due, MON, 9, 0, tz), tz, hour=9, minute=0)
    assert before[1] == start and after[0] == end
    assert hours(before[1] - before[0]) == hours(after[1] - after[0]) == 168


def test_the_week_lengths_named_in_the_brief() -> None:
    # The UTC instants, spelled out once, so the rules above are not only checked against themselves.
    assert period_for(utc(2025, 3, 10, 13), NY) == (utc(2025, 3, 3, 14), utc(2025, 3, 10, 13))
    assert period_for(utc(2025, 11, 3, 14), NY) == (utc(2025, 10, 27, 13), utc(2025, 11, 3, 14))
    assert period_for(utc(2025, 3, 31, 7), BERLIN) == (utc(2025, 3, 24, 8), utc(2025, 3, 31, 7))
    assert period_for(utc(2025, 10, 27, 8), BERLIN) == (utc(2025, 10, 20, 7), utc(2025, 10, 27, 8))
    assert period_for(utc(2025, 4, 6, 23), SYDNEY) == (utc(2025, 3, 30, 22), utc(2025, 4, 6, 23))
    assert period_for(utc(2025, 10, 5, 22), SYDNEY) == (utc(2025, 9, 28, 23), utc(2025, 10, 5, 22))


@pytest.mark.parametrize("tz", [NY, BERLIN, SYDNEY, ZoneInfo("Australia/Lord_Howe"), ZoneInfo("UTC")])
@pytest.mark.parametrize(("weekday", "hour", "minute"), [(MON, 9, 0), (SUN, 2, 30), (SUN, 1, 30), (SUN, 0, 0)])
def test_a_year_of_weeks_tiles_time_exactly(tz: ZoneInfo, weekday: int, hour: int, minute: int) -> None:
    first = next_due(utc(2025, 1, 1), weekday, hour, minute, tz)
    due = first
    lengths = []
    for _ in range(53):
        following = next_due(due, weekday, hour, minute, tz)
        assert period_for(following, tz, hour=hour, minute=minute) == (due, following)
        assert last_due(following - US, weekday, hour, minute, tz) == due
        lengths.append(hours(following - due))
        due = following
    # every week is 168 hours but those across a change; the changes over a year cancel out
    assert sum(length - 168 for length in lengths) == pytest.approx(0, abs=1)
    assert all(abs(length - 168) <= 1 for length in lengths)
    if str(tz) == "UTC":
        assert set(lengths) == {168}


# ------------------------------------------------------------------------------ times that don't happen once


@pytest.mark.parametrize(
    ("tz", "day", "shown", "abbreviation"),
    [
        pytest.param(NY, date(2025, 3, 9), "2025-03-09 03:30", "EDT", id="new-york"),
        pytest.param(BERLIN, date(2025, 3, 30), "2025-03-30 03:30", "CEST", id="berlin"),
        pytest.param(SYDNEY, date(2025, 10, 5), "2025-10-05 03:30", "AEDT", id="sydney"),
    ],
)
def test_a_nonexistent_time_moves_forward_by_the_gap(tz: ZoneInfo, day: date, shown: str, abbreviation: str) -> None:
    gap_day = occurrence(day, 2, 30, tz)
    assert local(gap_day, tz) == (shown, abbreviation)
    week_before = occurrence(day - WEEK, 2, 30, tz)
    week_after = occurrence(day + WEEK, 2, 30, tz)
    assert local(week_before, tz)[0].endswith("02:30") and local(week_after, tz)[0].endswith("02:30")
    # the week into the gap day loses nothing (the wall clock jumped), the week out of it loses the hour
    assert hours(gap_day - week_before) == 168
    assert hours(week_after - gap_day) == 167
    # and they tile, which needs the schedule's time: 03:30 on the gap day is "02:30, moved"
    assert period_for(gap_day, tz, hour=2, minute=30) == (week_before, gap_day)
    assert period_for(week_after, tz, hour=2, minute=30) == (gap_day, week_after)
    assert period_for(week_after, tz) == (gap_day, week_after)  # 02:30 exists on both days of this week
    # due alone reads the gap day's due as a 03:30 schedule: an hour of that week would fall in no period
    assert period_for(gap_day, tz)[0] == week_before + HOUR
    assert last_due(gap_day, SUN, 2, 30, tz) == gap_day
    assert next_due(week_before, SUN, 2, 30, tz) == gap_day


def test_the_gap_is_not_always_an_hour() -> None:
    lord_howe = ZoneInfo("Australia/Lord_Howe")  # 02:00 → 02:30 on 2025-10-05
    moved = occurrence(date(2025, 10, 5), 2, 15, lord_howe)
    assert local(moved, lord_howe)[0] == "2025-10-05 02:45"
    assert hours(occurrence(date(2025, 10, 12), 2, 15, lord_howe) - moved) == 167.5


@pytest.mark.parametrize(
    ("tz", "day", "hour", "first_utc"),
    [
        pytest.param(NY, date(2025, 11, 2), 1, utc(2025, 11, 2, 5, 30), id="new-york-01:30"),
        pytest.param(BERLIN, date(2025, 10, 26), 2, utc(2025, 10, 26, 0, 30), id="berlin-02:30"),
        pytest.param(SYDNEY, date(2025, 4, 6), 2, utc(2025, 4, 5, 15, 30), id="sydney-02:30"),
    ],
)
def test_an_ambiguous_time_is_its_first_occurrence(tz: ZoneInfo, day: date, hour: int, first_utc: datetime) -> None:
    overlap_day = occurrence(day, hour, 30, tz)
    assert overlap_day == first_utc
    second = datetime.combine(day, time(hour, 30, fold=1), tzinfo=tz).astimezone(UTC)
    assert second - overlap_day == HOUR  # the same wall time again, an hour later, is not taken
    week_before = occurrence(day - WEEK, hour, 30, tz)
    week_after = occurrence(day + WEEK, hour, 30, tz)
    assert hours(overlap_day - week_before) == 168  # still on summer time
    assert hours(week_after - overlap_day) == 169
    for due, start in ((overlap_day, week_before), (week_after, overlap_day)):
        assert period_for(due, tz, hour=hour, minute=30) == (start, due)
        assert period_for(due, tz) == (start, due)
    # the repeated hour belongs to exactly one week: the one after the overlap day's due
    assert last_due(second, SUN, hour, 30, tz) == overlap_day
    assert next_due(second, SUN, hour, 30, tz) == week_after


# ------------------------------------------------------------------------------------- around a due instant


@pytest.mark.parametrize(("tz", "day", "length"), DST_WEEKS)
def test_last_and_next_due_at_the_boundary(tz: ZoneInfo, day: date, length: int) -> None:
    due = occurrence(day, 9, 0, tz)
    previous = due - length * HOUR
    following = occurrence(day + WEEK, 9, 0, tz)
    assert last_due(due, MON, 9, 0, tz) == due
    assert next_due(due, MON, 9, 0, tz) == following
    assert last_due(due - US, MON, 9, 0, tz) == previous
    assert next_due(due - US, MON, 9, 0, tz) == due
    assert last_due(due + US, MON, 9, 0, tz) == due
    assert next_due(due + US, MON, 9, 0, tz) == following
    # ``now`` in any zone is the same instant
    assert last_due(due.astimezone(tz), MON, 9, 0, tz) == due
    assert last_due(due, MON, 9, 0, tz).tzinfo is UTC


def test_zone_names_work_where_zones_do() -> None:
    now = utc(2025, 3, 5, 12)
    assert last_due(now, MON, 9, 0, "Europe/Berlin") == last_due(now, MON, 9, 0, BERLIN) == utc(2025, 3, 3, 8)
    assert occurrence(date(2025, 3, 3), 9, 0, "Europe/Berlin") == utc(2025, 3, 3, 8)
    with pytest.raises(ValidationError):
        last_due(now, MON, 9, 0, "Mars/Olympus")


def test_programming_errors_are_value_errors() -> None:
    naive = datetime(2025, 3, 3, 9)
    for call in (
        lambda: last_due(naive, MON, 9, 0, BERLIN),
        lambda: next_due(naive, MON, 9, 0, BERLIN),
        lambda: period_for(naive, BERLIN),
        lambda: describe(naive, BERLIN),
        lambda: discord_timestamp(naive),
        lambda: last_due(utc(2025, 3, 3), 7, 9, 0, BERLIN),
        lambda: next_due(utc(2025, 3, 3), MON, 24, 0, BERLIN),
        lambda: occurrence(date(2025, 3, 3), 9, 60, BERLIN),
        lambda: period_for(utc(2025, 3, 3, 8), BERLIN, hour=9),
        lambda: period_for(utc(2025, 3, 3, 8), BERLIN, hour=10, minute=0),  # not a 10:00 due
    ):
        with pytest.raises(ValueError):
            call()


# ------------------------------------------------------------------------------------------- properties

# Zones with DST north and south, half-hour offsets and DST, a 30-minute DST, negative DST in tzdata (Dublin),
# DST that Morocco suspends for Ramadan, a 2-hour DST (Troll), and zones without DST.
ZONES = [
    "UTC",
    "America/New_York",
    "America/St_Johns",
    "America/Santiago",
    "America/Havana",
    "Europe/Berlin",
    "Europe/Dublin",
    "Africa/Casablanca",
    "Antarctica/Troll",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Pacific/Auckland",
    "Pacific/Chatham",
]
STEADY = {"UTC", "Asia/Kolkata", "Asia/Tokyo"}  # no changes of offset between 2020 and 2030

nows = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC))
weekdays = st.integers(0, 6)
hours_ = st.integers(0, 23)
minutes = st.sampled_from([0, 15, 30, 45]) | st.integers(0, 59)


def check_weeks(now: datetime, weekday: int, hour: int, minute: int, name: str) -> tuple[datetime, datetime]:
    tz = ZoneInfo(name)
    last = last_due(now, weekday, hour, minute, tz)
    following = next_due(now, weekday, hour, minute, tz)
    assert last <= now < following
    assert last.tzinfo is UTC and following.tzinfo is UTC
    for due in (last, following):  # on the schedule's weekday, unless a gap pushed it past midnight
        assert due.astimezone(tz).weekday() == weekday or due.astimezone(tz).time() != time(hour, minute)
    # consecutive weeks tile, whatever happens to the scheduled time on either day
    assert period_for(following, tz, hour=hour, minute=minute) == (last, following)
    assert period_for(last, tz, hour=hour, minute=minute)[1] == last
    assert last_due(last, weekday, hour, minute, tz) == last
    assert next_due(last, weekday, hour, minute, tz) == following
    assert last_due(following - US, weekday, hour, minute, tz) == last
    assert next_due(following - US, weekday, hour, minute, tz) == following
    assert last_due(following, weekday, hour, minute, tz) == following
    # without the schedule's time, ``due``'s wall time stands in, which is right unless it was moved forward
    if following.astimezone(tz).time() == time(hour, minute):
        assert period_for(following, tz) == (last, following)
    return last, following


@settings(deadline=None)
@given(now=nows, weekday=weekdays, hour=hours_, minute=minutes, name=st.sampled_from(ZONES))
def test_weeks_tile_and_last_a_week_give_or_take_a_dst_change(
    now: datetime, weekday: int, hour: int, minute: int, name: str
) -> None:
    last, following = check_weeks(now, weekday, hour, minute, name)
    if name in STEADY:
        assert following - last == WEEK
    else:
        assert abs(following - last - WEEK) <= 2 * HOUR


@settings(deadline=None)
@given(
    now=nows,
    weekday=weekdays,
    hour=hours_,
    minute=minutes,
    name=st.sampled_from(sorted(available_timezones() - {"localtime", "posixrules", "Factory"})),
)
def test_weeks_tile_in_every_zone(now: datetime, weekday: int, hour: int, minute: int, name: str) -> None:
    # Some zones changed their standard offset in the 2020s (Antarctica/Casey by hours), so no bound on length.
    check_weeks(now, weekday, hour, minute, name)


@settings(deadline=None)
@given(
    day=st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 1, 1)),
    hour=hours_,
    minute=minutes,
    name=st.sampled_from(ZONES),
)
def test_occurrence_is_the_wall_time_or_the_end_of_its_gap(day: date, hour: int, minute: int, name: str) -> None:
    tz = ZoneInfo(name)
    moment = occurrence(day, hour, minute, tz)
    wall = datetime.combine(day, time(hour, minute))
    shown = moment.astimezone(tz).replace(tzinfo=None)
    if shown == wall:
        # the first time the wall clock shows it: an hour (or the change) earlier it did not show it
        earlier = (moment - 2 * HOUR).astimezone(tz).replace(tzinfo=None)
        assert earlier < wall
        assert moment.astimezone(tz).fold == 0
    else:
        # nonexistent: moved forward by exactly the gap, which is the jump in offset across the change
        jump = tz.utcoffset(wall.replace(fold=1)) - tz.utcoffset(wall.replace(fold=0))  # type: ignore[operator]
        assert jump > timedelta(0)
        assert shown == wall + jump


# ------------------------------------------------------------------------------------------------ parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9:00", (9, 0)),
        ("09:00", (9, 0)),
        ("21:30", (21, 30)),
        ("0:00", (0, 0)),
        ("23:59", (23, 59)),
        (" 7:05 ", (7, 5)),
        ("9.30", (9, 30)),
        ("17", (17, 0)),
        ("9am", (9, 0)),
        ("9 AM", (9, 0)),
        ("9:30 pm", (21, 30)),
        ("9:30PM", (21, 30)),
        ("9 p.m.", (21, 0)),
        ("12am", (0, 0)),
        ("12:15 am", (0, 15)),
        ("12pm", (12, 0)),
        ("12:45pm", (12, 45)),
        ("noon", (12, 0)),
        ("Midnight", (0, 0)),
    ],
)
def test_parse_time_accepts(text: str, expected: tuple[int, int]) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "24:00",
        "9:60",
        "9:5",
        "9:00:00",
        "13pm",
        "0am",
        "99",
        "nine",
        "9amm",
        "am",
        ":30",
        "9:",
        "-1:00",
        "٠٩:٠٠",  # Arabic-Indic digits
        "𝟗:00",  # mathematical bold digit
        "9" * 500,
        "09:00\x00",
    ],
)
def test_parse_time_rejects_with_the_expected_form(text: str) -> None:
    with pytest.raises(ValidationError) as raised:
        parse_time(text)
    assert "HH:MM" in raised.value.message and "9am" in raised.value.message
    assert len(raised.value.message) < 120


@given(st.integers(0, 23), st.integers(0, 59))
def test_parse_time_reads_what_format_time_writes(hour: int, minute: int) -> None:
    assert format_time(hour, minute) == f"{hour:02d}:{minute:02d}"
    assert parse_time(format_time(hour, minute)) == (hour, minute)
    twelve = f"{hour % 12 or 12}:{minute:02d}{'pm' if hour >= 12 else 'am'}"
    assert parse_time(twelve) == (hour, minute)


@given(st.text(max_size=30) | st.from_regex(r"\s*[0-9]{1,3}\s*[:.h]?\s*[0-9]{0,3}\s*(a|p|am|pm|a\.m\.)?\s*"))
def test_parse_time_never_raises_anything_but_validation_error(text: str) -> None:
    try:
        hour, minute = parse_time(text)
    except ValidationError:
        return
    assert 0 <= hour <= 23 and 0 <= minute <= 59


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("monday", 0),
        ("Monday", 0),
        ("MON", 0),
        ("Mo", 0),
        ("mon.", 0),
        ("Mondays", 0),
        ("tu", 1),
        ("Tue", 1),
        ("tues", 1),
        ("wednesday", 2),
        ("Wed", 2),
        ("th", 3),
        ("thurs", 3),
        ("fri", 4),
        ("Sa", 5),
        (" sunday ", 6),
        ("SUN", 6),
    ],
)
def test_parse_weekday_accepts(text: str, expected: int) -> None:
    assert parse_weekday(text) == expected


@pytest.mark.parametrize("text", ["", "m", "t", "s", "0", "1", "7", "mondayy", "moon", "weekday", "lundi", "x" * 500])
def test_parse_weekday_rejects(text: str) -> None:
    with pytest.raises(ValidationError) as raised:
        parse_weekday(text)
    assert "Monday" in raised.value.message


@given(st.text(max_size=30))
def test_parse_weekday_never_raises_anything_but_validation_error(text: str) -> None:
    try:
        assert 0 <= parse_weekday(text) <= 6
    except ValidationError:
        pass


# ------------------------------------------------------------------------------------------------ time zones


def test_zone_takes_iana_names() -> None:
    assert zone("Europe/Berlin") == BERLIN
    assert zone("UTC").key == "UTC"
    assert zone("America/Argentina/Buenos_Aires").key == "America/Argentina/Buenos_Aires"
    assert zone(" europe/berlin ").key == "Europe/Berlin"  # the canonical spelling is what gets stored
    assert zone("US/Eastern").key == "US/Eastern"


@pytest.mark.parametrize(
    "name",
    [
        "",
        " ",
        "America",  # a directory
        "America/",
        "/etc/passwd",
        "../../../../etc/passwd",
        "Europe/Berlin/../Paris",
        "Europe\\Berlin",
        "Europe/Berlin\x00",
        "Mars/Olympus",
        "localtime",  # the host's own setting, not a name
        "Factory",
        "x" * 1000,
        "Ευρώπη/Αθήνα",
    ],
)
def test_zone_rejects_everything_else(name: str) -> None:
    with pytest.raises(ValidationError) as raised:
        zone(name)
    assert "Europe/Berlin" in raised.value.message
    assert len(raised.value.message) < 200


@given(st.text(max_size=60) | st.sampled_from(["UTC", "Europe/Berlin", "..", "/", "America", "Etc"]))
def test_zone_never_raises_anything_but_validation_error(name: str) -> None:
    try:
        assert isinstance(zone(name), ZoneInfo)
    except ValidationError:
        pass


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("new york", "America/New_York"),
        ("New_York", "America/New_York"),
        ("america/new", "America/New_York"),
        ("berlin", "Europe/Berlin"),
        ("BERLIN", "Europe/Berlin"),
        ("sydney", "Australia/Sydney"),
        ("los angeles", "America/Los_Angeles"),
        ("los", "America/Los_Angeles"),
        ("utc", "UTC"),
        ("buenos", "America/Buenos_Aires"),  # tzdata's older link first, being shorter; both work
        ("york new", "America/New_York"),  # every word somewhere
        ("lord howe", "Australia/Lord_Howe"),
    ],
)
def test_timezone_choices_best_match_first(query: str, first: str) -> None:
    assert timezone_choices(query)[0] == first


def test_timezone_choices_rank_and_limit() -> None:
    europe = timezone_choices("europe")
    assert len(europe) == MAX_CHOICES
    assert all(name.startswith("Europe/") for name in europe)
    assert len(timezone_choices("a", limit=100)) == MAX_CHOICES
    assert len(timezone_choices("europe", limit=5)) == 5
    assert timezone_choices("europe", limit=0) == []
    # a city's own zone comes before names that merely contain the words, and Area/City before old aliases
    assert timezone_choices("eastern")[0] == "US/Eastern"
    assert timezone_choices("samoa")[:2] == ["Pacific/Samoa", "US/Samoa"]
    assert timezone_choices("buenos")[:2] == ["America/Buenos_Aires", "America/Argentina/Buenos_Aires"]
    assert timezone_choices("zurich")[0] == "Europe/Zurich"
    assert timezone_choices("nowhere at all") == []
    popular = timezone_choices("")
    assert popular[0] == "UTC" and "Europe/Berlin" in popular and len(popular) <= MAX_CHOICES


@given(st.text(max_size=300), st.integers(-5, 50))
def test_timezone_choices_are_always_valid_choices(current: str, limit: int) -> None:
    choices = timezone_choices(current, limit)
    assert len(choices) <= min(max(limit, 0), MAX_CHOICES)
    assert len(set(choices)) == len(choices)
    for name in choices:
        assert len(name) <= 100
        assert zone(name).key == name


# ------------------------------------------------------------------------------------------------ formatting


def test_describe_and_discord_timestamp() -> None:
    due = occurrence(date(2025, 3, 3), 9, 0, BERLIN)
    assert describe(due, BERLIN) == "Monday 3 March 2025, 09:00 (Europe/Berlin)"
    assert describe(due, "Europe/Berlin") == "Monday 3 March 2025, 09:00 (Europe/Berlin)"
    assert describe(due, "UTC") == "Monday 3 March 2025, 08:00 (UTC)"
    assert describe(occurrence(date(2025, 3, 9), 2, 30, NY), NY) == "Sunday 9 March 2025, 03:30 (America/New_York)"
    moment = datetime.fromtimestamp(1741000000, UTC)
    assert discord_timestamp(moment) == "<t:1741000000:F>"
    assert discord_timestamp(moment + timedelta(milliseconds=999)) == "<t:1741000000:F>"
    assert discord_timestamp(moment.astimezone(SYDNEY), "R") == "<t:1741000000:R>"


def test_period_label() -> None:
    start, end = period_for(occurrence(date(2025, 3, 3), 9, 0, BERLIN), BERLIN)
    assert period_label(start, end, BERLIN) == "24 Feb – 2 Mar 2025"
    start, end = period_for(occurrence(date(2025, 3, 10), 9, 0, BERLIN), BERLIN)
    assert period_label(start, end, BERLIN) == "3–9 Mar 2025"  # the next label starts the day after
    start, end = period_for(occurrence(date(2026, 1, 5), 9, 0, BERLIN), BERLIN)
    assert period_label(start, end, BERLIN) == "29 Dec 2025 – 4 Jan 2026"
    # a midnight schedule: the label is exactly start .. end − 1 µs
    start, end = period_for(occurrence(date(2025, 3, 3), 0, 0, BERLIN), BERLIN)
    assert period_label(start, end, BERLIN) == "24 Feb – 2 Mar 2025"
    # the local dates count, not UTC's: Sydney's Monday 09:00 is Sunday evening in UTC
    start, end = period_for(occurrence(date(2025, 3, 3), 9, 0, SYDNEY), SYDNEY)
    assert period_label(start, end, SYDNEY) == "24 Feb – 2 Mar 2025"
    assert period_label(start, end, "UTC") == "23 Feb – 1 Mar 2025"
    # across a DST change and from a moved-forward due
    start, end = period_for(occurrence(date(2025, 3, 16), 2, 30, NY), NY, hour=2, minute=30)
    assert period_label(start, end, NY) == "9–15 Mar 2025"
    assert period_label(end, end + HOUR, NY) == "16 Mar 2025"


def label_dates(label: str) -> tuple[date, date]:
    """The first and last day a period label names."""

    def day(text: str) -> date:
        return datetime.strptime(text, "%d %b %Y").date()

    if " – " in label:
        left, right = label.split(" – ")
        last = day(right)
        return (day(left) if left.count(" ") == 2 else day(f"{left} {last.year}")), last
    if "–" in label:
        days, month_year = label.split(" ", 1)
        first, last_day = days.split("–")
        return day(f"{first} {month_year}"), day(f"{last_day} {month_year}")
    return day(label), day(label)


@settings(deadline=None)
@given(now=nows, weekday=weekdays, hour=hours_, minute=minutes, name=st.sampled_from(ZONES))
def test_consecutive_labels_tile_the_calendar(now: datetime, weekday: int, hour: int, minute: int, name: str) -> None:
    tz = ZoneInfo(name)
    last = last_due(now, weekday, hour, minute, tz)
    following = next_due(now, weekday, hour, minute, tz)
    after = next_due(following, weekday, hour, minute, tz)
    this_first, this_last = label_dates(period_label(*period_for(following, tz, hour=hour, minute=minute), tz))
    next_first, next_last = label_dates(period_label(*period_for(after, tz, hour=hour, minute=minute), tz))
    assert this_first == last.astimezone(tz).date()
    assert next_first == following.astimezone(tz).date() == this_last + timedelta(days=1)
    assert (this_last - this_first).days == (next_last - next_first).days == 6
