"""Papers are shared by every server: a stranger's web feed in one server cannot rewrite what another server's
/paper shows, and an arXiv paper first seen through such a feed gets arXiv's own details."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from schedules.feed_formats import parse_listing
from storage.feeds.kinds import FeedKind
from tests.arxiv_standin import FakeArxiv, entry_xml
from tests.bot.conftest import MOD, OTHER_CHANNEL, OTHER_GUILD, Club, running_club

ARXIV_TITLE = "The Unreasonable Ineffectiveness of the Deeper Layers"
ARXIV_ABSTRACT = "We empirically study a simple layer-pruning strategy for popular families of open-weight LLMs."
NEWER_TITLE = "A Paper arXiv Knows by Its Own Name"
EVIL_TITLE = "[Click me](https://evil.example) pwned"
EVIL_ABSTRACT = "Read [the full paper](https://evil.example/steal) now."
FEED = "https://blog.example/picks.xml"


def rss(*links: str) -> bytes:
    """A plain RSS 2.0 feed from someone's blog, linking to arXiv papers under its own titles."""
    items = "".join(
        f"<item><title>{EVIL_TITLE}</title><link>{link}</link><description>{EVIL_ABSTRACT}</description>"
        f"<author>Mallory</author><guid>{link}</guid></item>"
        for link in links
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Stranger picks</title>'
        f"<link>https://blog.example/</link><description>Papers we like</description>{items}</channel></rss>"
    ).encode()


def listed(body: bytes) -> list[tuple[object, str | None]]:
    """What the poller stores from a fetch of this body (the feed is read exactly as a fetched one)."""
    listing = parse_listing(body)
    assert listing.kind == FeedKind.WEB
    return [(item.to_metadata(), item.announce_type) for item in listing.items]


async def card(club: Club, query: str) -> dict[str, object]:
    shown = await club.run("paper", query=query)
    return shown.original.embeds[0]


async def test_a_web_feed_in_one_server_cannot_rewrite_what_another_server_sees(
    fake_arxiv: FakeArxiv, tmp_path: Path
) -> None:
    for arxiv_id, title in (("2403.17887", ARXIV_TITLE), ("2403.20001", NEWER_TITLE)):
        fake_arxiv.catalog.entries[arxiv_id] = entry_xml(
            arxiv_id, title, authors=["Andrey Gromov"], published="2024-03-26", summary=ARXIV_ABSTRACT
        )
    async with running_club(fake_arxiv, tmp_path) as club:
        noted = await club.run("note add", paper="2403.17887", text="deeper layers matter less")  # group A
        assert "Saved note" in noted.original.text()
        services = club.bot.services
        # Group B follows the stranger's feed: what it lists when followed, then at its next poll.
        sub = await services.feeds.subscriptions.subscribe(
            guild_id=OTHER_GUILD,
            channel_id=OTHER_CHANNEL,
            created_by=MOD,
            url=FEED,
            kind=FeedKind.WEB,
            source=FEED,
            current=listed(rss("https://arxiv.org/abs/2403.17887v99")),  # type: ignore[arg-type]
        )
        now = datetime.now(UTC)
        items = listed(rss("https://arxiv.org/abs/2403.17887v99", "https://arxiv.org/abs/2403.20001v7"))
        ids = await services.feeds.polls.record_fetch(
            feed_id=1,
            now=now,
            next_fetch_at=now + timedelta(hours=1),
            items=items,  # type: ignore[arg-type]
        )
        assert sub.guild_id == OTHER_GUILD and set(ids) == {"arxiv:2403.17887", "arxiv:2403.20001"}

        shown = await card(club, "2403.17887")  # group A's /paper
        text = f"{shown.get('title')} {shown.get('description')} {shown.get('fields')}"
        assert shown["title"] == ARXIV_TITLE and ARXIV_ABSTRACT[:40] in text
        assert "evil.example" not in text and "Mallory" not in text and "Click me" not in text
        stored = await services.papers.get_by_key("arxiv:2403.17887")
        assert (stored.title, stored.version, stored.authors) == (ARXIV_TITLE, 1, ("Andrey Gromov",))

        # The paper the feed brought first waits for arXiv, shown by its id, never under the feed's title.
        fresh = await services.papers.get_by_key("arxiv:2403.20001")
        assert fresh.pending and fresh.title is None and fresh.display_title == "2403.20001"
        assert await services.papers.fill_pending(now=datetime.now(UTC)) == 1
        assert (await card(club, "2403.20001"))["title"] == NEWER_TITLE
