"""A group's digest schedule: the day, time, time zone and channel of its weekly digest, and the one default."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select

from storage.db import Sessions
from storage.errors import NotFoundError, ValidationError
from storage.models import DigestSchedule, GuildSettings, as_utc, utcnow

DEFAULT_WEEKDAY, DEFAULT_TIME = 0, (9, 0)  # a group's digest until it sets its own: Mondays at 09:00


@dataclass(frozen=True, slots=True)
class ScheduleView:
    """A group's digest schedule, detached from any session."""

    guild_id: int
    channel_id: int
    weekday: int
    hour: int
    minute: int
    timezone: str
    enabled: bool
    quiet_weeks: bool
    since: datetime | None = None  # when it was last set: weeks due before then are not its to catch up


def default_schedule(*, guild_id: int, channel_id: int, timezone: str | None) -> ScheduleView:
    """The schedule a group without one gets: off, Monday 09:00 in the group's own time zone (UTC when it has
    none), posted in ``channel_id``."""
    return ScheduleView(
        guild_id=guild_id,
        channel_id=channel_id,
        weekday=DEFAULT_WEEKDAY,
        hour=DEFAULT_TIME[0],
        minute=DEFAULT_TIME[1],
        timezone=timezone or "UTC",
        enabled=False,
        quiet_weeks=True,
    )


def schedule_view(row: DigestSchedule) -> ScheduleView:
    """A stored schedule, detached from the session."""
    hour, minute = (int(part) for part in row.time.split(":"))
    return ScheduleView(
        guild_id=row.guild_id,
        channel_id=row.channel_id,
        weekday=row.weekday,
        hour=hour,
        minute=minute,
        timezone=row.timezone,
        enabled=row.enabled,
        quiet_weeks=row.quiet_weeks,
        since=as_utc(row.updated_at),
    )


class DigestSchedules:
    """Setting, reading and turning off groups' digest schedules; each method is one transaction."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def set_schedule(
        self,
        *,
        guild_id: int,
        channel_id: int,
        weekday: int,
        hour: int,
        minute: int,
        timezone: str,
        updated_by: int,
        quiet_weeks: bool | None = None,
    ) -> ScheduleView:
        """Create or change the group's schedule (and turn it on); the group's time zone follows it."""
        if not (0 <= weekday <= 6 and 0 <= hour <= 23 and 0 <= minute <= 59):
            raise ValidationError("The day is Monday to Sunday and the time 00:00 to 23:59.")
        async with self.sessions() as session:
            row = await session.get(DigestSchedule, guild_id)
            if row is None:
                row = DigestSchedule(guild_id=guild_id, channel_id=channel_id, updated_by=updated_by)
                session.add(row)
            row.channel_id, row.weekday, row.time = channel_id, weekday, f"{hour:02d}:{minute:02d}"
            row.timezone, row.enabled, row.updated_by, row.updated_at = timezone, True, updated_by, utcnow()
            if quiet_weeks is not None:
                row.quiet_weeks = quiet_weeks
            group = await session.get(GuildSettings, guild_id)
            if group is None:
                session.add(GuildSettings(guild_id=guild_id, timezone=timezone))
            else:
                group.timezone = timezone
            await session.commit()
            return schedule_view(row)

    async def schedule(self, *, guild_id: int) -> ScheduleView | None:
        """The group's schedule, if it has one (on or off)."""
        async with self.sessions() as session:
            row = await session.get(DigestSchedule, guild_id)
            return schedule_view(row) if row else None

    async def schedule_or_default(self, *, guild_id: int, channel_id: int) -> ScheduleView:
        """The group's schedule, or the one a group without a schedule gets (off, Monday 09:00 in the group's own
        time zone, posted in ``channel_id``): what ``/digest now`` and ``/digest preview`` work with before any
        ``/digest schedule``."""
        async with self.sessions() as session:
            row = await session.get(DigestSchedule, guild_id)
            if row is not None:
                return schedule_view(row)
            group = await session.get(GuildSettings, guild_id)
        return default_schedule(guild_id=guild_id, channel_id=channel_id, timezone=group.timezone if group else None)

    async def turn_off(self, *, guild_id: int, updated_by: int) -> ScheduleView:
        """Stop the weekly digest; the schedule is kept for turning it on again."""
        async with self.sessions() as session:
            row = await session.get(DigestSchedule, guild_id)
            if row is None or not row.enabled:
                raise NotFoundError("The weekly digest is not on in this server. Start it with `/digest schedule`.")
            row.enabled, row.updated_by, row.updated_at = False, updated_by, utcnow()
            await session.commit()
            return schedule_view(row)

    async def enabled(self) -> list[ScheduleView]:
        """Every group's schedule that is on."""
        async with self.sessions() as session:
            rows = (await session.exec(select(DigestSchedule).where(col(DigestSchedule.enabled).is_(True)))).all()
            return [schedule_view(row) for row in rows]
