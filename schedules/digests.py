"""The weekly digest's timing: one job per group at its next scheduled time, exactly one digest per week.

Rendering and posting belong to the Discord side, which passes a :class:`Publisher` in. The schedule rows are
the source of truth: :meth:`DigestRunner.start` rebuilds every group's job from them, settles weeks missed
while the bot was down (posting within the grace period, recording a skip after it), and resumes a digest a
stopped process left half-posted.

Each part goes out once: a run is posted by the one process that holds its claim (a lease renewed after each
part; another process resumes the run only once the claim ran out), its parts are rendered once and kept with
the run (a resume posts those, never a new rendering), and a resume first looks in the channel for the part a
stopped process may have sent without recording it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from apscheduler.schedulers.base import BaseScheduler

from schedules.digest_time import last_due, next_due, period_for
from schedules.poller import ChannelUnavailable
from storage.digests.content import DigestContent, DigestData
from storage.digests.runs import DigestRuns, RunView
from storage.digests.schedule import DigestSchedules, ScheduleView
from storage.leases import LeaseService
from storage.locks import KeyedLocks
from storage.models import DigestRunState
from storage.time_zones import zone

log = logging.getLogger(__name__)

DEFAULT_GRACE = timedelta(hours=12)
# A moved schedule never posts a digest sooner than this after the last one: that stretch joins the next digest.
SHORTEST_DIGEST = timedelta(days=3, hours=12)
JOB_PREFIX = "digest:"
RESUME_PREFIX = "digest-resume:"
# How long a run's claim lasts without renewal: the poster renews it after each part (seconds apart), and a run
# whose poster stopped is resumed by another process once its claim ran out.
CLAIM_TTL = timedelta(minutes=2)

OnPart = Callable[[int], Awaitable[None]]  # message id -> recorded
Part = Any  # one message of a digest, as plain JSON: kept with the run, so a resume posts exactly what was rendered


class Publisher(Protocol):
    """Builds a digest's messages and posts them: the Discord side."""

    def render(self, data: DigestData, schedule: ScheduleView) -> Sequence[Part]:
        """The digest's messages, in order, as plain JSON (empty: nothing to post, e.g. a quiet week the group
        keeps quiet)."""
        ...

    async def post(self, channel_id: int, parts: Sequence[Part], on_part: OnPart) -> None:
        """Post the parts in order, awaiting ``on_part(message id)`` after each; raise ChannelUnavailable."""
        ...

    async def find_posted(self, channel_id: int, part: Part, *, after: int | None, since: datetime) -> int | None:
        """The bot's own message in the channel that is exactly this part, posted after message ``after`` (or,
        when None, since ``since``); None when it is not there. Raise ChannelUnavailable."""
        ...


class _ClaimLost(Exception):
    """Another process took the run over (this one was stalled past its claim): it posts the rest."""


def claim_name(run_id: int) -> str:
    """The lease that makes one process at a time post a run."""
    return f"digest:{run_id}"


def job_id(guild_id: int) -> str:
    """The scheduler job that posts a group's next digest."""
    return f"{JOB_PREFIX}{guild_id}"


class DigestRunner:
    """Posts each group's digest at its time, once a week, whatever restarts come between."""

    def __init__(
        self,
        *,
        schedules: DigestSchedules,
        runs: DigestRuns,
        content: DigestContent,
        publisher: Publisher | None = None,
        scheduler: BaseScheduler | None = None,
        grace: timedelta = DEFAULT_GRACE,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        owns: Callable[[int], bool] = lambda guild_id: True,
        leases: LeaseService | None = None,
    ) -> None:
        self.schedules, self.runs, self.content = schedules, runs, content
        self.publisher, self.grace, self.clock = publisher, grace, clock
        # Where the groups' jobs go (None: nothing is scheduled, e.g. for a one-off preview); /digest schedule
        # moves a group's job at once.
        self.scheduler = scheduler
        # Several processes on one database: a run is posted by the one holding its claim (None: one process).
        self.leases = leases
        # With shards spread over processes, each schedules only the digests of its own shards' guilds.
        self.owns = owns
        self._locks: KeyedLocks[int] = KeyedLocks()  # one server's digest runs take turns

    # --- jobs -----------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Rebuild every group's job from the schedule rows, then catch up on what the downtime missed."""
        for schedule in await self.schedules.enabled():
            if self.owns(schedule.guild_id):
                self.plan(schedule)
        await self.catch_up()

    def plan(self, schedule: ScheduleView) -> datetime | None:
        """(Re)schedule a group's job for its next digest; a schedule that is off loses its job."""
        if self.scheduler is None:
            return None
        if not schedule.enabled:
            if self.scheduler.get_job(job_id(schedule.guild_id)):
                self.scheduler.remove_job(job_id(schedule.guild_id))
            return None
        due = self.next_due(schedule)
        self.scheduler.add_job(
            self.fire,
            "date",
            run_date=due,
            args=[schedule.guild_id],
            id=job_id(schedule.guild_id),
            replace_existing=True,
            misfire_grace_time=int(self.grace.total_seconds()),
            coalesce=True,
        )
        return due

    def next_due(self, schedule: ScheduleView) -> datetime:
        """When the group's next digest goes out."""
        tz = zone(schedule.timezone)
        return next_due(self.clock(), schedule.weekday, schedule.hour, schedule.minute, tz)

    async def fire(self, guild_id: int) -> None:
        """The job: post the digest that is due, then schedule the next one."""
        schedule = await self.schedules.schedule(guild_id=guild_id)
        if schedule is None or not schedule.enabled:
            return
        try:
            await self.post_due(schedule, trigger="schedule")
        except Exception:
            log.exception("guild=%s the weekly digest failed", guild_id)
        finally:
            self.plan(schedule)

    # --- runs -----------------------------------------------------------------------------------------------

    def last_period(self, schedule: ScheduleView) -> tuple[datetime, datetime]:
        """The week the latest due digest covers: it ended at the latest scheduled time."""
        tz = zone(schedule.timezone)
        due = last_due(self.clock(), schedule.weekday, schedule.hour, schedule.minute, tz)
        return period_for(due, tz, hour=schedule.hour, minute=schedule.minute)

    def current_period(self, schedule: ScheduleView) -> tuple[datetime, datetime]:
        """The week in progress: the one the next scheduled digest covers."""
        tz = zone(schedule.timezone)
        return period_for(self.next_due(schedule), tz, hour=schedule.hour, minute=schedule.minute)

    async def post_due(self, schedule: ScheduleView, *, trigger: str) -> tuple[RunView, bool]:
        """Post the latest due week's digest, unless that week has one already."""
        start, end = self.last_period(schedule)
        return await self.post_period(schedule, start, end, trigger=trigger)

    async def post_now(self, schedule: ScheduleView) -> tuple[RunView, bool]:
        """A moderator's ``/digest now``: the week in progress, posted now; it is that week's digest."""
        start, end = self.current_period(schedule)
        return await self.post_period(schedule, start, end, trigger="now")

    async def post_period(
        self, schedule: ScheduleView, start: datetime, end: datetime, *, trigger: str
    ) -> tuple[RunView, bool]:
        """Record the week's run (once), then post it; returns the run and whether this call posted it.

        A week's existing run is resumed if a stopped process left it unfinished, and otherwise left be. After a
        moderator moved the schedule, the digest starts where the last one ended (nothing twice, nothing lost),
        and a scheduled one that would come less than half a week after it is left to the next.
        """
        async with self._locks[schedule.guild_id]:
            start = await self.start_after_last(schedule.guild_id, start, end)
            if trigger != "now" and end - start < SHORTEST_DIGEST:
                latest = await self.runs.latest_run(guild_id=schedule.guild_id)
                assert latest is not None  # a digest ended after ``start`` was computed: there is one
                log.info(
                    "guild=%s the digest due %s joins the next one: the last was %s ago",
                    schedule.guild_id,
                    end.isoformat(),
                    end - start,
                )
                return latest, False
            run, created = await self.runs.begin(
                guild_id=schedule.guild_id,
                period_start=start,
                period_end=end,
                channel_id=schedule.channel_id,
                trigger=trigger,
            )
            if not created and run.state == DigestRunState.FAILED and trigger == "now":
                run = await self.runs.retry(run_id=run.id, channel_id=schedule.channel_id)
            if not created and run.state != DigestRunState.POSTING:
                log.info("guild=%s the digest for %s already ran (%s)", schedule.guild_id, start.date(), run.state)
                return run, False
            return await self._post(run, schedule)

    async def start_after_last(self, guild_id: int, start: datetime, end: datetime) -> datetime:
        """Where a digest for [start, end) begins: where the last digest ended, when the schedule moved since.

        That end is later than ``start`` when the digest moved to an earlier time of the week, and earlier by less
        than :data:`SHORTEST_DIGEST` after a digest that moved later was left to this one. A longer gap is weeks
        the bot missed, which stay missed: ``start``.
        """
        covered = await self.runs.covered_until(guild_id=guild_id, before=end)
        if covered is None or start - covered >= SHORTEST_DIGEST:
            return start
        return covered

    async def upcoming_period(self, schedule: ScheduleView) -> tuple[datetime, datetime]:
        """What the next digest covers, as :meth:`post_period` will post it (for previews)."""
        start, end = self.current_period(schedule)
        return await self.start_after_last(schedule.guild_id, start, end), end

    async def catch_up(self) -> None:
        """At start-up: resume half-posted digests, then post (or skip) weeks whose time passed while down."""
        for run in await self.runs.unfinished():
            await self.resume(run.id)
        now = self.clock()
        for schedule in await self.schedules.enabled():
            if not self.owns(schedule.guild_id):
                continue
            tz = zone(schedule.timezone)
            due = last_due(now, schedule.weekday, schedule.hour, schedule.minute, tz)
            if schedule.since is not None and due < schedule.since:
                continue  # that time passed before the schedule was set: nothing was missed
            start, end = period_for(due, tz, hour=schedule.hour, minute=schedule.minute)
            if now - due <= self.grace:
                await self.post_period(schedule, start, end, trigger="catch-up")
                continue
            late = now - due
            if await self.runs.skip(
                guild_id=schedule.guild_id,
                period_start=start,
                period_end=end,
                channel_id=schedule.channel_id,
                reason=f"the bot was not running at the scheduled time ({late.total_seconds() / 3600:.0f} h ago)",
            ):
                log.warning(
                    "guild=%s skipped the digest due %s: %.0f h late, past the %.0f h grace period",
                    schedule.guild_id,
                    due.isoformat(),
                    late.total_seconds() / 3600,
                    self.grace.total_seconds() / 3600,
                )

    async def resume(self, run_id: int) -> None:
        """Post the rest of a run a stopped process left unfinished (also the job that tries again once another
        process's claim on it ran out)."""
        run = await self.runs.get_run(run_id=run_id)
        if run is None or run.state != DigestRunState.POSTING or not self.owns(run.guild_id):
            return
        # A group without a schedule posts with the default one (``/digest now`` before ``/digest schedule``).
        schedule = await self.schedules.schedule_or_default(guild_id=run.guild_id, channel_id=run.channel_id)
        async with self._locks[run.guild_id]:
            current = await self.runs.get_run(run_id=run.id)  # another task may have finished it meanwhile
            if current is not None and current.state == DigestRunState.POSTING:
                await self._post(current, schedule)

    async def _resume(self, run_id: int) -> None:
        try:
            await self.resume(run_id)
        except Exception:
            log.exception("run=%s resuming the digest failed", run_id)

    def _resume_later(self, run: RunView) -> None:
        """Try the run again once the claim another process holds on it may have run out."""
        if self.scheduler is None:
            return
        self.scheduler.add_job(
            self._resume,
            "date",
            run_date=datetime.now(UTC) + CLAIM_TTL + timedelta(seconds=5),  # the claim's clock is the real one
            args=[run.id],
            id=f"{RESUME_PREFIX}{run.id}",
            replace_existing=True,
            misfire_grace_time=None,
            coalesce=True,
        )

    async def _claim(self, run_id: int) -> bool:
        return self.leases is None or await self.leases.hold(claim_name(run_id), ttl=CLAIM_TTL)

    async def _unclaim(self, run_id: int) -> None:
        if self.leases is None:
            return
        try:
            await self.leases.release(claim_name(run_id))
        except Exception:
            log.warning("run=%s could not give back the digest's claim; it runs out by itself", run_id, exc_info=True)

    async def _post(self, run: RunView, schedule: ScheduleView) -> tuple[RunView, bool]:
        """Post the run's parts not yet recorded, if no other process holds its claim; whether this call did."""
        if self.publisher is None:
            return run, True
        if not await self._claim(run.id):
            log.info(
                "guild=%s the digest for %s is being posted by another process", run.guild_id, run.period_start.date()
            )
            self._resume_later(run)
            return run, False
        try:
            current = await self.runs.get_run(run_id=run.id)  # as it stands now that no one else posts it
            if current is None or current.state != DigestRunState.POSTING:
                return current or run, False
            return await self._post_claimed(self.publisher, current, schedule), True
        finally:
            await self._unclaim(run.id)

    async def _post_claimed(self, publisher: Publisher, run: RunView, schedule: ScheduleView) -> RunView:
        # Begun before (by this process or a stopped one): the part in flight then may be in the channel.
        begun = run.rendered is not None or bool(run.message_ids)
        parts = run.rendered
        if parts is None:  # rendered once, kept with the run before the first part is sent
            data = await self.content.collect(
                guild_id=run.guild_id, start=run.period_start, end=run.period_end, timezone=schedule.timezone
            )
            rendered = await asyncio.to_thread(publisher.render, data, schedule)  # matching thousands of papers
            parts = await self.runs.set_parts(run_id=run.id, parts=rendered)
        recorded = list(run.message_ids)

        async def on_part(message_id: int) -> None:
            await self.runs.part_sent(run_id=run.id, message_id=message_id)
            recorded.append(message_id)
            if not await self._claim(run.id):
                raise _ClaimLost

        try:
            if begun and len(recorded) < len(parts):
                found = await publisher.find_posted(
                    run.channel_id, parts[len(recorded)], after=recorded[-1] if recorded else None, since=run.created_at
                )
                if found is not None:  # sent by a process that stopped before recording it
                    log.info("guild=%s part %d of the digest was already posted", run.guild_id, len(recorded) + 1)
                    await on_part(found)
            if recorded:
                log.info(
                    "guild=%s resuming the digest for %s at part %d",
                    run.guild_id,
                    run.period_start.date(),
                    len(recorded) + 1,
                )
            await publisher.post(run.channel_id, parts[len(recorded) :], on_part)
        except ChannelUnavailable as exc:
            await self.runs.fail(run_id=run.id, reason=str(exc))
            log.warning("guild=%s the digest could not be posted: %s", run.guild_id, exc)
        except _ClaimLost:
            log.warning(
                "guild=%s another process took over posting the digest for %s", run.guild_id, run.period_start.date()
            )
            self._resume_later(run)
        else:
            await self.runs.finish(run_id=run.id)
        return await self.runs.get_run(run_id=run.id) or run
