"""Helpers to run a real discord.py client against FakeDiscord."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from .server import FakeDiscord

# Route.BASE and DEFAULT_GATEWAY are process-wide, so only one fake can serve bots at a time.
_patch_depth = 0
_originals: tuple[str, yarl.URL] | None = None


def _patch_globals(fake: FakeDiscord) -> None:
    global _patch_depth, _originals
    if _patch_depth == 0:
        _originals = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
    _patch_depth += 1
    Route.BASE = fake.api_base
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)


def _restore_globals() -> None:
    global _patch_depth, _originals
    if _patch_depth == 0:
        return
    _patch_depth -= 1
    if _patch_depth == 0 and _originals is not None:
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = _originals
        _originals = None


async def connect_bot(bot: discord.Client, fake: FakeDiscord, *, timeout: float = 10.0) -> asyncio.Task:  # noqa: ASYNC109 - public API takes a timeout
    """Point discord.py at the fake, log in (runs setup_hook, so command sync), connect, wait for READY.

    Returns the task running `bot.connect()`; pass it to disconnect_bot(). The discord.py globals stay patched
    until disconnect_bot() restores them.
    """
    _patch_globals(fake)
    try:
        if not fake.connected:
            fake.ready.clear()
        await bot.login(fake.token)
        task = asyncio.create_task(bot.connect(reconnect=False), name="fakediscord-bot-connect")
        ready = asyncio.create_task(fake.ready.wait())
        done, _ = await asyncio.wait({task, ready}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            if task in done:
                task.result()  # raises the client's error, if any
                raise AssertionError("bot stopped before the fake sent READY")
            task.cancel()
            raise AssertionError(f"bot did not connect to the fake gateway within {timeout}s")
    except BaseException:
        with contextlib.suppress(Exception):
            await bot.close()
        _restore_globals()
        raise
    return task


async def disconnect_bot(bot: discord.Client, task: asyncio.Task, *, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - public API takes a timeout
    """Close the bot, wait for its connect task, restore discord.py's globals."""
    try:
        await bot.close()
        try:
            await asyncio.wait_for(task, timeout)
        except (discord.ConnectionClosed, asyncio.CancelledError):
            pass
    finally:
        _restore_globals()


@contextlib.asynccontextmanager
async def running_fake(**kwargs: Any) -> AsyncIterator[FakeDiscord]:
    """`async with running_fake() as fake:` starts a FakeDiscord on a free loopback port and closes it after."""
    fake = FakeDiscord(**kwargs)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


@contextlib.asynccontextmanager
async def connected_bot(
    bot: discord.Client,
    fake: FakeDiscord,
    *,
    timeout: float = 10.0,  # noqa: ASYNC109 - public API takes a timeout
) -> AsyncIterator[discord.Client]:
    """`async with connected_bot(bot, fake):` = connect_bot() ... disconnect_bot()."""
    task = await connect_bot(bot, fake, timeout=timeout)
    try:
        yield bot
    finally:
        await disconnect_bot(bot, task)
