"""/feed add, list, test, pause, resume and remove as moderators use them, through the real client, against the
loopback Discord and loopback feed servers serving real arXiv captures and generated listings."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import func
from sqlmodel import select

from bot.feed_render import list_embed, preview_embed
from bot.render import embed_size
from schedules.feed_formats import FeedItem
from schedules.source_check import preview
from storage.feeds.sources import Source
from storage.feeds.subscriptions import FeedHealth, SubscriptionView
from storage.models import Feed, Paper, Subscription
from tests.arxiv_standin import FakeArxiv, Reply, capture
from tests.bot.conftest import ANN, CHANNEL, GUILD, MOD, OTHER_GUILD, Club, running_club
from tests.fakediscord import CommandUnavailable
from tests.feed_listings import generate_listing, listing_papers
from tests.loopback import serving

QUANT_PH = "rss2_rss.arxiv.org_quant-ph_2025-04-28_81items.xml"
API_SEARCH = "api2026_search_cs.AI_max20_2026-02-05.xml"
READING = 600_000_000_000_000_009  # a second text channel in GUILD
CAP = 30  # FEED_MAX_POSTS in these tests

BLOG = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>A lab's blog</title><link>https://lab.example.org/</link>
<description>Posts from the lab</description>
<item><title>Merging models without retraining</title><link>https://lab.example.org/posts/merging</link>
<description>We merged two models.</description><pubDate>Mon, 28 Apr 2025 10:00:00 +0000</pubDate></item>
<item><title>Our new preprint</title><link>https://arxiv.org/abs/2504.00001</link>
<description>Now on arXiv.</description><pubDate>Tue, 29 Apr 2025 10:00:00 +0000</pubDate></item>
</channel></rss>
"""


@dataclass
class Feeds:
    """A loopback web server with one canned answer per path, recording each request."""

    routes: dict[str, tuple[int, bytes, str]] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)
    server: TestServer | None = None

    def url(self, path: str) -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    def serve(self, path: str, body: bytes, *, status: int = 200, content_type: str = "application/rss+xml") -> str:
        self.routes[path] = (status, body, content_type)
        return self.url(path)

    async def handle(self, request: web.Request) -> web.Response:
        self.hits.append(request.path)
        status, body, content_type = self.routes.get(request.path, (404, b"not here", "text/plain"))
        return web.Response(status=status, body=body, content_type=content_type)


@asynccontextmanager
async def feed_club(fake_arxiv: FakeArxiv, tmp_path: Path) -> AsyncIterator[tuple[Club, Feeds]]:
    feeds = Feeds()
    async with serving(feeds.handle) as server:
        feeds.server = server
        # The loopback feed server stands for feeds on the internet: private addresses are allowed here
        # (tests/bot/test_feed_addresses_wire.py covers the bot with them refused).
        async with running_club(
            fake_arxiv, tmp_path, ARXIV_RSS_BASE=feeds.url("/rss"), FEED_MAX_POSTS=str(CAP), FEEDS_ALLOW_PRIVATE="on"
        ) as club:
            club.discord.quiet_period = 0.15  # every /feed answer is one callback, or a deferral and one followup
            club.discord.add_channel(GUILD, READING, name="reading")
            await club.discord.settle()
            yield club, feeds


async def mod(club: Club, command: str, **options: Any) -> Any:
    return await club.run(command, user=MOD, **options)


def reply(inter: Any) -> str:
    """What the moderator was shown; every /feed answer is for their eyes only."""
    assert inter.ephemeral, f"{inter.label} answered in public"
    return inter.text()


async def listed(club: Club, guild: int = GUILD) -> str:
    return reply(await club.run("feed list", user=MOD, guild=guild))


async def test_add_categories_holds_the_listing_back_and_list_shows_health(
    fake_arxiv: FakeArxiv, tmp_path: Path
) -> None:
    async with feed_club(fake_arxiv, tmp_path) as (club, feeds):
        feeds.serve("/rss/cs.CL+cs.LG", generate_listing(120, category="cs.LG", seed=1))
        feeds.serve("/rss/quant-ph", capture(QUANT_PH))

        added = reply(await mod(club, "feed add", source="cs.lg, cs.CL"))
        assert "Following cs.CL+cs.LG" in added and f"<#{CHANNEL}>" in added
        assert "the 120 papers listed right now were not posted" in added
        assert f"at most {CAP} here and the rest go to the digest" in added  # a busy listing with no keywords
        assert feeds.hits[0] == "/rss/cs.CL+cs.LG"
        await club.discord.settle()
        assert club.posted() == [], "subscribing flooded the channel"
        async with club.bot.services.sessions() as session:  # held back, yet stored for the digest
            assert (await session.exec(select(func.count()).select_from(Paper))).one() == 120

        shown = await listed(club)
        assert "**#1** `cs.CL+cs.LG`" in shown and f"<#{CHANNEL}>" in shown and "posts each paper" in shown
        assert "Delivered 0" in shown and "last success: <t:" in shown  # the check fetch was the first success
        async with club.bot.services.sessions() as session:  # ... so the next poll waits its turn
            feed = (await session.exec(select(Feed))).one()
            assert feed.next_fetch_at is not None and feed.next_fetch_at > datetime.now(UTC)

        again = await mod(club, "feed add", source="cs.LG+cs.CL")  # the same feed, typed another way
        assert "already follows that feed" in (again.error or "")
        wrong = await mod(club, "feed add", source="cs.ML")
        assert "Did you mean `stat.ML`?" in (wrong.error or "")
        assert all(hit == "/rss/cs.CL+cs.LG" for hit in feeds.hits)  # the typo was refused before any fetch

        digest = reply(
            await mod(
                club, "feed add", source="quant-ph", channel=READING, keywords='"error correction"', mode="digest"
            )
        )
        assert "Digest mode" in digest and f"<#{READING}>" in digest and "the 81 papers" in digest
        assert "Busy days" not in digest and '`"error correction"`' in digest
        assert "arXiv listing" in digest

        sessions = club.bot.services.sessions
        async with sessions() as session:
            feed = (await session.exec(select(Feed).where(Feed.url == feeds.url("/rss/cs.CL+cs.LG")))).one()
            now = datetime.now(UTC)
            feed.last_success_at, feed.last_fetch_at = now - timedelta(hours=2), now - timedelta(minutes=5)
            feed.last_error, feed.failures = "The feed answered HTTP 503.", 3
            feed.fingerprint, feed.fingerprint_since = "same", now - timedelta(days=6)
            feed.next_fetch_at = now + timedelta(days=1)
            session.add(feed)
            await session.commit()
        shown = await listed(club)
        first, second = shown.split("**#2**")
        assert re.search(r"last success: <t:\d+:R>", first)
        assert "⚠️ Last error (3 in a row)" in first and "HTTP 503" in first and "Stale" in first
        assert "digest only" in second and '`"error correction"`' in second and "Stale" not in second


async def test_add_an_arxiv_search_and_feed_urls(fake_arxiv: FakeArxiv, tmp_path: Path) -> None:
    async with feed_club(fake_arxiv, tmp_path) as (club, feeds):
        club.arxiv.search_reply = lambda query: Reply.of(API_SEARCH)
        added = reply(await mod(club, "feed add", source="ti:“model merging” and cat:cs.lg"))
        assert 'Following ti:"model merging" AND cat:cs.LG' in added and "arXiv search" in added
        assert "the 20 papers listed right now were not posted" in added
        asked = club.arxiv.seen[-1].query
        assert asked["search_query"] == 'ti:"model merging" AND cat:cs.LG'
        assert (asked["sortBy"], asked["sortOrder"], asked["max_results"]) == ("submittedDate", "descending", "100")

        blog = feeds.serve("/blog/feed.xml", BLOG)
        added = reply(await mod(club, "feed add", source=blog.replace("http://", "HTTP://") + "#latest"))
        assert f"Following {blog}" in added and "RSS/Atom feed" in added and "the 2 papers" in added

        # An arXiv-shaped listing at another address is still a web feed: what an address serves can be forged,
        # and only arXiv (or the operator's ARXIV_RSS_BASE) speaks for arXiv papers' shared details.
        mirror = feeds.serve("/mirror/quant-ph.xml", capture(QUANT_PH))
        added = reply(await mod(club, "feed add", source=mirror, keywords="entanglement, qubits"))
        assert "RSS/Atom feed" in added and "arXiv listing" not in added
        assert "the 81 papers" in added and "Busy days" not in added

        shown = await listed(club)
        assert "Feeds in this server (3)" in shown
        assert '`ti:"model merging" AND cat:cs.LG`' in shown and f"`{blog}`" in shown
        assert "keywords `entanglement, qubits`" in shown
        await club.discord.settle()
        assert club.posted() == []


async def test_sources_that_fail_are_refused_and_nothing_is_stored(fake_arxiv: FakeArxiv, tmp_path: Path) -> None:
    async with feed_club(fake_arxiv, tmp_path) as (club, feeds):
        failing = {
            "/err/503": (503, capture("api2026_error_503_html_2026-01-08.xml"), "text/html", "HTTP 503"),
            "/err/rate": (
                200,
                capture("api2026_error_rate_exceeded_2026-01-08.txt.xml"),
                "text/plain",
                "Rate exceeded",
            ),
            "/rss/err/api": (
                400,
                capture("api2026_error_malformed_id_abc.xml"),
                "application/atom+xml",
                "incorrect id",  # under the arXiv listing base: arXiv's own error text is quoted
            ),
            "/err/api": (400, capture("api2026_error_malformed_id_abc.xml"), "application/atom+xml", "HTTP 400"),
            "/err/empty": (200, b"", "application/rss+xml", "empty response"),
            "/err/page": (200, b"<!doctype html><html><title>Welcome</title></html>", "text/html", "HTML page"),
            "/err/missing": (404, b"gone", "text/plain", "HTTP 404"),
        }
        for path, (status, body, content_type, needle) in failing.items():
            url = feeds.serve(path, body, status=status, content_type=content_type)
            inter = await mod(club, "feed add", source=url)
            assert inter.ephemeral and needle in (inter.error or ""), (path, inter.text())
        nothing = await mod(club, "feed add", source="transformers")
        assert 'all:"transformers"' in (nothing.error or "")

        assert "follows no feeds yet" in await listed(club) and "`/feed add`" in await listed(club)
        async with club.bot.services.sessions() as session:
            for table in (Feed, Subscription, Paper):
                assert (await session.exec(select(func.count()).select_from(table))).one() == 0, table


async def test_autocomplete_tells_members_without_manage_server_nothing(fake_arxiv: FakeArxiv, tmp_path: Path) -> None:
    """discord.py runs no cog check for autocomplete: an admin's per-command override must not open the feed list."""
    async with feed_club(fake_arxiv, tmp_path) as (club, feeds):
        feeds.serve("/rss/cs.LG", generate_listing(5, seed=2))
        reply(await mod(club, "feed add", source="cs.LG"))

        def choices(command: str, user: int) -> Any:
            return club.discord.autocomplete(
                f"feed {command}",
                guild_id=GUILD,
                channel_id=CHANNEL,
                user_id=user,
                options={"subscription": ""},
                focused="subscription",
            )

        with pytest.raises(CommandUnavailable):  # Discord itself hides /feed from members by default
            await choices("remove", ANN)
        club.discord.allow_command(GUILD, "feed", ANN)  # Server Settings → Integrations: /feed allowed for ann
        for command in ("pause", "remove"):
            assert await choices(command, ANN) == [], command
            assert await choices(command, MOD) != [], command
        refused = await club.run("feed remove", user=ANN, subscription="1")
        assert "Manage Server" in (refused.error or "")
        assert "#1" in await listed(club)


async def test_pause_resume_and_remove_round_trip(fake_arxiv: FakeArxiv, tmp_path: Path) -> None:
    async with feed_club(fake_arxiv, tmp_path) as (club, feeds):
        feeds.serve("/rss/cs.LG", generate_listing(5, seed=2))
        reply(await mod(club, "feed add", source="cs.LG"))

        def choices(command: str, typed: str) -> Any:
            return club.discord.autocomplete(
                f"feed {command}",
                guild_id=GUILD,
                channel_id=CHANNEL,
                user_id=MOD,
                options={"subscription": typed},
                focused="subscription",
            )

        assert await choices("pause", "") == [{"name": "#1 cs.LG → #papers", "value": "1"}]
        assert await choices("resume", "") == []  # nothing is paused

        assert "Paused #1 `cs.LG`" in reply(await mod(club, "feed pause", subscription="1"))
        assert "⏸️ Paused: paused by mod" in await listed(club)
        assert "already paused" in reply(await mod(club, "feed pause", subscription="#1"))
        assert await choices("resume", "cs") == [{"name": "#1 cs.LG → #papers (paused)", "value": "1"}]
        assert await choices("pause", "") == []

        # Another server sees none of it, and can't touch it.
        for command in ("feed resume", "feed pause", "feed remove"):
            other = await club.run(command, user=MOD, guild=OTHER_GUILD, subscription="1")
            assert "no subscription #1 in this server" in (other.error or ""), command
        assert "follows no feeds yet" in await listed(club, OTHER_GUILD)

        assert "Resumed #1" in reply(await mod(club, "feed resume", subscription="1"))
        assert "Paused" not in await listed(club)
        assert "isn't paused" in reply(await mod(club, "feed resume", subscription="1"))

        # A channel the bot can no longer post in is checked before resuming.
        await mod(club, "feed pause", subscription="1")
        club.discord.forbid_channel(CHANNEL)
        await club.discord.settle()
        refused = await mod(club, "feed resume", subscription="1")
        assert f"I can't post in <#{CHANNEL}>" in (refused.error or "") and "Send Messages" in (refused.error or "")
        assert "⏸️ Paused" in await listed(club)

        bad = await mod(club, "feed remove", subscription="three")
        assert "give its number" in (bad.error or "")
        assert "Removed #1 `cs.LG`" in reply(await mod(club, "feed remove", subscription="1"))
        assert "follows no feeds yet" in await listed(club)
        gone = await mod(club, "feed remove", subscription="1")
        assert "no subscription #1" in (gone.error or "")


async def test_feed_test_shows_each_papers_fate_and_stores_nothing(fake_arxiv: FakeArxiv, tmp_path: Path) -> None:
    async with feed_club(fake_arxiv, tmp_path) as (club, feeds):
        feeds.serve("/rss/cs.LG", generate_listing(60, seed=7))
        papers = listing_papers(60, seed=7)
        phrase = re.compile(r"(?<!\w)diffusion\s+models?(?!\w)")
        wanted = [
            p
            for p in papers
            if p.announce_type in ("new", "cross") and phrase.search(f"{p.title} {p.abstract}".lower())
        ]
        assert 0 < len(wanted) < CAP

        shown = reply(await mod(club, "feed test", source="cs.LG", keywords='"diffusion models"'))
        assert f"Would post **{len(wanted)}** of 60 papers." in shown
        lines = [line for line in shown.splitlines() if line.startswith(("✅", "⏭️"))]
        assert len(lines) == 20 and "20 of 60 shown, 40 more not shown" in shown and "Nothing was saved" in shown
        kept = lines[: len(wanted)]  # what would be posted comes first, in listing order
        assert all(line.startswith("✅") and line.endswith("— matches “diffusion models”") for line in kept)
        assert [re.search(r"abs/([\d.]+)\)", line)[1] for line in kept] == [p.arxiv_id for p in wanted]  # type: ignore[index]
        assert all(line.startswith("⏭️") for line in lines[len(wanted) :])
        assert "— no keyword in title or abstract" in shown
        replaced = sum(1 for p in papers if p.announce_type.startswith("replace"))
        assert f"{replaced} × a replaced paper, not a new one" in shown

        everything = reply(await mod(club, "feed test", source="cs.LG"))
        postable = sum(1 for p in papers if p.announce_type in ("new", "cross"))
        assert postable > CAP
        assert (
            f"Would post **{CAP}** of 60 papers; {postable - CAP} over the per-poll cap of {CAP} go to the digest."
            in everything
        )

        digest = reply(await mod(club, "feed test", source="cs.LG", keywords='"diffusion models"', mode="digest"))
        assert f"Would keep **{len(wanted)}** of 60 papers for the digest" in digest

        failing = await mod(club, "feed test", source=feeds.serve("/down", b"", status=503, content_type="text/plain"))
        assert "HTTP 503" in (failing.error or "")

        assert "follows no feeds yet" in await listed(club)
        async with club.bot.services.sessions() as session:
            for table in (Feed, Subscription, Paper):
                assert (await session.exec(select(func.count()).select_from(table))).one() == 0, table


async def test_only_moderators_use_feed_and_only_where_the_bot_can_post(fake_arxiv: FakeArxiv, tmp_path: Path) -> None:
    async with feed_club(fake_arxiv, tmp_path) as (club, feeds):
        feeds.serve("/rss/cs.LG", generate_listing(5, seed=3))
        for command, options in (
            ("feed add", {"source": "cs.LG"}),
            ("feed test", {"source": "cs.LG"}),
            ("feed list", {}),
            ("feed pause", {"subscription": "1"}),
            ("feed resume", {"subscription": "1"}),
            ("feed remove", {"subscription": "1"}),
        ):
            with pytest.raises(CommandUnavailable):
                await club.run(command, user=ANN, **options)

        club.discord.forbid_channel(CHANNEL)
        await club.discord.settle()
        refused = await mod(club, "feed add", source="cs.LG")
        assert f"I can't post in <#{CHANNEL}>" in (refused.error or "") and "Send Messages" in (refused.error or "")
        assert feeds.hits == []  # refused before fetching anything
        assert "follows no feeds yet" in await listed(club)

        elsewhere = reply(await mod(club, "feed add", source="cs.LG", channel=READING))
        assert f"New papers will be posted in <#{READING}>" in elsewhere
        assert "Feeds in this server (1)" in await listed(club)


def test_long_lists_and_previews_stay_within_discord_limits() -> None:
    now = datetime.now(UTC)
    views = [
        SubscriptionView(
            id=i,
            guild_id=GUILD,
            channel_id=CHANNEL,
            source="https://example.org/" + "very-long-path/" * 40 + str(i),
            keywords="x" * 500,
            exclude="y" * 500,
            mode="post",
            paused=True,
            pause_reason="z" * 500,
            delivered=i,
            last_delivered_at=now,
            created_at=now,
            feed=FeedHealth("https://example.org/", "web", now, now, "e" * 1000, 9, True),
        )
        for i in range(1, 31)
    ]
    seen: list[int] = []
    embed, page, pages = list_embed(views, 1)
    assert pages > 1
    for number in range(1, pages + 1):
        embed, page, _ = list_embed(views, number)
        assert page == number and len(embed.description or "") <= 4096 and embed_size(embed) <= 6000
        seen += [int(m) for m in re.findall(r"\*\*#(\d+)\*\*", embed.description or "")]
    assert seen == list(range(1, 31))  # every subscription once, in order
    assert list_embed(views, 99)[1] == pages

    items = [
        FeedItem(f"arxiv:2504.{i:05d}", 1, "T" * 300, "a", (), (), "new", f"https://arxiv.org/abs/2504.{i:05d}", None)
        for i in range(500)
    ]
    result = preview(items, keywords=None, exclude=None, mode="post", posted=set(), known=set(), max_posts=50)
    shown = preview_embed(
        result, source=Source("https://x/", "web", "x" * 400), mode="post", keywords=None, exclude=None
    )
    assert len(shown.description or "") <= 4096 and embed_size(shown) <= 6000 and len(shown.title or "") <= 256
    assert "Would post **50** of 500 papers; 450 over the per-poll cap of 50" in (shown.description or "")
