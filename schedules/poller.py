"""Feed polling: each due feed fetched once, parsed off the event loop, decided per subscription, delivered.

Posting itself belongs to the Discord side, which passes a :class:`Deliverer` in.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple, Protocol

import aiohttp

from schedules.addresses import AddressGuard
from schedules.arxiv_calendar import backoff_seconds, next_fetch_delay
from schedules.feed_answers import read_listing
from schedules.feed_formats import FeedError, FeedItem
from schedules.fetching import fetch_feed
from schedules.ratelimit import ArxivLimiter
from storage.feeds.filters import matches
from storage.feeds.plans import Candidate, plan_fan_out
from storage.feeds.polls import DueFeed, PlannedDelivery, PollRecords
from storage.feeds.sources import shown_url
from storage.feeds.subscriptions import SubscriptionService
from storage.papers import PaperView

if TYPE_CHECKING:
    from schedules.catch_up import CatchUp

log = logging.getLogger(__name__)

CHANNELS_AT_ONCE = 5
# Feeds fetched, parsed and decided at once: each holds its body (up to max_bytes) and its listing meanwhile, so
# this bounds a poll's memory however many feeds are due. A slow feed holds one place, never the others.
FEEDS_AT_ONCE = 8
RECOVERY_MARGIN = timedelta(minutes=5)  # clocks differ: look a little before the first pending delivery
RETRY_FIRST = 60.0  # seconds before a failed send is tried again, doubling with each failure ...
RETRY_LONGEST = 3600.0  # ... up to an hour


class Text(NamedTuple):
    """A stored paper's text, for filtering."""

    title: str
    abstract: str


class ChannelUnavailable(Exception):
    """The channel is gone or the bot may no longer post there; the message says which, for /feed list."""


class SendFailed(Exception):
    """Posting failed for now (Discord's servers, the network) and may work later; the message says why, for
    /feed list (``Discord refused: HTTP 503``)."""


def retry_delay(attempts: int) -> float:
    """Seconds before a send that failed ``attempts`` times in a row is tried again: from half to all of a
    ceiling that starts at a minute and doubles up to an hour, so channels that failed together spread out."""
    ceiling = min(RETRY_LONGEST, RETRY_FIRST * 2.0 ** min(attempts - 1, 64))
    return ceiling / 2 + backoff_seconds(attempts, base=RETRY_FIRST, cap=RETRY_LONGEST) / 2


def failure_reason(exc: Exception) -> str:
    """Why a send failed, as /feed list and the log show it: never the text of an unexpected error."""
    if isinstance(exc, SendFailed):
        return str(exc)
    return f"the bot hit an error ({type(exc).__name__})"


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

        Raises :class:`ChannelUnavailable` when the channel is gone or forbidden (403/404), and
        :class:`SendFailed` when posting failed for now (a 5xx): the papers not reported are tried again later.
        """
        ...

    async def find_posted(
        self, channel_id: int, since: datetime, papers: Sequence[tuple[PlannedDelivery, PaperView]]
    ) -> dict[int, int]:
        """Which of these deliveries are already in the channel (posted since ``since``): delivery id -> message id.

        Used for deliveries recorded as pending: the process stopped between sending and recording, or a send
        failed, perhaps after Discord took the message. Raises like :meth:`deliver`.
        """
        ...


@dataclass(frozen=True, slots=True)
class _ChannelPost:
    """What one poll posts to one channel."""

    channel_id: int
    guild_id: int
    planned: list[PlannedDelivery]
    held_back: dict[str, int]


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
        polls: PollRecords,
        feeds: SubscriptionService,
        limiter: ArxivLimiter,
        deliverer: Deliverer | None,
        interval: float,
        http: aiohttp.ClientSession | None = None,
        timeout: float = 30,
        max_bytes: int = 20_000_000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        arxiv: bool | None = None,
        max_posts: int = 50,
        guard: AddressGuard | None = None,
        feeds_at_once: int = FEEDS_AT_ONCE,
        catch_up: CatchUp | None = None,
    ) -> None:
        self.polls, self.feeds, self.limiter, self.deliverer = polls, feeds, limiter, deliverer
        self.interval, self.timeout, self.max_bytes, self.clock, self.arxiv = interval, timeout, max_bytes, clock, arxiv
        self.http = http
        self.guard = guard or AddressGuard()  # every poll checks addresses again: a name may now resolve elsewhere
        self.max_posts = max_posts  # per subscription per poll: a busy listing never floods a channel
        # Fetching is concurrent; deciding is one feed at a time, so two feeds listing the same paper for one
        # channel cannot both find it unsent.
        self._deciding = asyncio.Lock()
        # Channels post concurrently (each at its own pace), a few at a time to stay within Discord's global limit.
        self._channels_at_once = asyncio.Semaphore(CHANNELS_AT_ONCE)
        if feeds_at_once < 1:
            raise ValueError("feeds_at_once must be at least 1")
        self._feeds_at_once = asyncio.Semaphore(feeds_at_once)
        self.catch_up = catch_up  # the announcement days a category listing's feed missed, from the arXiv API

    async def poll_once(self) -> PollReport:
        """Fetch every due feed, a few at a time (one slow or failing feed holds one place, never the others)."""
        report = PollReport()
        due = await self.polls.due_feeds(now=self.clock())
        own_session = self.http is None
        http = self.http or aiohttp.ClientSession()
        try:
            await asyncio.gather(*(self._poll(http, feed, report) for feed in due))
        finally:
            if own_session:
                await http.close()
        return report

    async def _poll(self, http: aiohttp.ClientSession, feed: DueFeed, report: PollReport) -> None:
        async with self._feeds_at_once:  # posting, paced over minutes, happens after the place is given back
            posts = await self._fetch_and_decide(http, feed, report)
        if not posts:
            return
        papers = await self.polls.load_papers(paper_ids=list({d.paper_id for post in posts for d in post.planned}))

        async def post(channel: _ChannelPost) -> None:
            async with self._channels_at_once:
                posted = await self.deliver(
                    channel.channel_id, channel.planned, channel.held_back, guild_id=channel.guild_id, papers=papers
                )
            report.posted += posted

        await asyncio.gather(*(post(channel) for channel in posts))

    async def _fetch_and_decide(
        self, http: aiohttp.ClientSession, feed: DueFeed, report: PollReport
    ) -> list[_ChannelPost]:
        """Fetch and parse the feed, store what it lists and decide for its subscriptions; returns what to post."""
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
                guard=self.guard,
            )
            listing = await read_listing(result)  # feedparser stays off the event loop (a large body: off the process)
            if listing is not None and self.catch_up is not None:  # days the feed missed go first; may raise
                await self.catch_up.before_listing(self, feed, listing, report)
        except FeedError as exc:
            # Backoff starts from a minute, or the poll interval when shorter: a feed recovers within a few
            # intervals of its source recovering.
            wait = max(exc.retry_after or 0.0, backoff_seconds(feed.failures + 1, base=min(60.0, self.interval)))
            if not exc.retryable:
                wait = max(wait, self.interval)
            failures = await self.polls.record_failure(
                feed_id=feed.id, now=now, error=exc.message, next_fetch_at=now + timedelta(seconds=wait)
            )
            report.failed[feed.url] = exc.message
            log.warning(
                "feed %s failed (%d in a row, next try in %.0f s): %s", shown_url(feed.url), failures, wait, exc.message
            )
            return []
        etag, last_modified = result.etag, result.last_modified
        del result  # the body: the listing is what is held from here on
        next_at = now + timedelta(seconds=next_fetch_delay(feed.kind, now, interval=self.interval))
        if listing is None:
            report.not_modified += 1
            await self.polls.record_fetch(feed_id=feed.id, now=now, next_fetch_at=next_at, items=None)
            return []
        report.fetched += 1
        await self.polls.record_fetch(
            feed_id=feed.id,
            now=now,
            next_fetch_at=next_at,
            fingerprint=listing.fingerprint,
            items=[(item.to_metadata(), item.announce_type) for item in listing.items],
            etag=etag,
            last_modified=last_modified,
        )
        async with self._deciding:
            return await self._fan_out(listing.items, feed, report)

    async def _fan_out(self, items: Sequence[FeedItem], feed: DueFeed, report: PollReport) -> list[_ChannelPost]:
        """Decide what each subscription to this feed has not seen yet and record it; returns what to post."""
        work = await self.polls.find_undecided(feed_id=feed.id)
        if not work.subscriptions or not work.entries:
            return []
        texts: dict[str, FeedItem | Text] = {item.key: item for item in items}
        missing = [e.paper_id for e in work.entries if e.key not in texts]  # listed earlier, e.g. on subscribing
        if missing:
            stored = await self.polls.paper_texts(paper_ids=missing)
            texts.update({e.key: Text(*stored[e.paper_id]) for e in work.entries if e.paper_id in stored})
        candidates = [
            Candidate(e.entry_id, e.paper_id, e.announce_type, texts.get(e.key) or Text("", "")) for e in work.entries
        ]
        plans = await asyncio.to_thread(  # thousands of papers times every subscription's filters: off the loop
            plan_fan_out,
            work.subscriptions,
            candidates,
            handled=work.handled,
            max_posts=self.max_posts,
            match=matches,
        )
        planned = await self.polls.record_decisions(plans)
        report.decided += sum(plan.decided for plan in plans)
        sources = {s.id: s.source for s in work.subscriptions}
        held: dict[int, dict[str, int]] = defaultdict(dict)
        for plan in plans:
            if plan.held_back:
                held[plan.channel_id][sources[plan.subscription_id]] = plan.held_back
        by_channel: dict[int, list[PlannedDelivery]] = defaultdict(list)
        for delivery in planned:
            by_channel[delivery.channel_id].append(delivery)
        guilds = {s.channel_id: s.guild_id for s in work.subscriptions}
        return [
            _ChannelPost(channel_id, guilds[channel_id], by_channel.get(channel_id, []), held.get(channel_id, {}))
            for channel_id in sorted(by_channel.keys() | held.keys())
        ]

    async def deliver(
        self,
        channel_id: int,
        planned: Sequence[PlannedDelivery],
        held_back: Mapping[str, int] | None = None,
        *,
        guild_id: int | None = None,
        papers: Mapping[int, PaperView] | None = None,
    ) -> int:
        """Post pending deliveries to a channel, recording each message as it goes; returns papers posted.

        A channel the bot lost pauses its subscriptions, and what was pending there is marked failed. Any other
        failure (a 5xx, a database too busy to record a message) leaves what was not recorded as sent pending,
        to be tried again after a backoff; the poll carries on with other channels.
        """
        if self.deliverer is None or not (planned or held_back):
            return 0
        if papers is None:
            papers = await self.polls.load_papers(paper_ids=[p.paper_id for p in planned])
        batch = Batch(channel_id, [(p, papers[p.paper_id]) for p in planned if p.paper_id in papers], held_back or {})
        recorded: set[int] = set()

        async def on_sent(delivery_ids: list[int], message_id: int) -> None:
            await self.polls.mark_sent(delivery_ids=delivery_ids, message_id=message_id, now=self.clock())
            recorded.update(delivery_ids)

        try:
            await self.deliverer.deliver(batch, on_sent)
        except ChannelUnavailable as exc:
            await self.polls.mark_undeliverable(
                delivery_ids=[p.id for p in planned], reason=str(exc)
            )  # unsent ones only
            guild_id = guild_id or planned[0].guild_id
            await self.feeds.pause_channel(guild_id=guild_id, channel_id=channel_id, reason=str(exc))
        except Exception as exc:
            await self._retry_later(channel_id, [p for p in planned if p.id not in recorded], exc)
        return len(recorded)

    async def _retry_later(self, channel_id: int, unsent: Sequence[PlannedDelivery], exc: Exception) -> None:
        """Leave deliveries whose send failed pending, to be tried again after a backoff that grows per failure."""
        reason = failure_reason(exc)
        if not unsent:
            log.warning("channel %s: a post failed (%s); no paper waits on it", channel_id, reason)
            return
        attempts = max(p.attempts for p in unsent) + 1
        wait = retry_delay(attempts)
        log.warning(
            "channel %s: %d papers not posted (%s, %d in a row); trying again in %.0f s",
            channel_id,
            len(unsent),
            reason,
            attempts,
            wait,
            exc_info=not isinstance(exc, SendFailed),  # an unexpected error: where it came from
        )
        retry_at = self.clock() + timedelta(seconds=wait)
        try:
            await self.polls.retry_later(delivery_ids=[p.id for p in unsent], reason=reason, retry_at=retry_at)
        except Exception:  # left pending without a time: the next cycle looks in the channel and sends them
            log.exception("channel %s: recording when to try %d papers again failed", channel_id, len(unsent))

    async def recover(self, *, before: datetime | None = None) -> int:
        """Settle deliveries left pending; returns papers sent now.

        A process stopped between recording a delivery and recording its message, or a send failed (those wait
        until their time to try again). What the channel already shows is recorded as sent (found by the
        paper's link in the bot's own messages since then); the rest is sent now. Neither a silent double nor a
        silent loss. ``before`` leaves alone what this process is sending.
        """
        if self.deliverer is None:
            return 0
        by_channel: dict[int, list[PlannedDelivery]] = defaultdict(list)
        for delivery in await self.polls.pending_deliveries(before=before, due=self.clock()):
            by_channel[delivery.channel_id].append(delivery)
        sent_now = 0
        for channel_id, planned in by_channel.items():
            papers = await self.polls.load_papers(paper_ids=[p.paper_id for p in planned])
            batch = [(p, papers[p.paper_id]) for p in planned if p.paper_id in papers]
            since = min((p.created_at for p in planned if p.created_at), default=self.clock()) - RECOVERY_MARGIN
            try:
                found = await self.deliverer.find_posted(channel_id, since, batch)
            except ChannelUnavailable as exc:
                await self.polls.mark_undeliverable(delivery_ids=[p.id for p in planned], reason=str(exc))
                await self.feeds.pause_channel(guild_id=planned[0].guild_id, channel_id=channel_id, reason=str(exc))
                continue
            except Exception as exc:  # the channel could not be read now: nothing is sent blind
                await self._retry_later(channel_id, planned, exc)
                continue
            by_message: dict[int, list[int]] = defaultdict(list)
            for delivery_id, message_id in found.items():
                by_message[message_id].append(delivery_id)
            for message_id, delivery_ids in by_message.items():
                await self.polls.mark_sent(delivery_ids=delivery_ids, message_id=message_id, now=self.clock())
            rest = [p for p in planned if p.id not in found]
            log.info(
                "channel %s: %d deliveries were pending, %d already posted, %d to send now",
                channel_id,
                len(planned),
                len(found),
                len(rest),
            )
            sent_now += await self.deliver(channel_id, rest)
        return sent_now
