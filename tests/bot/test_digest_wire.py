"""/digest schedule, preview, now and off as moderators use them, and digests posted by the bot itself (also on
start-up after a missed time), through the real client against the loopback Discord."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import select

from schedules.digests import job_id
from storage.models import DigestRun, DigestRunState, DigestSchedule, Note, Paper
from tests.arxiv_standin import FakeArxiv
from tests.bot.conftest import ANN, BOB, CHANNEL, GUILD, MOD, Club, bot_on, running_club
from tests.fakediscord import CommandUnavailable

ATTENTION = "1111.2011"  # in the arXiv stand-in's catalog
KNOWN_ID = "2202.12139"
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


async def mod(club: Club, command: str, **options: Any) -> Any:
    return await club.run(command, user=MOD, **options)


def digest_messages(club: Club) -> list[Any]:
    return [m for m in club.posted() if any("digest" in (e.get("title") or "").lower() for e in m.embeds)]


def text_of(messages: list[Any]) -> str:
    return "\n".join(m.text() for m in messages)


async def runs(club: Club) -> list[DigestRun]:
    async with club.bot.services.sessions() as session:
        return list((await session.exec(select(DigestRun).order_by(DigestRun.id))).all())


async def wait_for_runs(club: Club, count: int) -> list[DigestRun]:
    for _ in range(100):
        found = await runs(club)
        if len(found) >= count and all(r.state != DigestRunState.POSTING for r in found):
            return found
        await asyncio.sleep(0.05)
    return await runs(club)


async def started(club: Club) -> None:
    """Wait until the start-up job has rebuilt the digest jobs and settled missed weeks."""
    for _ in range(200):
        if club.bot.services.scheduler.get_job("digests:start") is None:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the digests were not started")


async def test_time_zone_autocomplete_answers_only_moderators(fake_arxiv: FakeArxiv, tmp_path: Path) -> None:
    async with running_club(fake_arxiv, tmp_path) as club:
        club.discord.allow_command(GUILD, "digest", ANN)  # an admin's per-command override, past the default

        async def zones(user: int) -> list[dict]:
            return await club.discord.autocomplete(
                "digest schedule",
                guild_id=GUILD,
                channel_id=CHANNEL,
                user_id=user,
                options={"timezone": "berlin"},
                focused="timezone",
            )

        assert await zones(ANN) == []
        assert [z["value"] for z in await zones(MOD)][:1] == ["Europe/Berlin"]


async def test_schedule_preview_now_and_off(fake_arxiv: FakeArxiv, tmp_path: Path) -> None:
    async with running_club(fake_arxiv, tmp_path) as club:
        await club.run("note add", paper=ATTENTION, text="Summary\nAttention is enough.\n\nQuestions\n- Why softmax?")
        await club.run("note add", paper=KNOWN_ID, user=BOB, text="A careful comparison.", tags="testing")

        zones = await club.discord.autocomplete(
            "digest schedule",
            guild_id=GUILD,
            channel_id=CHANNEL,
            user_id=MOD,
            options={"timezone": "berlin"},
            focused="timezone",
        )
        assert zones[0]["value"] == "Europe/Berlin"

        inter = await mod(club, "digest schedule", weekday=4, time="17:30", timezone="Europe/Berlin")
        shown = inter.text()
        assert inter.ephemeral and "every Friday at 17:30 (Europe/Berlin)" in shown and f"<#{CHANNEL}>" in shown
        stamp = re.search(r"<t:(\d+):F>", shown)
        assert stamp, shown
        due = datetime.fromtimestamp(int(stamp[1]), UTC)
        job = club.bot.services.scheduler.get_job(job_id(GUILD))
        assert job is not None and job.next_run_time == due  # the job moved at once
        assert due > datetime.now(UTC) and due - datetime.now(UTC) <= timedelta(days=7)

        bad = await mod(club, "digest schedule", timezone="Mars/Olympus")
        assert bad.error and "time zone" in bad.error.lower()
        bad = await mod(club, "digest schedule", time="25:99")
        assert bad.error and "time" in bad.error.lower()
        with pytest.raises(CommandUnavailable):
            await club.run("digest preview", user=ANN)

        preview = await mod(club, "digest preview")
        assert preview.ephemeral
        seen = "\n".join(m.text() for m in preview.messages)
        assert "Attention is enough." in seen and "A careful comparison." in seen and "Why softmax?" in seen
        assert club.posted() == [] or not digest_messages(club)  # a preview posts nothing

        posted = await mod(club, "digest now")
        assert "Posted the digest" in posted.text() and "counts as this week's" in posted.text()
        messages = digest_messages(club)
        assert messages and "Attention is enough." in text_of(club.posted())
        assert all(len(m.embeds) <= 10 for m in club.posted())
        (run,) = await runs(club)
        assert run.state == DigestRunState.SENT and run.trigger == "now" and len(run.message_ids) == run.parts

        again = await mod(club, "digest now")
        assert "already posted" in again.text()
        assert len(await runs(club)) == 1

        off = await mod(club, "digest off")
        assert "off" in off.text() and club.bot.services.scheduler.get_job(job_id(GUILD)) is None
        assert "not on" in (await mod(club, "digest off")).error


async def test_a_lost_channel_fails_the_digest_and_preview_says_why(fake_arxiv: FakeArxiv, tmp_path: Path) -> None:
    async with running_club(fake_arxiv, tmp_path) as club:
        await mod(club, "digest schedule")
        club.discord.forbid_channel(CHANNEL)
        inter = await mod(club, "digest now")
        assert "could not be posted" in inter.text() and "may not post" in inter.text()
        club.discord.rejected.clear()
        preview = await mod(club, "digest preview")
        assert "could not be posted" in "\n".join(m.text() for m in preview.messages)


async def test_a_digest_missed_while_down_is_posted_once_on_start_up(fake_arxiv: FakeArxiv, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    missed = now - timedelta(hours=2)  # the scheduled time passed two hours ago, while the bot was down
    async with running_club(fake_arxiv, tmp_path) as club:
        await club.run("note add", paper=ATTENTION, text="Read while the bot was about to go down.")
        await mod(
            club,
            "digest schedule",
            weekday=missed.weekday(),
            time=f"{missed.hour:02d}:{missed.minute:02d}",
            timezone="UTC",
        )
        async with club.bot.services.sessions() as session:  # the note was written in the week that ended then
            await session.exec(update(Note).values(created_at=missed - timedelta(days=1)))  # type: ignore[call-overload]
            # ... and the schedule was set the week before, so that time is one the bot missed
            await session.exec(update(DigestSchedule).values(updated_at=missed - timedelta(days=7)))  # type: ignore[call-overload]
            await session.commit()
        await club.bot.close()

        async with bot_on(club.discord, fake_arxiv, tmp_path) as again:
            (run,) = await wait_for_runs(again, 1)
            assert run.state == DigestRunState.SENT and run.trigger == "catch-up"
            await again.discord.settle()
            assert "Read while the bot was about to go down." in text_of(again.posted())
            count = len(again.posted())
            await again.bot.close()

        async with bot_on(club.discord, fake_arxiv, tmp_path) as third:  # a restart in the same week
            await started(third)
            await third.discord.settle()
            assert len(await runs(third)) == 1 and len(third.posted()) == count


async def test_preview_lists_the_feed_papers_that_match_and_says_why(fake_arxiv: FakeArxiv, tmp_path: Path) -> None:
    from tests.bot.test_feed_posts_wire import fresh, listings, poll_now, settings

    async with listings() as served, running_club(fake_arxiv, tmp_path, **settings(served)) as club:
        served.today("cs.LG", [])
        added = await mod(club, "feed add", source="cs.LG", keywords="merging", mode="digest")
        assert "Following" in added.text(), added.text()
        papers = fresh(4, start_id=900, seed=12)
        papers[2] = dataclasses.replace(papers[2], title="Merging language models without retraining")
        served.today("cs.LG", papers)
        await poll_now(club)
        assert club.posted() == []  # digest mode: nothing in the channel

        preview = await mod(club, "digest preview")
        seen = "\n".join(m.text() for m in preview.messages)
        assert "Merging language models without retraining" in seen
        assert "matches “merging” (cs.LG feed)" in seen
        others = [p.title for p in papers if "merging" not in (p.title + p.abstract).lower()]
        assert others and not any(title in seen for title in others)


async def test_a_digest_stopped_after_discord_took_a_part_is_completed_once_on_restart(
    fake_arxiv: FakeArxiv, tmp_path: Path
) -> None:
    async with running_club(fake_arxiv, tmp_path) as club:
        await mod(club, "digest schedule")
        services = club.bot.services
        async with services.sessions() as session:  # a busy week: eight members' notes make a long digest
            papers = [Paper(key=f"arxiv:2502.{n:05d}", title=f"Paper {n}") for n in range(40)]
            session.add_all(papers)
            await session.commit()
            paper_ids = [paper.id for paper in papers]
        for n, paper_id in enumerate(paper_ids):
            assert paper_id is not None
            body = f"Note {n}: " + "a careful reading of the method and its limits, " * 5
            body += f"\n\nQuestions\n- Question {n}: " + "would it hold on other data and at other scales? " * 5
            member = 1000 + n % 8
            await services.notes.add(
                guild_id=GUILD, paper_id=paper_id, author_id=member, author_name=f"member {member}", body=body, tags=[]
            )

        # Discord takes the second part; the process stops before recording it.
        recorded = services.digests.runs.part_sent
        calls = 0

        async def stops(**kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls == 2:
                raise RuntimeError("the process stopped")
            return await recorded(**kwargs)

        services.digests.runs.part_sent = stops  # type: ignore[method-assign]
        schedule = await services.digests.schedules.schedule(guild_id=GUILD)
        assert schedule is not None
        with pytest.raises(RuntimeError, match="stopped"):
            await services.digests.runner.post_now(schedule)
        await club.discord.settle()
        assert len(club.posted()) == 2
        (run,) = await runs(club)
        assert run.state == DigestRunState.POSTING and len(run.message_ids) == 1 and run.parts >= 3
        await club.bot.close()

        async with bot_on(club.discord, fake_arxiv, tmp_path) as again:
            (run,) = await wait_for_runs(again, 1)
            await again.discord.settle()
            posted = again.posted()
            assert run.state == DigestRunState.SENT and run.message_ids == [m.id for m in posted]
            assert len(posted) == run.parts and len({m.text() for m in posted}) == run.parts  # no part twice
            shown = text_of(posted)
            assert all(f"Note {n}:" in shown for n in range(40))  # and none lost


async def test_a_digest_moved_an_hour_later_after_it_went_out_is_not_posted_twice(
    fake_arxiv: FakeArxiv, tmp_path: Path
) -> None:
    """A moderator moves the digest to 10:00 just after the 09:00 one went out: no second digest that day, and
    what the group wrote in between comes with the next one. (Next Monday's times, on the runner's clock: the
    jobs the bot plans meanwhile lie in the future and stay put.)"""
    async with running_club(fake_arxiv, tmp_path) as club:
        runner = club.bot.services.digests.runner
        today = datetime.now(UTC)
        due = (today + timedelta(days=7 - today.weekday())).replace(hour=9, minute=0, second=0, microsecond=0)
        now = [due + timedelta(seconds=30)]
        runner.clock = lambda: now[0]  # the digest's own time, without waiting for it
        await club.run("note add", paper=ATTENTION, text="Read before the digest.")
        await club.run("note add", paper=KNOWN_ID, user=BOB, text="Read between the two times.")
        async with club.bot.services.sessions() as session:
            for text, at in (("Read before", due - timedelta(days=1)), ("Read between", due + timedelta(minutes=30))):
                await session.exec(update(Note).where(Note.body.startswith(text)).values(created_at=at))  # type: ignore[attr-defined, call-overload]
            await session.commit()

        await mod(club, "digest schedule", weekday=due.weekday(), time=f"{due:%H:%M}", timezone="UTC")
        await runner.fire(GUILD)  # what the job does at its time
        first = digest_messages(club)
        assert first and "Read before the digest." in text_of(first) and "Read between" not in text_of(first)

        later = due + timedelta(hours=1)
        moved = await mod(club, "digest schedule", time=f"{later:%H:%M}")
        assert f"at {later:%H:%M} (UTC)" in moved.text()
        now[0] = later + timedelta(seconds=30)
        await runner.fire(GUILD)
        assert len(digest_messages(club)) == len(first)  # one digest that day, not two an hour apart

        now[0] = later + timedelta(days=7, seconds=30)
        await runner.fire(GUILD)
        await club.discord.settle()
        following = digest_messages(club)[len(first) :]
        assert following and "Read between the two times." in text_of(following)
        assert "Read before the digest." not in text_of(following)
