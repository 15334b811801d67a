"""The weekly digest's timing: one job per group at its next scheduled time, exactly one digest per week.

Rendering and posting belong to the Discord side, which passes a :class:`Publisher` in. The schedule rows are
the source of truth: :meth:`DigestRunner.start` rebuilds every group's job from them, settles weeks missed
while the bot was down (posting within the grace period, recording a skip after it), and resumes a digest a
stopped process left half-posted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from apscheduler.schedulers.base import BaseScheduler

from schedules.digest_time import last_due, next_due, period_for, zone
from schedules.poller import ChannelUnavailable
from storage.digests import DigestData, DigestService, RunView, ScheduleView
from storage.models import DigestRunState

log = logging.getLogger(__name__)

DEFAULT_GRACE = timedelta(hours=12)
# A moved schedule never posts a digest sooner than this after the last one: that stretch joins the next digest.
SHORTEST_DIGEST = timedelta(days=3, hours=12)
JOB_PREFIX = "digest:"

OnPart = Callable[[int], Awaitable[None]]  # message id -> recorded


class Publisher(Protocol):
    """Builds a digest's messages and posts them: the Discord side."""

    def render(self, data: DigestData, schedule: ScheduleView) -> Sequence[Any]:
        """The digest's messages, in order (empty: nothing to post, e.g. a quiet week the group keeps quiet)."""
        ...

    async def post(self, channel_id: int, parts: Sequence[Any], on_part: OnPart) -> None:
        """Post the parts in order, awaiting ``on_part(message id)`` after each; raise ChannelUnavailable."""
        ...


def job_id(guild_id: int) -> str:
    """The scheduler job that posts a group's next digest."""
    return f"{JOB_PREFIX}{guild_id}"


class DigestRunner:
    """Posts each group's digest at its time, once a week, whatever restarts come between."""

    def __init__(
        self,
        digests: DigestService,
        *,
        publisher: Publisher | None = None,
        grace: timedelta = DEFAULT_GRACE,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        owns: Callable[[int], bool] = lambda guild_id: True,
    ) -> None:
        self.digests, self.publisher, self.grace, self.clock = digests, publisher, grace, clock
        # With shards spread over processes, each schedules only the digests of its own shards' guilds.
        self.owns = owns
        self.scheduler: BaseScheduler | None = None
        self._locks: dict[int, asyncio.Lock] = {}

    # --- jobs -----------------------------------------------------------------------------------------------

    async def start(self, scheduler: BaseScheduler) -> None:
        """Rebuild every group's job from the schedule rows, then catch up on what the downtime missed."""
        self.scheduler = scheduler
        for schedule in await self.digests.enabled():
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
        schedule = await self.digests.schedule(guild_id=guild_id)
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
        async with self._lock(schedule.guild_id):
            start = await self.start_after_last(schedule.guild_id, start, end)
            if trigger != "now" and end - start < SHORTEST_DIGEST:
                latest = await self.digests.latest_run(guild_id=schedule.guild_id)
                assert latest is not None  # a digest ended after ``start`` was computed: there is one
                log.info(
                    "guild=%s the digest due %s joins the next one: the last was %s ago",
                    schedule.guild_id,
                    end.isoformat(),
                    end - start,
                )
                return latest, False
            run, created = await self.digests.begin(
                guild_id=schedule.guild_id,
                period_start=start,
                period_end=end,
                channel_id=schedule.channel_id,
                trigger=trigger,
            )
            if not created and run.state == DigestRunState.FAILED and trigger == "now":
                run = await self.digests.retry(run_id=run.id, channel_id=schedule.channel_id)
            if not created and run.state != DigestRunState.POSTING:
                log.info("guild=%s the digest for %s already ran (%s)", schedule.guild_id, start.date(), run.state)
                return run, False
            return await self._post(run, schedule), True

    async def start_after_last(self, guild_id: int, start: datetime, end: datetime) -> datetime:
        """Where a digest for [start, end) begins: where the last digest ended, when the schedule moved since.

        That end is later than ``start`` when the digest moved to an earlier time of the week, and earlier by less
        than :data:`SHORTEST_DIGEST` after a digest that moved later was left to this one. A longer gap is weeks
        the bot missed, which stay missed: ``start``.
        """
        covered = await self.digests.covered_until(guild_id=guild_id, before=end)
        if covered is None or start - covered >= SHORTEST_DIGEST:
            return start
        return covered

    async def upcoming_period(self, schedule: ScheduleView) -> tuple[datetime, datetime]:
        """What the next digest covers, as :meth:`post_period` will post it (for previews)."""
        start, end = self.current_period(schedule)
        return await self.start_after_last(schedule.guild_id, start, end), end

    async def catch_up(self) -> None:
        """At start-up: resume half-posted digests, then post (or skip) weeks whose time passed while down."""
        for run in await self.digests.unfinished():
            schedule = await self.digests.schedule(guild_id=run.guild_id)
            if schedule is None or not self.owns(run.guild_id):
                continue
            async with self._lock(run.guild_id):
                current = await self.digests.get_run(run_id=run.id)  # another task may have finished it meanwhile
                if current is not None and current.state == DigestRunState.POSTING:
                    await self._post(current, schedule)
        now = self.clock()
        for schedule in await self.digests.enabled():
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
            if await self.digests.skip(
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

    async def _post(self, run: RunView, schedule: ScheduleView) -> RunView:
        if self.publisher is None:
            return run
        data = await self.digests.collect(
            guild_id=run.guild_id, start=run.period_start, end=run.period_end, timezone=schedule.timezone
        )
        parts = await asyncio.to_thread(self.publisher.render, data, schedule)  # matching thousands of papers
        await self.digests.set_parts(run_id=run.id, parts=len(parts))
        done = len(run.message_ids)
        if done:
            log.info("guild=%s resuming the digest for %s at part %d", run.guild_id, run.period_start.date(), done + 1)

        async def on_part(message_id: int) -> None:
            await self.digests.part_sent(run_id=run.id, message_id=message_id)

        try:
            await self.publisher.post(run.channel_id, parts[done:], on_part)
        except ChannelUnavailable as exc:
            await self.digests.fail(run_id=run.id, reason=str(exc))
            log.warning("guild=%s the digest could not be posted: %s", run.guild_id, exc)
        else:
            await self.digests.finish(run_id=run.id)
        return await self.digests.get_run(run_id=run.id) or run

    def _lock(self, guild_id: int) -> asyncio.Lock:
        return self._locks.setdefault(guild_id, asyncio.Lock())
