"""Selftest for members' reactions in the fake Discord: the events a real discord.py client hears, as Discord sends
them (once per member and emoji, the member attached in a server, only with the reactions intent)."""

from __future__ import annotations

import asyncio

import discord
import pytest
from discord.ext import commands

from tests.fakediscord import FakeDiscord, connect_bot, disconnect_bot, running_fake

GUILD, CHANNEL, ALICE, BOB, MUTED = 3100, 3200, 3300, 3301, 3302


@pytest.fixture
async def fake():
    async with running_fake() as fake:
        fake.add_guild(GUILD, owner_id=BOB)
        fake.add_channel(GUILD, CHANNEL, name="papers")
        fake.add_member(GUILD, ALICE, name="alice")
        fake.add_member(GUILD, BOB, name="bob")
        fake.add_member(
            GUILD,
            MUTED,
            name="muted",
            permissions=discord.Permissions(view_channel=True, read_message_history=True).value,
        )
        yield fake


def listening(intents: discord.Intents) -> tuple[commands.Bot, list[discord.RawReactionActionEvent]]:
    bot = commands.Bot(command_prefix="!", intents=intents)
    heard: list[discord.RawReactionActionEvent] = []

    async def added(payload: discord.RawReactionActionEvent) -> None:
        heard.append(payload)

    async def removed(payload: discord.RawReactionActionEvent) -> None:
        heard.append(payload)

    bot.add_listener(added, "on_raw_reaction_add")
    bot.add_listener(removed, "on_raw_reaction_remove")
    return bot, heard


async def heard_count(heard: list, count: int) -> None:
    for _ in range(100):
        if len(heard) >= count:
            return
        await asyncio.sleep(0.02)


async def test_member_reactions_reach_a_bot_with_the_intent(fake: FakeDiscord) -> None:
    intents = discord.Intents.none()
    intents.guilds = intents.guild_reactions = True
    bot, heard = listening(intents)
    task = await connect_bot(bot, fake)
    try:
        message = await fake.post_message(CHANNEL, user_id=BOB, content="https://arxiv.org/abs/1706.03762")
        await fake.react(message, "📌", user_id=ALICE)
        await fake.react(message, "📌", user_id=ALICE)  # again: Discord changes nothing and sends nothing
        await fake.react(message, "📌", user_id=BOB)
        await heard_count(heard, 2)
        await fake.settle()
        assert [(p.event_type, p.user_id, str(p.emoji)) for p in heard] == [
            ("REACTION_ADD", ALICE, "📌"),
            ("REACTION_ADD", BOB, "📌"),
        ]
        first = heard[0]
        assert first.guild_id == GUILD and first.channel_id == CHANNEL and first.message_id == message.id
        assert first.member is not None and first.member.id == ALICE and first.member.name == "alice"
        assert first.message_author_id == BOB
        assert message.reactions == ["📌"] and message.reactors == {"📌": [ALICE, BOB]}

        await fake.unreact(message, "📌", user_id=ALICE)
        await fake.react(message, "📌", user_id=ALICE)  # taken back, then again: a new reaction
        await heard_count(heard, 4)
        assert [(p.event_type, p.user_id) for p in heard[2:]] == [("REACTION_REMOVE", ALICE), ("REACTION_ADD", ALICE)]
        assert heard[2].member is None  # Discord sends no member with a removal

        with pytest.raises(AssertionError, match="may not react"):  # a new emoji needs Add Reactions
            await fake.react(message, "👍", user_id=MUTED)
        await fake.react(message, "📌", user_id=MUTED)  # joining an existing one does not

        await bot.get_channel(CHANNEL).get_partial_message(message.id).add_reaction("✅")  # the bot's own
        await heard_count(heard, 6)
        assert heard[-1].user_id == fake.bot_user_id and message.reactors["✅"] == [fake.bot_user_id]
    finally:
        await disconnect_bot(bot, task)
    assert fake.rejected == [] and fake.internal_errors == []


async def test_a_bot_without_the_reactions_intent_hears_none(fake: FakeDiscord) -> None:
    intents = discord.Intents.none()
    intents.guilds = intents.guild_messages = True
    bot, heard = listening(intents)
    task = await connect_bot(bot, fake)
    try:
        message = await fake.post_message(CHANNEL, user_id=BOB, content="a paper")
        await fake.react(message, "📌", user_id=ALICE)
        await fake.settle()
        assert heard == [] and message.reactors == {"📌": [ALICE]}
        assert fake.dispatched("MESSAGE_REACTION_ADD")  # sent, but not to a bot that did not ask
    finally:
        await disconnect_bot(bot, task)
