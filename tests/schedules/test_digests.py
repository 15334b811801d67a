"""The weekly digest's runs on a real SQLite file, with a controllable clock: exactly one digest per week
across restarts, catch-up within the grace period, resuming a half-posted digest, a lost channel recorded."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import update

from schedules.digests import CLAIM_TTL, RESUME_PREFIX, DigestRunner, OnPart, claim_name, job_id
from schedules.poller import ChannelUnavailable
from storage.db import Sessions
from storage.digests.content import DigestContent, DigestData
from storage.digests.runs import DigestRuns
from storage.digests.schedule import DigestSchedules, ScheduleView
from storage.leases import LeaseService
from storage.models import DigestRunState, DigestSchedule, Lease, Note, Paper
from storage.notes import NoteService
from storage.time_zones import zone

GUILD, CHANNEL, MOD = 1, 10, 99
# Monday 09:00 in Berlin; 2025-03-03 is a Monday (CET, UTC+1), so that digest is due at 08:00 UTC.
DUE = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Publisher:
    """Stands in for Discord: one part per note plus a header; can die after some parts, or lose the channel.

    Its channel keeps what was posted with the message ids; ``die_after`` stops the process before a send,
    ``die_after_sending`` just after Discord took a part and before it was recorded, and ``stall_after`` holds the
    sender that gets there first (a stalled process) until ``go`` is set.
    """

    def __init__(self) -> None:
        self.posted: list[str] = []
        self.ids: list[int] = []  # the message id of each posted part
        self.renders = 0
        self.die_after: int | None = None
        self.die_after_sending: int | None = None
        self.stall_after: int | None = None
        self.stalled, self.go = asyncio.Event(), asyncio.Event()
        self.gone = False
        self.next_id = 5000

    def render(self, data: DigestData, schedule: ScheduleView) -> Sequence[Any]:
        self.renders += 1
        if not data.notes and not schedule.quiet_weeks:
            return []
        head = f"digest {data.start.date()}..{data.end.date()}"
        return [head, *(f"{head}: {note.first_line}" for note in data.notes)]

    async def post(self, channel_id: int, parts: Sequence[Any], on_part: OnPart) -> None:
        if self.gone:
            raise ChannelUnavailable("the bot may not post in #papers")
        for part in parts:
            if self.stall_after is not None and len(self.posted) == self.stall_after:
                self.stall_after = None  # one sender stalls; another one goes on
                self.stalled.set()
                await self.go.wait()
            if self.die_after is not None:
                if self.die_after == 0:
                    raise RuntimeError("the process stopped")
                self.die_after -= 1
            self.next_id += 1
            self.posted.append(part)
            self.ids.append(self.next_id)
            if self.die_after_sending is not None and len(self.posted) == self.die_after_sending:
                raise RuntimeError("the process stopped before recording the part")
            await on_part(self.next_id)

    async def find_posted(self, channel_id: int, part: Any, *, after: int | None, since: datetime) -> int | None:
        if self.gone:
            raise ChannelUnavailable("the bot may not post in #papers")
        return next(
            (i for i, p in zip(self.ids, self.posted, strict=True) if p == part and (after is None or i > after)), None
        )


async def note_at(sessions: Sessions, at: datetime, text: str, *, paper: int) -> None:
    async with sessions() as session:
        row = Paper(key=f"arxiv:2502.{paper:05d}", title=f"Paper {paper}")
        session.add(row)
        await session.commit()
        assert row.id is not None
        paper_id = row.id
    view = await NoteService(sessions).add(
        guild_id=GUILD, paper_id=paper_id, author_id=7, author_name="ann", body=text, tags=[]
    )
    async with sessions() as session:
        await session.exec(update(Note).where(Note.id == view.id).values(created_at=at))  # type: ignore[call-overload]
        await session.commit()


async def scheduled(sessions: Sessions, *, quiet_weeks: bool = True) -> ScheduleView:
    """Monday 09:00 in Berlin, set long before the weeks these tests look at."""
    await DigestSchedules(sessions).set_schedule(
        guild_id=GUILD,
        channel_id=CHANNEL,
        weekday=0,
        hour=9,
        minute=0,
        timezone="Europe/Berlin",
        updated_by=MOD,
        quiet_weeks=quiet_weeks,
    )
    async with sessions() as session:
        await session.exec(update(DigestSchedule).values(updated_at=DUE - timedelta(days=30)))  # type: ignore[call-overload]
        await session.commit()
    found = await DigestSchedules(sessions).schedule(guild_id=GUILD)
    assert found is not None
    return found


def services(sessions: Sessions) -> dict[str, Any]:
    """The storage services a digest runner is built with."""
    return {"schedules": DigestSchedules(sessions), "runs": DigestRuns(sessions), "content": DigestContent(sessions)}


def runner(
    sessions: Sessions,
    publisher: Publisher,
    now: datetime,
    *,
    process: str | None = None,
    scheduler: AsyncIOScheduler | None = None,
) -> DigestRunner:
    """The digest runner of a process at ``now``; with ``process`` named, it takes claims on the shared database."""
    leases = LeaseService(sessions, holder=process) if process else None
    return DigestRunner(**services(sessions), publisher=publisher, clock=Clock(now), leases=leases, scheduler=scheduler)


async def test_a_week_gets_one_digest_however_often_it_is_asked_for(sessions: Sessions) -> None:
    schedule = await scheduled(sessions)
    await note_at(sessions, DUE - timedelta(days=2), "read last week", paper=1)
    await note_at(sessions, DUE - timedelta(days=8), "read the week before", paper=2)  # an earlier week
    await note_at(sessions, DUE + timedelta(minutes=5), "read after the digest", paper=3)  # next week
    publisher = Publisher()
    run, posted = await runner(sessions, publisher, DUE + timedelta(seconds=30)).post_due(schedule, trigger="schedule")
    assert posted and run.state == DigestRunState.SENT and len(run.message_ids) == 2
    assert publisher.posted == ["digest 2025-02-24..2025-03-03", "digest 2025-02-24..2025-03-03: read last week"]
    assert run.period_start == DUE - timedelta(days=7) and run.period_end == DUE
    for later in (timedelta(minutes=1), timedelta(hours=5), timedelta(days=6)):  # a restart, or the job twice
        again, posted = await runner(sessions, publisher, DUE + later).post_due(schedule, trigger="schedule")
        assert not posted and again.id == run.id
    assert len(publisher.posted) == 2


async def test_a_time_before_the_schedule_was_set_is_not_a_missed_digest(sessions: Sessions) -> None:
    await DigestSchedules(sessions).set_schedule(
        guild_id=GUILD, channel_id=CHANNEL, weekday=0, hour=9, minute=0, timezone="UTC", updated_by=MOD
    )
    publisher = Publisher()
    await runner(sessions, publisher, datetime.now(UTC) + timedelta(minutes=1)).catch_up()
    assert publisher.posted == [] and await DigestRuns(sessions).latest_run(guild_id=GUILD) is None


async def test_a_missed_digest_is_posted_within_the_grace_period_and_skipped_after_it(sessions: Sessions) -> None:
    await scheduled(sessions)
    await note_at(sessions, DUE - timedelta(days=1), "read", paper=1)
    publisher = Publisher()
    late = runner(sessions, publisher, DUE + timedelta(hours=11))  # the bot was down at 08:00, back at 19:00
    await late.catch_up()
    assert len(publisher.posted) == 2
    await runner(sessions, publisher, DUE + timedelta(hours=12)).catch_up()  # restarted again: nothing new
    assert len(publisher.posted) == 2
    run = await DigestRuns(sessions).latest_run(guild_id=GUILD)
    assert run is not None and run.trigger == "catch-up" and run.state == DigestRunState.SENT

    # A week later the bot is down past the grace period: that week is recorded as skipped, not posted late.
    await runner(sessions, publisher, DUE + timedelta(days=7, hours=13)).catch_up()
    assert len(publisher.posted) == 2
    skipped = await DigestRuns(sessions).latest_run(guild_id=GUILD)
    assert skipped is not None and skipped.state == DigestRunState.SKIPPED
    assert skipped.period_start == DUE and "not running" in (skipped.reason or "")
    await runner(sessions, publisher, DUE + timedelta(days=7, hours=14)).catch_up()  # and it stays skipped
    assert len(publisher.posted) == 2


async def test_a_digest_cut_short_resumes_with_the_missing_parts(sessions: Sessions) -> None:
    schedule = await scheduled(sessions)
    for i in range(4):
        await note_at(sessions, DUE - timedelta(days=3, hours=i), f"note {i}", paper=i)
    publisher = Publisher()
    publisher.die_after = 2
    with pytest.raises(RuntimeError):
        await runner(sessions, publisher, DUE).post_due(schedule, trigger="schedule")
    assert len(publisher.posted) == 2
    publisher.die_after = None
    await runner(sessions, publisher, DUE + timedelta(minutes=3)).catch_up()  # the restart
    assert len(publisher.posted) == 5 == len(set(publisher.posted))  # header + 4 notes, each once
    run = await DigestRuns(sessions).latest_run(guild_id=GUILD)
    assert run is not None and run.state == DigestRunState.SENT and len(run.message_ids) == 5 == run.parts


async def four_notes(sessions: Sessions) -> None:
    for i in range(4):
        await note_at(sessions, DUE - timedelta(days=3, hours=i), f"note {i}", paper=i)


async def claim_runs_out(sessions: Sessions) -> None:
    """The holder of a claim is stopped or stalled: its claim runs out."""
    async with sessions() as session:
        await session.exec(update(Lease).values(expires_at=datetime(2000, 1, 1, tzinfo=UTC)))  # type: ignore[call-overload]
        await session.commit()


async def test_a_run_a_live_process_is_posting_is_left_to_it(sessions: Sessions) -> None:
    schedule = await scheduled(sessions)
    await four_notes(sessions)
    channel = Publisher()
    channel.stall_after = 1  # the first process waits on Discord after its first part
    first = runner(sessions, channel, DUE, process="process-1")
    posting = asyncio.create_task(first.post_due(schedule, trigger="schedule"))
    await channel.stalled.wait()
    await runner(sessions, channel, DUE + timedelta(minutes=1), process="process-2").catch_up()  # started beside it
    assert len(channel.posted) == 1  # the run is the first process's: the second posted nothing of it
    channel.go.set()
    run, posted = await posting
    assert posted and run.state == DigestRunState.SENT
    assert len(channel.posted) == 5 == len(set(channel.posted)) and list(run.message_ids) == channel.ids
    # The finished run's claim was given back at once.
    assert await LeaseService(sessions, holder="process-3").hold(claim_name(run.id), ttl=CLAIM_TTL)


async def test_a_run_whose_process_stalled_is_resumed_once_its_claim_ran_out(sessions: Sessions) -> None:
    schedule = await scheduled(sessions)
    await four_notes(sessions)
    channel = Publisher()
    channel.stall_after = 2
    stalled = asyncio.create_task(
        runner(sessions, channel, DUE, process="process-1").post_due(schedule, trigger="schedule")
    )
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.start(paused=True)  # jobs run only when this test says
    try:
        await channel.stalled.wait()
        second = runner(sessions, channel, DUE + timedelta(minutes=1), process="process-2", scheduler=scheduler)
        await second.start()  # started beside it
        assert len(channel.posted) == 2  # claimed: left be, and tried again once the claim may have run out
        run = await DigestRuns(sessions).latest_run(guild_id=GUILD)
        assert run is not None and run.state == DigestRunState.POSTING
        retry = scheduler.get_job(f"{RESUME_PREFIX}{run.id}")
        assert retry is not None and retry.next_run_time > datetime.now(UTC) + CLAIM_TTL / 2
        await retry.func(*retry.args)  # run early, before the claim ran out: still left be
        assert len(channel.posted) == 2
        await claim_runs_out(sessions)
        retry = scheduler.get_job(f"{RESUME_PREFIX}{run.id}")
        assert retry is not None
        await retry.func(*retry.args)
        assert len(channel.posted) == 5 == len(set(channel.posted))
        run = await DigestRuns(sessions).latest_run(guild_id=GUILD)
        assert run is not None and run.state == DigestRunState.SENT and list(run.message_ids) == channel.ids
    finally:
        stalled.cancel()
        scheduler.shutdown(wait=False)


async def test_a_resume_posts_the_parts_as_rendered_before_the_stop(sessions: Sessions) -> None:
    schedule = await scheduled(sessions)
    await four_notes(sessions)
    publisher = Publisher()
    publisher.die_after = 2
    with pytest.raises(RuntimeError):
        await runner(sessions, publisher, DUE).post_due(schedule, trigger="schedule")
    await note_at(sessions, DUE - timedelta(hours=1), "note written meanwhile", paper=9)  # the week's data changed
    publisher.die_after = None
    await runner(sessions, publisher, DUE + timedelta(minutes=3)).catch_up()
    head = "digest 2025-02-24..2025-03-03"
    assert publisher.posted == [head, *(f"{head}: note {i}" for i in (3, 2, 1, 0))]  # as rendered at the start
    assert publisher.renders == 1
    run = await DigestRuns(sessions).latest_run(guild_id=GUILD)
    assert run is not None and run.state == DigestRunState.SENT and run.parts == 5 == len(run.message_ids)


async def test_a_part_sent_but_not_recorded_is_found_not_sent_again(sessions: Sessions) -> None:
    schedule = await scheduled(sessions)
    await four_notes(sessions)
    publisher = Publisher()
    publisher.die_after_sending = 2  # Discord took the second part; the process stopped before recording it
    with pytest.raises(RuntimeError):
        await runner(sessions, publisher, DUE).post_due(schedule, trigger="schedule")
    stopped = await DigestRuns(sessions).latest_run(guild_id=GUILD)
    assert stopped is not None and len(stopped.message_ids) == 1 and len(publisher.posted) == 2
    publisher.die_after_sending = None
    await runner(sessions, publisher, DUE + timedelta(minutes=3), process="restarted").catch_up()
    assert len(publisher.posted) == 5 == len(set(publisher.posted))
    run = await DigestRuns(sessions).latest_run(guild_id=GUILD)
    assert run is not None and run.state == DigestRunState.SENT and list(run.message_ids) == publisher.ids


async def test_a_lost_channel_fails_the_run_and_a_moderator_can_post_it_again(sessions: Sessions) -> None:
    schedule = await scheduled(sessions)
    publisher = Publisher()
    publisher.gone = True
    digests = runner(sessions, publisher, DUE + timedelta(days=2))
    run, _ = await digests.post_now(schedule)
    assert run.state == DigestRunState.FAILED and run.reason == "the bot may not post in #papers"
    latest = await DigestRuns(sessions).latest_run(guild_id=GUILD)
    assert latest is not None and latest.reason == "the bot may not post in #papers"
    publisher.gone = False
    again, posted = await digests.post_now(schedule)
    assert posted and again.id == run.id and again.state == DigestRunState.SENT and publisher.posted


async def test_a_quiet_week_kept_quiet_posts_nothing_but_counts(sessions: Sessions) -> None:
    schedule = await scheduled(sessions, quiet_weeks=False)
    publisher = Publisher()
    run, posted = await runner(sessions, publisher, DUE).post_due(schedule, trigger="schedule")
    assert posted and run.state == DigestRunState.SENT and run.message_ids == () and publisher.posted == []


async def test_the_job_is_rebuilt_from_the_schedule_and_fires_on_its_clock(sessions: Sessions) -> None:
    await scheduled(sessions)
    await note_at(sessions, DUE - timedelta(days=1), "read", paper=1)
    publisher = Publisher()
    clock = Clock(DUE - timedelta(hours=1))
    scheduler = AsyncIOScheduler(timezone="UTC")
    digests = DigestRunner(**services(sessions), publisher=publisher, clock=clock, scheduler=scheduler)
    scheduler.start(paused=True)  # its own clock is the real one: jobs run only when this test says
    try:
        await digests.start()  # as at start-up: the job waits for 08:00 UTC
        job = scheduler.get_job(job_id(GUILD))
        assert job is not None and job.next_run_time == DUE
        assert publisher.posted == []
        skipped = await DigestRuns(sessions).latest_run(guild_id=GUILD)  # the week before had no digest
        assert skipped is not None and skipped.state == DigestRunState.SKIPPED
        clock.now = DUE + timedelta(seconds=1)  # the time comes: the job runs as the scheduler would run it
        await job.func(*job.args)
        assert len(publisher.posted) == 2
        following = scheduler.get_job(job_id(GUILD))
        assert following is not None and following.next_run_time == DUE + timedelta(days=7)  # the next week

        # Changing the schedule moves the job at once; turning the digest off removes it.
        changed = await DigestSchedules(sessions).set_schedule(
            guild_id=GUILD, channel_id=CHANNEL, weekday=4, hour=17, minute=30, timezone="America/New_York", updated_by=1
        )
        due = digests.plan(changed)
        assert due == datetime(2025, 3, 7, 22, 30, tzinfo=UTC)  # Friday 17:30 EST
        assert scheduler.get_job(job_id(GUILD)).next_run_time == due  # type: ignore[union-attr]
        digests.plan(await DigestSchedules(sessions).turn_off(guild_id=GUILD, updated_by=1))
        assert scheduler.get_job(job_id(GUILD)) is None
    finally:
        scheduler.shutdown(wait=False)


def test_periods_follow_the_group_zone() -> None:
    tz = zone("Europe/Berlin")
    schedule = ScheduleView(GUILD, CHANNEL, 0, 9, 0, "Europe/Berlin", True, True)
    digests = DigestRunner(**services(None), clock=Clock(DUE + timedelta(hours=1)))  # type: ignore[arg-type]
    start, end = digests.last_period(schedule)
    assert (start.astimezone(tz).hour, end) == (9, DUE)
    assert digests.current_period(schedule) == (DUE, DUE + timedelta(days=7))


async def test_a_process_schedules_only_the_digests_of_its_own_guilds(sessions: Sessions) -> None:
    await scheduled(sessions)
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.start(paused=True)
    try:
        other = DigestRunner(
            **services(sessions),
            publisher=Publisher(),
            clock=Clock(DUE - timedelta(hours=1)),
            owns=lambda g: False,
            scheduler=scheduler,
        )
        await other.start()
        assert scheduler.get_job(job_id(GUILD)) is None
        mine = DigestRunner(
            **services(sessions),
            publisher=Publisher(),
            clock=Clock(DUE - timedelta(hours=1)),
            owns=lambda g: True,
            scheduler=scheduler,
        )
        await mine.start()
        assert scheduler.get_job(job_id(GUILD)) is not None
    finally:
        scheduler.shutdown(wait=False)


async def move_schedule(sessions: Sessions, *, weekday: int, hour: int) -> ScheduleView:
    """A moderator moves the digest to another day or hour (Berlin), after this week's has gone out."""
    return await DigestSchedules(sessions).set_schedule(
        guild_id=GUILD,
        channel_id=CHANNEL,
        weekday=weekday,
        hour=hour,
        minute=0,
        timezone="Europe/Berlin",
        updated_by=MOD,
    )


async def test_a_digest_moved_to_a_later_day_starts_where_the_last_one_ended(sessions: Sessions) -> None:
    schedule = await scheduled(sessions)
    await note_at(sessions, DUE - timedelta(days=2), "read at the weekend", paper=1)
    publisher = Publisher()
    await runner(sessions, publisher, DUE).post_due(schedule, trigger="schedule")
    assert publisher.posted[-1].endswith("read at the weekend")

    friday = await move_schedule(sessions, weekday=4, hour=17)  # on Tuesday: Fridays at 17:00 from now on
    await note_at(sessions, DUE + timedelta(days=2), "read on Wednesday", paper=2)
    friday_due = DUE + timedelta(days=4, hours=8)  # Friday 17:00 in Berlin
    run, posted = await runner(sessions, publisher, friday_due).post_due(friday, trigger="schedule")
    assert posted and run.period_start == DUE and run.period_end == friday_due
    assert [p.split(": ", 1)[1] for p in publisher.posted if ": " in p] == ["read at the weekend", "read on Wednesday"]


async def test_a_digest_moved_by_an_hour_on_its_day_is_not_posted_twice(sessions: Sessions) -> None:
    schedule = await scheduled(sessions)
    publisher = Publisher()
    await note_at(sessions, DUE - timedelta(days=1), "read on Sunday", paper=1)
    await runner(sessions, publisher, DUE).post_due(schedule, trigger="schedule")
    assert len(publisher.posted) == 2

    later = await move_schedule(sessions, weekday=0, hour=10)  # at 09:10: from now on Mondays at 10:00
    await note_at(sessions, DUE + timedelta(minutes=30), "read at 09:30", paper=2)
    run, posted = await runner(sessions, publisher, DUE + timedelta(hours=1)).post_due(later, trigger="schedule")
    assert not posted and len(publisher.posted) == 2  # one digest that Monday, not two an hour apart

    next_week = DUE + timedelta(days=7, hours=1)
    run, posted = await runner(sessions, publisher, next_week).post_due(later, trigger="schedule")
    assert posted and run.period_start == DUE and run.period_end == next_week
    assert publisher.posted[-1].endswith("read at 09:30")  # nothing between the two digests is lost


async def test_a_digest_posted_now_before_any_schedule_is_resumed_after_a_stop(sessions: Sessions) -> None:
    """``/digest now`` works before ``/digest schedule``; a stop in the middle must not leave it half-posted."""
    schedules = DigestSchedules(sessions)
    for i in range(3):
        await note_at(sessions, DUE + timedelta(days=1, hours=i), f"note {i}", paper=i)  # the week in progress
    default = await schedules.schedule_or_default(guild_id=GUILD, channel_id=CHANNEL)
    assert not default.enabled and (default.weekday, default.hour) == (0, 9)
    publisher = Publisher()
    publisher.die_after = 1
    with pytest.raises(RuntimeError):
        await runner(sessions, publisher, DUE + timedelta(days=2)).post_now(default)
    publisher.die_after = None
    await runner(sessions, publisher, DUE + timedelta(days=2, minutes=1)).catch_up()  # the restart
    run = await DigestRuns(sessions).latest_run(guild_id=GUILD)
    assert run is not None and run.state == DigestRunState.SENT and len(run.message_ids) == run.parts == 4
    assert len(publisher.posted) == 4 == len(set(publisher.posted))
