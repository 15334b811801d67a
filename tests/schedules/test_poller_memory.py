"""A poll's memory stays bounded: a few feeds fetched at a time, and what a feed says is capped when it is stored."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from aiohttp import web
from sqlmodel import select

from schedules.feed_formats import FeedItem, parse_listing
from schedules.poller import FEEDS_AT_ONCE
from storage.caches import footprint
from storage.db import Sessions
from storage.feeds.caps import (
    MAX_ABSTRACT_CHARS,
    MAX_AUTHOR_CHARS,
    MAX_AUTHORS,
    MAX_CATEGORIES,
    MAX_COMMENT_CHARS,
    MAX_JOURNAL_REF_CHARS,
    MAX_TITLE_CHARS,
)
from storage.feeds.kinds import FeedKind
from storage.feeds.polls import PollRecords
from storage.feeds.subscriptions import SubscriptionService
from storage.metadata import PaperMetadata
from storage.models import Paper
from tests.loopback import serving
from tests.schedules.test_poller import NOW, Channels, poller

HUGE = 100_000
MANY = 10_000  # authors of one item: twenty times what is kept (feedparser reads 100,000 in seconds)


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


async def follow_listing(sessions: Sessions, meta: PaperMetadata) -> None:
    """A channel follows a feed that lists ``meta`` now: the paper is stored as the feed says it."""
    await SubscriptionService(sessions).subscribe(
        guild_id=1,
        channel_id=10,
        created_by=9,
        url="https://lab.example/feed",
        kind=FeedKind.WEB,
        source="https://lab.example/feed",
        current=[(meta, None)],
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
    await follow_listing(sessions, meta)
    paper = await stored(sessions, meta.key)
    assert_capped(paper.title, MAX_TITLE_CHARS, "TTT")
    assert_capped(paper.abstract, MAX_ABSTRACT_CHARS, "SSS")


def hostile_entry(n_authors: int, n_categories: int) -> str:
    """One arXiv-looking Atom entry that names every author, category and link it can, with huge references."""
    authors = "".join(
        f"<author><name>Author {i}{' of a lab' * (50 if i < 3 else 0)}</name></author>" for i in range(n_authors)
    )
    terms = ("cs." + "".join(chr(97 + i // 26**d % 26) for d in range(3)) for i in range(n_categories))
    categories = "".join(f'<category term="{term}"/>' for term in terms)
    links = "".join(f'<link rel="enclosure" href="https://lab.example/file{i}.pdf"/>' for i in range(1_000))
    return (
        "<entry><id>oai:arXiv.org:2401.00001v1</id><title>Everyone</title>"
        f'<link href="https://lab.example/{"p" * HUGE}"/>{links}'
        "<summary>arXiv:2401.00001v1 Announce Type: new Abstract: Signed by everyone.</summary>"
        f"{authors}{categories}<arxiv:doi>10.1234/{'d' * HUGE}</arxiv:doi>"
        f"<arxiv:journal_ref>J. {'r' * HUGE}</arxiv:journal_ref><arxiv:comment>{'c' * HUGE}</arxiv:comment></entry>"
    )


def atom(entries: str, *, api: bool = False) -> bytes:
    """An Atom feed: an arXiv listing, or with ``api`` an answer shaped like the arXiv API's."""
    head = 'xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/"' if api else ""
    return (
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom" '
        f"{head}><title>cs updates on arXiv.org</title>{entries}</feed>"
    ).encode()


def assert_item_capped(item: FeedItem | Paper) -> None:
    """The first authors and categories, each cut to its length, and the references cut or left out."""
    assert len(item.authors) == MAX_AUTHORS and item.authors[3] == "Author 3"  # the first ones, in order
    assert all(len(name) <= MAX_AUTHOR_CHARS for name in item.authors)
    assert_capped(item.authors[0], MAX_AUTHOR_CHARS, "Author 0 of a lab")
    assert len(item.categories) == MAX_CATEGORIES and list(item.categories[:2]) == ["cs.aaa", "cs.baa"]
    assert item.doi is None  # a DOI cut short would name another paper, or none
    assert_capped(item.journal_ref, MAX_JOURNAL_REF_CHARS, "J. rrr")


def test_a_parsed_listing_keeps_the_first_of_a_hostile_items_authors_and_categories_and_one_link() -> None:
    body = atom(hostile_entry(MANY, 2_000))
    (item,) = parse_listing(body).items
    assert_item_capped(item)
    assert item.link == "https://arxiv.org/abs/2401.00001"  # its own link was too long to be one
    assert footprint(item) < 200_000  # what the caps let through, of a body of megabytes


def test_an_answer_shaped_like_the_arxiv_api_is_capped_alike() -> None:
    """A feed whose body looks like an arXiv API answer is read by the API's parser: its items are cut the same."""
    entry = hostile_entry(2_000, 2_000).replace("oai:arXiv.org:2401.00001v1", "http://arxiv.org/abs/2401.00001v1")
    (item,) = parse_listing(atom(entry, api=True)).items
    assert_item_capped(item)
    assert_capped(item.comment, MAX_COMMENT_CHARS, "ccc")


async def test_what_a_feed_lists_is_stored_with_its_lists_and_references_capped(sessions: Sessions) -> None:
    meta = PaperMetadata(
        key="url:https://lab.example/p/3",
        title="Everyone",
        authors=tuple(f"Author {i}{' of a lab' * (50 if i < 3 else 0)}" for i in range(HUGE)),
        categories=tuple(
            f"cs.{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}{chr(97 + i // 676 % 26)}" for i in range(2_000)
        ),
        doi="10.1234/" + "d" * HUGE,
        journal_ref="J. " + "r" * HUGE,
        comment="c" * HUGE,
    )
    await follow_listing(sessions, meta)
    paper = await stored(sessions, meta.key)
    assert_item_capped(paper)
    assert_capped(paper.comment, MAX_COMMENT_CHARS, "ccc")


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
