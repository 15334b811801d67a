"""Feed papers reaching channels through the bot's own poll job: once each, batched, a lost channel paused on its
own, and a restart in the middle of a delivery neither losing nor doubling a paper."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from sqlalchemy import update

from schedules.jobs import POLL_FEEDS_JOB
from storage.models import Delivery, DeliveryState, Feed
from tests.arxiv_standin import FakeArxiv
from tests.bot.conftest import CHANNEL, GUILD, MOD, Club, bot_on, running_club
from tests.feed_listings import GeneratedPaper, listing_papers, render_listing
from tests.loopback import serving

READING = 600_000_000_000_000_009  # a second text channel in GUILD
CAP = 30


class Listings:
    """A loopback rss.arxiv.org: one listing per category path, replaced as the days go by."""

    def __init__(self) -> None:
        self.bodies: dict[str, bytes] = {}
        self.base = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = self.bodies.get(request.path)
        if body is None:
            return web.Response(status=404, text="not here")
        return web.Response(body=body, content_type="application/rss+xml")

    def today(self, category: str, papers: list[GeneratedPaper]) -> None:
        self.bodies[f"/rss/{category}"] = render_listing(papers, category=category)


@asynccontextmanager
async def listings() -> AsyncIterator[Listings]:
    served = Listings()
    async with serving(served.handle) as server:
        served.base = str(server.make_url("/rss"))
        yield served


def settings(served: Listings) -> dict[str, str]:
    return {"ARXIV_RSS_BASE": served.base, "FEED_MAX_POSTS": str(CAP), "FEED_POLL_INTERVAL": "5"}


async def poll_now(club: Club) -> None:
    """Time passes until every feed is due; the bot's own poll job runs, and this waits for it to finish."""
    async with club.bot.services.sessions() as session:
        await session.exec(update(Feed).values(next_fetch_at=None))  # type: ignore[call-overload]
        await session.commit()
    await run_job(club, POLL_FEEDS_JOB)


async def run_job(club: Club, job_id: str) -> None:
    """The bot's own job runs now; returns once it finished and Discord went quiet."""
    scheduler = club.bot.services.scheduler
    job = scheduler.get_job(job_id)
    assert job is not None, f"{job_id} is not scheduled"
    done = asyncio.Event()

    def finished(event: JobExecutionEvent) -> None:
        if event.job_id == job_id:
            done.set()

    scheduler.add_listener(finished, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    try:
        job.modify(next_run_time=datetime.now(UTC))
        await asyncio.wait_for(done.wait(), 20)
    finally:
        scheduler.remove_listener(finished)
    await club.discord.settle()


def feed_cards(club: Club, channel: int = CHANNEL) -> list[str]:
    """The paper links on the bot's feed cards in a channel, in order."""
    links = []
    for message in club.posted(channel):
        for embed in message.embeds:
            if (embed.get("footer") or {}).get("text", "").endswith("via /feed"):
                links.append(embed["url"])
    return links


def fresh(n: int, *, start_id: int, seed: int, announce: str = "new") -> list[GeneratedPaper]:
    return [
        dataclasses.replace(p, announce_type=announce, version=1)
        for p in listing_papers(n, start_id=start_id, seed=seed)
    ]


async def follow_then_list(club: Club, served: Listings, papers: list[GeneratedPaper]) -> None:
    """The channel follows cs.LG (what it lists then is held back); the next day's listing has ``papers``."""
    served.today("cs.LG", listing_papers(5, seed=1))
    assert "Following" in (await club.run("feed add", user=MOD, source="cs.LG")).text()
    served.today("cs.LG", papers)


async def deliveries(club: Club) -> list[Any]:
    async with club.bot.services.sessions() as session:
        from sqlmodel import select

        return list((await session.exec(select(Delivery))).all())


async def test_new_papers_are_posted_once_in_batches_and_a_forbidden_channel_pauses_alone(
    fake_arxiv: FakeArxiv, tmp_path: Path
) -> None:
    async with listings() as served, running_club(fake_arxiv, tmp_path, **settings(served)) as club:
        club.discord.add_channel(GUILD, READING, name="reading")
        await club.discord.settle()
        served.today("cs.LG", listing_papers(40, seed=1))
        served.today("cs.CL", listing_papers(20, category="cs.CL", start_id=100, seed=2))
        for source, channel in (("cs.LG", CHANNEL), ("cs.CL", CHANNEL), ("cs.LG", READING)):
            added = await club.run("feed add", user=MOD, source=source, channel=channel)
            assert "Following" in added.text(), added.text()
        await poll_now(club)
        assert feed_cards(club) == [], "the listing at subscription time was posted"

        # The next day: new papers, a cross-list of one of them into cs.CL, and replacements.
        new = fresh(12, start_id=500, seed=3)
        replaced = fresh(3, start_id=600, seed=4, announce="replace")
        served.today("cs.LG", new + replaced)
        served.today("cs.CL", [dataclasses.replace(new[0], announce_type="cross"), *fresh(2, start_id=700, seed=5)])

        club.discord.forbid_channel(READING)
        await poll_now(club)

        cl_new = fresh(2, start_id=700, seed=5)
        expected = [f"https://arxiv.org/abs/{p.arxiv_id}" for p in new + cl_new]
        posted = feed_cards(club)
        assert len(posted) == len(set(posted)) == 14  # 12 new + 2 new in cs.CL; the cross-list once only
        assert set(posted) == set(expected)  # replacements never posted
        for message in club.posted():
            assert 1 <= len(message.embeds) <= 10
        assert len([m for m in club.posted() if m.embeds]) == 3  # 12 papers: 10 + 2; then cs.CL's
        assert feed_cards(club, READING) == []

        shown = (await club.run("feed list", user=MOD)).text()
        assert "may not post" in shown, shown  # the #reading subscription, paused, says why
        subs = await club.bot.services.feeds.subscriptions.list(guild_id=GUILD)
        assert [(s.channel_id, s.paused) for s in subs] == [(CHANNEL, False), (CHANNEL, False), (READING, True)]
        assert sum(s.delivered for s in subs) == 14
        rows = await deliveries(club)
        assert sum(r.state == DeliveryState.SENT for r in rows) == 14
        assert all(r.message_id for r in rows if r.state == DeliveryState.SENT)

        await poll_now(club)  # the same listings again: nothing new
        assert len(feed_cards(club)) == 14


async def test_a_restart_in_the_middle_of_a_delivery_neither_loses_nor_doubles(
    fake_arxiv: FakeArxiv, tmp_path: Path
) -> None:
    async with listings() as served, running_club(fake_arxiv, tmp_path, **settings(served)) as club:
        await follow_then_list(club, served, fresh(25, start_id=800, seed=6))

        # Recording fails just after Discord took the first message (the process is going down: nothing can be
        # written any more, not even when to try again).
        runs = club.bot.services.feeds.polls
        real_sent, real_retry_later = runs.mark_sent, runs.retry_later

        async def dies(**kwargs: Any) -> None:
            raise RuntimeError("the database went away")

        runs.mark_sent = runs.retry_later = dies  # type: ignore[method-assign]
        await poll_now(club)
        assert len(feed_cards(club)) == 10  # one message went out
        runs.mark_sent, runs.retry_later = real_sent, real_retry_later  # type: ignore[method-assign]
        pending = [r for r in await deliveries(club) if r.state == DeliveryState.PENDING]
        assert len(pending) == 25  # recorded as intended before sending, never confirmed
        assert {(r.attempts, r.retry_at) for r in pending} == {(0, None)}  # left for the next start at once
        await club.bot.close()

        async with bot_on(club.discord, fake_arxiv, tmp_path, **settings(served)) as again:
            for _ in range(100):
                await asyncio.sleep(0.05)
                rows = await deliveries(again)
                if all(r.state == DeliveryState.SENT for r in rows):
                    break
            await again.discord.settle(quiet=0.5)
            links = feed_cards(again)
            assert len(links) == 25 == len(set(links)), links  # the first ten found, not resent; the rest sent
            rows = await deliveries(again)
            assert {r.state for r in rows} == {DeliveryState.SENT}
            first_message = {r.message_id for r in rows[:10]}
            assert len(first_message) == 1  # recorded against the message that was already in the channel


async def test_cards_discord_refuses_wait_shown_in_feed_list_then_arrive_once_when_it_recovers(
    fake_arxiv: FakeArxiv, tmp_path: Path
) -> None:
    async with listings() as served, running_club(fake_arxiv, tmp_path, **settings(served)) as club:
        papers = fresh(12, start_id=900, seed=7)
        await follow_then_list(club, served, papers)
        assert "waiting to be posted" not in (await club.run("feed list", user=MOD)).text()

        # Discord takes the first message of cards but answers 503: the bot cannot know it went out.
        cards = f"/channels/{CHANNEL}/messages"  # a pattern with nothing special in it
        club.discord.fail_requests("POST", cards, status=503, times=1, taken=True)
        await poll_now(club)
        assert len(feed_cards(club)) == 10 and club.discord.failed_requests == [("POST", cards, 503)]
        rows = await deliveries(club)
        assert [(r.state, r.attempts) for r in rows] == [(DeliveryState.PENDING, 1)] * 12
        assert all(r.retry_at is not None for r in rows)

        shown = (await club.run("feed list", user=MOD)).text()
        assert "12 papers waiting to be posted" in shown and "Discord refused: HTTP 503" in shown, shown
        assert "trying again <t:" in shown, shown

        sends = len(club.discord.requests)
        await poll_now(club)  # the next poll, before the time to try again: nothing is sent
        assert len(feed_cards(club)) == 10
        assert not [r for r in club.discord.requests[sends:] if r[0] == "POST" and r[1].endswith("/messages")]

        async with club.bot.services.sessions() as session:  # time passes until the retry is due
            await session.exec(update(Delivery).values(retry_at=datetime(2000, 1, 1, tzinfo=UTC)))  # type: ignore[call-overload]
            await session.commit()
        await poll_now(club)
        links = feed_cards(club)
        assert len(links) == 12 == len(set(links)), links  # the ten Discord took are found, the other two sent
        assert set(links) == {f"https://arxiv.org/abs/{p.arxiv_id}" for p in papers}
        rows = await deliveries(club)
        assert {r.state for r in rows} == {DeliveryState.SENT}
        assert len({r.message_id for r in rows}) == 2  # recorded against the message already in the channel
        assert "waiting to be posted" not in (await club.run("feed list", user=MOD)).text()
