"""The daily version check through the real arXiv client against the loopback arXiv, and the notices' posting:
once each, looked for before a second try, given up when their place is gone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from sqlmodel import select

from schedules.arxiv import ArxivClient
from schedules.arxiv_answers import parse_api_feed
from schedules.feed_formats import parse_listing
from schedules.jobs import CHECK_VERSIONS_HOLD, CHECK_VERSIONS_LEASE, CHECK_VERSIONS_TICK
from schedules.poller import ChannelUnavailable, SendFailed
from schedules.versions import MAX_REQUESTS, VersionWatch
from storage.db import Sessions
from storage.leases import LeaseService
from storage.models import MetadataStatus, Note, Paper, VersionNotice
from storage.version_check import VersionCheck
from storage.versions import Notice, VersionNotices, record_new_versions
from tests.arxiv_standin import Catalog, FakeArxiv, Reply, capture
from tests.schedules.test_arxiv_client import make_client
from tests.storage.test_versions import LISTING, list_on, seed_note, seed_paper

A, B = 1, 2
A_CHANNEL, B_CHANNEL = 10, 20
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def client(fake_arxiv: FakeArxiv) -> AsyncIterator[ArxivClient]:
    async with make_client(fake_arxiv) as started:
        yield started


async def seed_noted(sessions: Sessions, catalog: Catalog, count: int) -> dict[str, int]:
    """``count`` catalog papers stored as arXiv gave them, each with a note in group A; arXiv id -> paper id."""
    ids = catalog.ids(count)
    papers = parse_api_feed(catalog.feed(ids))
    stored: dict[str, int] = {}
    async with sessions.begin() as session:
        for meta in papers:
            paper = Paper(key=meta.key, version=meta.version, title=meta.title, metadata_status=MetadataStatus.OK)
            session.add(paper)
            await session.flush()
            assert paper.id is not None
            session.add(
                Note(guild_id=A, paper_id=paper.id, author_id=1, author_name="ann", body="n", channel_id=A_CHANNEL)
            )
            stored[meta.key.removeprefix("arxiv:")] = paper.id
    return stored


def id_lists(fake: FakeArxiv) -> list[list[str]]:
    return [seen.ids for seen in fake.seen if seen.ids]


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def watch(
    sessions: Sessions, source: ArxivClient, clock: Clock, poster: Poster | None = None, **options: int
) -> VersionWatch:
    return VersionWatch(
        check=VersionCheck(sessions),
        notices=VersionNotices(sessions),
        source=source,
        poster=poster,
        clock=clock,
        **options,
    )


async def test_the_daily_check_asks_a_batch_a_request_and_each_paper_once_a_day(
    sessions: Sessions, fake_arxiv: FakeArxiv, catalog: Catalog, client: ArxivClient
) -> None:
    stored = await seed_noted(sessions, catalog, 110)
    revised = catalog.ids(110)[42]
    fake_arxiv.revise(revised, version=7, comment="Camera-ready, ICML 2026")
    clock = Clock()
    versions = watch(sessions, client, clock, batch=100, max_requests=3)

    assert await versions.check() == 1
    asked = id_lists(fake_arxiv)
    assert [len(ids) for ids in asked] == [100, 10]  # 110 papers: two requests, each within one id_list batch
    assert sorted(i for ids in asked for i in ids) == sorted(stored)
    notices = await VersionNotices(sessions).notices(guild_id=A)
    assert [(n.paper_id, n.version, n.state) for n in notices] == [(stored[revised], 7, "pending")]

    clock.now = NOW + timedelta(hours=20)
    assert await versions.check() == 0
    assert len(id_lists(fake_arxiv)) == 2  # checked within the day: nothing asked

    clock.now = NOW + timedelta(days=1, minutes=1)
    fake_arxiv.seen.clear()
    assert await watch(sessions, client, clock, batch=100, max_requests=1).check() == 0
    assert [len(ids) for ids in id_lists(fake_arxiv)] == [100]  # at most max_requests; the rest wait their turn
    assert await watch(sessions, client, clock, batch=100, max_requests=1).check() == 0
    assert [len(ids) for ids in id_lists(fake_arxiv)] == [100, 10]


async def test_a_thousand_noted_papers_are_each_asked_about_every_day_a_few_requests_a_run(
    sessions: Sessions, fake_arxiv: FakeArxiv, client: ArxivClient
) -> None:
    async with sessions.begin() as session:
        for n in range(1000):
            paper = Paper(key=f"arxiv:2401.{n:05d}", version=1, title=f"P{n}", metadata_status=MetadataStatus.OK)
            session.add(paper)
            await session.flush()
            assert paper.id is not None
            session.add(
                Note(guild_id=A, paper_id=paper.id, author_id=1, author_name="a", body="n", channel_id=A_CHANNEL)
            )
    clock = Clock()
    versions = watch(sessions, client, clock)  # the job's own batch and requests a run
    asked: list[str] = []
    while clock.now < NOW + timedelta(days=1):  # the job's runs over one day
        fake_arxiv.seen.clear()
        await versions.check()
        assert len(id_lists(fake_arxiv)) <= MAX_REQUESTS
        asked += [i for ids in id_lists(fake_arxiv) for i in ids]
        clock.now += CHECK_VERSIONS_TICK
    assert sorted(asked) == [f"2401.{n:05d}" for n in range(1000)]  # every paper, once


async def test_one_process_keeps_the_hourly_check_while_it_lives(sessions: Sessions) -> None:
    first, second = LeaseService(sessions, holder="process-1"), LeaseService(sessions, holder="process-2")
    hold = partial(LeaseService.hold, name=CHECK_VERSIONS_LEASE, ttl=CHECK_VERSIONS_HOLD)
    start = datetime.now(UTC)
    for hour in range(3):  # each process's hourly run, the second's 37 minutes after the first's
        at = start + hour * CHECK_VERSIONS_TICK
        assert await hold(first, now=at)
        assert not await hold(second, now=at + timedelta(minutes=37))
    # The first process stops after its last run: the second takes the check over once that run's hold ran out.
    assert await hold(second, now=at + CHECK_VERSIONS_HOLD + timedelta(minutes=1))


async def test_arxiv_failing_leaves_the_papers_for_the_next_run(
    sessions: Sessions, fake_arxiv: FakeArxiv, catalog: Catalog
) -> None:
    await seed_noted(sessions, catalog, 3)
    fake_arxiv.then(*[Reply(status=503)] * 3)
    async with make_client(fake_arxiv, max_attempts=3) as failing:
        clock = Clock()
        assert await watch(sessions, failing, clock).check() == 0
        assert len(await VersionCheck(sessions).due_papers(now=NOW, limit=10)) == 3
        assert await watch(sessions, failing, clock).check() == 0  # arXiv answers again
    assert await VersionCheck(sessions).due_papers(now=NOW, limit=10) == {}


class Poster:
    """The Discord side: records posts; a place may be gone, or failing for now; a message may be there already."""

    def __init__(self) -> None:
        self.posted: list[tuple[int, int, int]] = []  # (channel, paper, version)
        self.already: dict[tuple[int, int], int] = {}  # (channel, version) -> message a stopped process posted
        self.gone: set[int] = set()
        self.failing: set[int] = set()
        self.looked: list[int] = []

    async def post(self, notice: Notice) -> int:
        if notice.channel_id in self.gone:
            raise ChannelUnavailable("the channel was deleted")
        if notice.channel_id in self.failing:
            raise SendFailed("Discord refused: HTTP 503")
        self.posted.append((notice.channel_id, notice.paper_id, notice.version))
        return 1000 + len(self.posted)

    async def find_posted(self, notice: Notice) -> int | None:
        self.looked.append(notice.channel_id)
        if notice.channel_id in self.gone:
            raise ChannelUnavailable("the channel was deleted")
        return self.already.get((notice.channel_id, notice.version))


async def test_notices_are_posted_once_looked_for_after_a_failure_and_given_up_when_gone(
    sessions: Sessions, catalog: Catalog, client: ArxivClient
) -> None:
    stored = list((await seed_noted(sessions, catalog, 3)).values())
    async with sessions.begin() as session:
        session.add(Note(guild_id=B, paper_id=stored[0], author_id=2, author_name="bo", body="n", channel_id=B_CHANNEL))
        session.add(
            Note(guild_id=B, paper_id=stored[1], author_id=2, author_name="bo", body="n", channel_id=B_CHANNEL + 1)
        )
        await session.flush()
        await record_new_versions(session, changes=[(pid, 1, 5) for pid in stored])
    poster, clock = Poster(), Clock()
    poster.failing.add(B_CHANNEL)
    poster.gone.add(B_CHANNEL + 1)
    versions = watch(sessions, client, clock, poster)

    assert await versions.post_pending() == 3  # A's three; B's first fails for now, its second's channel is gone
    assert sorted(poster.posted) == sorted((A_CHANNEL, pid, 5) for pid in stored)
    assert poster.looked == []  # nothing claimed before: nothing to look for

    poster.failing.clear()
    poster.already[(B_CHANNEL, 5)] = 77  # the failed send had reached Discord after all
    assert await versions.post_pending() == 0
    assert poster.looked == [B_CHANNEL]
    assert await versions.post_pending() == 0
    states = {(n.paper_id, n.state, n.message_id) for n in await VersionNotices(sessions).notices(guild_id=B)}
    assert states == {(stored[0], "sent", 77), (stored[1], "failed", None)}


async def test_a_notice_failing_for_a_day_is_given_up(
    sessions: Sessions, catalog: Catalog, client: ArxivClient
) -> None:
    stored = list((await seed_noted(sessions, catalog, 1)).values())
    async with sessions.begin() as session:
        await record_new_versions(session, changes=[(stored[0], 1, 2)])
    poster, clock = Poster(), Clock()
    clock.now = datetime.now(UTC)
    poster.failing.add(A_CHANNEL)
    versions = watch(sessions, client, clock, poster)
    assert await versions.post_pending() == 0
    poster.failing.clear()
    clock.now += timedelta(days=1, minutes=1)
    assert await versions.post_pending() == 0
    assert poster.posted == []
    assert [n.state for n in await VersionNotices(sessions).notices(guild_id=A)] == ["failed"]


async def test_the_replacements_of_a_real_arxiv_listing_tell_the_groups_with_notes_on_them(sessions: Sessions) -> None:
    listing = parse_listing(capture("rss2_rss.arxiv.org_quant-ph_2025-04-28_81items.xml"))
    replaced = [item for item in listing.items if item.announce_type in ("replace", "replace-cross")]
    assert len(replaced) == 31 and all(item.version and item.version > 1 for item in replaced)
    noted = {}
    for item in replaced[:3]:  # the group had noted three of them, at their previous version
        assert item.version is not None
        noted[item.key] = (await seed_paper(sessions, key=item.key, version=item.version - 1), item.version)
        await seed_note(sessions, noted[item.key][0], guild_id=A, channel_id=A_CHANNEL, author_id=1)
    await list_on(sessions, LISTING, *[(item.to_metadata(), item.announce_type or "") for item in listing.items])
    async with sessions() as session:
        rows = (await session.exec(select(VersionNotice))).all()
        assert {(row.paper_id, row.version) for row in rows} == set(noted.values())
