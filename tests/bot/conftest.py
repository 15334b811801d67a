"""The bot, started through its real entry (migrations, settings, setup_hook, command sync), against the loopback
fake Discord and the loopback arXiv."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord
import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.app import PaperClub, make_bot, point_at_api
from bot.settings import Settings
from storage.migrations import upgrade
from tests.arxiv_standin import FakeArxiv
from tests.fakediscord import DEFAULT_PERMISSIONS, FakeDiscord, Interaction, running_fake

GUILD, OTHER_GUILD = 500_000_000_000_000_001, 500_000_000_000_000_002
CHANNEL, OTHER_CHANNEL = 600_000_000_000_000_001, 600_000_000_000_000_002
ANN, BOB, MOD, OWNER = 700_000_000_000_000_001, 700_000_000_000_000_002, 700_000_000_000_000_003, 700_000_000_000_009
MANAGE_MESSAGES = 1 << 13
MANAGE_GUILD = 1 << 5


DATABASE: ContextVar[str | None] = ContextVar("DATABASE", default=None)  # the run's database for this test


@pytest.fixture(autouse=True)
def _bot_database(db_url: str) -> Iterator[None]:
    """Every bot in a test uses the test's database: SQLite, or PostgreSQL on ``--db postgresql`` runs."""
    token = DATABASE.set(db_url)
    yield
    DATABASE.reset(token)


@dataclass
class Club:
    """A running bot and the two fakes around it, with shortcuts for what members do."""

    bot: PaperClub
    discord: FakeDiscord
    arxiv: FakeArxiv

    async def run(
        self,
        command: str,
        *,
        user: int = ANN,
        guild: int = GUILD,
        channel: int | None = None,
        attachments: dict[str, dict] | None = None,
        **options: Any,
    ) -> Interaction:
        """A member runs a slash command; returns once the bot has answered and gone quiet."""
        channel = channel or (CHANNEL if guild == GUILD else OTHER_CHANNEL)
        inter = await self.discord.slash(
            command,
            guild_id=guild,
            channel_id=channel,
            user_id=user,
            options={k: v for k, v in options.items() if v is not None},
            attachments=attachments,
        )
        await inter.wait_done()
        return inter

    async def click(self, inter: Interaction, custom_id: str, *, user: int = ANN) -> Interaction:
        """A member presses a button on the message an interaction showed them."""
        message = next(m for m in reversed(inter.messages) if any(b.get("custom_id") == custom_id for b in m.buttons()))
        pressed = await self.discord.click(message, custom_id, user_id=user)
        await pressed.wait_done()
        return pressed

    async def submit(self, inter: Interaction, **sections: str) -> Interaction:
        """A member fills in and sends the note form an interaction opened."""
        values = {f"note:{name}": value for name, value in sections.items()}
        submitted = await self.discord.submit_modal(inter, values)
        await submitted.wait_done()
        return submitted

    def posted(self, channel: int = CHANNEL) -> list[Any]:
        """Messages in a channel that everyone sees."""
        return [m for m in self.discord.channel_messages(channel) if not m.ephemeral]


@asynccontextmanager
async def running_club(
    fake_arxiv: FakeArxiv, tmp_path: Path, *, allowed_intents: int | None = None, **settings: str
) -> AsyncIterator[Club]:
    """A bot started through its real entry in a server with members and a moderator, and a second server.

    ``settings`` override environment values (e.g. ``LINK_CARDS="off"``); ``allowed_intents`` is what the
    developer portal lets the bot have.
    """
    async with running_fake() as fake:
        fake.allowed_intents = allowed_intents
        for guild, channel in ((GUILD, CHANNEL), (OTHER_GUILD, OTHER_CHANNEL)):
            fake.add_guild(guild, owner_id=OWNER)
            fake.add_channel(guild, channel, name="papers")
            fake.add_member(guild, OWNER, name="owner")
            fake.add_member(guild, ANN, name="ann")
            fake.add_member(guild, BOB, name="bob")
            fake.add_member(guild, MOD, name="mod", permissions=DEFAULT_PERMISSIONS | MANAGE_MESSAGES | MANAGE_GUILD)
        async with bot_on(fake, fake_arxiv, tmp_path, **settings) as club:
            yield club


@asynccontextmanager
async def bot_on(fake: FakeDiscord, fake_arxiv: FakeArxiv, tmp_path: Path, **settings: str) -> AsyncIterator[Club]:
    """The bot, started on an existing fake Discord with its database under ``tmp_path``; run it again to restart."""
    saved = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
    fake.ready.clear()
    config = Settings.from_mapping(
        {
            "DISCORD_TOKEN": fake.token,
            "DISCORD_API_BASE": fake.api_base,
            "DATABASE_URL": DATABASE.get() or f"sqlite:///{tmp_path}/data/paperclub.db",
            "ARXIV_API_BASE": fake_arxiv.url,
            "ARXIV_MIN_INTERVAL": "0.01",
            "METADATA_RETRY_INTERVAL": "0",
            "FEED_POST_PAUSE": "0",
            "HEARTBEAT_FILE": f"{tmp_path}/heartbeat",
            **settings,
        }
    )
    await upgrade(config.database_url)  # what `python -m bot` does before it builds the bot (bot/cli/run.py)
    await point_at_api(config)
    bot = make_bot(config)
    task = asyncio.create_task(bot.start(config.discord_token))
    ready = asyncio.create_task(fake.ready.wait())
    await asyncio.wait({task, ready}, timeout=15, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
    assert ready.done(), "the bot did not connect to the fake Discord"
    try:
        yield Club(bot=bot, discord=fake, arxiv=fake_arxiv)
        assert fake.rejected == [], f"Discord would have refused: {fake.rejected}"
        assert fake.unknown_requests == [], fake.unknown_requests
        assert not fake.internal_errors, fake.internal_errors
    finally:
        await bot.close()
        try:
            await asyncio.wait_for(task, 10)
        except (discord.ConnectionClosed, asyncio.CancelledError):
            pass
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = saved


@pytest.fixture
async def club(fake_arxiv: FakeArxiv, tmp_path: Path) -> AsyncIterator[Club]:
    """A running bot in a server with three members and a moderator."""
    async with running_club(fake_arxiv, tmp_path) as club:
        yield club
