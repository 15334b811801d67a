"""Idle memory of the bot process, side by side with a bare discord.py client started the same way.

Each runs as its own process (``python -m bot``, and ``python -m bench.idle_memory bare``: a ``commands.Bot`` with
no cogs and the bot's intents) against a fresh loopback Discord with the same servers, connects, settles, and
has its resident memory read.
Budget (PRODUCT.md): the bot at most 1.5× the bare client.

A third process (``python -m bench.idle_memory floor``) is the bare client again, having first imported the
libraries the bot is built on (``STACK``: SQLAlchemy's ORM and asyncio extension with the SQLite driver,
SQLModel, APScheduler, aiosqlite, filelock) and nothing of the bot's own: the least any bot on that stack holds.
All three start the same way (the same interpreter and flags, the same environment).

    .venv/bin/python -m bench.idle_memory
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from discord.ext import commands

ROOT = Path(__file__).resolve().parents[1]
GUILDS = 25
SETTLE = 5.0  # seconds after READY: guilds cached, jobs scheduled, commands synced
BUDGET = 1.5
STACK = (
    "sqlalchemy.orm",
    "sqlalchemy.ext.asyncio",
    "sqlalchemy.dialects.sqlite.aiosqlite",
    "sqlmodel",
    "sqlmodel.ext.asyncio.session",
    "apscheduler.schedulers.asyncio",
    "aiosqlite",
    "filelock",
)


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def idle_rss(args: Sequence[str]) -> float:
    """Start ``python <args>`` against a fresh loopback Discord; its resident memory once connected and settled."""
    from tests.fakediscord import running_fake

    async with running_fake() as fake:
        for g in range(GUILDS):
            fake.add_guild(10_000 + g, owner_id=1)
            fake.add_channel(10_000 + g, 20_000 + g)
        with tempfile.TemporaryDirectory() as tmp:
            env = {
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "DISCORD_TOKEN": fake.token,
                "DISCORD_API_BASE": fake.api_base,
                "LOG_LEVEL": "WARNING",
            }
            proc = await asyncio.create_subprocess_exec(sys.executable, *args, cwd=tmp, env=env)
            try:
                await asyncio.wait_for(fake.ready.wait(), 30)
                await asyncio.sleep(SETTLE)
                return rss_mb(proc.pid)
            finally:
                proc.terminate()
                await proc.wait()


async def bare_client(prepare: Callable[[commands.Bot], None] | None = None) -> None:
    """A discord.py client with no cogs and the bot's intents, pointed at DISCORD_API_BASE the way the bot is;
    ``prepare`` may add to it before it connects (bench/burst.py gives it one command)."""
    import aiohttp
    import discord
    import yarl
    from discord.ext import commands

    base, token = os.environ["DISCORD_API_BASE"], os.environ["DISCORD_TOKEN"]
    discord.http.Route.BASE = base
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{base}/gateway/bot", headers={"Authorization": f"Bot {token}"}) as answer,
    ):
        gateway = (await answer.json(content_type=None))["url"]
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)
    intents = discord.Intents.none()
    intents.guilds = intents.guild_messages = intents.message_content = True  # the bot's, link cards on
    client = commands.Bot(command_prefix=commands.when_mentioned, intents=intents)
    if prepare is not None:
        prepare(client)
    async with client:
        await client.start(token)


async def floor_client() -> None:
    """The bare client, having imported the bot's libraries first."""
    import importlib

    for name in STACK:
        importlib.import_module(name)
    await bare_client()


async def main() -> None:
    bot = await idle_rss(["-m", "bot"])
    bare = await idle_rss(["-m", "bench.idle_memory", "bare"])
    floor = await idle_rss(["-m", "bench.idle_memory", "floor"])
    print(f"idle RSS in {GUILDS} servers: python -m bot {bot:.1f} MB, a bare discord.py client {bare:.1f} MB")
    print(f"  the bare client with the bot's libraries imported: {floor:.1f} MB ({floor / bare:.2f}x)")
    print("  (each started as `python -m ...`: the same interpreter, no flags, the same environment)")
    verdict = "within" if bot <= BUDGET * bare else "over"
    print(f"ratio: {bot / bare:.2f}x   (budget: <= {BUDGET}x a bare discord.py client: {verdict})")


if __name__ == "__main__":
    mode = sys.argv[1:]
    asyncio.run(bare_client() if mode == ["bare"] else floor_client() if mode == ["floor"] else main())
