"""Reading what arXiv's API answers: its errors and its Atom feed of papers, without any HTTP.

Pure functions, apart from the parse being blocking (feedparser): the client (:mod:`schedules.arxiv`) runs it
in a worker thread, and a feed's listing (:mod:`schedules.feed_formats`) wherever it is parsed, a process of
its own included, which is why nothing here loads aiohttp or the database.
"""

from __future__ import annotations

import calendar
import io
import logging
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from storage.errors import PaperInputError
from storage.identity import paper_key
from storage.metadata import PaperMetadata
from storage.plain_text import collapse

__all__ = [
    "ArxivError",
    "ArxivQueryError",
    "ArxivUnavailable",
    "entry_to_metadata",
    "is_arxiv_category",
    "is_rate_exceeded",
    "parse_api_feed",
]

log = logging.getLogger("schedules.arxiv")

# arXiv categories look like cs.AI, cond-mat.str-el, astro-ph, q-bio.NC. Old entries also carry free-form
# MSC/ACM classes as <category> terms ("14C20, 14M99", "I.2.6"); those are not arXiv categories.
_CATEGORY = re.compile(r"[a-z]+(?:-[a-z]+)?(?:\.[A-Za-z]+(?:-[A-Za-z]+)?)?", re.ASCII)
_ABS_ID = re.compile(r"/abs/(?P<id>[^?#]+?)/*$")
_BAD_ID = re.compile(r"incorrect[ _]id[ _]format[ _]for[ _](?P<id>\S+)$")


def is_rate_exceeded(body: bytes) -> bool:
    """True for arXiv's plain-text answer ``Rate exceeded.``, whatever the HTTP status that came with it."""
    return body[:64].lstrip().lower().startswith(b"rate exceeded")


class ArxivError(Exception):
    """Something went wrong talking to arXiv."""


class ArxivQueryError(ArxivError):
    """arXiv rejected the query itself (a malformed id or search); asking again will not help."""

    def __init__(self, message: str, *, bad_id: str | None = None) -> None:
        super().__init__(message)
        self.bad_id = bad_id  # the id arXiv named as malformed, when it named one


class ArxivUnavailable(ArxivError):
    """arXiv could not answer now (overloaded, rate limited, unreachable); try again later."""

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


def is_arxiv_category(term: str) -> bool:
    """True when ``term`` looks like an arXiv category (``cs.AI``, ``hep-th``), not an MSC or ACM class."""
    return _CATEGORY.fullmatch(term) is not None


def _optional(text: object) -> str | None:
    return collapse(text) or None


def _timestamp(raw: object, parsed: time.struct_time | None) -> datetime | None:
    """An aware UTC datetime from an Atom date, preferring the text (it keeps the offset exactly)."""
    if isinstance(raw, str) and raw.strip():
        try:
            when = datetime.fromisoformat(raw.strip())
        except ValueError:
            pass
        else:
            return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
    if parsed:
        try:
            return datetime.fromtimestamp(calendar.timegm(parsed), UTC)  # feedparser's struct_time is UTC
        except (TypeError, ValueError):
            return None
    return None


def _categories(entry: Mapping[str, Any]) -> tuple[str, ...]:
    terms: list[str] = []
    primary = entry.get("arxiv_primary_category")
    if isinstance(primary, Mapping) and primary.get("term"):
        terms.append(str(primary["term"]).strip())
    terms.extend(str(tag.get("term") or "").strip() for tag in entry.get("tags") or ())
    return tuple(dict.fromkeys(term for term in terms if is_arxiv_category(term)))


def _is_error_entry(entry: Mapping[str, Any]) -> bool:
    entry_id = str(entry.get("id") or "")
    if "/api/errors" in entry_id:
        return True
    # A real paper may be titled "Error"; an error entry never links to an abstract page.
    return collapse(entry.get("title")) == "Error" and _ABS_ID.search(entry_id) is None


def entry_to_metadata(entry: Mapping[str, Any]) -> PaperMetadata | None:
    """Turn one feedparser entry from the arXiv API into :class:`PaperMetadata`; None if it is not a paper."""
    entry_id = str(entry.get("id") or "").strip()
    match = _ABS_ID.search(entry_id)
    if match is None:
        return None
    try:
        key = paper_key(match["id"])
    except PaperInputError:
        log.warning("skipping arXiv entry with an id I cannot read: %r", entry_id)
        return None
    if key.arxiv_id is None:
        return None
    doi_field = collapse(entry.get("arxiv_doi"))
    dois = doi_field.split()
    extra = {"dois": doi_field} if len(dois) > 1 else {}
    return PaperMetadata(
        key=key.key,
        title=collapse(entry.get("title")),
        version=key.version,
        authors=tuple(name for author in entry.get("authors") or () if (name := collapse(author.get("name")))),
        abstract=collapse(entry.get("summary")),
        categories=_categories(entry),
        published=_timestamp(entry.get("published"), entry.get("published_parsed")),
        updated=_timestamp(entry.get("updated"), entry.get("updated_parsed")),
        doi=dois[0] if dois else None,
        journal_ref=_optional(entry.get("arxiv_journal_ref")),
        comment=_optional(entry.get("arxiv_comment")),
        extra=extra,
    )


def body_snippet(body: bytes, size: int = 60) -> str:
    """The start of a body, quoted, for an error message."""
    text = collapse(body[:size].decode("utf-8", "replace"))
    return repr(text + ("..." if len(body) > size else ""))


def parse_api_feed(body: bytes) -> list[PaperMetadata]:
    """Papers in an arXiv API response body, in the order arXiv sent them.

    Raises :class:`ArxivQueryError` for arXiv's error feeds and :class:`ArxivUnavailable` for bodies that are
    not an Atom feed (an HTML error page, ``Rate exceeded.``, an empty or cut-off body).
    """
    if not body.strip():
        raise ArxivUnavailable("arXiv sent an empty response")
    if is_rate_exceeded(body):
        raise ArxivUnavailable("arXiv says: Rate exceeded.")
    import xml.sax  # with feedparser, which loads it anyway

    import feedparser  # here, not at the top: a bot that looks nothing up does not hold it (bench/idle_memory.py)

    # A stream, not the bytes themselves: feedparser tries to open() a bytes argument as a local file first.
    parsed = feedparser.parse(io.BytesIO(body), sanitize_html=False, resolve_relative_uris=False)
    version = str(parsed.get("version") or "")
    if not version.startswith("atom"):
        raise ArxivUnavailable(f"arXiv sent something other than an Atom feed: {body_snippet(body)}")
    if parsed.get("bozo") and isinstance(parsed.get("bozo_exception"), xml.sax.SAXException):
        raise ArxivUnavailable(f"arXiv sent a malformed feed ({parsed['bozo_exception']})")
    entries = parsed.get("entries") or []
    for entry in entries:
        if _is_error_entry(entry):
            message = collapse(entry.get("summary")) or "unknown error"
            named = _BAD_ID.search(message) or _BAD_ID.search(str(entry.get("id") or ""))
            raise ArxivQueryError(f"arXiv rejected the query: {message}", bad_id=named["id"] if named else None)
    papers: list[PaperMetadata] = []
    for entry in entries:
        if (paper := entry_to_metadata(entry)) is not None:
            papers.append(paper)
    return papers
