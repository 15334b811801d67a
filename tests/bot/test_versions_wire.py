"""A noted paper's new version told through the real bot: one "vN is out" message per version per group, in the
paper's thread or its latest note's channel, whether a feed's replacement or the daily check on arXiv found it,
and never twice across a restart."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlmodel import select

from schedules.jobs import CHECK_VERSIONS_JOB, CHECK_VERSIONS_LEASE, POST_NOTICES_JOB
from storage.models import DeliveryState, Lease, Note, PaperThread, VersionNotice
from tests.arxiv_standin import FakeArxiv
from tests.bot.conftest import ANN, BOB, CHANNEL, GUILD, MOD, OTHER_CHANNEL, OTHER_GUILD, Club, bot_on, running_club
from tests.bot.test_feed_posts_wire import fresh, listings, poll_now, run_job, settings

PAPER = "2202.12139"  # in the loopback arXiv's catalog, at v1
VERSION_MARK = "arXiv · new version"


def told(club: Club, channel: int) -> list[dict[str, Any]]:
    """The version notices in a channel or thread: their embeds."""
    return [
        embed
        for message in club.discord.channel_messages(channel)
        if not message.ephemeral
        for embed in message.embeds
        if (embed.get("footer") or {}).get("text") == VERSION_MARK
    ]


async def notices(club: Club) -> list[tuple[int, int, str]]:
    async with club.bot.services.sessions() as session:
        rows = (await session.exec(select(VersionNotice))).all()
        return sorted((row.guild_id, row.version, row.state) for row in rows)


async def noted_in_a_thread(club: Club) -> int:
    """The group has threads on and Ann's note opened the paper's thread: its id."""
    await club.run("settings threads", enabled=True, user=MOD)
    await club.run("note add", paper=PAPER, text="Ann's notes.")
    [opened] = club.discord.threads(GUILD)
    return int(opened["id"])


async def test_a_feed_replacement_of_a_noted_paper_is_told_once_where_it_was_noted(
    fake_arxiv: FakeArxiv, tmp_path: Path
) -> None:
    async with listings() as served, running_club(fake_arxiv, tmp_path, **settings(served)) as club:
        served.today("cs.LG", fresh(3, start_id=100, seed=1))
        served.today("cs.CL", fresh(3, start_id=200, seed=2))
        for source, guild in (("cs.LG", GUILD), ("cs.CL", GUILD), ("cs.LG", OTHER_GUILD)):
            assert "Following" in (await club.run("feed add", user=MOD, guild=guild, source=source)).text()
        await club.run("note add", paper=PAPER, text="Worth a second read.")  # GUILD only: OTHER_GUILD has none

        # The next day arXiv lists the paper's v2 as a replacement in cs.LG, and in cs.CL as a cross-listed one.
        replaced = dataclasses.replace(fresh(1, start_id=300, seed=3)[0], arxiv_id=PAPER, version=2)
        served.today("cs.LG", [*fresh(2, start_id=400, seed=4), dataclasses.replace(replaced, announce_type="replace")])
        served.today("cs.CL", [dataclasses.replace(replaced, announce_type="replace-cross")])
        await poll_now(club)
        await run_job(club, POST_NOTICES_JOB)

        [embed] = told(club, CHANNEL)
        assert embed["title"] == f"v2 is out: {replaced.title}"  # as arXiv's listing titles v2
        assert embed["url"] == f"https://arxiv.org/abs/{PAPER}v2"
        assert told(club, OTHER_CHANNEL) == []  # the group follows the feed but has no notes on the paper
        assert await notices(club) == [(GUILD, 2, DeliveryState.SENT)]

        await poll_now(club)  # the same listings again
        await run_job(club, POST_NOTICES_JOB)
        assert len(told(club, CHANNEL)) == 1
        paper = await club.bot.services.papers.get_by_key(f"arxiv:{PAPER}")
        assert paper.version == 2


async def test_the_daily_check_tells_each_group_in_its_own_place_once_across_a_restart(
    fake_arxiv: FakeArxiv, tmp_path: Path
) -> None:
    async with running_club(fake_arxiv, tmp_path) as club:
        await club.run("settings threads", enabled=True, user=MOD)
        await club.run("note add", paper=PAPER, text="Ann's notes.", user=ANN)
        await club.run("note add", paper=PAPER, text="Bob's notes.", user=BOB, guild=OTHER_GUILD)
        async with club.bot.services.sessions() as session:  # GUILD's first note opened the paper's thread
            note = (await session.exec(select(Note).where(Note.guild_id == GUILD))).one()
            opened = await session.get(PaperThread, (GUILD, note.paper_id))
            assert opened is not None and opened.channel_id == CHANNEL and note.channel_id == opened.thread_id
            thread = opened.thread_id

        comment = "Accepted at ICML 2026 @everyone [slides](https://evil.example) <@123>"
        fake_arxiv.revise(PAPER, version=3, comment=comment)
        fake_arxiv.seen.clear()

        # Discord takes each notice, then the process goes down before it can record any of them.
        records = club.bot.services.versions.notices

        async def dies(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError("the database went away")

        records.mark_sent = dies  # type: ignore[method-assign]
        await run_job(club, CHECK_VERSIONS_JOB)
        assert [seen.ids for seen in fake_arxiv.seen] == [[PAPER]]  # one batched request for every noted paper
        await run_job(club, POST_NOTICES_JOB)  # the run stops at the first notice it cannot record
        assert len(told(club, thread)) + len(told(club, OTHER_CHANNEL)) == 1
        assert await notices(club) == [(GUILD, 3, DeliveryState.PENDING), (OTHER_GUILD, 3, DeliveryState.PENDING)]
        await club.bot.close()

        async with bot_on(club.discord, fake_arxiv, tmp_path) as again:
            async with again.bot.services.sessions() as session:  # given back at the stop: another may check at once
                lease = await session.get(Lease, CHECK_VERSIONS_LEASE)
                assert lease is not None and lease.expires_at.replace(tzinfo=UTC) < datetime.now(UTC)
            for _ in range(100):  # the start-up run settles what the stopped process left claimed
                if {state for _, _, state in await notices(again)} == {DeliveryState.SENT}:
                    break
                await asyncio.sleep(0.05)
            await again.discord.settle(quiet=0.3)
            await run_job(again, CHECK_VERSIONS_JOB)  # checked within the day: arXiv is not asked again
            await run_job(again, POST_NOTICES_JOB)
            assert [seen.ids for seen in fake_arxiv.seen] == [[PAPER]]

            [in_thread] = told(again, thread)
            [elsewhere] = told(again, OTHER_CHANNEL)
            assert told(again, CHANNEL) == []  # GUILD hears of it in the paper's thread, not its channel
            for embed in (in_thread, elsewhere):
                assert embed["title"].startswith("v3 is out: ")
                assert embed["url"] == f"https://arxiv.org/abs/{PAPER}v3"
                shown = embed["description"]
                assert shown.startswith("arXiv comment: Accepted at ICML 2026")
                assert "[slides](" not in shown and "<@123>" not in shown and "@everyone" not in shown
            assert await notices(again) == [(GUILD, 3, DeliveryState.SENT), (OTHER_GUILD, 3, DeliveryState.SENT)]
            posted = [*again.discord.channel_messages(thread), *again.discord.channel_messages(OTHER_CHANNEL)]
            for message in posted:
                if any((e.get("footer") or {}).get("text") == VERSION_MARK for e in message.embeds):
                    assert message.allowed_mentions == {"parse": []}  # no pings, whatever arXiv's comment says


async def test_a_notice_whose_thread_was_deleted_goes_in_the_channel_it_hung_off(
    fake_arxiv: FakeArxiv, tmp_path: Path
) -> None:
    async with running_club(fake_arxiv, tmp_path) as club:
        opened = await noted_in_a_thread(club)
        await club.run("note add", paper=PAPER, text="Bob's notes.", user=BOB, guild=OTHER_GUILD)
        club.discord.remove_channel(opened)  # a moderator deleted the paper's thread
        club.discord.forbid_channel(OTHER_CHANNEL)  # the other group took the bot's right to post

        fake_arxiv.revise(PAPER, version=2, comment="Typos fixed")
        await run_job(club, CHECK_VERSIONS_JOB)
        await run_job(club, POST_NOTICES_JOB)

        [embed] = told(club, CHANNEL)  # where the group's notes on the paper started
        assert embed["title"].startswith("v2 is out: ")
        assert told(club, OTHER_CHANNEL) == []
        assert await notices(club) == [(GUILD, 2, DeliveryState.SENT), (OTHER_GUILD, 2, DeliveryState.FAILED)]
        await run_job(club, POST_NOTICES_JOB)
        assert len(told(club, CHANNEL)) == 1


async def test_a_notice_that_finds_the_papers_thread_deleted_marks_it_gone_for_the_group(
    fake_arxiv: FakeArxiv, tmp_path: Path
) -> None:
    async with running_club(fake_arxiv, tmp_path) as club:
        thread = await noted_in_a_thread(club)
        club.discord.remove_channel(thread, notify=False)  # deleted while the bot was away: the notice finds out

        fake_arxiv.revise(PAPER, version=2, comment="Typos fixed")
        await run_job(club, CHECK_VERSIONS_JOB)
        await run_job(club, POST_NOTICES_JOB)

        [embed] = told(club, CHANNEL)
        assert embed["title"].startswith("v2 is out: ")
        async with club.bot.services.sessions() as session:
            standing = await session.get(PaperThread, (GUILD, (await session.exec(select(Note))).one().paper_id))
            assert standing is not None and standing.thread_id == thread and standing.gone
        card = (await club.run("paper", query=PAPER)).original.text()
        assert "The group's thread" not in card
