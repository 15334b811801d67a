"""A noted paper's new version: one notice per group with notes on it, recorded with the version, never doubled,
and claimed with its place (the paper's thread, else the channel of the group's latest note) before it is sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import col, select

from storage.db import Sessions
from storage.feeds.kinds import FeedKind
from storage.feeds.polls import PollRecords
from storage.feeds.subscriptions import SubscriptionService
from storage.identity import paper_key
from storage.metadata import PaperMetadata
from storage.models import Feed, MetadataStatus, Note, NoteOrigin, Paper, PaperThread, VersionNotice
from storage.papers import PaperService
from storage.version_check import VersionCheck
from storage.versions import VersionNotices, record_new_versions

A, B, C = 1, 2, 3
A_CHANNEL, A_OTHER, A_THREAD, B_CHANNEL, C_CHANNEL = 10, 11, 12, 20, 30
KEY = "arxiv:2403.17887"
LISTING, OTHER_LISTING = "https://rss.arxiv.org/rss/cs.LG", "https://rss.arxiv.org/rss/cs.CL"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def seed_paper(
    sessions: Sessions, *, key: str = KEY, version: int | None = 1, status: str = MetadataStatus.OK
) -> int:
    async with sessions.begin() as session:
        paper = Paper(key=key, version=version, title="Deeper Layers", metadata_status=status, comment="v1 notes")
        session.add(paper)
        await session.flush()
        assert paper.id is not None
        return paper.id


async def seed_note(
    sessions: Sessions,
    paper_id: int,
    *,
    guild_id: int,
    channel_id: int | None,
    author_id: int,
    at: datetime = T0,
) -> None:
    async with sessions.begin() as session:
        session.add(
            Note(
                guild_id=guild_id,
                paper_id=paper_id,
                author_id=author_id,
                author_name=f"m{author_id}",
                body="notes",
                channel_id=channel_id,
                created_at=at,
                updated_at=at,
                origin=NoteOrigin.DISCORD if channel_id else NoteOrigin.IMPORT,
            )
        )


def listed(version: int, key: str = KEY) -> tuple[PaperMetadata, str]:
    return PaperMetadata(key=key, title="Deeper Layers, revised", version=version, authors=("A. Gromov",)), "replace"


async def list_on(sessions: Sessions, url: str, *items: tuple[PaperMetadata, str]) -> None:
    """An arXiv listing at ``url`` (followed by group C, which has no notes) lists ``items``."""
    feeds, polls = SubscriptionService(sessions), PollRecords(sessions)
    async with sessions() as session:
        feed_id = (await session.exec(select(Feed.id).where(Feed.url == url))).first()
    if feed_id is None:
        await feeds.subscribe(
            guild_id=C, channel_id=C_CHANNEL, created_by=9, url=url, kind=FeedKind.ARXIV_LISTING, source=url, current=[]
        )
        async with sessions() as session:
            feed_id = (await session.exec(select(Feed.id).where(Feed.url == url))).one()
    assert feed_id is not None
    now = datetime.now(UTC)
    await polls.record_fetch(feed_id=feed_id, now=now, next_fetch_at=now + timedelta(hours=1), items=list(items))


async def all_notices(sessions: Sessions) -> list[tuple[int, int, str]]:
    async with sessions() as session:
        rows = (await session.exec(select(VersionNotice).order_by(col(VersionNotice.guild_id)))).all()
        return [(row.guild_id, row.version, row.state) for row in rows]


async def stored_version(sessions: Sessions, paper_id: int) -> int | None:
    async with sessions() as session:
        paper = await session.get(Paper, paper_id)
        assert paper is not None
        return paper.version


async def test_a_replacement_of_a_noted_paper_tells_each_group_with_notes_once(sessions: Sessions) -> None:
    paper_id = await seed_paper(sessions)
    await seed_note(sessions, paper_id, guild_id=A, channel_id=A_CHANNEL, author_id=1)
    await seed_note(sessions, paper_id, guild_id=A, channel_id=A_CHANNEL, author_id=2)
    await seed_note(sessions, paper_id, guild_id=B, channel_id=B_CHANNEL, author_id=3)

    await list_on(sessions, LISTING, listed(2))
    assert await stored_version(sessions, paper_id) == 2
    assert await all_notices(sessions) == [(A, 2, "pending"), (B, 2, "pending")]  # C follows the feed, no notes

    await list_on(sessions, LISTING, listed(2))  # the same replacement seen again, and in another feed
    await list_on(sessions, OTHER_LISTING, listed(2))
    assert await all_notices(sessions) == [(A, 2, "pending"), (B, 2, "pending")]


async def test_a_version_not_known_before_is_where_counting_starts(sessions: Sessions) -> None:
    unknown = await seed_paper(sessions, version=None)
    pending = await seed_paper(sessions, key="arxiv:2401.00001", version=1, status=MetadataStatus.PENDING)
    for paper_id in (unknown, pending):
        await seed_note(sessions, paper_id, guild_id=A, channel_id=A_CHANNEL, author_id=1)
    await list_on(sessions, LISTING, listed(3), listed(2, "arxiv:2401.00001"))
    assert await stored_version(sessions, unknown) == 3
    assert await stored_version(sessions, pending) == 2
    assert await all_notices(sessions) == []


async def test_versions_skipped_over_make_one_notice_for_the_newest(sessions: Sessions) -> None:
    paper_id = await seed_paper(sessions)
    await seed_note(sessions, paper_id, guild_id=A, channel_id=A_CHANNEL, author_id=1)
    await list_on(sessions, LISTING, listed(3))  # v1 -> v3 at once
    assert await all_notices(sessions) == [(A, 3, "pending")]
    async with sessions.begin() as session:  # v4 comes before v3 was posted
        await record_new_versions(session, changes=[(paper_id, 3, 4)])
    notices = await VersionNotices(sessions).claim()
    assert [(n.guild_id, n.version) for n in notices] == [(A, 4)]
    assert await all_notices(sessions) == [(A, 3, "skipped"), (A, 4, "pending")]


async def test_a_notice_goes_to_the_papers_thread_else_the_latest_notes_channel_else_nowhere(
    sessions: Sessions,
) -> None:
    paper_id = await seed_paper(sessions)
    await seed_note(sessions, paper_id, guild_id=A, channel_id=A_CHANNEL, author_id=1, at=T0)
    await seed_note(sessions, paper_id, guild_id=B, channel_id=B_CHANNEL, author_id=1, at=T0)
    await seed_note(sessions, paper_id, guild_id=B, channel_id=B_CHANNEL + 1, author_id=2, at=T0 + timedelta(days=2))
    await seed_note(sessions, paper_id, guild_id=B, channel_id=None, author_id=3, at=T0 + timedelta(days=3))
    await seed_note(sessions, paper_id, guild_id=C, channel_id=None, author_id=4)  # imported only: no channel
    async with sessions.begin() as session:
        session.add(PaperThread(guild_id=A, paper_id=paper_id, channel_id=A_OTHER, thread_id=A_THREAD))
        await record_new_versions(session, changes=[(paper_id, 1, 2)])

    notices = VersionNotices(sessions)
    claimed = await notices.claim()
    assert [(n.guild_id, n.channel_id, n.claimed_before) for n in claimed] == [
        (A, A_THREAD, False),
        (B, B_CHANNEL + 1, False),
    ]
    assert claimed[0].url == "https://arxiv.org/abs/2403.17887v2"
    assert await all_notices(sessions) == [(A, 2, "pending"), (B, 2, "pending"), (C, 2, "skipped")]

    await notices.mark_sent(claimed[0], message_id=99, now=T0)
    again = await notices.claim()  # claimed before, not recorded: maybe posted by a stopped process
    assert [(n.guild_id, n.channel_id, n.claimed_before) for n in again] == [(B, B_CHANNEL + 1, True)]
    await notices.mark_failed(again[0])
    assert await notices.claim() == []
    assert await all_notices(sessions) == [(A, 2, "sent"), (B, 2, "failed"), (C, 2, "skipped")]
    assert [(n.message_id, n.state) for n in await notices.notices(guild_id=A)] == [(99, "sent")]


async def test_the_daily_check_asks_about_noted_papers_once_a_day_and_stores_what_is_new(sessions: Sessions) -> None:
    noted = await seed_paper(sessions)
    unnoted = await seed_paper(sessions, key="arxiv:2401.00002")
    pending = await seed_paper(sessions, key="arxiv:2401.00003", status=MetadataStatus.PENDING)
    same = await seed_paper(sessions, key="arxiv:2401.00004", version=2)
    for paper_id in (noted, pending, same):
        await seed_note(sessions, paper_id, guild_id=A, channel_id=A_CHANNEL, author_id=1)
    check = VersionCheck(sessions)
    due = await check.due_papers(now=T0, limit=10)
    assert due == {noted: KEY, same: "arxiv:2401.00004"}
    assert unnoted not in due

    found = {
        KEY: PaperMetadata(key=KEY, title="Deeper Layers", version=3, comment="ICML 2026; 12 pages"),
        "arxiv:2401.00004": PaperMetadata(key="arxiv:2401.00004", title="Same", version=2),
    }
    assert await check.record(asked=list(due), found=found, checked_at=T0) == 1
    async with sessions() as session:
        paper = await session.get(Paper, noted)
        assert paper is not None
        assert (paper.version, paper.comment, paper.versions_checked_at) == (3, "ICML 2026; 12 pages", T0)
    assert await all_notices(sessions) == [(A, 3, "pending")]
    assert await check.due_papers(now=T0 + timedelta(hours=23), limit=10) == {}
    assert set(await check.due_papers(now=T0 + timedelta(days=1), limit=10)) == {noted, same}
    assert list(await check.due_papers(now=T0 + timedelta(days=1), limit=1)) == [noted]


async def test_a_newer_version_found_by_a_members_lookup_is_told_too(sessions: Sessions) -> None:
    paper_id = await seed_paper(sessions)
    await seed_note(sessions, paper_id, guild_id=A, channel_id=A_CHANNEL, author_id=1)
    papers = PaperService(sessions, None)
    await papers.ensure(paper_key(KEY), metadata=PaperMetadata(key=KEY, title="Deeper Layers", version=2))
    assert await all_notices(sessions) == [(A, 2, "pending")]


async def test_a_version_from_a_feed_found_again_by_the_check_is_one_notice_and_an_older_answer_lowers_nothing(
    sessions: Sessions,
) -> None:
    paper_id = await seed_paper(sessions)
    await seed_note(sessions, paper_id, guild_id=A, channel_id=A_CHANNEL, author_id=1)
    await list_on(sessions, LISTING, listed(2))  # the feed's replacement: v1 -> v2
    check = VersionCheck(sessions)
    for answered in (2, 1):  # the check sees v2 again, then arXiv answers from a stale mirror: v1
        meta = PaperMetadata(key=KEY, title="Deeper Layers", version=answered)
        assert await check.record(asked=[paper_id], found={KEY: meta}, checked_at=T0) == 0
        assert await stored_version(sessions, paper_id) == 2
    await list_on(sessions, OTHER_LISTING, listed(1))
    assert await stored_version(sessions, paper_id) == 2
    assert await all_notices(sessions) == [(A, 2, "pending")]
