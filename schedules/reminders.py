"""Reading-session reminders, 24 h and 1 h before, each sent exactly once across restarts and processes.

One interval job with a fixed id looks for reminders whose time has come. Each is claimed before it is sent (its
row in ``session_reminders``, unique per session, kind and session time, so two processes never both send it)
and completed with its message after. A claim a stopped process left (older than :data:`STALE`, so never one a
live process is sending) is settled first, from the first run after a restart on: the bot's own message in the
channel means it went out; otherwise it is sent now, if its session is still to come and in time. A reminder whose time
passed more than :data:`GRACE` ago (the bot was down) is recorded as skipped, not sent late; a moved session is
reminded again for its new time, a cancelled one never. With shards over processes, only the process that owns a
guild posts its reminders. Posting belongs to the Discord side, which passes a :class:`ReminderPoster` in.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from apscheduler.schedulers.base import BaseScheduler

from schedules.jobs import every
from schedules.poller import ChannelUnavailable
from storage.reading_sessions import DueReminder, ReadingSessions, SessionView, reminder_due

log = logging.getLogger(__name__)

REMINDERS_JOB = "sessions:remind"
TICK = 60.0  # seconds between looks for due reminders
GRACE = timedelta(minutes=15)  # a reminder this late is still sent; later than that it is skipped
STALE = timedelta(minutes=2)  # a claim this old was left by a process that stopped (or a failed send): settled


class ReminderPoster(Protocol):
    """Posts a session's reminder in its channel, and finds one a stopped process may have posted: the Discord
    side."""

    async def remind(self, kind: str, session: SessionView) -> int:
        """Post the reminder; its message id. Raise ChannelUnavailable when the channel is gone or forbidden."""
        ...

    async def find_reminder(self, kind: str, session: SessionView, *, since: datetime) -> int | None:
        """The bot's own message in the session's channel that is this reminder, posted since ``since``; None when
        there is none. Raise ChannelUnavailable."""
        ...


class ReminderRunner:
    """Sends each session's reminders once, whatever restarts and processes come between."""

    def __init__(
        self,
        *,
        sessions: ReadingSessions,
        poster: ReminderPoster,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        owns: Callable[[int], bool] = lambda guild_id: True,
        grace: timedelta = GRACE,
        stale: timedelta = STALE,
    ) -> None:
        self.sessions, self.poster = sessions, poster
        # When reminders are due (tests move it); claims are stamped with the real time, which Discord's clock
        # matches, for finding a stopped process's message in the channel.
        self.clock = clock
        self.owns = owns  # with shards over processes, each posts only its own guilds' reminders
        self.grace = grace
        # A claim older than this (real time) is one its process stopped sending: a live process sends within
        # seconds, so another process (or this one, restarted) never settles a claim still in flight.
        self.stale = stale
        self._lock = asyncio.Lock()

    async def tick(self) -> None:
        """The job: settle claims their process left unfinished, then send what is due."""
        async with self._lock:
            try:
                await self.settle(claimed_before=datetime.now(UTC) - self.stale)
                await self.send_due()
            except Exception:
                log.exception("reading-session reminders failed")

    async def settle(self, *, claimed_before: datetime | None = None) -> None:
        """Complete claims left unfinished: found in the channel, sent now while still in time, or skipped."""
        for left in await self.sessions.unsettled(claimed_before=claimed_before):
            if not self.owns(left.session.guild_id):
                continue
            try:
                found = await self.poster.find_reminder(
                    left.kind, _as_claimed(left), since=left.claimed_at - timedelta(minutes=1)
                )
            except ChannelUnavailable as exc:
                log.info("guild=%s reminder %s: %s", left.session.guild_id, left.reminder_id, exc)
                await self.sessions.skipped(reminder_id=left.reminder_id)
                continue
            if found is not None:
                log.info("guild=%s reminder %s was already posted", left.session.guild_id, left.reminder_id)
                await self.sessions.sent(reminder_id=left.reminder_id, message_id=found)
            elif left.current and self._in_time(left.kind, left.session):
                await self._send(left.reminder_id, left.kind, left.session)
            else:
                await self.sessions.skipped(reminder_id=left.reminder_id)

    async def send_due(self) -> None:
        """Claim and send every reminder whose time has come; record the ones too late to send as skipped."""
        for kind, session in await self.sessions.due_reminders(now=self.clock()):
            if not self.owns(session.guild_id):
                continue
            late = not self._in_time(kind, session)
            reminder_id = await self.sessions.claim(kind=kind, session=session, skip=late)
            if reminder_id is None:
                continue  # another process has it
            if late:
                log.info("guild=%s session=%s: %s reminder too late, skipped", session.guild_id, session.id, kind)
                continue
            await self._send(reminder_id, kind, session)

    def _in_time(self, kind: str, session: SessionView) -> bool:
        """Whether the reminder still goes out: its time came at most ``grace`` ago, before the session starts, and
        after the session was given its time (a session set 23 h ahead gets no "in 24 hours" minutes after its
        announcement)."""
        now, due = self.clock(), reminder_due(kind, session.starts_at)
        if session.scheduled_at is not None and due < session.scheduled_at:
            return False
        return now < session.starts_at and now - due <= self.grace

    async def _send(self, reminder_id: int, kind: str, session: SessionView) -> None:
        try:
            message_id = await self.poster.remind(kind, session)
        except ChannelUnavailable as exc:
            log.warning("guild=%s the %s reminder could not be posted: %s", session.guild_id, kind, exc)
            await self.sessions.skipped(reminder_id=reminder_id)
            return
        await self.sessions.sent(reminder_id=reminder_id, message_id=message_id)


def _as_claimed(left: DueReminder) -> SessionView:
    """The session as the reminder showed it: at the time it was claimed for."""
    return replace(left.session, starts_at=left.starts_at)


def watch_reminders(scheduler: BaseScheduler, runner: ReminderRunner) -> None:
    """Send reminders every minute, starting now (once the bot can read its channels: claims a stopped process
    left are settled first)."""
    every(scheduler, runner.tick, seconds=TICK, job_id=REMINDERS_JOB, next_run_time=datetime.now(UTC))
