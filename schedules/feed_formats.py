"""Reading a feed's body: arXiv's RSS 2.0, Atom and old RSS 1.0 listings, the arXiv API, and any other RSS/Atom feed.

Pure functions (feedparser is blocking: run :func:`parse_listing` off the event loop, as
:func:`schedules.feed_answers.read_listing` does).
"""

from __future__ import annotations

import calendar
import dataclasses
import functools
import hashlib
import io
import logging
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schedules.arxiv_answers import (
    ArxivQueryError,
    ArxivUnavailable,
    is_arxiv_category,
    is_rate_exceeded,
    parse_api_feed,
)
from storage.errors import PaperInputError, UserFacingError
from storage.feeds.caps import (
    MAX_AUTHOR_CHARS,
    MAX_AUTHORS,
    MAX_CATEGORIES,
    MAX_LINK_CHARS,
    MAX_TITLE_CHARS,
    capped,
    within_caps,
)
from storage.feeds.categories import CATEGORIES, canonical_category
from storage.feeds.sources import ARXIV_LISTING, ARXIV_QUERY, WEB
from storage.identity import PaperKey, paper_key
from storage.metadata import PaperMetadata
from storage.plain_text import collapse, unlatex

__all__ = ["ANNOUNCE_TYPES", "API_MARK", "FeedError", "FeedItem", "Listing", "parse_listing"]

log = logging.getLogger(__name__)

ANNOUNCE_TYPES = frozenset({"new", "cross", "replace", "replace-cross"})
API_MARK = b"a9.com/-/spec/opensearch"  # in the head of an arXiv API answer

_OAI_PREFIX = re.compile(r"^oai:arXiv\.org:", re.IGNORECASE)
_ANNOUNCED = re.compile(
    r"^\s*arXiv:(?P<id>\S+?)\s+Announce\s+Type:\s*(?P<type>[\w-]+)\s*(?:Abstract:\s*)?(?P<abstract>.*)$",
    re.DOTALL | re.IGNORECASE,
)
# The old RSS 1.0 listings end each title with "(arXiv:1808.09999v2 [cs.LG] UPDATED)".
_RSS1_SUFFIX = re.compile(
    r"\.?\s*\(arXiv:(?P<id>[^\s\[\]()]+)\s*\[(?P<category>[^\]]*)\]\s*(?P<flag>UPDATED|CROSS LISTED)?\s*\)\s*$"
)
_LISTING_TITLE = re.compile(r"^(?P<category>\S+) updates on arXiv\.org$", re.IGNORECASE)
_TAG = re.compile(r"<!--.*?-->|</?[A-Za-z][\w:.-]*(?:\s[^<>]*)?/?>", re.DOTALL)
_ENTRY_END = re.compile(rb"</(?:[\w.-]+:)?(?:entry|item)\s*>")
_ROOT_END = re.compile(rb"</(?:[\w.-]+:)?(?:rss|feed|RDF)\s*>\s*$")
_HTML_START = re.compile(
    rb"^(?:\xef\xbb\xbf)?\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)\b", re.IGNORECASE | re.DOTALL
)
_HTML_TITLE = re.compile(rb"<title[^>]*>(?P<title>.*?)</title>", re.IGNORECASE | re.DOTALL)
_ERROR_PAGE = re.compile(
    rb"\b(?:5\d\d|429|408|unavailable|overloaded|maintenance|too many requests|rate limit|try again)\b", re.IGNORECASE
)
_XML_TITLE = re.compile(r"<title[^>]*>(?P<title>.*?)</title>", re.DOTALL)
_XML_UPDATED = re.compile(r"<updated>(?P<when>[^<]+)</updated>")


class FeedError(UserFacingError):
    """A feed could not be read; ``retryable`` says whether asking again later may help."""

    def __init__(
        self, message: str, *, retryable: bool, retry_after: float | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status

    def __reduce__(self) -> tuple[Any, ...]:
        """Rebuilt whole in another process (a large listing is parsed in a worker process): message, attributes."""
        return functools.partial(type(self), retryable=self.retryable), self.args, self.__dict__


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One paper as a feed lists it."""

    key: str  # canonical paper key: arxiv:2504.17830, doi:..., url:...
    version: int | None
    title: str
    abstract: str
    authors: tuple[str, ...]
    categories: tuple[str, ...]  # primary first
    announce_type: str | None  # new, cross, replace, replace-cross; None when the feed does not say
    link: str
    published: datetime | None  # aware UTC: the announcement date in arXiv listings
    doi: str | None = None
    journal_ref: str | None = None
    comment: str | None = None
    updated: datetime | None = None

    @property
    def is_replacement(self) -> bool:
        """True for a new version of a paper announced earlier (``replace`` or ``replace-cross``)."""
        return self.announce_type in ("replace", "replace-cross")

    def to_metadata(self) -> PaperMetadata:
        """The item as paper metadata for storage.

        A listing's date is the day arXiv announced this version, so it stands for the paper's publication date
        only when the paper itself is new (or when the feed gives real dates, as the arXiv API does).
        """
        first_listing = self.announce_type in (None, "new")
        return PaperMetadata(
            key=self.key,
            title=self.title,
            version=self.version,
            authors=self.authors,
            abstract=self.abstract,
            categories=self.categories,
            published=self.published if first_listing else None,
            updated=self.updated,
            doi=self.doi,
            journal_ref=self.journal_ref,
            comment=self.comment,
        )


@dataclass(frozen=True, slots=True)
class Listing:
    """Everything one fetch of a feed listed."""

    items: tuple[FeedItem, ...]
    title: str
    built: datetime | None  # when the feed says it was built (lastBuildDate, updated), aware UTC
    fingerprint: str  # the same for two listings with the same papers, versions and announce types
    partial: bool = False  # the body was cut off or not well-formed, and these are the items recovered
    kind: str = WEB  # arxiv-listing, arxiv-query or web (the spelling of storage.feeds.kinds.FeedKind)


# Text helpers


def _unescape(text: str) -> str:
    import html  # loaded on first use, not held from start (bench/idle_memory.py)

    return html.unescape(text)


def _strip_tags(text: str) -> str:
    return _unescape(_TAG.sub(" ", text))


def _when(parsed: object) -> datetime | None:
    """An aware UTC datetime from one of feedparser's struct_time values (which are UTC)."""
    if not isinstance(parsed, time.struct_time):
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _split_authors(text: str) -> tuple[str, ...]:
    """Names from arXiv's comma-joined author line, without the affiliations some carry in parentheses."""
    names: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char in "([":
            depth += 1
        elif char in ")]":
            depth = max(0, depth - 1)
        if char == "," and depth == 0:
            names.append("".join(current))
            current = []
        else:
            current.append(char)
    names.append("".join(current))
    cleaned = (collapse(unlatex(_strip_parenthesised(name))) for name in names)
    return tuple(name for name in cleaned if name)


def _strip_parenthesised(text: str) -> str:
    out: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif depth == 0:
            out.append(char)
    return "".join(out)


def _safe_key(text: str) -> PaperKey | None:
    try:
        return paper_key(text)
    except PaperInputError:
        return None


# Parsing


def _not_a_feed(body: bytes, *, quote: bool) -> FeedError:
    """The error for a body that is no feed at all; retryable when it looks like a server's error page.

    Only arXiv's own pages are quoted: another address's page title or text could be something the member
    who named the address may not read (an intranet page, a secret), so for those only what failed is said.
    """
    if _HTML_START.match(body[:2048]):
        title = _HTML_TITLE.search(body[:4096])
        shown = collapse(_unescape(title["title"].decode("utf-8", "replace")))[:80] if title and quote else ""
        transient = bool(title and _ERROR_PAGE.search(title["title"]))
        what = f"an HTML page ({shown!r})" if shown else "an HTML page"
        return FeedError(f"The feed sent {what}, not RSS or Atom.", retryable=transient)
    if not quote:
        return FeedError("The feed sent something that is not RSS or Atom.", retryable=False)
    snippet = collapse(body[:60].decode("utf-8", "replace"))
    return FeedError(f"The feed sent something that is not RSS or Atom: {snippet!r}.", retryable=False)


def _fingerprint(items: tuple[FeedItem, ...]) -> str:
    lines = sorted(f"{item.key} {item.version or ''} {item.announce_type or ''}" for item in items)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _listing(items: list[FeedItem], *, title: str, built: datetime | None, partial: bool, kind: str) -> Listing:
    first: dict[str, FeedItem] = {}
    for item in items:
        first.setdefault(item.key, within_caps(item))  # a paper listed twice counts once, where it first appears
    unique = tuple(first.values())
    title = capped(title, MAX_TITLE_CHARS)
    return Listing(items=unique, title=title, built=built, fingerprint=_fingerprint(unique), partial=partial, kind=kind)


def _api_listing(body: bytes, *, quote: bool) -> Listing:
    """A feed from the arXiv API, read by the API client's own parser."""
    try:
        papers = parse_api_feed(body)
    except ArxivQueryError as exc:
        raise FeedError(str(exc) if quote else "The feed sent an error instead of items.", retryable=False) from exc
    except ArxivUnavailable as exc:
        raise FeedError(str(exc) if quote else "The feed sent an unreadable answer.", retryable=True) from exc
    head = body[:8192].decode("utf-8", "replace")
    head = head.split("<entry", 1)[0]
    title_match = _XML_TITLE.search(head)
    updated = _XML_UPDATED.search(head)
    built = None
    if updated is not None:
        try:
            when = datetime.fromisoformat(updated["when"].strip())
            built = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
        except ValueError:
            built = None
    items = [
        FeedItem(
            key=paper.key,
            version=paper.version,
            title=paper.title,
            abstract=paper.abstract,
            authors=paper.authors,
            categories=paper.categories,
            announce_type=None,
            link=PaperKey(paper.key).abs_url,
            published=paper.published,
            doi=paper.doi,
            journal_ref=paper.journal_ref,
            comment=paper.comment,
            updated=paper.updated,
        )
        for paper in papers
    ]
    title = collapse(_unescape(title_match["title"])) if title_match else ""
    return _listing(items, title=title, built=built, partial=False, kind=ARXIV_QUERY)


def _listing_category(feed_title: str) -> str | None:
    """The category an arXiv listing covers, from its title ("cs updates on arXiv.org" -> "cs")."""
    match = _LISTING_TITLE.match(feed_title)
    return match["category"] if match else None


def _rss1_announce(primary: str, flag: str | None, listed: str | None) -> str:
    """Announce type for an old RSS 1.0 item, whose title says UPDATED for a replacement."""
    cross = flag == "CROSS LISTED"
    if listed and primary and not cross:
        covered = {part.lower() for part in listed.split("+")}
        home = primary.lower()
        cross = home not in covered and home.split(".", 1)[0] not in covered
    if flag == "UPDATED":
        return "replace-cross" if cross else "replace"
    return "cross" if cross else "new"


def _entry_categories(entry: Mapping[str, Any], *, arxiv: bool) -> tuple[str, ...]:
    terms = (str(tag.get("term") or "").strip() for tag in entry.get("tags") or ())
    if arxiv:
        chosen = (canonical_category(term) or term for term in terms if is_arxiv_category(term))
    else:
        chosen = (name for term in terms if (name := canonical_category(term)) in CATEGORIES)
    return _first_distinct(chosen, MAX_CATEGORIES)


def _first_distinct(values: Iterable[str], most: int) -> tuple[str, ...]:
    """The first ``most`` distinct values, in order; the rest are never read (a feed may list any number)."""
    kept: dict[str, None] = {}
    for value in values:
        kept[value] = None
        if len(kept) >= most:
            break
    return tuple(kept)


def _entry_authors(entry: Mapping[str, Any], *, arxiv: bool) -> tuple[str, ...]:
    return _first_distinct(_author_names(entry, arxiv=arxiv), MAX_AUTHORS)


def _author_names(entry: Mapping[str, Any], *, arxiv: bool) -> Iterator[str]:
    for author in entry.get("authors") or ():
        # arXiv joins a paper's names in one line: beyond what every kept name could fill, it is not read
        raw = str(author.get("name") or "")[: MAX_AUTHORS * MAX_AUTHOR_CHARS] if isinstance(author, Mapping) else ""
        if "<" in raw:
            raw = _strip_tags(raw)
        if arxiv:
            yield from _split_authors(raw)
        elif name := collapse(raw):
            yield name


def _entry_item(entry: Mapping[str, Any], *, listed: str | None) -> FeedItem | None:
    """One feed entry as a :class:`FeedItem`; None when it names nothing a member could read."""
    title = collapse(entry.get("title"))
    link = str(entry.get("link") or "").strip()
    guid = str(entry.get("id") or "").strip()
    summary = str(entry.get("summary") or "")
    announce = collapse(entry.get("arxiv_announce_type")).lower() or None

    key: PaperKey | None = None
    listed_by_arxiv = False  # an item of an arXiv listing, not just a link to arXiv in someone's feed
    abstract: str
    if (announced := _ANNOUNCED.match(summary)) is not None:
        key = _safe_key(announced["id"])
        announce = announce or announced["type"].lower()
        abstract = collapse(announced["abstract"])
        listed_by_arxiv = key is not None and key.scheme == "arxiv"
    else:
        detail = entry.get("summary_detail")
        is_html = isinstance(detail, Mapping) and "html" in str(detail.get("type") or "")
        abstract = collapse(_strip_tags(summary) if is_html and "<" in summary else summary)

    categories_from_title: tuple[str, ...] = ()
    if (suffix := _RSS1_SUFFIX.search(title)) is not None:
        suffix_key = _safe_key(suffix["id"])
        if suffix_key is not None and suffix_key.scheme == "arxiv":
            title = title[: suffix.start()].rstrip()
            key = key or suffix_key
            listed_by_arxiv = True
            primary = canonical_category(suffix["category"].strip()) or suffix["category"].strip()
            categories_from_title = (primary,) if is_arxiv_category(primary) else ()
            announce = announce or _rss1_announce(primary, suffix["flag"], listed)

    if _OAI_PREFIX.match(guid):
        key = key or _safe_key(_OAI_PREFIX.sub("", guid))
        listed_by_arxiv = key is not None
    if key is None and link:
        key = _safe_key(link)
    if key is None and guid and "://" in guid:
        key = _safe_key(guid)
    if key is None:
        log.debug("skipping a feed entry with no usable link: %r", title[:80])
        return None
    if announce is not None and announce not in ANNOUNCE_TYPES:
        log.debug("unknown announce type %r for %s", announce, key.key)
    version = key.version
    if version is None and listed_by_arxiv and _OAI_PREFIX.match(guid):
        version = (_safe_key(_OAI_PREFIX.sub("", guid)) or key).version
    key = PaperKey(key.key)
    categories = _entry_categories(entry, arxiv=listed_by_arxiv) or categories_from_title
    return FeedItem(
        key=key.key,
        version=version,
        title=title,
        abstract=abstract,
        authors=_entry_authors(entry, arxiv=listed_by_arxiv),
        categories=categories,
        announce_type=announce,
        link=link if link and len(link) <= MAX_LINK_CHARS else key.abs_url,  # a link cut short leads nowhere
        published=_when(entry.get("published_parsed")) or _when(entry.get("updated_parsed")),
        doi=collapse(entry.get("arxiv_doi")).split(" ")[0] or None,
        journal_ref=collapse(entry.get("arxiv_journal_reference") or entry.get("arxiv_journal_ref")) or None,
    )


def parse_listing(body: bytes, *, quote: bool = False) -> Listing:
    """Read a feed body: arXiv's RSS 2.0, Atom and old RSS 1.0 listings, the arXiv API, or any RSS/Atom feed.

    Blocking (feedparser); run it off the event loop. An empty listing (arXiv on a weekend) is a normal, empty
    :class:`Listing`. A body cut off after some complete items gives those items with ``partial=True``.
    Raises :class:`FeedError` for bodies that are not feeds (an HTML error page, ``Rate exceeded.``, nothing
    at all, an arXiv API error feed, a cut-off body with no complete item); their messages quote the body
    (a page title, arXiv's error text) only with ``quote``, for answers from arXiv itself.
    """
    if not body.strip():
        raise FeedError("The feed sent an empty response.", retryable=True)
    if is_rate_exceeded(body):
        raise FeedError("arXiv says: Rate exceeded.", retryable=True)
    head = body[:8192]
    if API_MARK in head and b"<feed" in head:
        return _api_listing(body, quote=quote)
    import xml.sax  # with feedparser, which loads it anyway

    import feedparser  # here, not at the top: a bot that looks nothing up does not hold it (bench/idle_memory.py)

    # A stream, not the bytes themselves: feedparser tries to open() a bytes argument as a local file first.
    parsed = feedparser.parse(io.BytesIO(body), sanitize_html=False, resolve_relative_uris=False)
    version = str(parsed.get("version") or "")
    broken = bool(parsed.get("bozo")) and isinstance(parsed.get("bozo_exception"), xml.sax.SAXException)
    if not version.startswith(("rss", "atom", "cdf")):
        looks_xml = head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<?xml")
        if broken and looks_xml and not _HTML_START.match(head) and not _ROOT_END.search(body[-256:]):
            raise FeedError("The feed was cut off before its first item.", retryable=True)
        raise _not_a_feed(body, quote=quote)
    entries: list[Any] = list(parsed.get("entries") or [])
    partial = False
    if broken:
        # feedparser keeps the entry that was cut off; only entries that were closed are complete.
        complete = len(_ENTRY_END.findall(body))
        if complete < len(entries):
            entries = entries[:complete]
        partial = True
        if not entries and not _ROOT_END.search(body[-256:]):
            why = f" ({parsed['bozo_exception']})" if quote else ""
            raise FeedError(f"The feed was cut off or malformed and no item could be read{why}.", retryable=True)
    feed = parsed.get("feed") or {}
    title = collapse(feed.get("title"))
    listed = _listing_category(title)
    items = [item for entry in entries if (item := _entry_item(entry, listed=listed)) is not None]
    if entries and not items:
        log.info("feed %r listed %d entries, none of them usable", title[:80], len(entries))
    is_listing = listed is not None or any(item.announce_type for item in items)
    built = _when(feed.get("updated_parsed")) or _when(feed.get("published_parsed"))
    if is_listing and built is not None:
        # The old RSS 1.0 listings date only the channel: every item in them was announced that day.
        items = [item if item.published else dataclasses.replace(item, published=built) for item in items]
    return _listing(items, title=title, built=built, partial=partial, kind=ARXIV_LISTING if is_listing else WEB)
