"""A poll cycle against loopback feed servers: fetch once per URL, post new papers once, survive failures."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy.exc import OperationalError

from schedules.addresses import AddressGuard
from schedules.feed_formats import parse_listing
from schedules.poller import Batch, ChannelUnavailable, FeedPoller, OnSent, SendFailed
from schedules.ratelimit import ArxivLimiter
from storage.db import Sessions
from storage.feeds.filters import matches
from storage.feeds.kinds import FeedKind
from storage.feeds.polls import PlannedDelivery, PollRecords
from storage.feeds.subscriptions import SubscriptionService
from storage.papers import PaperView
from tests.feed_listings import listing_papers, render_listing
from tests.loopback import serving

G = 1
NOW = datetime(2025, 4, 28, 5, 0, tzinfo=UTC)  # a Monday, after arXiv's midnight release


class Server:
    """Serves a listing per path, counts requests, answers If-None-Match with 304, or fails on demand."""

    def __init__(self) -> None:
        self.bodies: dict[str, bytes] = {}
        self.failing: dict[str, int] = {}
        self.hits: dict[str, int] = {}
        self.server: TestServer | None = None

    def url(self, path: str) -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    async def handle(self, request: web.Request) -> web.Response:
        self.hits[request.path] = self.hits.get(request.path, 0) + 1
        if request.path in self.failing:
            return web.Response(
                status=self.failing[request.path], text="<html><title>503</title></html>", content_type="text/html"
            )
        body = self.bodies[request.path]
        etag = f'"{hash(body) & 0xFFFF}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304)
        return web.Response(body=body, headers={"ETag": etag}, content_type="application/rss+xml")


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server()
    async with serving(srv.handle) as server:
        srv.server = server
        yield srv


class ProcessDied(BaseException):
    """The process stops where it stands: nothing after this line of it runs (unlike an error it could handle)."""


class Channels:
    """Stands in for Discord: ten papers a message, each message recorded; some channels are gone, some refuse."""

    def __init__(self) -> None:
        self.sent: dict[int, list[str]] = {}
        self.messages: dict[int, tuple[int, list[str]]] = {}  # message id -> (channel, paper keys)
        self.held_back: dict[int, dict[str, int]] = {}
        self.gone: set[int] = set()
        self.crash_after: int | None = None  # messages to send before the process "dies"
        self.fail_after: int | None = None  # messages to send before a send fails (and the process carries on)
        self.refusing: set[int] = set()  # channels whose every request Discord answers with a 503
        self.taken_then_refused: set[int] = set()  # Discord takes the next message there but answers with a 503
        self.tries: dict[int, int] = {}  # requests per channel: sends and looks at the history
        self.message = 1000

    async def deliver(self, batch: Batch, on_sent: OnSent) -> None:
        self.tries[batch.channel_id] = self.tries.get(batch.channel_id, 0) + 1
        if batch.channel_id in self.gone:
            raise ChannelUnavailable("the bot can no longer post in that channel")
        if batch.channel_id in self.refusing:
            raise SendFailed("Discord refused: HTTP 503")
        papers = list(batch.papers)
        self.held_back[batch.channel_id] = dict(batch.held_back)
        for start in range(0, len(papers), 10):
            if self.crash_after is not None:
                if self.crash_after == 0:
                    raise ProcessDied
                self.crash_after -= 1
            if self.fail_after is not None:
                if self.fail_after == 0:
                    raise SendFailed("Discord refused: HTTP 503")
                self.fail_after -= 1
            chunk = papers[start : start + 10]
            self.message += 1
            keys = [paper.key for _, paper in chunk]
            self.messages[self.message] = (batch.channel_id, keys)
            self.sent.setdefault(batch.channel_id, []).extend(keys)
            if batch.channel_id in self.taken_then_refused:
                self.taken_then_refused.discard(batch.channel_id)
                raise SendFailed("Discord refused: HTTP 503")
            await on_sent([d.id for d, _ in chunk], self.message)

    async def find_posted(
        self, channel_id: int, since: datetime, papers: Sequence[tuple[PlannedDelivery, PaperView]]
    ) -> dict[int, int]:
        self.tries[channel_id] = self.tries.get(channel_id, 0) + 1
        if channel_id in self.gone:
            raise ChannelUnavailable("the bot can no longer post in that channel")
        if channel_id in self.refusing:
            raise SendFailed("Discord refused: HTTP 503")
        where = {key: mid for mid, (channel, keys) in self.messages.items() if channel == channel_id for key in keys}
        return {d.id: where[paper.key] for d, paper in papers if paper.key in where}


LOOPBACK_FEEDS = AddressGuard(allow_private=True)  # the loopback feed server stands for public hosts


class Clock:
    """The poller's time, moved on by the test."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def poller(
    sessions: Sessions,
    channels: Channels,
    now: datetime = NOW,
    *,
    clock: Clock | None = None,
    runs: PollRecords | None = None,
) -> FeedPoller:
    return FeedPoller(
        polls=runs or PollRecords(sessions),
        feeds=SubscriptionService(sessions),
        limiter=ArxivLimiter(min_interval=0),
        deliverer=channels,
        interval=5,
        clock=clock or Clock(now),
        arxiv=False,
        guard=LOOPBACK_FEEDS,
    )


async def subscribe(
    sessions: Sessions, server: Server, path: str, channel: int, body: bytes | None = None, **kw: str
) -> int:
    listing = parse_listing(body) if body else None
    current = [(i.to_metadata(), i.announce_type) for i in listing.items] if listing else []
    sub = await SubscriptionService(sessions).subscribe(
        guild_id=G,
        channel_id=channel,
        created_by=9,
        url=server.url(path),
        kind=FeedKind.ARXIV_LISTING,
        source=path,
        current=current,
        **kw,
    )
    return sub.id


async def test_new_and_cross_listed_papers_post_once_per_channel_and_replacements_never(
    sessions: Sessions, server: Server
) -> None:
    papers = listing_papers(40, category="cs.LG", seed=1)
    cl = [dataclasses.replace(p, announce_type="cross") for p in papers if p.announce_type == "new"][:3]
    server.bodies = {"/cs.LG": render_listing(papers), "/cs.CL": render_listing(cl, category="cs.CL")}
    await subscribe(sessions, server, "/cs.LG", channel=10)
    await subscribe(sessions, server, "/cs.LG", channel=11)
    await subscribe(sessions, server, "/cs.CL", channel=10)
    channels = Channels()
    report = await poller(sessions, channels).poll_once()
    assert server.hits == {"/cs.LG": 1, "/cs.CL": 1}  # one fetch per distinct feed
    wanted = [p.key for p in papers if p.announce_type in ("new", "cross")]
    assert sorted(channels.sent[10]) == sorted(wanted)  # the cs.CL copies of three papers were not posted again
    assert sorted(channels.sent[11]) == sorted(wanted)
    assert report.posted == 2 * len(wanted)
    again = await poller(sessions, channels).poll_once()  # the same listing, as after a restart
    assert again.posted == 0 and sorted(channels.sent[10]) == sorted(wanted)


async def test_a_new_subscription_posts_nothing_from_the_current_listing(sessions: Sessions, server: Server) -> None:
    today = render_listing(listing_papers(30, seed=2))
    server.bodies = {"/cs.LG": today}
    await subscribe(sessions, server, "/cs.LG", channel=10, body=today)
    channels = Channels()
    assert (await poller(sessions, channels).poll_once()).posted == 0
    tomorrow = listing_papers(5, start_id=500, seed=3)
    server.bodies = {"/cs.LG": render_listing(tomorrow)}
    await poller(sessions, channels, now=NOW + timedelta(days=1)).poll_once()
    assert sorted(channels.sent[10]) == sorted(p.key for p in tomorrow if p.announce_type in ("new", "cross"))


async def test_unchanged_feed_costs_a_304_and_posts_nothing(sessions: Sessions, server: Server) -> None:
    server.bodies = {"/cs.LG": render_listing(listing_papers(10, seed=4))}
    await subscribe(sessions, server, "/cs.LG", channel=10)
    first = await poller(sessions, Channels()).poll_once()
    runs = PollRecords(sessions)
    feed_id = (await runs.due_feeds(now=datetime(2100, 1, 1, tzinfo=UTC)))[0].id  # due again, much later
    assert feed_id and first.fetched == 1
    later = FeedPoller(
        polls=runs,
        feeds=SubscriptionService(sessions),
        limiter=ArxivLimiter(min_interval=0),
        deliverer=Channels(),
        interval=5,
        clock=lambda: datetime(2100, 1, 1, tzinfo=UTC),
        arxiv=False,
        guard=LOOPBACK_FEEDS,
    )
    report = await later.poll_once()
    assert (report.not_modified, report.fetched, report.posted) == (1, 0, 0)


async def test_one_failing_feed_never_stops_another(sessions: Sessions, server: Server) -> None:
    server.bodies = {"/good": render_listing(listing_papers(6, seed=5))}
    server.failing = {"/bad": 503}
    await subscribe(sessions, server, "/good", channel=10)
    await subscribe(sessions, server, "/bad", channel=11)
    channels = Channels()
    report = await poller(sessions, channels).poll_once()
    assert channels.sent[10] and 11 not in channels.sent
    assert list(report.failed) == [server.url("/bad")]
    health = {s.source: s.feed for s in await SubscriptionService(sessions).list(guild_id=G)}
    assert health["/bad"].failures == 1 and "503" in (health["/bad"].last_error or "")
    assert health["/good"].failures == 0
    assert [d.url for d in await PollRecords(sessions).due_feeds(now=NOW)] == []  # the bad one backs off
    soon = NOW + timedelta(seconds=5)  # ... for at most the poll interval (5 s here) after its first failure
    assert server.url("/bad") in [d.url for d in await PollRecords(sessions).due_feeds(now=soon)]


async def test_a_lost_channel_pauses_only_its_own_subscription(sessions: Sessions, server: Server) -> None:
    server.bodies = {"/cs.LG": render_listing(listing_papers(8, seed=6))}
    lost = await subscribe(sessions, server, "/cs.LG", channel=10)
    kept = await subscribe(sessions, server, "/cs.LG", channel=11)
    channels = Channels()
    channels.gone = {10}
    await poller(sessions, channels).poll_once()
    subs = {s.id: s for s in await SubscriptionService(sessions).list(guild_id=G)}
    assert subs[lost].paused and "no longer post" in (subs[lost].pause_reason or "")
    assert not subs[kept].paused and channels.sent[11]


async def test_a_crash_between_recording_and_sending_is_neither_lost_nor_doubled(
    sessions: Sessions, server: Server
) -> None:
    await subscribe(sessions, server, "/cs.LG", channel=10)
    server.bodies = {
        "/cs.LG": render_listing(
            [dataclasses.replace(p, announce_type="new", version=1) for p in listing_papers(25, seed=7)]
        )
    }
    channels = Channels()
    channels.crash_after = 1  # the first message goes out and is recorded; then the process dies
    with pytest.raises(ProcessDied):
        await poller(sessions, channels).poll_once()
    runs = PollRecords(sessions)
    pending = await runs.pending_deliveries()
    assert len(pending) == 15 and len(channels.sent[10]) == 10  # the intent was recorded before sending
    channels.crash_after = None
    assert (await poller(sessions, channels).poll_once()).posted == 0  # polling again does not double them
    # A message that went out without being recorded (the process died in between) is found, not resent.
    unrecorded = pending[:10]
    papers = await runs.load_papers(paper_ids=[p.paper_id for p in unrecorded])
    channels.message += 1
    channels.messages[channels.message] = (10, [papers[p.paper_id].key for p in unrecorded])
    channels.sent[10].extend(papers[p.paper_id].key for p in unrecorded)
    assert await poller(sessions, channels).recover() == 5  # the other five are sent now
    assert await runs.pending_deliveries() == []
    assert len(channels.sent[10]) == 25 == len(set(channels.sent[10]))
    subs = await SubscriptionService(sessions).list(guild_id=G)
    assert subs[0].delivered == 25


async def test_a_replacement_records_the_new_version_of_a_known_paper_and_posts_nothing(
    sessions: Sessions, server: Server
) -> None:
    from sqlalchemy import text

    await subscribe(sessions, server, "/cs.LG", channel=10)
    known = dataclasses.replace(listing_papers(1, start_id=900, seed=8)[0], announce_type="replace", version=3)
    async with sessions() as session:  # the group noted version 1 of it weeks ago
        await session.exec(  # type: ignore[call-overload]
            text(
                "INSERT INTO papers (key, version, title, authors, categories, metadata_status, metadata_attempts, "
                "created_at) VALUES (:key, 1, 'old title', '[]', '[]', 'ok', 0, '2025-01-01 00:00:00')"
            ),
            params={"key": f"arxiv:{known.arxiv_id}"},
        )
        await session.exec(  # type: ignore[call-overload]
            text(
                "INSERT INTO guild_papers (guild_id, paper_id, source, first_seen) VALUES (1, 1, 'note', '2025-01-01')"
            )
        )
        await session.commit()
    server.bodies = {"/cs.LG": render_listing([known])}
    channels = Channels()
    report = await poller(sessions, channels).poll_once()
    assert report.posted == 0 and channels.sent == {}
    async with sessions() as session:
        row = (await session.exec(text("SELECT version, title FROM papers WHERE id = 1"))).one()  # type: ignore[call-overload]
    assert row == (3, known.title)


async def test_papers_a_subscriptions_keywords_keep_are_picked_for_the_weekly_digest(
    sessions: Sessions, server: Server
) -> None:
    from storage.digests.content import DigestContent
    from storage.digests.picks import choose

    await subscribe(sessions, server, "/cs.LG", channel=10, mode="digest", keywords="merging")
    papers = [dataclasses.replace(p, announce_type="new", version=1) for p in listing_papers(6, start_id=300, seed=9)]
    papers[1] = dataclasses.replace(papers[1], title="Model merging without retraining")
    papers[4] = dataclasses.replace(papers[4], title="Merging experts, once more")
    server.bodies = {"/cs.LG": render_listing(papers)}
    channels = Channels()
    report = await poller(sessions, channels).poll_once()
    assert report.posted == 0 and channels.sent == {}  # digest mode: nothing in the channel
    start, end = datetime.now(UTC) - timedelta(days=1), datetime.now(UTC) + timedelta(minutes=1)
    data = await DigestContent(sessions).collect(guild_id=G, start=start, end=end, timezone="UTC")
    assert len(data.papers) == 6
    picked = choose(data)
    expected = [p.title for p in papers if matches(p, "merging", None)[0]]  # the subscription's own rule
    assert papers[1].title in expected and papers[4].title in expected and len(expected) < 6
    assert [paper.title for paper, _ in picked.chosen] == expected
    assert all(reason.startswith("matches “merging”") and "(/cs.LG feed)" in reason for _, reason in picked.chosen)
    assert picked.rest == 6 - len(expected)


async def test_two_processes_never_poll_at_once_and_one_takes_over_from_a_dead_one(
    sessions: Sessions, server: Server
) -> None:
    from sqlalchemy import update

    from schedules.jobs import POLL_LEASE, poll_feeds
    from storage.leases import LeaseService
    from storage.models import Feed, Lease

    await subscribe(sessions, server, "/cs.LG", channel=10)
    server.bodies = {"/cs.LG": render_listing(listing_papers(5, seed=13))}
    first, second = LeaseService(sessions, holder="process-1"), LeaseService(sessions, holder="process-2")
    await asyncio.gather(
        poll_feeds(poller(sessions, Channels()), first), poll_feeds(poller(sessions, Channels()), second)
    )
    assert server.hits == {"/cs.LG": 1}  # one of them polled
    async with sessions() as session:
        await session.exec(update(Feed).values(next_fetch_at=None))  # type: ignore[call-overload]
        holder = (await session.get(Lease, POLL_LEASE)).holder  # type: ignore[union-attr]
        await session.commit()
    dead, alive = (first, second) if holder == "process-1" else (second, first)
    await poll_feeds(poller(sessions, Channels()), alive)
    assert server.hits == {"/cs.LG": 1}  # the holder is alive: the other waits
    async with sessions() as session:  # the holder dies; its lease runs out
        await session.exec(update(Lease).values(expires_at=datetime(2000, 1, 1, tzinfo=UTC)))  # type: ignore[call-overload]
        await session.commit()
    await poll_feeds(poller(sessions, Channels()), alive)
    assert server.hits == {"/cs.LG": 2}
    assert dead.holder != alive.holder


async def test_only_the_polling_process_settles_pending_deliveries(sessions: Sessions, server: Server) -> None:
    """A process started while the holder is mid-batch must not post the holder's papers a second time; the
    holder's next cycle settles what its failed send left."""
    from schedules.jobs import poll_feeds
    from storage.leases import LeaseService

    await subscribe(sessions, server, "/cs.LG", channel=10)
    server.bodies = {
        "/cs.LG": render_listing(
            [dataclasses.replace(p, announce_type="new", version=1) for p in listing_papers(25, seed=17)]
        )
    }
    holder, newcomer = LeaseService(sessions, holder="process-1"), LeaseService(sessions, holder="process-2")
    sending = Channels()
    sending.fail_after = 1  # one message out, then the send fails: fifteen papers recorded, not sent
    await poll_feeds(poller(sessions, sending), holder, ttl=timedelta(minutes=3))
    assert len(await PollRecords(sessions).pending_deliveries()) == 15

    started = Channels()
    await poll_feeds(poller(sessions, started), newcomer, ttl=timedelta(minutes=3))
    assert started.sent == {}  # the newcomer holds no lease: the holder's papers are not its to send

    sending.fail_after = None
    later = NOW + timedelta(hours=1)  # past the failed send's time to try again
    await poll_feeds(poller(sessions, sending, now=later), holder, ttl=timedelta(minutes=3))
    assert len(sending.sent[10]) == 25 == len(set(sending.sent[10]))  # the holder's next cycle settles them
    assert await PollRecords(sessions).pending_deliveries() == []


def fresh_listing(n: int, seed: int) -> bytes:
    return render_listing(
        [dataclasses.replace(p, announce_type="new", version=1) for p in listing_papers(n, start_id=400, seed=seed)]
    )


async def test_a_channel_discord_refuses_waits_a_growing_backoff_while_other_channels_get_their_papers(
    sessions: Sessions, server: Server
) -> None:
    refused = await subscribe(sessions, server, "/cs.LG", channel=10)
    await subscribe(sessions, server, "/cs.LG", channel=11)
    server.bodies = {"/cs.LG": fresh_listing(12, seed=21)}
    channels, clock, runs = Channels(), Clock(), PollRecords(sessions)
    channels.refusing = {10}
    report = await poller(sessions, channels, clock=clock).poll_once()
    assert report.posted == 12 and len(channels.sent[11]) == 12 and 10 not in channels.sent  # 11 is not held up
    pending = await runs.pending_deliveries()
    assert len(pending) == 12 and {(p.channel_id, p.attempts) for p in pending} == {(10, 1)}
    stuck = await runs.stuck_papers(guild_id=G)
    assert list(stuck) == [refused] and stuck[refused].count == 12
    assert stuck[refused].reason == "Discord refused: HTTP 503"
    retry_at = stuck[refused].retry_at
    assert retry_at is not None and NOW + timedelta(seconds=30) <= retry_at <= NOW + timedelta(seconds=60)

    failed_at = clock.now
    for attempt in range(2, 9):  # Discord keeps refusing: each failure waits longer, up to an hour
        tries = channels.tries[10]
        clock.now = retry_at - timedelta(seconds=1)
        assert await poller(sessions, channels, clock=clock).recover(before=datetime.now(UTC)) == 0
        assert channels.tries[10] == tries  # not due yet: the channel is not asked at all
        clock.now = failed_at = retry_at
        assert await poller(sessions, channels, clock=clock).recover(before=datetime.now(UTC)) == 0
        assert channels.tries[10] == tries + 1  # due: tried once (a look at the channel, refused too)
        stuck = await runs.stuck_papers(guild_id=G)
        assert stuck[refused].count == 12 and stuck[refused].retry_at is not None
        retry_at = stuck[refused].retry_at
        ceiling = min(3600.0, 60.0 * 2 ** (attempt - 1))
        assert ceiling / 2 <= (retry_at - failed_at).total_seconds() <= ceiling, attempt
        assert {p.attempts for p in await runs.pending_deliveries()} == {attempt}
    assert (retry_at - failed_at).total_seconds() >= 1800  # the last waits were the hour's ceiling

    channels.refusing = set()  # Discord is back
    clock.now = retry_at
    assert await poller(sessions, channels, clock=clock).recover(before=datetime.now(UTC)) == 12
    assert sorted(channels.sent[10]) == sorted(channels.sent[11])
    assert await runs.pending_deliveries() == [] and await runs.stuck_papers(guild_id=G) == {}
    subs = {s.channel_id: s.delivered for s in await SubscriptionService(sessions).list(guild_id=G)}
    assert subs == {10: 12, 11: 12}


class LockedOnce(PollRecords):
    """The database is too busy to record the first message sent."""

    locked = True

    async def mark_sent(self, *, delivery_ids: Sequence[int], message_id: int, now: datetime) -> None:
        if self.locked:
            self.locked = False
            raise OperationalError("UPDATE deliveries", {}, Exception("database is locked"))
        await super().mark_sent(delivery_ids=delivery_ids, message_id=message_id, now=now)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("Discord took the message but answered 503", "Discord refused: HTTP 503"),
        ("the database was too busy to record the message", "the bot hit an error (OperationalError)"),
    ],
)
async def test_a_message_that_went_out_despite_a_failed_send_is_found_on_retry_not_posted_twice(
    sessions: Sessions, server: Server, fault: str, reason: str
) -> None:
    await subscribe(sessions, server, "/cs.LG", channel=10)
    server.bodies = {"/cs.LG": fresh_listing(25, seed=22)}
    channels, clock = Channels(), Clock()
    if fault.startswith("Discord"):
        runs = PollRecords(sessions)
        channels.taken_then_refused = {10}
    else:
        runs = LockedOnce(sessions)
    report = await poller(sessions, channels, clock=clock, runs=runs).poll_once()  # no error out of the poll
    assert len(channels.sent[10]) == 10 and report.posted == 0  # the first message went out, unrecorded
    pending = await runs.pending_deliveries()
    assert len(pending) == 25 and {p.attempts for p in pending} == {1}
    stuck = await runs.stuck_papers(guild_id=G)
    assert [(s.count, s.reason) for s in stuck.values()] == [(25, reason)]
    retry_at = next(iter(stuck.values())).retry_at
    assert retry_at is not None
    clock.now = retry_at
    assert await poller(sessions, channels, clock=clock, runs=runs).recover(before=datetime.now(UTC)) == 15
    assert len(channels.sent[10]) == 25 == len(set(channels.sent[10]))  # the ten were found, not sent again
    assert await runs.pending_deliveries() == []
    assert (await SubscriptionService(sessions).list(guild_id=G))[0].delivered == 25
