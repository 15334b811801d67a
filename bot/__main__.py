"""``python -m bot``: run the bot."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from bot.settings import ConfigError, Settings

log = logging.getLogger("bot")


async def run(settings: Settings) -> None:
    """Build everything from the settings and run until Discord closes the connection or a signal stops us."""
    from bot.app import PaperClub, build_services, point_at_api

    await point_at_api(settings)
    bot = PaperClub(settings, build_services(settings))
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


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    try:
        settings = Settings.load()
    except ConfigError as exc:
        print(f"paperclub: {exc}", file=sys.stderr)
        return 2
    settings.configure_logging()
    try:
        asyncio.run(run(settings))
    except Exception as exc:
        import discord

        if isinstance(exc, discord.LoginFailure):
            log.error("Discord refused the token: check DISCORD_TOKEN in .env.")
            return 1
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
