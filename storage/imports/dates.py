"""Dates as posts write them (``22.11.2024``, ``28.11.24``, ``2025-01-08``, ``12/05/24``, ``March 14, 2025``).

Dots put the day first, slashes the month first (``12/05/24`` is 5 December). A date that breaks its neighbours'
sequence is flagged with the date proposed instead, never changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from storage.imports.plan import FlaggedDate

__all__ = ["WrittenDate", "find_date", "flag_out_of_sequence"]

_MONTH_NAMES = "jan feb mar apr may jun jul aug sep oct nov dec".split()
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DATE = re.compile(
    r"(?<![\d.])(?:"
    r"(?P<d1>\d{1,2})\.(?P<m1>\d{1,2})\.(?P<y1>\d{4}|\d{2})"
    r"|(?P<y2>\d{4})-(?P<m2>\d{1,2})-(?P<d2>\d{1,2})"
    r"|(?P<m3>\d{1,2})/(?P<d3>\d{1,2})/(?P<y3>\d{4}|\d{2})"
    rf"|(?P<mon4>{_MONTH})\s+(?P<d4>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y4>\d{{4}})"
    rf"|(?P<d5>\d{{1,2}})(?:st|nd|rd|th)?\s+(?P<mon5>{_MONTH}),?\s+(?P<y5>\d{{4}})"
    r")(?![\d/])",
    re.IGNORECASE,
)
# Neighbours further apart than this say nothing about the post between them.
_NEIGHBOURS_SPAN = timedelta(days=62)
_SLACK = timedelta(days=31)


@dataclass(frozen=True, slots=True)
class WrittenDate:
    """A date found in a line: where it is, as written, and the day it names (None: no such day, ``31.02.25``)."""

    text: str
    start: int
    end: int
    day: date | None


def _year(text: str) -> int:
    # Two-digit years in a channel of paper posts are this century's.
    return int(text) + 2000 if len(text) == 2 else int(text)


def _month(name: str) -> int:
    return _MONTH_NAMES.index(name[:3].lower()) + 1


def find_date(text: str) -> WrittenDate | None:
    """The first date written in ``text``, or None."""
    m = _DATE.search(text)
    if m is None:
        return None
    if m["d1"]:
        parts = (_year(m["y1"]), int(m["m1"]), int(m["d1"]))
    elif m["y2"]:
        parts = (int(m["y2"]), int(m["m2"]), int(m["d2"]))
    elif m["m3"]:
        parts = (_year(m["y3"]), int(m["m3"]), int(m["d3"]))
    elif m["mon4"]:
        parts = (int(m["y4"]), _month(m["mon4"]), int(m["d4"]))
    else:
        parts = (int(m["y5"]), _month(m["mon5"]), int(m["d5"]))
    try:
        day: date | None = date(*parts)
    except ValueError:
        day = None
    return WrittenDate(m.group(0), m.start(), m.end(), day)


def _in_year(day: date, year: int) -> date | None:
    try:
        return day.replace(year=year)
    except ValueError:  # 29 February
        return None


def flag_out_of_sequence(posts: list[tuple[int, str, date]]) -> list[FlaggedDate]:
    """Dates (line, as written, day; in document order) whose year breaks the sequence of their neighbours.

    A date is flagged when its neighbours agree with each other (at most two months apart), it lies far outside
    them, and the same day in a neighbour's year falls among them: ``28.11.23`` between ``27.11.24`` and ``29.11.24``.
    """
    flagged: list[FlaggedDate] = []
    for i, (line, text, day) in enumerate(posts):
        if 0 < i < len(posts) - 1:
            neighbours = [posts[i - 1][2], posts[i + 1][2]]
        elif len(posts) >= 3:
            # The first or last post: judged against the two posts next to it, which must agree with each other.
            neighbours = [posts[1][2], posts[2][2]] if i == 0 else [posts[-2][2], posts[-3][2]]
        else:
            continue
        low, high = min(neighbours), max(neighbours)
        if high - low > _NEIGHBOURS_SPAN or low - _SLACK <= day <= high + _SLACK:
            continue
        # The first or last post's proposal may land a little further from its neighbours.
        tolerance = timedelta(days=7) if 0 < i < len(posts) - 1 else _SLACK
        for year in sorted({neighbour.year for neighbour in neighbours}):
            proposed = _in_year(day, year)
            if proposed is not None and low - tolerance <= proposed <= high + tolerance:
                why = (
                    f"{text} reads as {day.isoformat()}, but the posts around it are from "
                    f"{low.isoformat()} to {high.isoformat()}: the year looks mistyped"
                )
                flagged.append(FlaggedDate(line=line, text=text, read_as=day, proposed=proposed, why=why))
                break
    return flagged
