"""The command tree: a burst of commands starts a few each pass of the event loop, in the order they came."""

from __future__ import annotations

import asyncio
from typing import Any

import discord

from bot.tree import Tree
from tests.bot.conftest import ANN, BOB, CHANNEL, GUILD, MOD, OWNER, Club


async def test_a_burst_starts_a_few_commands_each_pass_of_the_loop_in_order() -> None:
    passes = 0
    started: list[tuple[int, int]] = []  # (the command, the loop pass it started in)

    class Recording(Tree):
        async def _call(self, interaction: Any) -> None:  # what discord.py runs in each command's task
            started.append((interaction, passes))

    async def count_passes() -> None:
        nonlocal passes
        while len(started) < 10:
            await asyncio.sleep(0)
            passes += 1

    async with discord.Client(intents=discord.Intents.none()) as client:
        tree = Recording(client)
        counter = asyncio.create_task(count_passes())
        for command in range(10):  # all read from the gateway in one go
            tree._from_interaction(command)  # type: ignore[arg-type]
        await asyncio.wait_for(counter, timeout=5)

    assert [command for command, _ in started] == list(range(10))
    per_pass: dict[int, int] = {}
    for _, at in started:
        per_pass[at] = per_pass.get(at, 0) + 1
    assert max(per_pass.values()) <= Tree.STARTS_PER_PASS
    assert len(per_pass) == 3  # 4 + 4 + 2


async def test_every_command_of_a_burst_is_answered(club: Club) -> None:
    members = [ANN, BOB, MOD, OWNER] * 3
    sent = [
        await club.discord.slash("stats", guild_id=GUILD, channel_id=CHANNEL, user_id=m, options={}) for m in members
    ]
    await asyncio.gather(*(inter.wait_done() for inter in sent))
    for inter in sent:
        assert inter.messages, "a command of the burst was never answered"
        assert "No notes in this server yet" in inter.original.embeds[0]["description"]


async def test_commands_left_waiting_when_the_bot_closes_are_dropped_and_the_loop_is_told_no_error() -> None:
    started: list[Any] = []
    errors: list[dict[str, Any]] = []

    class Recording(Tree):
        async def _call(self, interaction: Any) -> None:
            started.append(interaction)

    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: errors.append(context))
    try:
        async with discord.Client(intents=discord.Intents.none()) as client:
            tree = Recording(client)
            for command in range(10):  # a burst read just before the bot stops
                tree._from_interaction(command)  # type: ignore[arg-type]
        for _ in range(10):  # passes of the loop after the client closed
            await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    assert errors == []
    assert len(started) < 10 and not tree._arrived  # what was left waiting is let go
    assert started == list(range(len(started)))
