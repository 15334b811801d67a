"""Details arXiv could not give are filled in within a minute of arXiv answering again, without asking a failing
arXiv every tick: the loopback arXiv fails, then recovers, while an injected clock runs the job's ticks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from schedules.arxiv import ArxivClient
from schedules.jobs import PENDING_METADATA_JOB, fill_pending_metadata, register_jobs
from schedules.ratelimit import ArxivLimiter
from storage.db import Sessions
from storage.identity import paper_key
from storage.papers import PaperService, retry_wait
from tests.arxiv_standin import Catalog, FakeArxiv, Reply

T0 = datetime(2026, 1, 8, 12, 0, tzinfo=UTC)
TICK = timedelta(seconds=30)
LONGEST = 600.0  # METADATA_RETRY_INTERVAL's default


@pytest.fixture
async def arxiv(fake_arxiv: FakeArxiv) -> AsyncIterator[ArxivClient]:
    client = ArxivClient(api_base=fake_arxiv.url, limiter=ArxivLimiter(0.001), max_attempts=1, backoff=0.01)
    async with client as started:
        yield started


def down(fake: FakeArxiv) -> None:
    fake.respond = lambda query: Reply.of("api2026_error_503_html_2026-01-08.xml", status=503)  # type: ignore[method-assign]


def up(fake: FakeArxiv) -> None:
    fake.respond = FakeArxiv.respond.__get__(fake)  # type: ignore[method-assign]


def test_retries_start_at_30_seconds_and_double_up_to_the_interval() -> None:
    assert [retry_wait(n, longest=LONGEST) for n in range(7)] == [0, 30, 60, 120, 240, 480, 600]
    assert retry_wait(1, longest=0.2) == 0.2 and retry_wait(10_000, longest=LONGEST) == LONGEST


async def test_after_a_long_outage_details_fill_within_a_minute_of_arxiv_answering(
    sessions: Sessions, arxiv: ArxivClient, fake_arxiv: FakeArxiv, catalog: Catalog
) -> None:
    papers = PaperService(sessions, arxiv)
    arxiv_id = catalog.ids(1)[0]
    down(fake_arxiv)
    noted = await papers.ensure(paper_key(arxiv_id))  # a note saved while arXiv fails
    assert noted.pending
    now = T0
    asked_during_outage = len(fake_arxiv.seen)
    for _ in range(40):  # 20 minutes of arXiv failing, the job ticking every 30 s
        now += TICK
        await fill_pending_metadata(papers, LONGEST, clock=lambda at=now: at)
    asked_during_outage = len(fake_arxiv.seen) - asked_during_outage
    assert asked_during_outage <= 22, "a failing arXiv is asked at most about once a minute, not every tick"
    assert (await papers.get(noted.id)).pending
    up(fake_arxiv)  # arXiv answers again
    recovered = now
    while (await papers.get(noted.id)).pending and now - recovered < timedelta(minutes=15):
        now += TICK
        await fill_pending_metadata(papers, LONGEST, clock=lambda at=now: at)
    assert now - recovered <= timedelta(seconds=60), f"details pending {now - recovered} after arXiv recovered"
    assert (await papers.get(noted.id)).title == catalog.title_of(catalog.entries[arxiv_id])


async def test_ticks_ask_only_for_papers_whose_retry_has_come_and_batch_them(
    sessions: Sessions, arxiv: ArxivClient, fake_arxiv: FakeArxiv, catalog: Catalog
) -> None:
    papers = PaperService(sessions, arxiv)
    ids = catalog.ids(60)
    down(fake_arxiv)
    for arxiv_id in ids:
        await papers.ensure(paper_key(arxiv_id))
    before = len(fake_arxiv.seen)
    await fill_pending_metadata(papers, LONGEST, clock=lambda: T0)  # never retried yet: asked at once, in one request
    assert len(fake_arxiv.seen) == before + 1 and len(fake_arxiv.seen[-1].query["id_list"].split(",")) == 60
    await fill_pending_metadata(papers, LONGEST, clock=lambda: T0 + timedelta(seconds=20))  # backoff not passed
    assert len(fake_arxiv.seen) == before + 1
    up(fake_arxiv)
    await fill_pending_metadata(papers, LONGEST, clock=lambda: T0 + timedelta(seconds=30))
    assert len(fake_arxiv.seen) == before + 2
    assert not any([(await papers.get_by_key(f"arxiv:{i}")).pending for i in ids])


async def test_a_member_looking_at_a_pending_paper_gets_its_details_at_once(
    sessions: Sessions, arxiv: ArxivClient, fake_arxiv: FakeArxiv, catalog: Catalog
) -> None:
    papers = PaperService(sessions, arxiv)
    arxiv_id = catalog.ids(1)[0]
    down(fake_arxiv)
    assert (await papers.resolve(guild_id=1, text=arxiv_id)).pending  # type: ignore[union-attr]
    up(fake_arxiv)
    shown = await papers.resolve(guild_id=1, text=f"https://arxiv.org/abs/{arxiv_id}")  # /paper, a second later
    assert not shown.pending and shown.title  # type: ignore[union-attr]


async def test_the_job_ticks_every_30_seconds_and_waits_at_most_the_configured_interval() -> None:
    scheduler = AsyncIOScheduler()
    settings = SimpleNamespace(metadata_retry_interval=LONGEST, feed_poll_interval=1800)
    register_jobs(scheduler, papers=PaperService(None, None), poller=None, settings=settings)  # type: ignore[arg-type]
    job = scheduler.get_job(PENDING_METADATA_JOB)
    assert job is not None and job.trigger.interval == TICK and job.args[1] == LONGEST
