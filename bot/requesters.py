"""Whose turn an interaction's arXiv requests wait in: its server's (see :mod:`schedules.ratelimit`).

Every way a member reaches the bot sets it once, at the start: slash commands and autocomplete through
:class:`bot.tree.Tree`, buttons and forms through ``bot.errors.View`` and ``Modal``, link cards in their listener.
discord.py runs each of those in a task of its own, so the value stays with that interaction and the tasks
it starts. The scheduler's jobs run as the bot's own work through :class:`BotJobs`, whoever last changed
the schedule.
"""

from __future__ import annotations

import contextvars
from typing import Any

from apscheduler.executors.asyncio import AsyncIOExecutor

from schedules.ratelimit import requester

__all__ = ["BotJobs", "ask_as"]


def ask_as(guild_id: int | None, user_id: int) -> None:
    """From here on in this task, arXiv requests wait in this server's turn (in direct messages, the member's)."""
    requester.set(guild_id if guild_id is not None else ("member", user_id))


class BotJobs(AsyncIOExecutor):
    """Runs the scheduler's jobs as the bot's own work (the background lane of the arXiv limiter).

    The scheduler starts a job from whatever context last woke it, and a member's ``/digest schedule`` wakes it
    from that member's interaction; without this, every feed poll after it would queue as that server.
    """

    def _do_submit_job(self, job: Any, run_times: Any) -> None:
        context = contextvars.copy_context()
        context.run(requester.set, None)
        context.run(super()._do_submit_job, job, run_times)
