"""/digest schedule, preview, now and off: when and where the group's weekly digest goes."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import discord
from discord import app_commands
from discord.ext import commands

from bot.channels import check_can_post, target_channel
from bot.digest_post import build_digest
from bot.interactions import MODERATORS_ONLY, NO_MENTIONS, answer, guild_of
from bot.render import COLOUR
from schedules.digest_time import describe, discord_timestamp, parse_time, period_label
from schedules.digests import DigestRunner
from storage.digests.content import DigestContent
from storage.digests.runs import DigestRuns
from storage.digests.schedule import DEFAULT_TIME, DEFAULT_WEEKDAY, DigestSchedules, ScheduleView
from storage.group_settings import GroupSettingsService
from storage.models import DigestRunState
from storage.time_zones import timezone_choices, zone

log = logging.getLogger(__name__)

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
WEEKDAY_CHOICES = [app_commands.Choice(name=day, value=i) for i, day in enumerate(WEEKDAYS)]
DEFAULT_DAY, DEFAULT_AT = WEEKDAYS[DEFAULT_WEEKDAY], f"{DEFAULT_TIME[0]:02d}:{DEFAULT_TIME[1]:02d}"
PREVIEW_MESSAGES = 5  # ephemeral follow-ups a preview may take; a longer digest says how many more


def schedule_line(schedule: ScheduleView, next_due: datetime | None) -> str:
    """Where and when, as a moderator reads it."""
    tz = zone(schedule.timezone)
    when = f"every {WEEKDAYS[schedule.weekday]} at {schedule.hour:02d}:{schedule.minute:02d} ({schedule.timezone})"
    text = f"The weekly digest goes to <#{schedule.channel_id}> {when}."
    if next_due is not None:
        text += f"\nNext: {describe(next_due, tz)} · {discord_timestamp(next_due)}"
    if not schedule.quiet_weeks:
        text += "\nQuiet weeks get no digest."
    return text


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class Digest(commands.GroupCog, group_name="digest", group_description="The group's weekly digest"):
    """Moderators set the weekly digest's day, time, time zone and channel, preview it, or post it now."""

    def __init__(
        self,
        *,
        schedules: DigestSchedules,
        runs: DigestRuns,
        content: DigestContent,
        runner: DigestRunner,
        guilds: GroupSettingsService,
    ) -> None:
        self.schedules, self.runs, self.content = schedules, runs, content
        self.runner, self.guilds = runner, guilds
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Back up the default permission: only members with Manage Server manage the digest."""
        if not interaction.permissions.manage_guild:
            raise app_commands.MissingPermissions(["manage_guild"])
        return True

    async def _current(self, interaction: discord.Interaction) -> ScheduleView:
        """The group's schedule, or the default (Monday 09:00 in the group's zone, here) when it has none."""
        return await self.schedules.schedule_or_default(
            guild_id=guild_of(interaction), channel_id=interaction.channel_id or 0
        )

    @app_commands.command(name="schedule", description="Set the weekly digest's day, time, time zone and channel")
    @app_commands.describe(
        weekday=f"The day it is posted (default: {DEFAULT_DAY}, or as set before)",
        time=f"Local time, like 09:00 or 6pm (default: {DEFAULT_AT}, or as set before)",
        timezone="An IANA time zone, like Europe/Berlin (start typing a city)",
        channel="Where it is posted (default: this channel)",
        quiet_weeks="Post a short digest even when the week had no notes (default: yes)",
    )
    @app_commands.choices(weekday=WEEKDAY_CHOICES)
    async def schedule(
        self,
        interaction: discord.Interaction,
        weekday: int | None = None,
        time: app_commands.Range[str, 1, 20] | None = None,
        timezone: app_commands.Range[str, 1, 64] | None = None,
        channel: discord.TextChannel | None = None,
        quiet_weeks: bool | None = None,
    ) -> None:
        """Save the schedule, reschedule the job at once, and say when the next digest comes."""
        await interaction.response.defer(ephemeral=True, thinking=True)  # acknowledged before the database is read
        current = await self._current(interaction)
        hour, minute = parse_time(time) if time else (current.hour, current.minute)
        name = timezone.strip() if timezone else current.timezone
        zone(name)  # refuses anything that is not an IANA name
        target = target_channel(interaction, channel)
        check_can_post(target)
        saved = await self.schedules.set_schedule(
            guild_id=guild_of(interaction),
            channel_id=target.id,
            weekday=current.weekday if weekday is None else weekday,
            hour=hour,
            minute=minute,
            timezone=name,
            updated_by=interaction.user.id,
            quiet_weeks=quiet_weeks,
        )
        due = self.runner.plan(saved)
        log.info("guild=%s digest scheduled: %s", saved.guild_id, saved)
        embed = discord.Embed(title="Weekly digest scheduled", description=schedule_line(saved, due), colour=COLOUR)
        await answer(interaction, embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @schedule.autocomplete("timezone")
    @MODERATORS_ONLY
    async def timezone_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """IANA time zones matching what was typed."""
        return [app_commands.Choice(name=name, value=name) for name in timezone_choices(current)]

    @app_commands.command(name="preview", description="See the digest as it would be posted now (only you see it)")
    async def preview(self, interaction: discord.Interaction) -> None:
        """The week in progress, built now, with why each feed paper is in it; and why the last one failed."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        schedule = await self._current(interaction)
        start, end = await self.runner.upcoming_period(schedule)
        data = await self.content.collect(guild_id=schedule.guild_id, start=start, end=end, timezone=schedule.timezone)
        messages = await asyncio.to_thread(build_digest, data, quiet_weeks=True, explain=True)
        notes = []
        latest = await self.runs.latest_run(guild_id=schedule.guild_id)
        if latest is not None and latest.state == DigestRunState.FAILED:
            label = period_label(latest.period_start, latest.period_end, zone(schedule.timezone))
            notes.append(f"⚠️ The digest for {label} could not be posted: {latest.reason}.")
        if latest is not None and latest.state == DigestRunState.SKIPPED:
            label = period_label(latest.period_start, latest.period_end, zone(schedule.timezone))
            notes.append(f"The digest for {label} was skipped: {latest.reason}.")
        if not schedule.enabled:
            notes.append("The weekly digest is off here; `/digest schedule` turns it on.")
        else:
            notes.append(schedule_line(schedule, self.runner.next_due(schedule)))
        shown = messages[:PREVIEW_MESSAGES]
        if len(messages) > len(shown):
            notes.append(f"… and {len(messages) - len(shown)} more messages in the posted digest.")
        await interaction.followup.send(
            "\n".join(notes), embeds=shown[0] if shown else [], ephemeral=True, allowed_mentions=NO_MENTIONS
        )
        for embeds in shown[1:]:
            await interaction.followup.send(embeds=embeds, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @app_commands.command(name="now", description="Post this week's digest now (it counts as this week's)")
    async def now(self, interaction: discord.Interaction) -> None:
        """Post the week in progress now; the scheduled run for this week then has nothing to do."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        schedule = await self._current(interaction)
        if not schedule.enabled:
            target = target_channel(interaction, None)
            check_can_post(target)
        run, posted = await self.runner.post_now(schedule)
        tz = zone(schedule.timezone)
        label = period_label(run.period_start, run.period_end, tz)
        if run.state == DigestRunState.FAILED:
            text = f"The digest for {label} could not be posted: {run.reason}."
        elif not posted:
            text = f"The digest for {label} was already posted in <#{run.channel_id}>."
        elif not run.message_ids:
            text = f"A quiet week ({label}) and quiet weeks are off here: nothing was posted."
        else:
            text = (
                f"Posted the digest for {label} in <#{run.channel_id}> ({len(run.message_ids)} messages). "
                "It counts as this week's digest."
            )
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @app_commands.command(name="off", description="Stop the weekly digest")
    async def off(self, interaction: discord.Interaction) -> None:
        """Turn the digest off; the schedule is kept for turning it on again."""
        guild_id = guild_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)  # acknowledged before the database is read
        saved = await self.schedules.turn_off(guild_id=guild_id, updated_by=interaction.user.id)
        self.runner.plan(saved)
        await answer(
            interaction, content="The weekly digest is off. `/digest schedule` turns it on again.", ephemeral=True
        )
