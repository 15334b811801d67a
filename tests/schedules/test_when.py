"""Reading a session's ``when``: the accepted forms, the group's time zone, past times, daylight-saving edges."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from schedules.when import FORMS, parse_when
from storage.errors import ValidationError

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
FRIDAY_NOON = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)  # 13:00 in Berlin


def local(text: str, tz: ZoneInfo = BERLIN, now: datetime = FRIDAY_NOON) -> str:
    return parse_when(text, tz=tz, now=now).instant.astimezone(tz).strftime("%a %Y-%m-%d %H:%M %Z")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("2026-12-10 18:00", "Thu 2026-12-10 18:00 CET"),
        ("2026-12-10T18:00", "Thu 2026-12-10 18:00 CET"),
        ("2026-12-10T18:00:00", "Thu 2026-12-10 18:00 CET"),
        ("2026-12-10 6pm", "Thu 2026-12-10 18:00 CET"),
        ("thursday 18:00", "Thu 2026-03-26 18:00 CET"),
        ("Thu at 6pm", "Thu 2026-03-26 18:00 CET"),
        ("next thursday 18:00", "Thu 2026-03-26 18:00 CET"),
        ("friday 18:00", "Fri 2026-03-20 18:00 CET"),  # today, still ahead
        ("friday 12:00", "Fri 2026-03-27 12:00 CET"),  # today, passed: next week
        ("next friday 18:00", "Fri 2026-03-27 18:00 CET"),  # "next" is never today
        ("tomorrow 18:30", "Sat 2026-03-21 18:30 CET"),
        ("today 20:00", "Fri 2026-03-20 20:00 CET"),
        ("  TOMORROW   at 9:30 ", "Sat 2026-03-21 09:30 CET"),
    ],
)
def test_the_accepted_forms_in_the_groups_zone(text: str, shown: str) -> None:
    assert local(text) == shown


def test_the_same_words_are_different_instants_in_different_zones() -> None:
    berlin = parse_when("2026-12-10 18:00", tz=BERLIN, now=FRIDAY_NOON).instant
    new_york = parse_when("2026-12-10 18:00", tz=NEW_YORK, now=FRIDAY_NOON).instant
    assert berlin == datetime(2026, 12, 10, 17, 0, tzinfo=UTC)
    assert new_york == datetime(2026, 12, 10, 23, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["2025-01-01 10:00", "today 10:00", "2026-03-20 13:00"])
def test_a_time_in_the_past_is_refused(text: str) -> None:
    with pytest.raises(ValidationError, match="in the past"):
        parse_when(text, tz=BERLIN, now=FRIDAY_NOON)


@pytest.mark.parametrize(
    "text", ["", "garbage", "2026-02-30 10:00", "2026-12-10", "flurb 10:00", "thursday", "tomorrow 25:00", "x" * 200]
)
def test_garbage_is_refused_saying_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValidationError) as refused:
        parse_when(text, tz=BERLIN, now=FRIDAY_NOON)
    assert FORMS in refused.value.message


def test_more_than_a_year_ahead_is_refused() -> None:
    with pytest.raises(ValidationError, match="more than a year"):
        parse_when("2028-01-01 10:00", tz=BERLIN, now=FRIDAY_NOON)


def test_a_time_the_clocks_skip_moves_forward_and_says_so() -> None:
    when = parse_when("2026-03-29 02:30", tz=BERLIN, now=FRIDAY_NOON)  # Berlin: 02:00 -> 03:00
    assert when.instant == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert when.instant.astimezone(BERLIN).strftime("%H:%M %Z") == "03:30 CEST"
    assert when.note and "does not exist" in when.note and "03:30" in when.note
    new_york = parse_when("2026-03-08 02:15", tz=NEW_YORK, now=datetime(2026, 3, 1, tzinfo=UTC))
    assert new_york.instant.astimezone(NEW_YORK).strftime("%H:%M %Z") == "03:15 EDT" and new_york.note


def test_a_time_that_happens_twice_is_the_first_and_says_so() -> None:
    when = parse_when("2026-10-25 02:30", tz=BERLIN, now=FRIDAY_NOON)  # Berlin: 03:00 -> 02:00
    assert when.instant == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # CEST, UTC+2: the first
    assert when.note and "happens twice" in when.note and "CEST" in when.note
    new_york = parse_when("2026-11-01 01:30", tz=NEW_YORK, now=datetime(2026, 10, 1, tzinfo=UTC))
    assert new_york.instant == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # EDT, UTC-4


def test_an_ordinary_time_has_no_note() -> None:
    assert parse_when("2026-12-10 18:00", tz=BERLIN, now=FRIDAY_NOON).note is None


@given(
    now=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)),
    weekday=st.sampled_from(["monday", "tue", "wednesday", "thu", "friday", "sat", "sunday"]),
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
    nxt=st.booleans(),
    tz=st.sampled_from([BERLIN, NEW_YORK, ZoneInfo("Australia/Lord_Howe"), ZoneInfo("UTC")]),
)
def test_a_weekday_is_always_within_the_next_two_weeks_on_that_day_and_time(
    now: datetime, weekday: str, hour: int, minute: int, nxt: bool, tz: ZoneInfo
) -> None:
    text = f"{'next ' if nxt else ''}{weekday} {hour:02d}:{minute:02d}"
    when = parse_when(text, tz=tz, now=now)
    shown = when.instant.astimezone(tz)
    assert now < when.instant <= now + timedelta(days=15)
    assert shown.strftime("%a").lower().startswith(weekday[:3])
    if when.note is None:
        assert (shown.hour, shown.minute) == (hour, minute)
    else:  # a skipped wall time, moved forward by the gap (at most an hour), or a doubled one, taken first
        wall = shown.replace(hour=hour, minute=minute, tzinfo=None)
        assert timedelta(0) <= shown.replace(tzinfo=None) - wall <= timedelta(hours=1)
    if nxt:
        assert shown.date() > now.astimezone(tz).date()


@given(
    day=st.dates(),
    hour=st.integers(0, 23),
    tz=st.sampled_from([BERLIN, NEW_YORK, ZoneInfo("Pacific/Kiritimati"), ZoneInfo("Pacific/Pago_Pago")]),
)
@example(day=date.min, hour=0, tz=BERLIN)
@example(day=date.max, hour=23, tz=NEW_YORK)
def test_any_calendar_date_is_an_instant_ahead_or_a_clear_refusal(day: date, hour: int, tz: ZoneInfo) -> None:
    try:  # year 1 and year 9999 too, where the zone's offset would step off the calendar
        when = parse_when(f"{day.isoformat()} {hour:02d}:00", tz=tz, now=FRIDAY_NOON)
    except ValidationError as refused:
        assert "in the past" in str(refused) or "more than a year away" in str(refused)
    else:
        assert FRIDAY_NOON < when.instant <= FRIDAY_NOON + timedelta(days=366)
