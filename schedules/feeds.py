"""Reading feeds: fetching a feed politely, parsing arXiv listings and other RSS/Atom feeds, and filtering items.

Everything here is a pure function except :func:`fetch_feed`, which makes one HTTP request and reports what
came back; the poller decides what to do about it (back off, try later, pause a feed).
"""

from __future__ import annotations

import calendar
import contextlib
import dataclasses
import hashlib
import html
import io
import logging
import math
import random
import re
import time
import unicodedata
import xml.sax
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import aiohttp
import feedparser
from yarl import URL

from schedules.addresses import AddressGuard, AddressNotAllowed, shown_url
from schedules.arxiv import (
    DEFAULT_USER_AGENT,
    ArxivQueryError,
    ArxivUnavailable,
    is_arxiv_category,
    parse_api_feed,
    parse_retry_after,
)
from schedules.caches import bytes_bounded
from schedules.categories import CATEGORIES, canonical_category
from schedules.ratelimit import ArxivLimiter, is_arxiv_url
from storage.errors import PaperInputError, UserFacingError
from storage.feeds.listed_papers import MAX_ABSTRACT_CHARS, MAX_TITLE_CHARS, capped
from storage.identity import PaperKey, paper_key
from storage.metadata import PaperMetadata

__all__ = [
    "ANNOUNCE_TYPES",
    "ARXIV_TZ",
    "DEFAULT_POLL_INTERVAL",
    "FeedError",
    "FeedItem",
    "FetchResult",
    "Listing",
    "backoff_seconds",
    "fetch_feed",
    "keyword_terms",
    "listing_from",
    "matches",
    "next_fetch_delay",
    "next_poll_delay",
    "parse_listing",
]

log = logging.getLogger(__name__)

ANNOUNCE_TYPES = frozenset({"new", "cross", "replace", "replace-cross"})
ARXIV_TZ = ZoneInfo("America/New_York")
DEFAULT_POLL_INTERVAL = 30 * 60.0  # seconds; arXiv's listings change once a weekday, so this is plenty
RELEASE_AT = (0, 5)  # (hour, minute) US Eastern: arXiv rebuilds its listings at midnight; give it five minutes
QUIET_FROM_FRIDAY = 12  # hour US Eastern on Friday after which no listing changes until Monday's
RATE_LIMIT_PAUSE = 10.0  # seconds to hold arXiv traffic after a 429 or "Rate exceeded." that names no delay
MAX_WAIT = 300.0  # seconds fetch_feed will wait out an arXiv pause before giving up on this cycle

# Kinds of feed, with the same spelling as storage.models.FeedKind.
ARXIV_LISTING = "arxiv-listing"
ARXIV_QUERY = "arxiv-query"
WEB = "web"

_ACCEPT = "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, application/xml;q=0.9, */*;q=0.5"
_CHUNK = 64 * 1024
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
_API_MARK = b"a9.com/-/spec/opensearch"
_XML_TITLE = re.compile(r"<title[^>]*>(?P<title>.*?)</title>", re.DOTALL)
_XML_UPDATED = re.compile(r"<updated>(?P<when>[^<]+)</updated>")
_TRANSIENT_STATUS = frozenset({408, 425, 429})


class FeedError(UserFacingError):
    """A feed could not be read; ``retryable`` says whether asking again later may help."""

    def __init__(
        self, message: str, *, retryable: bool, retry_after: float | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


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
    kind: str = WEB  # arxiv-listing, arxiv-query or web (the spelling of storage.models.FeedKind)


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one conditional GET of a feed brought back."""

    status: int
    body: bytes | None
    etag: str | None
    last_modified: str | None
    retry_after: float | None  # seconds the server asked us to wait (429/503), else None
    not_modified: bool  # 304: the feed is as it was at the last fetch
    from_arxiv: bool = False  # arXiv or the operator's own endpoint answered: its error text may be quoted


# Text helpers


_LATEX_ACCENTS = {
    "'": "\u0301",
    "`": "\u0300",
    "^": "\u0302",
    '"': "\u0308",
    "~": "\u0303",
    "=": "\u0304",
    ".": "\u0307",
    "u": "\u0306",
    "v": "\u030c",
    "H": "\u030b",
    "c": "\u0327",
    "k": "\u0328",
    "r": "\u030a",
}
_LATEX_ACCENT = re.compile(r"\\(?P<accent>['`^\"~=.]|[uvHckr](?=[\s{]))\s*(?:\{\s*(?P<braced>\w)\s*\}|(?P<bare>\w))")
_LATEX_COMMAND = re.compile(r"\\(?P<name>[A-Za-z]+)\*?")
_LATEX_LETTERS = {
    "o": "ø",
    "O": "Ø",
    "l": "ł",
    "L": "Ł",
    "ss": "ß",
    "ae": "æ",
    "AE": "Æ",
    "oe": "œ",
    "OE": "Œ",
    "aa": "å",
    "AA": "Å",
    "i": "i",  # dotless i and j only ever carry an accent
    "j": "j",
}
_LATEX_LETTER = re.compile(r"\\(?P<name>ss|ae|AE|oe|OE|aa|AA|[oOlLij])(?![A-Za-z])(?:\s*\{\})?")
_LATEX_GROUP = re.compile(r"\{(?P<inner>[^{}\\$]*)\}")


def _latex_letters(text: str) -> str:
    """LaTeX accents and special letters as Unicode (``G\\"unther`` -> ``Günther``), braces left in place."""
    text = _LATEX_LETTER.sub(lambda m: _LATEX_LETTERS[m["name"]], text)
    return _LATEX_ACCENT.sub(lambda m: (m["braced"] or m["bare"]) + _LATEX_ACCENTS[m["accent"]], text)


def _unlatex(text: str) -> str:
    """A name written in LaTeX as plain Unicode (``S{\\o}ren G\\"unther`` -> ``Søren Günther``)."""
    if "\\" not in text:
        return text
    return unicodedata.normalize("NFC", _LATEX_GROUP.sub(lambda m: m["inner"], _latex_letters(text)))


def _collapse(text: object) -> str:
    return " ".join(str(text).split()) if text else ""


def _strip_tags(text: str) -> str:
    return html.unescape(_TAG.sub(" ", text))


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
    cleaned = (_collapse(_unlatex(_strip_parenthesised(name))) for name in names)
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
        shown = _collapse(html.unescape(title["title"].decode("utf-8", "replace")))[:80] if title and quote else ""
        transient = bool(title and _ERROR_PAGE.search(title["title"]))
        what = f"an HTML page ({shown!r})" if shown else "an HTML page"
        return FeedError(f"The feed sent {what}, not RSS or Atom.", retryable=transient)
    if not quote:
        return FeedError("The feed sent something that is not RSS or Atom.", retryable=False)
    snippet = _collapse(body[:60].decode("utf-8", "replace"))
    return FeedError(f"The feed sent something that is not RSS or Atom: {snippet!r}.", retryable=False)


def _is_rate_exceeded(body: bytes) -> bool:
    return body[:64].lstrip().lower().startswith(b"rate exceeded")


def _fingerprint(items: tuple[FeedItem, ...]) -> str:
    lines = sorted(f"{item.key} {item.version or ''} {item.announce_type or ''}" for item in items)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _within_caps(item: FeedItem) -> FeedItem:
    """The item with its title and abstract cut as they are stored: a listing is held while its poll lasts."""
    if len(item.title) <= MAX_TITLE_CHARS and len(item.abstract) <= MAX_ABSTRACT_CHARS:
        return item
    title, abstract = capped(item.title, MAX_TITLE_CHARS), capped(item.abstract, MAX_ABSTRACT_CHARS)
    return dataclasses.replace(item, title=title, abstract=abstract)


def _listing(items: list[FeedItem], *, title: str, built: datetime | None, partial: bool, kind: str) -> Listing:
    first: dict[str, FeedItem] = {}
    for item in items:
        first.setdefault(item.key, _within_caps(item))  # a paper listed twice counts once, where it first appears
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
    title = _collapse(html.unescape(title_match["title"])) if title_match else ""
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
        chosen = [canonical_category(term) or term for term in terms if is_arxiv_category(term)]
    else:
        chosen = [name for term in terms if (name := canonical_category(term)) in CATEGORIES]
    return tuple(dict.fromkeys(chosen))


def _entry_authors(entry: Mapping[str, Any], *, arxiv: bool) -> tuple[str, ...]:
    names: list[str] = []
    for author in entry.get("authors") or ():
        raw = str(author.get("name") or "") if isinstance(author, Mapping) else ""
        if "<" in raw:
            raw = _strip_tags(raw)
        if arxiv:
            names.extend(_split_authors(raw))
        elif name := _collapse(raw):
            names.append(name)
    return tuple(dict.fromkeys(names))


def _entry_item(entry: Mapping[str, Any], *, listed: str | None) -> FeedItem | None:
    """One feed entry as a :class:`FeedItem`; None when it names nothing a member could read."""
    title = _collapse(entry.get("title"))
    link = str(entry.get("link") or "").strip()
    guid = str(entry.get("id") or "").strip()
    summary = str(entry.get("summary") or "")
    announce = _collapse(entry.get("arxiv_announce_type")).lower() or None

    key: PaperKey | None = None
    listed_by_arxiv = False  # an item of an arXiv listing, not just a link to arXiv in someone's feed
    abstract: str
    if (announced := _ANNOUNCED.match(summary)) is not None:
        key = _safe_key(announced["id"])
        announce = announce or announced["type"].lower()
        abstract = _collapse(announced["abstract"])
        listed_by_arxiv = key is not None and key.scheme == "arxiv"
    else:
        detail = entry.get("summary_detail")
        is_html = isinstance(detail, Mapping) and "html" in str(detail.get("type") or "")
        abstract = _collapse(_strip_tags(summary) if is_html and "<" in summary else summary)

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
        link=link or key.abs_url,
        published=_when(entry.get("published_parsed")) or _when(entry.get("updated_parsed")),
        doi=_collapse(entry.get("arxiv_doi")).split(" ")[0] or None,
        journal_ref=_collapse(entry.get("arxiv_journal_reference") or entry.get("arxiv_journal_ref")) or None,
    )


def parse_listing(body: bytes, *, quote: bool = False) -> Listing:
    """Read a feed body: arXiv's RSS 2.0, Atom and old RSS 1.0 listings, the arXiv API, or any RSS/Atom feed.

    Blocking (feedparser); run it in a worker thread. An empty listing (arXiv on a weekend) is a normal, empty
    :class:`Listing`. A body cut off after some complete items gives those items with ``partial=True``.
    Raises :class:`FeedError` for bodies that are not feeds (an HTML error page, ``Rate exceeded.``, nothing
    at all, an arXiv API error feed, a cut-off body with no complete item); their messages quote the body
    (a page title, arXiv's error text) only with ``quote``, for answers from arXiv itself.
    """
    if not body.strip():
        raise FeedError("The feed sent an empty response.", retryable=True)
    if _is_rate_exceeded(body):
        raise FeedError("arXiv says: Rate exceeded.", retryable=True)
    head = body[:8192]
    if _API_MARK in head and b"<feed" in head:
        return _api_listing(body, quote=quote)
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
    title = _collapse(feed.get("title"))
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


def listing_from(result: FetchResult) -> Listing | None:
    """The listing a fetch brought, None when unchanged (304); :class:`FeedError` for an HTTP error or a non-feed.

    Blocking like :func:`parse_listing`. Whether an error is worth retrying is decided from the status first:
    408/425/429 and 5xx are, other 4xx are not; at 2xx, the body decides.
    """
    if result.not_modified:
        return None
    status = result.status
    body = result.body or b""
    if 200 <= status < 300:
        try:
            return parse_listing(body, quote=result.from_arxiv)
        except FeedError as exc:
            exc.status = status
            exc.retry_after = exc.retry_after if exc.retry_after is not None else result.retry_after
            raise
    transient = status in _TRANSIENT_STATUS or status >= 500 or (status == 400 and _is_rate_exceeded(body))
    reason = f"The feed answered HTTP {status}."
    if status == 400 and _API_MARK in body[:8192] and result.from_arxiv:
        try:
            parse_listing(body, quote=True)
        except FeedError as exc:
            reason = exc.message
    elif body and _is_rate_exceeded(body):
        reason = f"The feed answered HTTP {status}: Rate exceeded."
    if result.retry_after is not None:
        reason += f" It asked to wait {result.retry_after:.0f} s."
    raise FeedError(reason, retryable=transient, retry_after=result.retry_after, status=status)


# Filters


class _Text(Protocol):
    """Anything with a title and an abstract: a feed item or stored paper metadata."""

    @property
    def title(self) -> str: ...

    @property
    def abstract(self) -> str: ...


_LATEX_NOISE = re.compile(r"[\\$^_{}~]+")
_JOINERS = re.compile(r"[\s\-\u2010-\u2015_/]+")
_QUOTES = '"\u201c\u201d\u201e\u00ab\u00bb'  # straight, curly and guillemet quotes all open and close a phrase
_QUOTED = re.compile(f"[{_QUOTES}](?P<phrase>[^{_QUOTES}]*)(?:[{_QUOTES}]|$)")
_COMMAS = re.compile(r"[,;]")
_OPERATORS = frozenset({"OR", "AND", "|", "||"})
_MAX_TERMS = 50
_MAX_TERM_CHARS = 200


def _fold(text: str) -> str:
    """Text for matching: LaTeX accents and commands made plain, case and accents folded, dashes made spaces."""
    if "\\" in text:
        text = _latex_letters(text)
        text = _LATEX_COMMAND.sub(lambda m: " " + m["name"] + " ", text)
    text = _LATEX_NOISE.sub(" ", text)
    text = _NON_ASCII.sub(_plain, text)  # only the few non-ASCII runs of an abstract go through Python
    return _JOINERS.sub(" ", text.casefold()).strip()


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def _plain(run: re.Match[str]) -> str:
    """A run of non-ASCII characters with the accents taken off (compatibility forms too: ﬁ is fi)."""
    return "".join(char for char in unicodedata.normalize("NFKD", run[0]) if not unicodedata.combining(char))


def keyword_terms(text: str | None) -> tuple[str, ...]:
    """The terms a keywords or exclude field names: ``"quoted phrases"``, comma-separated phrases, or words.

    Without commas each unquoted word is a term (``merging distillation``: either word); with commas each
    comma-separated part is a phrase (``model merging, task arithmetic``). ``OR``/``AND`` between words are
    ignored (terms are always alternatives), and a trailing ``*`` matches any ending (``merg*``).
    """
    if not text:
        return ()
    terms: list[str] = []
    rest: list[str] = []
    position = 0
    for quoted in _QUOTED.finditer(text):
        rest.append(text[position : quoted.start()])
        terms.append(quoted["phrase"])
        position = quoted.end()
    rest.append(text[position:])
    split = _COMMAS.split if any(_COMMAS.search(piece) for piece in rest) else str.split
    for piece in rest:
        terms.extend(part for part in split(piece) if part.strip() not in _OPERATORS)  # quoted "OR" stays a term
    cleaned = (" ".join(term.split())[:_MAX_TERM_CHARS] for term in terms)
    usable = (term for term in cleaned if term and _fold(term.rstrip("*")))
    return tuple(dict.fromkeys(usable))[:_MAX_TERMS]


# Budgets in bytes, arguments and results together. A subscription's keywords compile to a few KB (at most 50
# terms). A paper's title and abstract with their folded form take about 3 KB for a typical abstract: 16 MB holds
# a busy day's listing whole (2,000 papers: 6 MB), so every distinct filter of its subscriptions reads each paper
# folded once.
PATTERNS_BUDGET = 2_000_000
HAYSTACKS_BUDGET = 16_000_000


@bytes_bounded(PATTERNS_BUDGET)
def _patterns(text: str | None) -> tuple[tuple[str, re.Pattern[str]], ...]:
    compiled: list[tuple[str, re.Pattern[str]]] = []
    for term in keyword_terms(text):
        prefix = term.endswith("*")
        words = _fold(term.rstrip("*")).split()
        body = r"\s+".join(re.escape(word) for word in words)
        # Word boundaries on both sides; a plural ending is allowed so that "LLM" finds "LLMs".
        tail = r"\w*" if prefix else (r"(?:s|es)?" if words[-1][-1:].isalpha() else "")
        compiled.append((term, re.compile(rf"(?<!\w){body}{tail}(?!\w)")))
    return tuple(compiled)


@bytes_bounded(HAYSTACKS_BUDGET)
def _haystack(title: str, abstract: str) -> str:
    return _fold(f"{title} \n {abstract}")


def matches(item: _Text, keywords: str | None, exclude: str | None) -> tuple[bool, str]:
    """Whether a subscription's filters keep an item, and why, as a member would read it.

    Title and abstract are matched case- and accent-insensitively on word boundaries; any keyword keeps the
    item, and any exclude term drops it even when a keyword matches.
    """
    try:
        haystack = _haystack(str(getattr(item, "title", "") or ""), str(getattr(item, "abstract", "") or ""))
        for term, pattern in _patterns(exclude or None):
            if pattern.search(haystack):
                return False, f"excluded by “{term}”"
        wanted = _patterns(keywords or None)
        if not wanted:
            return True, "no keyword filter"
        for term, pattern in wanted:
            if pattern.search(haystack):
                return True, f"matches “{term}”"
        return False, "no keyword in title or abstract"
    except Exception:  # pragma: no cover - a filter must never stop a feed; hold the item back and say why
        log.exception("could not apply filters %r / %r", keywords, exclude)
        return False, "the filters could not be applied"


# Fetching


async def _read_capped(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """The response body, refusing to hold more than ``max_bytes`` of it."""
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        raise FeedError(f"The feed is larger than {max_bytes:,} bytes ({declared:,} declared).", retryable=False)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise FeedError(f"The feed is larger than {max_bytes:,} bytes; stopped reading.", retryable=False)
        chunks.append(chunk)
    return b"".join(chunks)


_REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
_STRICT = AddressGuard()  # no trusted prefix, no private address: what a caller that names no guard gets


def _unreachable(exc: aiohttp.ClientError) -> str:
    """What failed, in a few words, without the library's text (which names addresses and credentials)."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "its host name could not be looked up"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return "its TLS certificate or connection was not accepted"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "the connection was refused or failed"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the answer was cut off"
    return exc.__class__.__name__


async def _get(
    session: aiohttp.ClientSession,
    url: str,
    *,
    guard: AddressGuard,
    headers: dict[str, str],
    seconds: float,
    max_bytes: int,
    etag: str | None,
    last_modified: str | None,
    limiter: ArxivLimiter | None,
) -> FetchResult:
    """One GET, following at most :data:`MAX_REDIRECTS` redirects itself so that every hop is checked."""
    async with contextlib.AsyncExitStack() as stack:
        guarded: aiohttp.ClientSession | None = None
        for _ in range(MAX_REDIRECTS + 1):
            _check_scheme(url)
            try:
                guard.check(url)
            except AddressNotAllowed as exc:
                raise FeedError(exc.message, retryable=False) from None
            http = session
            if guard.needs_guard(url):
                if guarded is None:
                    guarded = await stack.enter_async_context(guard.session())
                http = guarded
            result = await _get_one(
                http, url, headers=headers, seconds=seconds, max_bytes=max_bytes, etag=etag, last_modified=last_modified
            )
            if isinstance(result, str):
                url = result
                continue
            return _noted(result, url=url, limiter=limiter, trusted=guard.trusts(url) or is_arxiv_url(url))
    raise FeedError(f"The feed redirected more than {MAX_REDIRECTS} times.", retryable=False)


def _check_scheme(url: str) -> None:
    if urlsplit(url.strip()).scheme.lower() not in ("http", "https"):
        raise FeedError(f"`{shown_url(url)[:200]}` is not a web address (http or https).", retryable=False)


async def _get_one(
    http: aiohttp.ClientSession,
    url: str,
    *,
    headers: dict[str, str],
    seconds: float,
    max_bytes: int,
    etag: str | None,
    last_modified: str | None,
) -> FetchResult | str:
    """One request: its result, or the next URL when it redirects."""
    timeout = aiohttp.ClientTimeout(total=seconds)
    try:
        async with http.get(url, headers=headers, timeout=timeout, allow_redirects=False) as response:
            status = response.status
            location = response.headers.get("Location")
            if status in _REDIRECTS and location:
                try:
                    return str(response.url.join(URL(location)))
                except (ValueError, TypeError):
                    raise FeedError("The feed redirected to an address I can't read.", retryable=False) from None
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            new_etag = response.headers.get("ETag")
            new_modified = response.headers.get("Last-Modified")
            if status == 304:
                return FetchResult(304, None, new_etag or etag, new_modified or last_modified, retry_after, True)
            try:
                body = await _read_capped(response, max_bytes)
            except FeedError:
                response.close()  # drop the connection rather than drain the rest of the body
                raise
    except TimeoutError as exc:
        raise FeedError(f"The feed did not answer within {seconds:g} s.", retryable=True) from exc
    except AddressNotAllowed as exc:  # a host name that resolved into a private network: nothing was sent
        raise FeedError(exc.message, retryable=False) from None
    except aiohttp.InvalidURL as exc:
        raise FeedError(f"`{shown_url(url)[:200]}` is not a web address I can fetch.", retryable=False) from exc
    except aiohttp.ClientError as exc:
        raise FeedError(f"Could not reach the feed: {_unreachable(exc)}.", retryable=True) from exc
    return FetchResult(status, body, new_etag, new_modified, retry_after, False)


def _noted(result: FetchResult, *, url: str, limiter: ArxivLimiter | None, trusted: bool) -> FetchResult:
    """The result with arXiv's pause applied to the limiter and whether its text may be quoted."""
    status, body, retry_after = result.status, result.body or b"", result.retry_after
    if limiter is not None and not result.not_modified:
        rate_exceeded = _is_rate_exceeded(body)
        if retry_after is not None and (status in (429, 503) or rate_exceeded):
            limiter.pause(retry_after)
        elif status == 429 or rate_exceeded:
            retry_after = RATE_LIMIT_PAUSE
            limiter.pause(retry_after)
    log.debug("GET %s -> %d (%d bytes)", shown_url(url), status, len(body))
    return dataclasses.replace(result, retry_after=retry_after, from_arxiv=trusted)


async def fetch_feed(
    session: aiohttp.ClientSession,
    url: str,
    *,
    etag: str | None,
    last_modified: str | None,
    limiter: ArxivLimiter,
    timeout: float = 30,  # noqa: ASYNC109 - bounds the HTTP request only, not the wait for arXiv's turn
    max_bytes: int = 20_000_000,
    user_agent: str = DEFAULT_USER_AGENT,
    arxiv: bool | None = None,
    max_wait: float = MAX_WAIT,
    guard: AddressGuard = _STRICT,
) -> FetchResult:
    """One conditional GET of a feed, without retrying; every arXiv request waits its turn on ``limiter``.

    ``arxiv`` overrides whether the URL counts as arXiv (by default: an ``arxiv.org`` host, or a URL under the
    guard's trusted prefixes, which are the operator's arXiv endpoints). For arXiv, a
    429/503 with ``Retry-After`` (or a bare 429 or ``Rate exceeded.``) pauses all arXiv traffic on the limiter;
    the delay comes back in ``retry_after``. HTTP error statuses are returned, not raised: see
    :func:`listing_from`. Raises :class:`FeedError` on a timeout or a connection failure (retryable), a body
    over ``max_bytes`` (not read further, not retryable), an address ``guard`` refuses on any redirect hop
    (nothing sent there; not retryable), or when arXiv has asked for a pause longer than ``max_wait`` seconds
    (retryable, nothing sent). ``session`` serves the URLs ``guard`` trusts; every other hop goes through a
    guarded session of its own.
    """
    _check_scheme(url)
    headers = {"User-Agent": user_agent, "Accept": _ACCEPT}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    options: dict[str, Any] = {
        "guard": guard,
        "headers": headers,
        "seconds": timeout,
        "max_bytes": max_bytes,
        "etag": etag,
        "last_modified": last_modified,
    }
    if arxiv is None:  # arXiv's hosts, and the operator's arXiv mirror or proxy (ARXIV_API_BASE, ARXIV_RSS_BASE)
        arxiv = is_arxiv_url(url) or guard.trusts(url)
    if not arxiv:
        return await _get(session, url, limiter=None, **options)
    waiting = limiter.paused_for()
    if waiting > max_wait:
        raise FeedError(f"arXiv asked us to wait {waiting:.0f} s.", retryable=True, retry_after=waiting)
    async with limiter.slot():
        return await _get(session, url, limiter=limiter, **options)


# Timing


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
