"""The operator's per-server caps, as members meet them through the real client and the loopback Discord."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web
from sqlalchemy import text

from tests.arxiv_standin import FakeArxiv
from tests.bot.conftest import ANN, BOB, CHANNEL, GUILD, MOD, OTHER_GUILD, Club, running_club
from tests.loopback import serving

READING = 600_000_000_000_000_009  # a second text channel in GUILD
CALLBACK_MESSAGE = 4  # answered at once, before any deferral


def rss(name: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Lab {name}</title><link>https://lab.example.org/{name}</link>
<description>Posts</description>
<item><title>A post from {name}</title><link>https://lab.example.org/{name}/1</link>
<description>Text.</description></item>
</channel></rss>
""".encode()


@asynccontextmanager
async def feed_club(fake_arxiv: FakeArxiv, tmp_path: Path, **caps: str) -> AsyncIterator[tuple[Club, list[str], str]]:
    """A bot with the given caps and a loopback web server with a feed at every path; yields the paths fetched."""
    fetched: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        fetched.append(request.path)
        return web.Response(body=rss(request.path.strip("/")), content_type="application/rss+xml")

    async with serving(handle) as server:
        base = str(server.make_url("/"))
        # The loopback feed server stands for feeds on the internet: private addresses are allowed here.
        async with running_club(fake_arxiv, tmp_path, FEEDS_ALLOW_PRIVATE="on", **caps) as club:
            club.discord.quiet_period = 0.15
            club.discord.add_channel(GUILD, READING, name="reading")
            await club.discord.settle()
            yield club, fetched, base


async def count(club: Club, table: str) -> int:
    async with club.bot.services.sessions() as session:
        return (await session.exec(text(f"SELECT count(*) FROM {table}"))).one()[0]  # type: ignore[call-overload]


async def test_a_server_at_its_subscription_cap_is_told_before_anything_is_fetched(
    fake_arxiv: FakeArxiv, tmp_path: Path
) -> None:
    async with feed_club(fake_arxiv, tmp_path, MAX_SUBSCRIPTIONS="2") as (club, fetched, base):
        for name, channel in (("a", CHANNEL), ("a", READING)):
            added = await club.run("feed add", user=MOD, source=f"{base}{name}", channel=channel)
            assert "Following" in added.text(), added.text()
        refused = await club.run("feed add", user=MOD, source=f"{base}b")
        assert refused.ephemeral and refused.response_type == CALLBACK_MESSAGE
        assert refused.error == (
            "This server has 2 feed subscriptions, and this bot allows 2. Remove one with `/feed remove` first."
        )
        assert fetched == ["/a", "/a"]  # the refused source was never fetched
        assert await count(club, "subscriptions") == 2 and await count(club, "feeds") == 1
        other = await club.run("feed add", user=MOD, guild=OTHER_GUILD, source=f"{base}b")
        assert "Following" in other.text()


async def test_a_server_at_its_feed_cap_may_still_post_a_feed_it_follows_elsewhere(
    fake_arxiv: FakeArxiv, tmp_path: Path
) -> None:
    async with feed_club(fake_arxiv, tmp_path, MAX_FEEDS="1") as (club, fetched, base):
        assert "Following" in (await club.run("feed add", user=MOD, source=f"{base}a")).text()
        refused = await club.run("feed add", user=MOD, source=f"{base}b", channel=READING)
        assert refused.ephemeral and refused.response_type == CALLBACK_MESSAGE
        assert refused.error is not None and "follows 1 different feeds, and this bot allows 1" in refused.error
        again = await club.run("feed add", user=MOD, source=f"{base}a", channel=READING)
        assert "Following" in again.text()
        assert fetched == ["/a", "/a"]
        assert await count(club, "subscriptions") == 2 and await count(club, "feeds") == 1


async def test_a_member_at_the_daily_note_cap_is_told_and_others_are_not(fake_arxiv: FakeArxiv, tmp_path: Path) -> None:
    async with running_club(fake_arxiv, tmp_path, MAX_NOTES_PER_DAY="2") as club:
        first, second, third = club.arxiv.catalog.ids(3)
        for paper in (first, second):
            saved = await club.run("note add", paper=paper, text="read it")
            assert "Saved note" in saved.original.text()
        refused = await club.run("note add", paper=third, text="one more")
        assert refused.ephemeral and refused.error == (
            "You've added 2 notes in this server in the last 24 hours, and this bot allows 2. "
            "You can add another in about 24 hours."
        )
        assert await count(club, "notes") == 2 and len(club.posted()) == 2
        # The form is not opened for a note that could not be saved: nothing is typed in vain.
        no_form = await club.run("note add", paper=third)
        assert no_form.modal is None and no_form.ephemeral and "24 hours" in (no_form.error or "")
        card = await club.run("paper", query=third)
        from_card = await club.click(card, "paper:add-note")
        assert from_card.modal is None and "24 hours" in (from_card.error or "")
        bob = await club.run("note add", user=BOB, paper=third, text="my turn")
        assert "Saved note" in bob.original.text()
        elsewhere = await club.run("note add", user=ANN, guild=OTHER_GUILD, paper=third, text="another server")
        assert "Saved note" in elsewhere.original.text()
        assert await count(club, "notes") == 4
