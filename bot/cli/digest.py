"""``digest preview``: the week in progress, as the digest would show it, printed as text."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.cli.base import OK, PROG, on_database, operator_settings, require_database_file, say
from bot.cli.text import embed_text

if TYPE_CHECKING:
    import argparse

    from storage.db import Sessions
    from storage.digests.schedule import ScheduleView


def cmd_digest(args: argparse.Namespace) -> int:
    """``digest preview``: the week in progress, as text."""
    from bot.digest_render import render_digest
    from schedules.digest_time import WEEKDAY_NAMES, format_time, period_label
    from schedules.digests import DigestRunner
    from storage.digests.content import DigestContent
    from storage.digests.picks import choose
    from storage.digests.runs import DigestRuns
    from storage.digests.schedule import DigestSchedules
    from storage.time_zones import zone

    settings = operator_settings()
    require_database_file(settings, "check DATABASE_URL")

    async def build(sessions: Sessions) -> tuple[Any, ScheduleView, bool]:
        schedules, runs, content = DigestSchedules(sessions), DigestRuns(sessions), DigestContent(sessions)
        schedule = await schedules.schedule(guild_id=args.guild)
        assumed = schedule is None
        # A server without a schedule is previewed with the default one.
        schedule = await schedules.schedule_or_default(guild_id=args.guild, channel_id=0)
        start, end = await DigestRunner(schedules=schedules, runs=runs, content=content).upcoming_period(schedule)
        data = await content.collect(guild_id=args.guild, start=start, end=end, timezone=schedule.timezone)
        return data, schedule, assumed

    data, schedule, assumed = on_database(
        settings, build, failed=f"digest preview failed: {{reason}} (is the database set up? `{PROG} check`)"
    )
    messages = render_digest(data, choose(data), explain=True)
    when = f"{WEEKDAY_NAMES[schedule.weekday]}s at {format_time(schedule.hour, schedule.minute)} ({schedule.timezone})"
    if assumed:
        when = f"no schedule set, so the default: {when}"
    elif not schedule.enabled:
        when = f"turned off; it was {when}"
    label = period_label(data.start, data.end, zone(schedule.timezone))
    say(f"Digest preview for server {args.guild}, the week {label} (schedule: {when})")
    for number, embeds in enumerate(messages, 1):
        say()
        if len(messages) > 1:
            say(f"--- message {number} of {len(messages)} ---")
            say()
        say("\n\n".join(embed_text(embed) for embed in embeds))
    return OK
