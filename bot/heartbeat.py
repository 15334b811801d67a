"""The bot's heartbeat: a file touched every 30 seconds while the bot runs, read by ``python -m bot health``.

The file's modification time is the heartbeat (its content, the time as text, is for people). It is touched
once when the bot is ready and then by a scheduler job, so a stale file means that the bot never became
ready, stopped, or has an event loop too blocked to run its jobs. Writing goes through a thread: the event
loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bot.files import write_whole
from storage.sqlite_files import sqlite_file

if TYPE_CHECKING:  # ``python -m bot health`` reads the heartbeat without loading discord.py
    from apscheduler.schedulers.base import BaseScheduler
    from discord.ext import commands

log = logging.getLogger(__name__)

JOB_ID = "heartbeat"
INTERVAL = 30.0  # seconds between two touches
MAX_AGE = 90.0  # seconds: ``health`` calls a heartbeat older than this stale (three missed touches)
DEFAULT_FILE = "./data/heartbeat"

__all__ = [
    "DEFAULT_FILE",
    "INTERVAL",
    "JOB_ID",
    "MAX_AGE",
    "age",
    "beat",
    "default_file",
    "start",
    "touch",
]


def default_file(database_url: str) -> str:
    """Where the heartbeat goes when HEARTBEAT_FILE is not set: next to the SQLite database file when there
    is one (a folder the bot writes to anyway), else ``./data/heartbeat``."""
    database = sqlite_file(database_url)
    return str(database.parent / "heartbeat") if database else DEFAULT_FILE


def touch(path: str | Path) -> None:
    """Record a heartbeat now, creating the file's folder if needed (blocking: run it in a thread)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A new file each time, moved in place: its modification time is the heartbeat's, and once the file is
    # there the heartbeat is recorded (nothing touches it after).
    write_whole(path, f"{time.time():.0f}\n".encode())


def age(path: str | Path, *, now: float | None = None) -> float | None:
    """Seconds since the last heartbeat, or None when there has been none."""
    try:
        modified = Path(path).stat().st_mtime
    except FileNotFoundError:
        return None
    return max(0.0, (time.time() if now is None else now) - modified)


class _Beater:
    """Touches the file off the event loop; says once when it can't, and once when it can again."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.failing = False

    async def beat(self) -> None:
        try:
            await asyncio.to_thread(touch, self.path)
        except OSError as exc:
            if not self.failing:
                log.warning("can't write the heartbeat file %s (health checks will fail): %s", self.path, exc)
            self.failing = True
        else:
            if self.failing:
                log.info("the heartbeat file %s is written again", self.path)
            self.failing = False


async def beat(path: str | Path) -> None:
    """One heartbeat, off the event loop; a failure to write is logged, never raised."""
    await _Beater(path).beat()


def start(bot: commands.Bot, scheduler: BaseScheduler, path: str | Path) -> None:
    """Touch the file at ``path`` when the bot is ready and every 30 seconds after, as the scheduler job
    ``heartbeat``. Call from ``setup_hook``, before the scheduler starts or after."""
    beater = _Beater(path)

    async def on_ready() -> None:
        await beater.beat()

    async def job() -> None:
        if bot.is_ready() and not bot.is_closed():
            await beater.beat()

    bot.add_listener(on_ready, "on_ready")
    scheduler.add_job(
        job,
        "interval",
        seconds=INTERVAL,
        id=JOB_ID,
        replace_existing=True,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=int(INTERVAL),
    )
