"""``run``: the bot itself, until Discord closes the connection or a signal stops it."""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import ExitStack
from typing import TYPE_CHECKING

from bot.cli.base import FAILED, OK, database_label, load_settings, reason, scrub

if TYPE_CHECKING:
    import argparse

    from bot.settings import Settings

log = logging.getLogger("bot")


class StartupError(Exception):
    """The bot can't start; the message is one line for the log."""


async def run_bot(settings: Settings) -> None:
    """Claim the database (a SQLite file takes one bot process), apply migrations (in a process of their own:
    bot/cli/schema.py), build everything from the settings, and run until Discord closes the connection or a
    signal stops us."""
    from storage.sqlite_files import DatabaseInUse, only_process_on

    with ExitStack() as held:
        try:
            held.enter_context(only_process_on(settings.database_url))
        except DatabaseInUse as exc:
            raise StartupError(str(exc)) from None
        await _run_claimed(settings)


async def _run_claimed(settings: Settings) -> None:
    import aiohttp

    from bot.cli.schema import MigrationFailed, upgrade_apart

    try:
        status = await upgrade_apart(settings.database_url)  # before the bot loads anything heavy
    except MigrationFailed as exc:
        raise StartupError(
            f"could not apply the database migrations to {database_label(settings.database_url)}: {exc}"
        ) from None
    log.info("database schema at revision %s", status.current)

    from bot.app import make_bot, point_at_api

    try:
        await point_at_api(settings)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise StartupError(f"could not reach the Discord API at {settings.discord_api_base}: {reason(exc)}") from exc
    bot = make_bot(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with bot:
        runner = asyncio.create_task(bot.start(settings.discord_token))
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            log.info("shutting down")
            await bot.close()
        stopper.cancel()
        await runner


def cmd_run(args: argparse.Namespace | None = None) -> int:
    """Run the bot (``python -m bot`` alone parses no command line: ``args`` is None)."""
    settings = load_settings(require_token=True)
    settings.configure_logging()
    try:
        asyncio.run(run_bot(settings))
    except StartupError as exc:
        log.error("%s", scrub(str(exc)))
        return FAILED
    except Exception as exc:
        import discord

        if isinstance(exc, discord.LoginFailure):
            log.error("Discord refused the token: check DISCORD_TOKEN in .env.")
            return FAILED
        raise
    return OK
