"""Checking a source for /feed add and /feed test: fetch it once, read it, and follow it or preview it.

A moderator's source is resolved to one feed, fetched once (arXiv's requests wait their turn on the shared
limiter; every other address goes through the guard) and read off the event loop. /feed add then subscribes,
holding back what the feed lists now and timing its next fetch by arXiv's calendar; /feed test shows, item by
item, what the poller would do with the listing, by the poller's own rules and per-poll cap
(:func:`storage.feeds.plans.plan_fan_out`). Nothing here knows about Discord.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp

from schedules.addresses import AddressGuard
from schedules.arxiv_calendar import next_fetch_delay
from schedules.feed_answers import FetchResult, listing_from
from schedules.feed_formats import FeedError, FeedItem, Listing
from schedules.fetching import fetch_feed
from schedules.ratelimit import ArxivLimiter
from storage.errors import ValidationError
from storage.feeds.filters import keyword_terms, matches
from storage.feeds.plans import Candidate, decide, plan_fan_out
from storage.feeds.polls import PollRecords
from storage.feeds.sources import Source, resolve_source, shown_url
from storage.feeds.subscriptions import FirstFetch, SubscriptionService, SubscriptionView
from storage.models import DeliveryState

__all__ = ["FETCH_MAX_WAIT", "FETCH_TIMEOUT", "Preview", "PreviewRow", "SourceChecker", "Subscribed", "preview"]

log = logging.getLogger(__name__)

FETCH_TIMEOUT = 20.0  # seconds for the one fetch that checks a source; the member is waiting
FETCH_MAX_WAIT = 60.0  # seconds to wait out a pause arXiv asked for before giving up


# Previews


@dataclass(frozen=True, slots=True)
class PreviewRow:
    """One listed paper and what a subscription would do with it now."""

    item: FeedItem
    verdict: str  # post, digest, skip, posted (already in the channel)
    reason: str


@dataclass(frozen=True, slots=True)
class Preview:
    """What a subscription would do with a listing."""

    rows: tuple[PreviewRow, ...]
    max_posts: int

    def count(self, verdict: str) -> int:
        """How many papers got this verdict."""
        return sum(1 for row in self.rows if row.verdict == verdict)

    @property
    def over_cap(self) -> int:
        """Papers kept by the filters but over the per-poll cap, so left to the digest."""
        return sum(1 for row in self.rows if row.verdict == "digest" and row.reason.startswith("over the"))


@dataclass(frozen=True, slots=True)
class _Trial:
    """The subscription a preview tries: not stored, seen nothing yet, alone in its channel."""

    mode: str
    keywords: str | None
    exclude: str | None
    id: int = 0
    guild_id: int = 0
    channel_id: int = 0
    seen_entry_id: int = 0
    source: str = ""


def preview(
    items: Sequence[FeedItem],
    *,
    keywords: str | None,
    exclude: str | None,
    mode: str,
    posted: set[str],
    known: set[str],
    max_posts: int,
) -> Preview:
    """Each item's fate by the poller's own rules (:func:`storage.feeds.plans.decide`, and its fan-out plan for the
    per-poll cap).

    ``posted`` holds the keys already posted in the channel, ``known`` those the group knows.
    """
    trial = _Trial(mode, keywords, exclude)
    candidates = [Candidate(index + 1, index, item.announce_type, item) for index, item in enumerate(items)]
    handled = {(trial.channel_id, index) for index, item in enumerate(items) if item.key in posted}
    (plan,) = plan_fan_out([trial], candidates, handled=handled, max_posts=max_posts, match=matches)
    to_post = set(plan.post)
    rows: list[PreviewRow] = []
    for index, item in enumerate(items):
        decision = decide(
            paper_id=index,
            announce_type=item.announce_type,
            mode=mode,
            keywords=keywords,
            exclude=exclude,
            already_handled=item.key in posted,
            known_to_group=item.key in known,
            match=functools.partial(matches, item),
        )
        if decision is None:
            rows.append(PreviewRow(item, "posted", "already posted in this channel"))
        elif decision.state == DeliveryState.PENDING:
            if index in to_post:
                rows.append(PreviewRow(item, "post", decision.reason or "new"))
            else:
                rows.append(PreviewRow(item, "digest", f"over the cap of {max_posts} a check: left to the digest"))
        elif (decision.reason or "").startswith("kept for the digest"):
            rows.append(PreviewRow(item, "digest", decision.reason or ""))
        else:
            rows.append(PreviewRow(item, "skip", decision.reason or "skipped"))
    return Preview(tuple(rows), max_posts)


# The checker


@dataclass(frozen=True, slots=True)
class Subscribed:
    """A new subscription, the source it follows, and the listing its first fetch read (held back: it starts from
    now)."""

    view: SubscriptionView
    source: Source
    listing: Listing


class SourceChecker:
    """Checks the sources moderators name, through one HTTP session of its own (see :meth:`start`)."""

    def __init__(
        self,
        *,
        feeds: SubscriptionService,
        polls: PollRecords,
        limiter: ArxivLimiter,
        guard: AddressGuard,
        rss_base: str,
        api_base: str,
        poll_interval: float,
        max_posts: int,
        timeout: float = FETCH_TIMEOUT,
        max_wait: float = FETCH_MAX_WAIT,
    ) -> None:
        self.feeds = feeds
        self.polls = polls
        self.limiter = limiter
        self.guard = guard  # no server's feed reaches the host's own network
        self.rss_base = rss_base
        self.api_base = api_base
        self.poll_interval = poll_interval
        self.max_posts = max_posts  # per subscription per poll, as the poller posts
        self.timeout = timeout
        self.max_wait = max_wait
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the HTTP session; safe to call again."""
        if self._session is None:
            self._session = aiohttp.ClientSession()

    async def close(self) -> None:
        """Close the HTTP session; safe to call again."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def resolve(self, source: str) -> Source:
        """The feed a moderator's source names; :class:`ValidationError` saying what is expected otherwise."""
        return resolve_source(source, rss_base=self.rss_base, api_base=self.api_base)

    async def _admit(self, *, guild_id: int, source: str, keywords: str | None, exclude: str | None) -> Source:
        """The feed a new subscription would follow, once its filters name words and the server has room for it."""
        for name, value in (("keywords", keywords), ("exclude", exclude)):
            if value and not keyword_terms(value):
                raise ValidationError(f"`{name}` has no word to match. Give words or “quoted phrases”.")
        found = self.resolve(source)
        await self.feeds.check_room(guild_id=guild_id, url=found.url)
        return found

    async def read(self, source: Source) -> tuple[Listing, FetchResult]:
        """Fetch the source once and read it (off the event loop); a :class:`FeedError` says what went wrong."""
        await self.start()
        assert self._session is not None
        result = await fetch_feed(
            self._session,
            source.url,
            etag=None,
            last_modified=None,
            limiter=self.limiter,
            timeout=self.timeout,
            max_wait=self.max_wait,
            guard=self.guard,
        )
        listing = await asyncio.to_thread(listing_from, result)
        if listing is None:  # 304 to a request that sent no validators: the server is confused
            raise FeedError("The feed answered “not modified” to a first request; try again later.", retryable=True)
        return listing, result

    async def subscribe(
        self,
        *,
        guild_id: int,
        source: str,
        channel_id: int,
        created_by: int,
        keywords: str | None,
        exclude: str | None,
        mode: str,
        before_fetch: Callable[[], Awaitable[object]],
    ) -> Subscribed:
        """Check the source and filters, fetch the source once, then subscribe, holding back what it lists now.

        A filter without a word, a source that names no feed or a full server is refused before ``before_fetch``
        is called (the bot starts its answer there) and costs no fetch.
        """
        found = await self._admit(guild_id=guild_id, source=source, keywords=keywords, exclude=exclude)
        await before_fetch()
        fetched_at = datetime.now(UTC)
        listing, result = await self.read(found)
        kind = found.kind  # what the address is, never what its body claims: a stranger can forge an arXiv listing
        delay = next_fetch_delay(kind, fetched_at, interval=self.poll_interval)
        first_fetch = FirstFetch(
            at=fetched_at,
            next_fetch_at=fetched_at + timedelta(seconds=delay),
            fingerprint=listing.fingerprint,
            etag=result.etag,
            last_modified=result.last_modified,
        )
        view = await self.feeds.subscribe(
            guild_id=guild_id,
            channel_id=channel_id,
            created_by=created_by,
            url=found.url,
            kind=kind,
            source=found.label,
            keywords=keywords,
            exclude=exclude,
            mode=mode,
            current=[(item.to_metadata(), item.announce_type) for item in listing.items],
            first_fetch=first_fetch,
        )
        log.info(
            "guild=%s followed %s in channel %s (%d held back)",
            guild_id,
            shown_url(found.url),
            channel_id,
            len(listing.items),
        )
        return Subscribed(view, found, listing)

    async def preview(
        self,
        found: Source,
        *,
        guild_id: int,
        channel_id: int,
        keywords: str | None,
        exclude: str | None,
        mode: str,
    ) -> Preview:
        """Fetch the source and say, item by item, what the poller would do with it; nothing is saved."""
        listing, _ = await self.read(found)
        keys = [item.key for item in listing.items]
        posted = await self.polls.posted_in_channel(channel_id=channel_id, keys=keys)
        known = await self.polls.known_keys(guild_id=guild_id, keys=keys)
        return preview(
            listing.items,
            keywords=keywords,
            exclude=exclude,
            mode=mode,
            posted=posted,
            known=known,
            max_posts=self.max_posts,
        )
