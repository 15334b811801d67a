"""arXiv's calendar: when its listings change, when a feed is worth fetching again, and backing off after failures."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from storage.feeds.sources import ARXIV_LISTING, ARXIV_QUERY

__all__ = ["ARXIV_TZ", "DEFAULT_POLL_INTERVAL", "backoff_seconds", "next_fetch_delay", "next_poll_delay"]

ARXIV_TZ = ZoneInfo("America/New_York")
DEFAULT_POLL_INTERVAL = 30 * 60.0  # seconds; arXiv's listings change once a weekday, so this is plenty
RELEASE_AT = (0, 5)  # (hour, minute) US Eastern: arXiv rebuilds its listings at midnight; give it five minutes
QUIET_FROM_FRIDAY = 12  # hour US Eastern on Friday after which no listing changes until Monday's


def backoff_seconds(
    failures: int, *, base: float = 60, cap: float = 6 * 3600, rng: random.Random | None = None
) -> float:
    """Seconds to wait after ``failures`` consecutive failures: exponential with full jitter, at most ``cap``."""
    if failures <= 0:
        return 0.0
    ceiling = min(cap, base * 2.0 ** min(failures - 1, 64))
    return (rng or random).uniform(0.0, ceiling)


def _next_release(now_et: datetime) -> datetime:
    """The next weekday 00:05 US Eastern strictly after ``now_et``, as an aware UTC datetime."""
    hour, minute = RELEASE_AT
    day = now_et.date()
    for offset in range(8):
        candidate_day = day + timedelta(days=offset)
        if candidate_day.weekday() >= 5:
            continue
        candidate = datetime(candidate_day.year, candidate_day.month, candidate_day.day, hour, minute, tzinfo=ARXIV_TZ)
        if candidate > now_et:
            return candidate.astimezone(UTC)
    raise AssertionError("unreachable: a weekday comes within a week")  # pragma: no cover


def next_fetch_delay(kind: str, now: datetime, *, interval: float) -> float:
    """Seconds until a feed of this kind is fetched again after a success: arXiv's calendar, or the interval."""
    if kind in (ARXIV_LISTING, ARXIV_QUERY):
        return next_poll_delay(now, interval=interval)
    return float(interval)


def next_poll_delay(now: datetime, *, interval: float) -> float:
    """Seconds until the next poll of arXiv listings, following arXiv's calendar.

    arXiv rebuilds its listings once a weekday at midnight US Eastern (America/New_York, daylight saving time
    included) and not at all for Saturday and Sunday. With an ``interval`` below
    :data:`DEFAULT_POLL_INTERVAL` (tests, impatient self-hosters) the interval is returned as given.
    Otherwise: from Friday noon Eastern until Monday 00:05 Eastern nothing changes, so the delay runs to
    Monday 00:05; on other days it is ``interval``, cut short so that a poll lands at 00:05 on a listing day.
    A naive ``now`` is taken as UTC.
    """
    if not (interval > 0 and math.isfinite(interval)):
        raise ValueError(f"interval must be a positive number of seconds, not {interval!r}")
    if interval < DEFAULT_POLL_INTERVAL:
        return float(interval)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    now_utc = now.astimezone(UTC)
    now_et = now_utc.astimezone(ARXIV_TZ)
    until_release = (_next_release(now_et) - now_utc).total_seconds()
    weekday = now_et.weekday()
    quiet = weekday >= 5 or (weekday == 4 and now_et.hour >= QUIET_FROM_FRIDAY)
    if quiet:
        return until_release
    return min(float(interval), until_release)
