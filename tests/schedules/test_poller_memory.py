"""A poll's memory stays bounded: what a feed says is capped when it is stored."""

from __future__ import annotations

from aiohttp import web
from sqlmodel import select

from schedules.feeds import parse_listing
from storage.db import Sessions
from storage.feeds import FeedService
from storage.listed_papers import MAX_ABSTRACT_CHARS, MAX_TITLE_CHARS
from storage.metadata import PaperMetadata
from storage.models import FeedKind, Paper
from tests.loopback import serving
from tests.schedules.test_poller import Channels, poller

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
    await FeedService(sessions).subscribe(
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
    await FeedService(sessions).subscribe(
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
