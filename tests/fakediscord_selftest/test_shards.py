"""Selftest for sharding in the fake Discord: several gateway sessions, each getting only its shard's guilds."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp
import discord
import pytest
from discord.ext import commands

from tests.fakediscord import FakeDiscord, connect_bot, disconnect_bot, running_fake, shard_of

# snowflakes whose (id >> 22) % 2 puts two guilds on each of two shards
GUILDS = [(1_000_000 + i) << 22 | 77 for i in range(4)]
CHANNELS = {g: 5000 + i for i, g in enumerate(GUILDS)}
ALICE = 4242
SHARD0 = [g for g in GUILDS if shard_of(g, 2) == 0]
SHARD1 = [g for g in GUILDS if shard_of(g, 2) == 1]


class ShardBot(commands.Bot):
    """A process running one shard; answers /where with its name and records what reached it."""

    def __init__(self, name: str, **shard: int) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        super().__init__(command_prefix="!", intents=intents, **shard)
        self.name = name
        self.heard: list[int | None] = []  # guild ids of the /where interactions it handled
        self.messages: list[str] = []
        bot = self

        @self.tree.command(name="where", description="Which process answers")
        async def where(interaction: discord.Interaction) -> None:
            bot.heard.append(interaction.guild_id)
            await interaction.response.send_message(f"{bot.name} on shard {bot.shard_id_for(interaction.guild_id)}")

    def shard_id_for(self, guild_id: int | None) -> int | None:
        return None if guild_id is None or self.shard_count is None else shard_of(guild_id, self.shard_count)

    async def setup_hook(self) -> None:
        await self.tree.sync()

    async def on_message(self, message: discord.Message) -> None:
        if message.author.id != self.user.id:
            self.messages.append(message.content)


class AutoBot(commands.AutoShardedBot):
    def __init__(self, **kwargs) -> None:
        super().__init__(command_prefix="!", intents=discord.Intents.default(), **kwargs)
        self.heard: list[tuple[int | None, int | None]] = []
        bot = self

        @self.tree.command(name="where", description="Which shard answers")
        async def where(interaction: discord.Interaction) -> None:
            shard = interaction.guild.shard_id if interaction.guild is not None else None
            bot.heard.append((interaction.guild_id, shard))
            await interaction.response.send_message(f"auto on shard {shard}")

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        return  # discord.py waits 5 s between shard IDENTIFYs; the fake has no identify rate limit

    async def setup_hook(self) -> None:
        await self.tree.sync()


@pytest.fixture
async def fake():
    async with running_fake() as fake:
        for guild in GUILDS:
            fake.add_guild(guild, owner_id=ALICE)
            fake.add_channel(guild, CHANNELS[guild], name="papers")
            fake.add_member(guild, ALICE, name="alice")
        yield fake
        assert fake.internal_errors == []
        assert fake.rejected == [] and fake.unknown_requests == []


async def eventually(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:  # noqa: ASYNC109
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() >= deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.02)


def guild_ids(bot: discord.Client) -> set[int]:
    return {g.id for g in bot.guilds}


async def where(fake: FakeDiscord, guild: int) -> str:
    inter = await fake.slash("where", guild_id=guild, channel_id=CHANNELS[guild], user_id=ALICE)
    await inter.wait_done()
    return inter.original.content


def test_guild_ids_land_on_both_shards():
    assert len(SHARD0) == 2 and len(SHARD1) == 2


async def test_two_processes_each_get_only_their_shard(fake: FakeDiscord):
    first = ShardBot("first", shard_id=0, shard_count=2)
    second = ShardBot("second", shard_id=1, shard_count=2)
    running: dict[ShardBot, asyncio.Task] = {}
    running[first] = await connect_bot(first, fake)
    running[second] = await connect_bot(second, fake)
    try:
        await fake.shards_ready(2)
        assert fake.sessions == [(0, 2), (1, 2)]
        assert fake.guilds_on_shard(0, 2) == SHARD0 and fake.guilds_on_shard(1, 2) == SHARD1
        readies = {tuple(r["shard"]): {int(g["id"]) for g in r["guilds"]} for r in fake.dispatched("READY")}
        assert readies == {(0, 2): set(SHARD0), (1, 2): set(SHARD1)}
        await eventually(lambda: guild_ids(first) == set(SHARD0), "the first process sees shard 0's guilds")
        await eventually(lambda: guild_ids(second) == set(SHARD1), "the second process sees shard 1's guilds")

        # interactions reach only the process owning the guild
        for guild in GUILDS:
            owner = "first" if guild in SHARD0 else "second"
            assert await where(fake, guild) == f"{owner} on shard {shard_of(guild, 2)}"
        assert first.heard == SHARD0 and second.heard == SHARD1

        # guild messages go to the owning shard, DMs to shard 0
        await fake.post_message(CHANNELS[SHARD1[0]], user_id=ALICE, content="for shard one")
        await fake.post_message(fake.open_dm(ALICE), user_id=ALICE, content="a DM")
        await eventually(lambda: second.messages == ["for shard one"], "the guild message reaches shard 1")
        await eventually(lambda: first.messages == ["a DM"], "the DM reaches shard 0")
        await fake.settle()
        assert first.messages == ["a DM"] and second.messages == ["for shard one"]

        # a new channel (CHANNEL_CREATE) appears only in the owning process
        fake.add_channel(SHARD0[1], 6000, name="new")
        await eventually(lambda: first.get_channel(6000) is not None, "CHANNEL_CREATE reaches shard 0")
        assert second.get_channel(6000) is None

        # RESUME is per session: shard 1 resumes, shard 0 keeps its socket
        first_ws, second_session = first.ws, second.ws.session_id
        await fake.request_reconnect(shard_id=1)
        assert fake.dispatched("RESUMED") == [{}]
        assert second.ws.session_id == second_session and first.ws is first_ws
        assert len(fake.dispatched("READY")) == 2
        assert await where(fake, SHARD1[1]) == "second on shard 1"

        # the first process dies: the second carries on, shard 0's events are dropped
        await disconnect_bot(first, running.pop(first))
        await eventually(lambda: fake.sessions == [(1, 2)], "only shard 1 stays connected")
        assert fake.connected
        assert await where(fake, SHARD1[0]) == "second on shard 1"
        lost = await fake.slash("where", guild_id=SHARD0[0], channel_id=CHANNELS[SHARD0[0]], user_id=ALICE)
        with pytest.raises(AssertionError, match="never answered"):
            await lost.wait_done(timeout=0.5)
        await fake.post_message(CHANNELS[SHARD0[0]], user_id=ALICE, content="nobody hears this")
        assert ("INTERACTION_CREATE", SHARD0[0]) in fake.dropped
        assert ("MESSAGE_CREATE", SHARD0[0]) in fake.dropped
        await fake.settle()
        assert second.heard == [*SHARD1, SHARD1[1], SHARD1[0]]
        assert second.messages == ["for shard one"]

        # a new process for shard 0 gets its guilds again (and not what was dropped meanwhile)
        revived = ShardBot("revived", shard_id=0, shard_count=2)
        running[revived] = await connect_bot(revived, fake)
        await fake.shards_ready(2)
        assert fake.sessions == [(0, 2), (1, 2)]
        await eventually(lambda: guild_ids(revived) == set(SHARD0), "the new shard 0 process sees its guilds")
        assert await where(fake, SHARD0[0]) == "revived on shard 0"
        assert await where(fake, SHARD1[0]) == "second on shard 1"
        assert revived.messages == []
        assert lost.response_type is None
    finally:
        for bot, task in running.items():
            await disconnect_bot(bot, task)
    await eventually(lambda: not fake.connected and fake.sessions == [], "every session closed")


async def test_identifying_a_shard_again_replaces_its_session(fake: FakeDiscord):
    old = ShardBot("old", shard_id=1, shard_count=2)
    old_task = await connect_bot(old, fake)
    new = ShardBot("new", shard_id=1, shard_count=2)
    new_task = None
    try:
        await fake.shards_ready(2, shard_ids=[1])
        new_task = await connect_bot(new, fake)
        await eventually(lambda: guild_ids(new) == set(SHARD1), "the new session gets shard 1's guilds")
        assert fake.sessions == [(1, 2)]
        assert await where(fake, SHARD1[0]) == "new on shard 1"
        assert old.heard == []
        # nothing connected for shard 0: its guilds' events are dropped, not sent to shard 1
        lost = await fake.slash("where", guild_id=SHARD0[0], channel_id=CHANNELS[SHARD0[0]], user_id=ALICE)
        assert ("INTERACTION_CREATE", SHARD0[0]) in fake.dropped
        assert lost.response_type is None
    finally:
        if new_task is not None:
            await disconnect_bot(new, new_task)
        await disconnect_bot(old, old_task)


async def test_auto_sharded_bot_in_one_process_sees_every_guild(fake: FakeDiscord):
    bot = AutoBot(shard_count=2)
    task = await connect_bot(bot, fake)
    try:
        await fake.shards_ready(2)
        assert fake.sessions == [(0, 2), (1, 2)]
        await eventually(lambda: guild_ids(bot) == set(GUILDS), "the sharded bot sees all four guilds")
        for guild in GUILDS:
            assert bot.get_guild(guild).shard_id == shard_of(guild, 2)
            assert await where(fake, guild) == f"auto on shard {shard_of(guild, 2)}"
        assert bot.heard == [(g, shard_of(g, 2)) for g in GUILDS]
        assert fake.dropped == []
    finally:
        await disconnect_bot(bot, task)


async def test_auto_sharded_bot_uses_the_recommended_shard_count(fake: FakeDiscord):
    fake.recommended_shards = 2
    bot = AutoBot()
    task = await connect_bot(bot, fake)
    try:
        await fake.shards_ready(2)
        assert bot.shard_count == 2
        await eventually(lambda: guild_ids(bot) == set(GUILDS), "the sharded bot sees all four guilds")
        assert await where(fake, SHARD1[0]) == "auto on shard 1"
    finally:
        await disconnect_bot(bot, task)


async def test_a_plain_bot_is_shard_zero_of_one(fake: FakeDiscord):
    bot = ShardBot("plain")
    task = await connect_bot(bot, fake)
    try:
        await fake.shards_ready(1)
        assert fake.sessions == [(0, 1)]
        assert fake.ready.is_set()
        await eventually(lambda: guild_ids(bot) == set(GUILDS), "the plain bot sees all four guilds")
        assert "shard" not in fake.dispatched("READY")[0]
    finally:
        await disconnect_bot(bot, task)
    await eventually(lambda: not fake.ready.is_set(), "ready is cleared once the bot is gone")


@pytest.mark.parametrize("shard", [[2, 2], [0, 0], [-1, 2], [0], "0,1"])
async def test_invalid_shard_is_refused(fake: FakeDiscord, shard: object):
    async with aiohttp.ClientSession() as http, http.ws_connect(fake.gateway_url) as ws:
        hello = await ws.receive_json()
        assert hello["op"] == 10
        await ws.send_json({"op": 2, "d": {"token": fake.token, "intents": 1, "shard": shard}})
        msg = await ws.receive()
        assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4010
    assert fake.sessions == []
