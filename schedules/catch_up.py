"""Catching up on arXiv listing days a feed missed: the bot was offline, or the feed failed, across a release.

arXiv's listings show only the latest announcement day, so a day the bot never fetched is gone from them. When
a category listing arrives dated more than one announcement day after the last day its feed saw, the days in
between are asked of the arXiv API by category and submission window, a few pages at most, each request waiting
its turn on the shared limiter like any of the bot's own work. What comes back is delivered as those listings
would have been: stored as the feed's papers, decided per subscription (filters, digest mode, the per-poll cap),
posted once per channel, and closed in each channel that got papers by a line saying they were caught up.

The calendar: arXiv announces Sunday to Thursday evenings. The listing dated a weekday holds the papers
submitted in the window that closed at 14:00 US Eastern on the business day before it and opened at 14:00 on
the business day before that (Monday's: Thursday 14:00 to Friday 14:00; Tuesday's: Friday 14:00 to Monday
14:00). arXiv's holidays are not known here: a holiday looks like a missed day, and asking about it finds only
papers the next listing holds, which are left to that listing. arXiv's search dates a paper by its first version
and returns its latest, so a paper revised since its missed day is still new there, and posted as such.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

from schedules.arxiv import ArxivClient
from schedules.arxiv_answers import ArxivQueryError, ArxivUnavailable
from schedules.arxiv_calendar import ARXIV_TZ
from schedules.feed_formats import FeedError, FeedItem, Listing
from schedules.ratelimit import asking_as
from storage.feeds.categories import ARCHIVES, CATEGORIES, canonical_category
from storage.feeds.polls import DueFeed, PollRecords
from storage.feeds.sources import ARXIV_LISTING
from storage.identity import PaperKey
from storage.metadata import PaperMetadata

if TYPE_CHECKING:
    from schedules.poller import FeedPoller, PollReport, _ChannelPost

__all__ = [
    "MAX_DAYS",
    "MAX_PAPERS",
    "CatchUp",
    "CatchUpNotices",
    "CaughtUp",
    "Missed",
    "as_listed",
    "listing_date",
    "listing_day_of",
    "missed_days",
    "submission_window",
    "submitted_query",
]

log = logging.getLogger(__name__)

MAX_DAYS = 5  # announcement days caught up at most; older ones are skipped, and the closing line says so
MAX_PAPERS = 2_000  # papers asked of the API at most for one catch-up (ten pages)
PAGE = 200  # papers per API request
MAX_TRIES = 3  # failed catch-ups of one feed's listing day before that listing goes on without it
CUTOFF = time(14, 0)  # US Eastern: arXiv's daily submission deadline
_LISTING_TITLE = " updates on arXiv.org"


# The arXiv calendar


def _is_business_day(day: date) -> bool:
    return day.weekday() < 5


def _previous_business_day(day: date) -> date:
    day -= timedelta(days=1)
    while not _is_business_day(day):
        day -= timedelta(days=1)
    return day


def _next_business_day(day: date) -> date:
    day += timedelta(days=1)
    while not _is_business_day(day):
        day += timedelta(days=1)
    return day


def _cutoff(day: date) -> datetime:
    """14:00 US Eastern on ``day``, as an aware UTC datetime (daylight saving time included)."""
    return datetime.combine(day, CUTOFF, tzinfo=ARXIV_TZ).astimezone(UTC)


def day_start(day: date) -> datetime:
    """Midnight US Eastern at the start of ``day``, as an aware UTC datetime: how listings date their papers."""
    return datetime.combine(day, time(0), tzinfo=ARXIV_TZ).astimezone(UTC)


def submission_window(day: date) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the submissions announced in the listing dated ``day`` (a weekday)."""
    closes = _previous_business_day(day)
    return _cutoff(_previous_business_day(closes)), _cutoff(closes)


def listing_day_of(submitted: datetime) -> date:
    """The listing day that announces a paper submitted at ``submitted`` (aware, or naive UTC)."""
    if submitted.tzinfo is None:
        submitted = submitted.replace(tzinfo=UTC)
    closes = submitted.astimezone(ARXIV_TZ).date()
    while not _is_business_day(closes) or _cutoff(closes) <= submitted:
        closes += timedelta(days=1)
    return _next_business_day(closes)


def listing_date(listing: Listing) -> date | None:
    """The announcement day a listing is dated (US Eastern), from its items or, when it has none, its build date."""
    stamps = [item.published for item in listing.items if item.published is not None]
    if not stamps and listing.built is not None:
        stamps = [listing.built]
    return max(stamps).astimezone(ARXIV_TZ).date() if stamps else None


@dataclass(frozen=True, slots=True)
class Missed:
    """Announcement days a feed did not see, oldest first, and whether older ones were left out."""

    days: tuple[date, ...]
    skipped: bool = False


def missed_days(last_seen: date, listing_day: date, *, listed: bool, limit: int = MAX_DAYS) -> Missed:
    """The announcement days after ``last_seen`` that a listing dated ``listing_day`` no longer shows.

    A listing with papers shows its own day; an empty one (a weekend, a holiday, an outage) shows none, so its
    own day counts as missed when it is a weekday. At most the ``limit`` newest days are given.
    """
    last = listing_day - timedelta(days=1) if listed else listing_day
    first = max(last_seen + timedelta(days=1), last - timedelta(days=7 * (limit + 1)))  # a long outage: enough
    days = (first + timedelta(days=n) for n in range((last - first).days + 1))
    weekdays = [day for day in days if _is_business_day(day)]
    return Missed(tuple(weekdays[-limit:]), skipped=len(weekdays) > limit)


# The arXiv API


def feed_categories(url: str, title: str = "") -> tuple[str, ...]:
    """The categories a category listing covers, from its address (``…/rss/cs.CL+cs.LG``) or else its title
    (``cs.LG updates on arXiv.org``); empty when neither names only known categories."""
    for text in (unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]), title.removesuffix(_LISTING_TITLE)):
        names = [canonical_category(part) for part in text.split("+")]
        if text and all(name in CATEGORIES or name in ARCHIVES for name in names):
            return tuple(dict.fromkeys(name for name in names if name))
    return ()


def _terms(categories: Sequence[str]) -> list[str]:
    """arXiv categories to ask for: a whole archive (``cs``) is each of its categories."""
    terms: list[str] = []
    for name in categories:
        if name in ARCHIVES:
            terms.extend(sorted(other for other in CATEGORIES if other.startswith(f"{name}.")))
        terms.append(name)
    return list(dict.fromkeys(terms))


def submitted_query(categories: Sequence[str], start: datetime, end: datetime) -> str:
    """An API ``search_query`` for papers in these categories first submitted from ``start`` to ``end`` (UTC, to
    the minute; arXiv includes both ends, so the caller keeps only what falls inside its own window)."""
    cats = [f"cat:{term}" for term in _terms(categories)]
    where = cats[0] if len(cats) == 1 else f"({' OR '.join(cats)})"
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    return f"{where} AND submittedDate:[{start:%Y%m%d%H%M} TO {end:%Y%m%d%H%M}]"


def _is_home(primary: str, categories: Sequence[str]) -> bool:
    """Whether a paper whose primary category is ``primary`` is new in these categories' listing (not a cross-list)."""
    return primary in categories or primary.split(".", 1)[0] in categories


# Delivering


@dataclass(frozen=True, slots=True)
class CaughtUp:
    """What one channel is told after its caught-up papers: how many, from which days, and why they were missed."""

    channel_id: int
    source: str  # the feed's categories, as the listing names them (cs.LG, cs.CL+cs.LG)
    papers: int  # posted in this channel
    first_day: date
    last_day: date
    skipped: bool  # older days or papers were left out
    feed_failed: bool  # missed because the feed could not be read, not because the bot was offline


@runtime_checkable
class CatchUpNotices(Protocol):
    """The Discord side's closing line after a channel's caught-up papers."""

    async def caught_up(self, note: CaughtUp) -> None:
        """Post the line; errors are the caller's to log."""
        ...


class CatchUp:
    """Finds the announcement days a category listing's feed missed and delivers their papers before the listing."""

    def __init__(
        self,
        *,
        polls: PollRecords,
        arxiv: ArxivClient,
        max_days: int = MAX_DAYS,
        max_papers: int = MAX_PAPERS,
        page: int = PAGE,
        max_tries: int = MAX_TRIES,
    ) -> None:
        self.polls, self.arxiv = polls, arxiv
        self.max_days, self.max_papers, self.page, self.max_tries = max_days, max_papers, page, max_tries
        self._failures: dict[tuple[int, date], int] = {}  # (feed id, listing day) -> catch-ups that failed

    async def before_listing(self, poller: FeedPoller, feed: DueFeed, listing: Listing, report: PollReport) -> int:
        """Deliver the days this listing's feed missed, before the listing itself is stored; returns papers posted.

        Raises a retryable :class:`FeedError` when arXiv could not be asked: the feed is tried again later with
        its listing not yet recorded, so the next try finds the same days missing. After :data:`MAX_TRIES` such
        failures for one listing day, the listing goes on without them.
        """
        if feed.kind != ARXIV_LISTING or listing.kind != ARXIV_LISTING:
            return 0
        categories = feed_categories(feed.url, listing.title)
        day = listing_date(listing)
        if not categories or day is None:
            return 0
        last = await self.polls.last_announced(feed_id=feed.id, before=day_start(day))
        if last is None:  # the feed's first listing: nothing was missed
            return 0
        missed = missed_days(last.astimezone(ARXIV_TZ).date(), day, listed=bool(listing.items), limit=self.max_days)
        if not missed.days:
            return 0
        log.info(
            "feed=%s missed %d announcement days (%s to %s); asking arXiv",
            feed.id,
            len(missed.days),
            missed.days[0],
            missed.days[-1],
        )
        try:
            items, capped = await self._missed_items(feed, listing, categories, missed)
            posts = await self._decide(poller, feed, items, report) if items else []
        except ArxivQueryError as exc:  # asking again will not help: the listing goes on without the days
            log.warning("feed=%s: arXiv refused the catch-up query: %s", feed.id, exc)
            return 0
        except Exception as exc:
            if self._give_up(feed, day, exc):
                return 0
            raise FeedError(_failed(exc, len(missed.days)), retryable=True, retry_after=_retry_after(exc)) from exc
        self._failures.pop((feed.id, day), None)
        if not posts:
            return 0
        first = min(_day(item) for item in items) if capped else missed.days[0]
        note = CaughtUp(0, "+".join(categories), 0, first, missed.days[-1], missed.skipped or capped, feed.failures > 0)
        return await self._post(poller, posts, note, report)

    def _give_up(self, feed: DueFeed, day: date, exc: Exception) -> bool:
        """Count a failed catch-up; True once it failed :attr:`max_tries` times: the listing goes on without it."""
        key = (feed.id, day)
        tries = self._failures[key] = self._failures.get(key, 0) + 1
        log.warning("feed=%s: catching up failed (%d of %d tries): %s", feed.id, tries, self.max_tries, exc)
        if tries < self.max_tries:
            return False
        del self._failures[key]
        log.error("feed=%s: gave up on the days missed before the listing of %s; they are not posted", feed.id, day)
        return True

    async def _missed_items(
        self, feed: DueFeed, listing: Listing, categories: tuple[str, ...], missed: Missed
    ) -> tuple[list[FeedItem], bool]:
        """The missed days' papers the feed has not seen, as listing items in listing order; and whether capped."""
        start, end = submission_window(missed.days[0])[0], submission_window(missed.days[-1])[1]
        papers, capped = await self._ask(submitted_query(categories, start, end))
        # The listing posts its own new papers. One it lists as replaced was new on a missed day: it is posted from
        # here (arXiv dates a search by the first version, and returns the latest).
        shown = {item.key for item in listing.items if not item.is_replacement}
        papers = [p for p in papers if p.published and start <= p.published < end and p.key not in shown]
        seen = await self.polls.listed_keys(feed_id=feed.id, keys=[p.key for p in papers])
        unseen = sorted(  # as each day's listing orders them: new papers, then cross-lists, as submitted
            ((as_listed(p, categories), p.published) for p in papers if p.key not in seen and p.published),
            key=lambda pair: (_day(pair[0]), pair[0].announce_type != "new", pair[1], pair[0].key),
        )
        items = [item for item, _ in unseen]
        if items:
            await self.polls.add_listed(feed_id=feed.id, items=[(i.to_metadata(), i.announce_type) for i in items])
        log.info("feed=%s: %d papers from arXiv, %d not seen before", feed.id, len(papers), len(items))
        return items, capped

    async def _ask(self, query: str) -> tuple[list[PaperMetadata], bool]:
        """Every paper the query finds, newest first, a page at a time, at most :attr:`max_papers`; and whether
        that cap left some out (the oldest: they are the ones skipped)."""
        found: dict[str, PaperMetadata] = {}
        with asking_as(None):  # the bot's own work: members' lookups keep their turns
            while len(found) < self.max_papers:
                size = min(self.page, self.max_papers - len(found))
                page = await self.arxiv.query(
                    query, start=len(found), max_results=size, sort_by="submittedDate", sort_order="descending"
                )
                for paper in page:
                    found.setdefault(paper.key, paper)
                if len(page) < size:
                    return list(found.values()), False
        return list(found.values()), True

    async def _decide(
        self, poller: FeedPoller, feed: DueFeed, items: list[FeedItem], report: PollReport
    ) -> list[_ChannelPost]:
        """Decide the caught-up papers for the feed's subscriptions the way the poller decides a listing."""
        async with poller._deciding:
            return list(await poller._fan_out(items, feed, report))

    async def _post(self, poller: FeedPoller, posts: Sequence[_ChannelPost], note: CaughtUp, report: PollReport) -> int:
        """Post each channel's caught-up papers, then its closing line; returns papers posted."""
        papers = await self.polls.load_papers(paper_ids=list({d.paper_id for post in posts for d in post.planned}))
        notices = poller.deliverer if isinstance(poller.deliverer, CatchUpNotices) else None
        total = 0
        for post in posts:
            try:
                sent = await poller.deliver(
                    post.channel_id, post.planned, post.held_back, guild_id=post.guild_id, papers=papers
                )
            except Exception:  # recorded as pending: the next cycle looks in the channel and sends the rest
                log.exception("channel %s: posting caught-up papers failed", post.channel_id)
                continue
            total += sent
            if sent and notices is not None:
                try:
                    await notices.caught_up(dataclasses.replace(note, channel_id=post.channel_id, papers=sent))
                except Exception:
                    log.exception("channel %s: the caught-up line could not be posted", post.channel_id)
        report.posted += total
        return total


def _day(item: FeedItem) -> date:
    assert item.published is not None
    return item.published.astimezone(ARXIV_TZ).date()


def as_listed(paper: PaperMetadata, categories: Sequence[str]) -> FeedItem:
    """An API paper as the listing of its announcement day would have shown it (dated that day)."""
    assert paper.published is not None
    primary = paper.categories[0] if paper.categories else ""
    same = {name: getattr(paper, name) for name in _SAME_FIELDS}
    return FeedItem(
        **same,
        announce_type="new" if _is_home(primary, categories) else "cross",
        link=PaperKey(paper.key).abs_url,
        published=day_start(listing_day_of(paper.published)),
    )


_SAME_FIELDS = tuple(
    f.name for f in dataclasses.fields(FeedItem) if f.name not in ("announce_type", "link", "published")
)


def _failed(exc: Exception, days: int) -> str:
    """Why a catch-up failed, for /feed list: arXiv's answer, never the text of an unexpected error."""
    if isinstance(exc, ArxivUnavailable):
        what = f"arXiv answered HTTP {exc.status}" if exc.status else "arXiv did not answer"
    else:
        what = f"the bot hit an error ({type(exc).__name__})"
    noun = "day" if days == 1 else "days"
    return f"Could not catch up on the {days} listing {noun} this feed missed: {what}. Trying again."


def _retry_after(exc: Exception) -> float | None:
    return exc.retry_after if isinstance(exc, ArxivUnavailable) else None
