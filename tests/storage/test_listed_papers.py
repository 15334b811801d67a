"""Papers are shared by every group: only arXiv's own feeds write an arXiv paper's metadata, other feeds name it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage.db import Sessions
from storage.feeds.kinds import FeedKind
from storage.feeds.polls import PollRecords
from storage.feeds.subscriptions import SubscriptionService
from storage.identity import paper_key
from storage.metadata import PaperMetadata
from storage.models import MetadataStatus
from storage.papers import PaperService

A, B = 1, 2
WEB = "https://blog.example/feed.xml"
LISTING = "https://rss.arxiv.org/rss/cs.LG"
ARXIV_TITLE = "The Unreasonable Ineffectiveness of the Deeper Layers"
EVIL = PaperMetadata(
    key="arxiv:2403.17887",
    title="[Click me](https://evil.example) pwned",
    version=99,
    authors=("Mallory",),
    abstract="Read [the full paper](https://evil.example/steal) here.",
    categories=("cs.CR",),
)


class Arxiv:
    """A metadata source that knows a few papers by title."""

    def __init__(self, titles: dict[str, str]) -> None:
        self.titles = titles
        self.asked: list[list[str]] = []

    async def fetch(self, keys: list[str]) -> dict[str, PaperMetadata | None]:
        self.asked.append(list(keys))
        return {
            k: PaperMetadata(key=k, title=self.titles[k], version=2, authors=("A. Gromov",), abstract="Layers.")
            if k in self.titles
            else None
            for k in keys
        }

    async def search_title(self, text: str, *, limit: int = 5) -> list[PaperMetadata]:
        return []


async def test_a_web_feed_naming_a_known_arxiv_paper_changes_nothing_other_groups_see(sessions: Sessions) -> None:
    papers = PaperService(sessions, Arxiv({"arxiv:2403.17887": ARXIV_TITLE}))
    before = await papers.ensure(paper_key("2403.17887"))  # group A noted it; arXiv answered
    assert before.title == ARXIV_TITLE
    feeds, runs = SubscriptionService(sessions), PollRecords(sessions)
    sub = await feeds.subscribe(
        guild_id=B, channel_id=20, created_by=6, url=WEB, kind=FeedKind.WEB, source=WEB, current=[(EVIL, None)]
    )
    now = datetime.now(UTC)
    await runs.record_fetch(feed_id=1, now=now, next_fetch_at=now + timedelta(hours=1), items=[(EVIL, None)])
    after = await papers.get_by_key("arxiv:2403.17887")
    assert after == before  # title, authors, abstract, categories and version: arXiv's
    assert sub.id is not None


async def test_a_new_arxiv_paper_from_a_web_feed_waits_for_arxiv_then_gets_its_metadata(sessions: Sessions) -> None:
    source = Arxiv({"arxiv:2403.17887": ARXIV_TITLE})
    papers = PaperService(sessions, source)
    ids = await SubscriptionService(sessions).subscribe(
        guild_id=B, channel_id=20, created_by=6, url=WEB, kind=FeedKind.WEB, source=WEB, current=[(EVIL, None)]
    )
    assert ids.id is not None
    pending = await papers.get_by_key("arxiv:2403.17887")
    assert pending.pending and pending.title is None and pending.abstract is None
    assert (pending.authors, pending.categories, pending.version) == ((), (), None)
    assert pending.display_title == "2403.17887"  # what the feed's card shows until arXiv answers
    assert await papers.fill_pending(now=datetime.now(UTC)) == 1  # due at once: never asked before
    filled = await papers.get_by_key("arxiv:2403.17887")
    assert (filled.title, filled.version, filled.metadata_status) == (ARXIV_TITLE, 2, MetadataStatus.OK)
    assert source.asked == [["arxiv:2403.17887"]]


async def test_arxiv_listings_still_write_metadata_and_web_feeds_keep_their_own_papers(sessions: Sessions) -> None:
    feeds = SubscriptionService(sessions)
    listed = PaperMetadata(key="arxiv:2504.10001", title="Listed by arXiv", version=1, abstract="From arXiv.")
    await feeds.subscribe(
        guild_id=A,
        channel_id=10,
        created_by=5,
        url=LISTING,
        kind=FeedKind.ARXIV_LISTING,
        source="cs.LG",
        current=[(listed, "new")],
    )
    post = PaperMetadata(key="url:https://blog.example/post-1", title="A blog post", abstract="About things.")
    await feeds.subscribe(
        guild_id=B, channel_id=20, created_by=6, url=WEB, kind=FeedKind.WEB, source=WEB, current=[(post, None)]
    )
    papers = PaperService(sessions, None)
    from_arxiv = await papers.get_by_key("arxiv:2504.10001")
    assert (from_arxiv.title, from_arxiv.abstract, from_arxiv.pending) == ("Listed by arXiv", "From arXiv.", False)
    own = await papers.get_by_key("url:https://blog.example/post-1")
    assert (own.title, own.abstract) == ("A blog post", "About things.")
