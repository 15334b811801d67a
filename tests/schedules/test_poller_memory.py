"""A poll's memory stays bounded: a few feeds fetched at a time, and what a feed says is capped when it is stored."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from aiohttp import web
from sqlmodel import select

from schedules.feed_formats import parse_listing
from schedules.poller import FEEDS_AT_ONCE
from storage.db import Sessions
from storage.feeds.caps import MAX_ABSTRACT_CHARS, MAX_TITLE_CHARS
from storage.feeds.kinds import FeedKind
from storage.feeds.polls import PollRecords
from storage.feeds.subscriptions import SubscriptionService
from storage.metadata import PaperMetadata
from storage.models import Paper
from tests.loopback import serving
from tests.schedules.test_poller import NOW, Channels, poller

HUGE = 100_000


def web_feed(items: list[tuple[str, str, str]]) -> bytes:
    """An RSS 2.0 feed of (link, title, description) items."""
    entries = "".join(
        f"<item><title>{title}</title><link>{link}</link><description>{text}</description></item>"
        for link, title, text in items
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>A lab</title><link>https://lab.example/</link>'
        f"<description>papers</description>{entries}</channel></rss>"
    ).encode()


async def follow(sessions: Sessions, url: str, channel: int) -> None:
    await SubscriptionService(sessions).subscribe(
        guild_id=channel, channel_id=channel, created_by=9, url=url, kind=FeedKind.WEB, source=url
    )


async def stored(sessions: Sessions, key: str) -> Paper:
    async with sessions() as session:
        paper = (await session.exec(select(Paper).where(Paper.key == key))).one()
        return paper


def assert_capped(text: str | None, limit: int, start: str) -> None:
    assert text is not None and len(text) <= limit and text.endswith("…") and text.startswith(start)


async def test_a_feed_item_with_a_huge_title_and_summary_is_stored_capped(sessions: Sessions) -> None:
    link = "https://lab.example/papers/flood"
    body = web_feed([(link, "Flooding " + "t" * HUGE, "Summary " + "s" * HUGE)])

    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/rss+xml")

    async with serving(handle) as server:
        await follow(sessions, str(server.make_url("/feed")), channel=10)
        report = await poller(sessions, Channels()).poll_once()
    assert report.fetched == 1 and not report.failed
    paper = await stored(sessions, "url:https://lab.example/papers/flood")
    assert_capped(paper.title, MAX_TITLE_CHARS, "Flooding ttt")
    assert_capped(paper.abstract, MAX_ABSTRACT_CHARS, "Summary sss")


def test_a_parsed_listing_holds_no_more_of_an_item_than_is_stored() -> None:
    listing = parse_listing(web_feed([("https://lab.example/p/1", "T" * HUGE, "S" * HUGE)]))
    (item,) = listing.items
    assert_capped(item.title, MAX_TITLE_CHARS, "TTT")
    assert_capped(item.abstract, MAX_ABSTRACT_CHARS, "SSS")


async def test_what_a_feed_lists_when_a_channel_follows_it_is_stored_capped(sessions: Sessions) -> None:
    meta = PaperMetadata(key="url:https://lab.example/p/2", title="T" * HUGE, abstract="S" * HUGE)
    await SubscriptionService(sessions).subscribe(
        guild_id=1,
        channel_id=10,
        created_by=9,
        url="https://lab.example/feed",
        kind=FeedKind.WEB,
        source="https://lab.example/feed",
        current=[(meta, None)],
    )
    paper = await stored(sessions, meta.key)
    assert_capped(paper.title, MAX_TITLE_CHARS, "TTT")
    assert_capped(paper.abstract, MAX_ABSTRACT_CHARS, "SSS")


class Gate:
    """Counts requests in flight at the feed server; holds each one until as many as the bound are in (or all)."""

    def __init__(self, bound: int, total: int) -> None:
        self.bound, self.total = bound, total
        self.in_flight = self.most = self.arrived = 0
        self.changed = asyncio.Condition()

    async def handle(self, request: web.Request) -> web.Response:
        async with self.changed:
            self.arrived += 1
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            self.changed.notify_all()
            await self.changed.wait_for(lambda: self.in_flight >= self.bound or self.arrived == self.total)
        for _ in range(20):  # let any other request that is on its way arrive while this one is in flight
            await asyncio.sleep(0)
        async with self.changed:
            self.in_flight -= 1
            self.changed.notify_all()
        path = request.path.strip("/")
        return web.Response(body=web_feed([(f"https://lab.example/{path}", path, "")]), content_type="text/xml")


async def test_a_poll_fetches_at_most_a_few_feeds_at_once(sessions: Sessions) -> None:
    bound = FEEDS_AT_ONCE
    gate = Gate(bound, total=3 * bound)
    async with serving(gate.handle) as server:
        for n in range(3 * bound):
            await follow(sessions, str(server.make_url(f"/feed{n}")), channel=10 + n)
        report = await poller(sessions, Channels()).poll_once()
    assert report.fetched == 3 * bound and not report.failed
    assert gate.arrived == 3 * bound
    assert gate.most == bound  # as many at once as allowed, never more


async def test_a_slow_feed_holds_one_place_and_the_others_are_all_fetched_meanwhile(sessions: Sessions) -> None:
    others = 2 * FEEDS_AT_ONCE  # more than the places the slow feed leaves
    fetched: list[str] = []
    everyone_else = asyncio.Event()
    slow_started = asyncio.Event()

    async def handle(request: web.Request) -> web.Response:
        if request.path == "/slow":
            slow_started.set()
            await everyone_else.wait()  # answers only once every other feed has been fetched
        else:
            fetched.append(request.path)
            if len(fetched) == others:
                everyone_else.set()
        return web.Response(body=web_feed([(f"https://lab.example{request.path}", "p", "")]), content_type="text/xml")

    async with serving(handle) as server:
        await follow(sessions, str(server.make_url("/slow")), channel=9)  # first: it takes a place at once
        for n in range(others):
            await follow(sessions, str(server.make_url(f"/feed{n}")), channel=10 + n)
        async with asyncio.timeout(60):  # a slow feed that held up the others would never answer: fail, not hang
            report = await poller(sessions, Channels()).poll_once()
    assert slow_started.is_set() and len(fetched) == others
    assert report.fetched == others + 1 and not report.failed
    due = await PollRecords(sessions).due_feeds(now=NOW + timedelta(seconds=1))
    assert due == []  # every feed, the slow one too, was fetched and waits for its next turn
