"""When a reading session is: a moderator's ``when`` read in the group's time zone, as one UTC instant.

Accepted, case-insensitively, with an optional ``at`` before the time:

* an ISO date and time: ``2026-12-10 18:00``, ``2026-12-10T18:00`` (seconds allowed, and any time of day
  :func:`schedules.digest_time.parse_time` reads: ``2026-12-10 6pm``);
* a weekday and a time: ``thursday 18:00`` is the coming Thursday (today, if it is Thursday and 18:00 is still
  ahead), ``next thursday 18:00`` the first Thursday after today (never today); short names work (``thu``);
* ``today 20:00``, ``tomorrow 18:30``.

The time of day and weekday words are the digest's (:mod:`schedules.digest_time`), so ``/digest schedule`` and
``/session schedule`` read times alike.

Wall times that do not happen once (daylight saving), the same rules as the digest's:

* a time the clocks skip (02:30 on the night Berlin springs forward) is **moved forward** by the gap (03:30
  CEST), and the answer carries a note saying so, for the moderator to read before the session is announced;
* a time that happens twice (02:30 on the night Berlin falls back) is its **first** occurrence (``fold=0``,
  still summer time), also with a note.

A time in the past, or more than a year ahead, is refused with a :class:`ValidationError`; so is anything else,
with a message listing the accepted forms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from schedules.digest_time import WEEKDAY_NAMES, describe, parse_time, parse_weekday
from storage.errors import ValidationError

__all__ = ["FORMS", "FURTHEST", "When", "parse_when"]

FORMS = (
    "Give the date and time as `2026-12-10 18:00`, or a day and a time: `thursday 18:00`, "
    "`next thursday 18:00`, `tomorrow 18:30`, `today 20:00` (in the server's time zone)."
)
FURTHEST = timedelta(days=366)  # a session further ahead than this is a typo more often than a plan
_MAX_INPUT_LEN = 100

_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[t ]\s*(?:at\s+)?(.+))?")
_ISO_SECONDS = re.compile(r"(\d{1,2}):(\d{2}):(\d{2})")
_DAY_AND_TIME = re.compile(r"(next\s+)?([a-z.]+)\s+(?:at\s+)?(.+)")


@dataclass(frozen=True, slots=True)
class When:
    """The instant a moderator named, and what to tell them about it."""

    instant: datetime  # aware, UTC
    note: str | None = None  # the wall time was skipped or doubled by a clock change: what was made of it


def _time_of(text: str | None) -> tuple[int, int]:
    if not text:
        raise ValidationError(f"Add the time of day. {FORMS}")
    seconds = _ISO_SECONDS.fullmatch(text.strip())
    if seconds:  # 18:00:00, as ISO writes it (seconds are dropped: sessions start on the minute)
        text = f"{seconds[1]}:{seconds[2]}"
    try:
        return parse_time(text)
    except ValidationError:
        raise ValidationError(f"`{_shown(text)}` is not a time of day I can read. {FORMS}") from None


def _shown(text: str) -> str:
    return text if len(text) <= 40 else text[:39] + "…"


def _local(day: date, hour: int, minute: int, tz: tzinfo) -> When:
    """The wall time on that local date as a UTC instant, with a note when the clocks skip or double it."""
    wall = datetime.combine(day, time(hour, minute))
    first = wall.replace(tzinfo=tz, fold=0)
    instant = first.astimezone(UTC)
    shown = f"{hour:02d}:{minute:02d} on {WEEKDAY_NAMES[day.weekday()]} {day.isoformat()}"
    if instant.astimezone(tz).replace(tzinfo=None) != wall:  # in a gap: zoneinfo reads it with the earlier offset
        moved = instant.astimezone(tz)
        return When(
            instant,
            f"{shown} does not exist in {_zone_name(tz)}: the clocks skip it. The session is at {moved:%H:%M} instead.",
        )
    second = wall.replace(tzinfo=tz, fold=1)
    if second.utcoffset() != first.utcoffset():
        return When(
            instant,
            f"{shown} happens twice in {_zone_name(tz)} (the clocks go back): "
            f"the session is at the first ({first.tzname()}).",
        )
    return When(instant)


def _zone_name(tz: tzinfo) -> str:
    key = getattr(tz, "key", None)
    return key if isinstance(key, str) else str(tz)


def _read(text: str, tz: tzinfo, now: datetime) -> When:
    today = now.astimezone(tz).date()
    iso = _ISO.fullmatch(text)
    if iso:
        try:
            day = date(int(iso[1]), int(iso[2]), int(iso[3]))
        except ValueError:
            raise ValidationError(f"`{_shown(text)}` is not a date on the calendar. {FORMS}") from None
        hour, minute = _time_of(iso[4])
        if abs(day - today) > FURTHEST + timedelta(days=2):  # far off either way (near year 1 or 9999 no instant is)
            shown = f"{WEEKDAY_NAMES[day.weekday()]} {day.isoformat()}"
            raise ValidationError(
                f"{shown} is in the past: give a time that is still ahead."
                if day < today
                else f"{shown} is more than a year away: give a nearer time."
            )
        return _local(day, hour, minute, tz)
    words = text.split(maxsplit=1)
    if words and words[0] in ("today", "tomorrow"):
        rest = words[1] if len(words) > 1 else None
        if rest and rest.startswith("at "):
            rest = rest[3:]
        day = today + timedelta(days=1 if words[0] == "tomorrow" else 0)
        return _local(day, *_time_of(rest), tz)
    named = _DAY_AND_TIME.fullmatch(text)
    if named:
        try:
            weekday = parse_weekday(named[2])
        except ValidationError:
            raise ValidationError(f"I can't read `{_shown(text)}` as a date and time. {FORMS}") from None
        hour, minute = _time_of(named[3])
        ahead = (weekday - today.weekday()) % 7
        if named[1]:  # "next thursday": after today, never today
            ahead = ahead or 7
            return _local(today + timedelta(days=ahead), hour, minute, tz)
        found = _local(today + timedelta(days=ahead), hour, minute, tz)
        if found.instant <= now:  # today, but the time has passed: the same day next week
            found = _local(today + timedelta(days=ahead + 7), hour, minute, tz)
        return found
    raise ValidationError(f"I can't read `{_shown(text)}` as a date and time. {FORMS}")


def parse_when(text: str, *, tz: tzinfo, now: datetime) -> When:
    """The instant ``text`` names in time zone ``tz``, later than ``now`` (aware); :class:`ValidationError` else."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    cleaned = " ".join(str(text).split()).lower()
    if not cleaned or len(cleaned) > _MAX_INPUT_LEN:
        raise ValidationError(f"I can't read that as a date and time. {FORMS}")
    when = _read(cleaned, tz, now)
    if when.instant <= now:
        raise ValidationError(f"{describe(when.instant, tz)} is in the past: give a time that is still ahead.")
    if when.instant - now > FURTHEST:
        raise ValidationError(f"{describe(when.instant, tz)} is more than a year away: give a nearer time.")
    return when
