"""Feed polling: each due feed fetched once, parsed off the event loop, decided per subscription, delivered.

Posting itself belongs to the Discord side, which passes a :class:`Deliverer` in.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import aiohttp

from schedules.delivery import decide
from schedules.feeds import FeedError, FeedItem, backoff_seconds, fetch_feed, listing_from, matches, next_poll_delay
from schedules.ratelimit import ArxivLimiter
from storage.feeds import DueFeed, FeedRuns, FeedService, PlannedDelivery
from storage.models import FeedKind
from storage.papers import PaperView

log = logging.getLogger(__name__)


class ChannelUnavailable(Exception):
    """The channel is gone or the bot may no longer post there; the message says which, for /feed list."""


OnSent = Callable[[list[int], int], Awaitable[None]]  # (delivery ids, message id) -> recorded


@dataclass(frozen=True, slots=True)
class Batch:
    """The papers one poll posts to one channel, in order, and what was held back for the digest."""

    channel_id: int
    papers: Sequence[tuple[PlannedDelivery, PaperView]]
    held_back: Mapping[str, int] = field(default_factory=dict)  # subscription source -> papers over the cap


class Deliverer(Protocol):
    """Posts papers to channels: the Discord side of polling."""

    async def deliver(self, batch: Batch, on_sent: OnSent) -> None:
        """Post the batch in order, awaiting ``on_sent(delivery ids, message id)`` right after each message.

        Raises :class:`ChannelUnavailable` when the channel is gone or forbidden (403/404).
        """
        ...

    async def find_posted(
        self, channel_id: int, since: datetime, papers: Sequence[tuple[PlannedDelivery, PaperView]]
    ) -> dict[int, int]:
        """Which of these deliveries are already in the channel (posted since ``since``): delivery id -> message id.

        Used on start-up for deliveries recorded as pending: the process stopped between sending and recording.
        Raises :class:`ChannelUnavailable` like :meth:`deliver`.
        """
        ...


@dataclass
class PollReport:
    """What one poll cycle did, for logs and tests."""

    fetched: int = 0
    not_modified: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    posted: int = 0
    decided: int = 0


class FeedPoller:
    """One cycle at a time: every due feed once, however many subscriptions share it."""

    def __init__(
        self,
        *,
        runs: FeedRuns,
        feeds: FeedService,
        limiter: ArxivLimiter,
        deliverer: Deliverer | None,
        interval: float,
        http: aiohttp.ClientSession | None = None,
        timeout: float = 30,
        max_bytes: int = 20_000_000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        arxiv: bool | None = None,
        max_posts: int = 50,
    ) -> None:
        self.runs, self.feeds, self.limiter, self.deliverer = runs, feeds, limiter, deliverer
        self.interval, self.timeout, self.max_bytes, self.clock, self.arxiv = interval, timeout, max_bytes, clock, arxiv
        self.http = http
        self.max_posts = max_posts  # per subscription per poll: a busy listing never floods a channel
        # Fetching is concurrent; deciding is one feed at a time, so two feeds listing the same paper for one
        # channel cannot both find it unsent.
        self._deciding = asyncio.Lock()

    async def poll_once(self) -> PollReport:
        """Fetch every due feed (concurrently: one slow or failing feed never holds up the others)."""
        report = PollReport()
        due = await self.runs.due(now=self.clock())
        own_session = self.http is None
        http = self.http or aiohttp.ClientSession()
        try:
            await asyncio.gather(*(self._poll(http, feed, report) for feed in due))
        finally:
            if own_session:
                await http.close()
        return report

    async def _poll(self, http: aiohttp.ClientSession, feed: DueFeed, report: PollReport) -> None:
        now = self.clock()
        try:
            result = await fetch_feed(
                http,
                feed.url,
                etag=feed.etag,
                last_modified=feed.last_modified,
                limiter=self.limiter,
                timeout=self.timeout,
                max_bytes=self.max_bytes,
                arxiv=self.arxiv,
            )
            listing = await asyncio.to_thread(listing_from, result)  # feedparser stays off the event loop
        except FeedError as exc:
            wait = max(exc.retry_after or 0.0, backoff_seconds(feed.failures + 1))
            if not exc.retryable:
                wait = max(wait, self.interval)
            failures = await self.runs.failed(
                feed_id=feed.id, now=now, error=exc.message, next_fetch_at=now + timedelta(seconds=wait)
            )
            report.failed[feed.url] = exc.message
            log.warning("feed %s failed (%d in a row, next try in %.0f s): %s", feed.url, failures, wait, exc.message)
            return
        calendar = feed.kind in (FeedKind.ARXIV_LISTING, FeedKind.ARXIV_QUERY)
        delay = next_poll_delay(now, interval=self.interval) if calendar else self.interval
        next_at = now + timedelta(seconds=delay)
        if listing is None:
            report.not_modified += 1
            await self.runs.fetched(feed_id=feed.id, now=now, next_fetch_at=next_at, items=None)
            return
        report.fetched += 1
        ids = await self.runs.fetched(
            feed_id=feed.id,
            now=now,
            next_fetch_at=next_at,
            fingerprint=listing.fingerprint,
            items=[(item.to_metadata(), item.announce_type) for item in listing.items],
            etag=result.etag,
            last_modified=result.last_modified,
        )
        async with self._deciding:
            await self._fan_out(listing.items, ids, feed, report)

    async def _fan_out(self, items: Sequence[FeedItem], ids: dict[str, int], feed: DueFeed, report: PollReport) -> None:
        by_channel: dict[int, list[PlannedDelivery]] = defaultdict(list)
        for sub in await self.runs.subscriptions(feed_id=feed.id):
            paper_ids = [ids[item.key] for item in items if item.key in ids]
            handled = await self.runs.already_handled(
                subscription_id=sub.id, channel_id=sub.channel_id, paper_ids=paper_ids
            )
            known = await self.runs.known(guild_id=sub.guild_id, paper_ids=paper_ids)
            decisions = []
            for item in items:
                pid = ids.get(item.key)
                if pid is None:
                    continue
                decision = decide(
                    paper_id=pid,
                    announce_type=item.announce_type,
                    mode=sub.mode,
                    keywords=sub.keywords,
                    exclude=sub.exclude,
                    already_handled=pid in handled,
                    known_to_group=pid in known,
                    match=functools.partial(matches, item),
                )
                if decision is not None:
                    decisions.append((decision.paper_id, decision.state, decision.reason))
                    handled.add(pid)
            planned = await self.runs.plan(subscription=sub, decisions=decisions)
            report.decided += len(decisions)
            by_channel[sub.channel_id].extend(planned)
        for channel_id, planned in by_channel.items():
            report.posted += await self.deliver(channel_id, planned)

    async def deliver(self, channel_id: int, planned: Sequence[PlannedDelivery]) -> int:
        """Post pending deliveries to a channel; a channel the bot lost pauses its subscriptions."""
        if not planned or self.deliverer is None:
            return 0
        papers = await self.runs.papers(paper_ids=[p.paper_id for p in planned])
        batch = [(p, papers[p.paper_id]) for p in planned if p.paper_id in papers]
        try:
            sent = await self.deliverer.deliver(channel_id, batch)
        except ChannelUnavailable as exc:
            await self.runs.undelivered(delivery_ids=[p.id for p in planned], reason=str(exc))
            await self.feeds.pause_channel(guild_id=planned[0].guild_id, channel_id=channel_id, reason=str(exc))
            return 0
        count = 0
        for delivery_ids, message_id in sent:
            await self.runs.sent(delivery_ids=delivery_ids, message_id=message_id, now=self.clock())
            count += len(delivery_ids)
        return count
