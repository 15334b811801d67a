"""When a group's weekly digest is due, and which week it covers: pure arithmetic on aware datetimes.

A group's schedule is a weekday (0 = Monday .. 6 = Sunday, as in :meth:`datetime.date.weekday`), a local
wall time (hour, minute) and an IANA time zone. Every instant this module returns is an aware ``datetime`` in
UTC; every instant it takes must be aware (any zone).

Wall times that do not happen once
    A local time can be missing (the clocks jump over it when summer time starts) or happen twice (the clocks
    go back over it when summer time ends). :func:`occurrence` settles both the same way every time:

    * a **nonexistent** time moves forward by the length of the gap: 02:30 on the day New York springs forward
      (02:00 → 03:00) is 03:30 EDT, and 02:15 on Lord Howe's 30-minute jump is 02:45;
    * an **ambiguous** time is its **first** occurrence (``fold=0``): 01:30 on the day New York falls back is
      01:30 EDT, not the 01:30 EST an hour later.

The week a digest covers
    The digest due at instant ``due`` covers ``[start, due)``, where ``start`` is the schedule's wall time on
    the local calendar date seven days before ``due``'s date, resolved by the same rules. The week is counted
    in local days, so a week across a DST change lasts 167 or 169 hours (166.5 / 169.5 on Lord Howe), and
    consecutive weeks tile time exactly: the start of each week is the previous due instant, with no gap and
    no overlap, even when the scheduled time is missing or doubled on one of the days. For that to hold when
    the scheduled time can fall into a gap, give :func:`period_for` the schedule's ``hour`` and ``minute``
    (see there).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from storage.errors import ValidationError
from storage.time_zones import zone

__all__ = [
    "WEEKDAY_NAMES",
    "describe",
    "discord_timestamp",
    "format_time",
    "last_due",
    "next_due",
    "occurrence",
    "parse_time",
    "parse_weekday",
    "period_for",
    "period_label",
]

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_WEEK = timedelta(days=7)
_DAY = timedelta(days=1)

_MAX_INPUT_LEN = 100  # longer input is not a time or a weekday


# --------------------------------------------------------------------------------------------------- parsing

_TIME_FORM = "Give the time as HH:MM on the 24-hour clock (09:00, 21:30) or with am/pm (9am, 9:30pm)."

_TIME_24H = re.compile(r"([0-9]{1,2})(?:\s*[:.h]\s*([0-9]{2}))?")
_TIME_12H = re.compile(r"([0-9]{1,2})(?:\s*[:.]\s*([0-9]{2}))?\s*([ap])\.?\s*m\.?")
_TIME_WORDS = {"noon": (12, 0), "midday": (12, 0), "midnight": (0, 0)}


def parse_time(text: str) -> tuple[int, int]:
    """``(hour, minute)`` from a member's time of day; :class:`ValidationError` saying the form otherwise.

    Accepted: the 24-hour clock (``9:00``, ``09:00``, ``21:30``, ``9.30``, a bare hour ``17``), the 12-hour
    clock with am/pm (``9am``, ``9:30 pm``, ``12am`` = 00:00, ``12pm`` = 12:00, ``a.m.`` spelled out), and
    ``noon`` / ``midday`` / ``midnight``. Case and surrounding spaces do not matter.
    """
    cleaned = " ".join(str(text).split()).lower()
    if len(cleaned) <= _MAX_INPUT_LEN:
        if cleaned in _TIME_WORDS:
            return _TIME_WORDS[cleaned]
        match = _TIME_12H.fullmatch(cleaned)
        if match:
            hour, minute = int(match[1]), int(match[2] or 0)
            if 1 <= hour <= 12 and minute <= 59:
                return hour % 12 + (12 if match[3] == "p" else 0), minute
        match = _TIME_24H.fullmatch(cleaned)
        if match:
            hour, minute = int(match[1]), int(match[2] or 0)
            if hour <= 23 and minute <= 59:
                return hour, minute
    raise ValidationError(_TIME_FORM)


def format_time(hour: int, minute: int) -> str:
    """``"HH:MM"``, the form a schedule stores its time in."""
    time(hour, minute)  # ValueError when out of range
    return f"{hour:02d}:{minute:02d}"


_WEEKDAY_FORM = "Give the weekday as a name, like Monday or Mon."


def parse_weekday(text: str) -> int:
    """The weekday (0 = Monday .. 6 = Sunday) a member named; :class:`ValidationError` otherwise.

    Accepted: the English name or any start of it at least two letters long (``monday``, ``mon``, ``Mo``,
    ``tues``, ``thurs``), in any case, with an optional trailing dot or plural ``s`` (``Mon.``, ``Mondays``).
    Numbers are not accepted: whether 0 means Sunday or Monday depends on who you ask.
    """
    cleaned = str(text).strip().lower()
    if 2 <= len(cleaned) <= 20:
        for word in dict.fromkeys((cleaned, cleaned.rstrip("."), cleaned.removesuffix("s"))):
            if len(word) >= 2:
                for index, name in enumerate(WEEKDAY_NAMES):
                    if name.lower().startswith(word):
                        return index
    raise ValidationError(_WEEKDAY_FORM)


def _tz(tz: tzinfo | str) -> tzinfo:
    return zone(tz) if isinstance(tz, str) else tz


def _tz_name(tz: tzinfo) -> str:
    key = getattr(tz, "key", None)
    return key if isinstance(key, str) else str(tz)


def _aware(moment: datetime, what: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime, got {moment!r}")


# ------------------------------------------------------------------------------------------------ arithmetic


def _at(day: date, wall: time, tz: tzinfo) -> datetime:
    """The UTC instant the naive wall time ``wall`` happens on local date ``day`` (see the module's rules)."""
    # With fold=0, zoneinfo reads a wall time in a gap with the offset in force *before* the jump, which lands
    # the gap's length after the wall time, and an ambiguous wall time with the offset before the clocks go
    # back, which is its first occurrence: exactly the two rules this module promises (PEP 495).
    return datetime.combine(day, wall.replace(tzinfo=None, fold=0), tzinfo=tz).astimezone(UTC)


def occurrence(day: date, hour: int, minute: int, tz: tzinfo | str) -> datetime:
    """The UTC instant local wall time ``hour:minute`` happens on local date ``day`` in ``tz``.

    A time the clocks skip moves forward by the gap (02:30 on a US spring-forward day is 03:30 local); a time
    they repeat is taken at its first occurrence (``fold=0``, still on summer time).
    """
    return _at(day, time(hour, minute), _tz(tz))


def _local_date(moment: datetime, tz: tzinfo) -> date:
    return moment.astimezone(tz).date()


def _weekly(now: datetime, weekday: int, hour: int, minute: int, tz: tzinfo | str) -> list[datetime]:
    """Scheduled instants from about two weeks before ``now`` to about two weeks after, in order."""
    _aware(now, "now")
    if not 0 <= weekday <= 6:
        raise ValueError(f"weekday must be 0 (Monday) .. 6 (Sunday), got {weekday}")
    zone_ = _tz(tz)
    wall = time(hour, minute)
    today = _local_date(now, zone_)
    anchor = today - timedelta(days=(today.weekday() - weekday) % 7)  # the schedule's day on or before today
    # Five candidates rather than one: clocks that go back over midnight can put an occurrence on a local date
    # after the one ``now`` shows, and a gap can push one past midnight. Offsets never move by days, so the
    # instants are in order and the right ones are among these.
    return [_at(anchor + k * _WEEK, wall, zone_) for k in range(-2, 3)]


def last_due(now: datetime, weekday: int, hour: int, minute: int, tz: tzinfo | str) -> datetime:
    """The latest scheduled instant at or before ``now`` (UTC): ``last_due(due, ...) == due``."""
    return max(moment for moment in _weekly(now, weekday, hour, minute, tz) if moment <= now)


def next_due(now: datetime, weekday: int, hour: int, minute: int, tz: tzinfo | str) -> datetime:
    """The earliest scheduled instant strictly after ``now`` (UTC)."""
    return min(moment for moment in _weekly(now, weekday, hour, minute, tz) if moment > now)


def period_for(
    due: datetime, tz: tzinfo | str, *, hour: int | None = None, minute: int | None = None
) -> tuple[datetime, datetime]:
    """The week the digest due at ``due`` covers: ``(start, due)`` in UTC, start included, ``due`` excluded.

    ``start`` is the scheduled wall time on the local date seven days before the scheduled date, resolved like
    :func:`occurrence`, so it is the previous due instant and consecutive weeks tile time.

    Pass the schedule's ``hour`` and ``minute``: ``due`` alone cannot say which wall time was scheduled when
    the clocks jumped over it (a 03:30 due on a spring-forward day may be a 02:30 or a 03:30 schedule), and
    guessing wrong leaves an hour of that week in no period. ``ValueError`` if ``due`` is not an occurrence of
    that time in ``tz``. Without them the wall time ``due`` shows is used, which is exact whenever ``due`` is
    not a moved-forward nonexistent time.
    """
    _aware(due, "due")
    zone_ = _tz(tz)
    local = due.astimezone(zone_)
    if hour is None and minute is None:
        wall = local.time()
        day = local.date()
    elif hour is None or minute is None:
        raise ValueError("give both hour and minute, or neither")
    else:
        wall = time(hour, minute)
        for day in (local.date(), local.date() - _DAY, local.date() + _DAY):
            if _at(day, wall, zone_) == due:
                break
        else:
            raise ValueError(f"{due.isoformat()} is not {format_time(hour, minute)} in {_tz_name(zone_)}")
    return _at(day - _WEEK, wall, zone_), due.astimezone(UTC)


# ------------------------------------------------------------------------------------------------ formatting


def describe(due: datetime, tz: tzinfo | str) -> str:
    """``"Monday 3 March 2025, 09:00 (Europe/Berlin)"``: ``due`` on the group's clock, in English."""
    _aware(due, "due")
    zone_ = _tz(tz)
    local = due.astimezone(zone_)
    return (
        f"{WEEKDAY_NAMES[local.weekday()]} {local.day} {_MONTH_NAMES[local.month - 1]} {local.year}, "
        f"{local.hour:02d}:{local.minute:02d} ({_tz_name(zone_)})"
    )


def discord_timestamp(due: datetime, style: str = "F") -> str:
    """``"<t:1741000000:F>"``: Discord shows the instant in each reader's own time zone."""
    _aware(due, "due")
    return f"<t:{math.floor(due.timestamp())}:{style}>"


def period_label(start: datetime, end: datetime, tz: tzinfo | str) -> str:
    """The week as local dates: ``"24 Feb – 2 Mar 2025"``, ``"3–9 Mar 2025"``, ``"29 Dec 2025 – 4 Jan 2026"``.

    Rule: the label runs from ``start``'s local date to the local day **before** ``end``'s date, i.e. the seven
    calendar days that begin on the day the week starts. A week from Monday 24 Feb 09:00 to Monday 3 Mar 09:00
    is "24 Feb – 2 Mar 2025": the first hours of 3 Mar belong to it, but naming 3 Mar would make the next
    week's label overlap this one; with this rule consecutive labels tile the calendar like the weeks tile
    time. (For a midnight schedule this is exactly start .. end − 1 µs.) A period shorter than that shows one
    day.
    """
    _aware(start, "start")
    _aware(end, "end")
    zone_ = _tz(tz)
    first = _local_date(start, zone_)
    last = max(first, _local_date(end, zone_) - _DAY)

    def month(day: date) -> str:
        return _MONTH_NAMES[day.month - 1][:3]

    if first == last:
        return f"{first.day} {month(first)} {first.year}"
    if first.year != last.year:
        return f"{first.day} {month(first)} {first.year} – {last.day} {month(last)} {last.year}"
    if first.month != last.month:
        return f"{first.day} {month(first)} – {last.day} {month(last)} {last.year}"
    return f"{first.day}–{last.day} {month(last)} {last.year}"
