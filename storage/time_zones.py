"""Time-zone names: looking up the zone a group names, and offering names for autocomplete.

Only names in the host's time-zone database are looked up, case-insensitively; the zone returned carries the
canonical spelling. :func:`zone` refuses an unknown name (for what a member types); :func:`zone_or_utc` falls
back to UTC (for a name stored earlier that this host no longer knows).
"""

from __future__ import annotations

import functools
import logging
from datetime import UTC, tzinfo
from zoneinfo import ZoneInfo, available_timezones

from storage.errors import ValidationError

__all__ = ["MAX_CHOICES", "timezone_choices", "zone", "zone_or_utc"]

log = logging.getLogger(__name__)

MAX_CHOICES = 25  # Discord's limit on autocomplete choices
_MAX_CHOICE_LEN = 100  # Discord's limit on a choice's name and value
_MAX_NAME_LEN = 100  # longer input is not a zone name

# In ``available_timezones()`` but no use to a group: the host's own setting, and tzdata's "zone unknown".
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})
# Old aliases kept by tzdata for compatibility; still accepted, but offered after the Area/City names.
_LEGACY_AREAS = frozenset({"Etc", "US", "Canada", "Brazil", "Mexico", "Chile", "SystemV"})
_POPULAR = (
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Paris",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
)


def _words(text: str) -> str:
    """Lower case, with ``/``, ``_`` and ``-`` read as spaces and runs of spaces as one."""
    return " ".join(text.lower().replace("/", " ").replace("_", " ").replace("-", " ").split())


@functools.cache
def _zone_names() -> tuple[str, ...]:
    """Every IANA zone name this host knows, sorted."""
    return tuple(sorted(name for name in available_timezones() if name not in _NOT_ZONES))


@functools.cache
def _zone_index() -> tuple[dict[str, str], tuple[tuple[str, str, str, bool], ...]]:
    """Names by their lower-case form, and per name: (name, its words, its city's words, is it legacy)."""
    by_lower = {name.lower(): name for name in _zone_names()}
    rows = tuple(
        (
            name,
            _words(name),
            _words(name.rsplit("/", 1)[-1]),
            ("/" not in name and name != "UTC") or name.split("/", 1)[0] in _LEGACY_AREAS,
        )
        for name in _zone_names()
    )
    return by_lower, rows


def zone(name: str) -> ZoneInfo:
    """The time zone with that IANA name (``"Europe/Berlin"``, ``"UTC"``); :class:`ValidationError` otherwise.

    Only names in the time-zone database are looked up, so paths, directories (``"America"``), empty or
    oversized input never reach the file system. Case does not matter; the zone returned carries the
    canonical spelling in ``.key`` (``zone("europe/berlin").key == "Europe/Berlin"``), which is what to store.
    """
    cleaned = str(name).strip()
    canonical = _zone_index()[0].get(cleaned.lower()) if len(cleaned) <= _MAX_NAME_LEN else None
    if canonical is not None:
        try:
            return ZoneInfo(canonical)
        except (ValueError, KeyError, OSError, UnicodeError):  # listed but unreadable: treat as unknown
            pass
    shown = cleaned if len(cleaned) <= 40 else cleaned[:39] + "…"
    raise ValidationError(
        f"`{shown}` is not a time zone I know. Pick one from the list, as Area/City (e.g. Europe/Berlin) or UTC."
    )


def timezone_choices(current: str, limit: int = MAX_CHOICES) -> list[str]:
    """Zone names for autocomplete: what matches ``current`` best first, at most ``limit`` (and 25).

    Matching is case-insensitive and reads ``/``, ``_`` and ``-`` as spaces, so ``"new york"`` finds
    ``America/New_York`` and ``"berlin"`` finds ``Europe/Berlin``. Ranking: the whole name or its city equal to
    the query, then a city starting with it, then a word starting with it, then the query anywhere, then
    every word of the query somewhere in the name; within a rank Area/City names come before old aliases
    (``US/Eastern``), then shorter names, then alphabetical. An empty query offers a few common zones.
    """
    limit = max(0, min(int(limit), MAX_CHOICES))
    query = _words(str(current)[: _MAX_NAME_LEN * 2])
    if not query:
        return [name for name in _POPULAR if _zone_index()[0].get(name.lower()) == name][:limit]
    tokens = query.split()
    ranked: list[tuple[int, bool, int, str]] = []
    for name, words, city, legacy in _zone_index()[1]:
        if words == query or city == query:
            rank = 0
        elif city.startswith(query):
            rank = 1
        elif words.startswith(query) or f" {query}" in words:
            rank = 2
        elif query in words:
            rank = 3
        elif all(token in words for token in tokens):
            rank = 4
        else:
            continue
        ranked.append((rank, legacy, len(name), name))
    ranked.sort()
    return [name for *_, name in ranked if len(name) <= _MAX_CHOICE_LEN][:limit]


def zone_or_utc(name: str | None) -> tzinfo:
    """The time zone a group chose, or UTC when the name is unknown (or the system has no time zone data)."""
    try:
        return zone(name or "UTC")
    except ValidationError:
        log.warning("unknown time zone %r; using UTC", name)
        return UTC
