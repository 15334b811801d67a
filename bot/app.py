"""The bot: services built on its client, cogs loaded from an explicit list, commands synced, clean shutdown."""

from __future__ import annotations

import gc
import logging
from typing import Any

import aiohttp
import discord
import yarl
from discord.ext import commands

from bot import heartbeat
from bot.cogs import load_cogs
from bot.errors import install_error_handler
from bot.services import build_services
from bot.settings import Settings
from bot.tree import Tree
from schedules.jobs import (
    CHECK_VERSIONS_LEASE,
    NOTICES_LEASE,
    POLL_LEASE,
    poll_feeds_now,
    post_notices_now,
    register_jobs,
    watch_imports,
)
from schedules.reminders import watch_reminders

log = logging.getLogger(__name__)


class PaperClub(commands.Bot):
    """The reading group's bot, on one gateway connection (see :class:`ShardedPaperClub` for more)."""

    def __init__(self, settings: Settings, **sharding: Any) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_reactions = True  # a 📌 on a message proposes its paper for the reading queue
        # Link cards read what members post: message content is a privileged intent, asked for only for them.
        intents.guild_messages = intents.message_content = settings.link_cards
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            max_messages=None,  # nothing reads old messages back; with link cards on, a cache only costs memory
            tree_cls=Tree,  # commands start a few at a time, each asking arXiv in its server's turn
            **sharding,
        )
        self.settings = settings
        # The client first, then the Discord adapters on it, then the services that post through them.
        self.services = build_services(settings, self)
        self._stopping = False
        self._frozen = False

    async def setup_hook(self) -> None:
        """Load the cogs, start the jobs and sync the commands (the database is migrated before: bot/cli/run.py)."""
        await self.services.arxiv.start()
        await self.services.feeds.checker.start()
        install_error_handler(self.tree)
        await load_cogs(self, self.services, self.settings)
        register_jobs(
            self.services.scheduler,
            papers=self.services.papers,
            poller=self.services.feeds.poller,
            settings=self.settings,
            leases=self.services.leases,  # several processes on one database: one polls at a time
            titles=self.services.imports.resolver,
            versions=self.services.versions,
        )
        # Touches HEARTBEAT_FILE when ready and every 30 s, for `python -m bot health`.
        heartbeat.start(self, self.services.scheduler, self.settings.heartbeat_file)
        self.services.scheduler.start()
        await self.sync_commands()

    async def sync_commands(self) -> None:
        """Sync to the development server when set (instant), else globally (may take up to an hour)."""
        if self.settings.dev_guild_id:
            guild = discord.Object(self.settings.dev_guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to guild=%s", len(synced), self.settings.dev_guild_id)
        else:
            synced = await self.tree.sync()
            log.info("synced %d commands globally", len(synced))

    async def connect(self, *, reconnect: bool = True) -> None:
        """Stay connected to Discord; if it refuses the Message Content intent, carry on without link cards."""
        try:
            await super().connect(reconnect=reconnect)
        except discord.PrivilegedIntentsRequired:
            intents = self._connection._intents
            if not intents.message_content or self.is_closed():  # a sharded client has closed itself by now
                raise
            log.warning(
                "Discord refused the Message Content intent, so link cards are off. To have them, enable "
                "Bot → Privileged Gateway Intents → Message Content Intent in the developer portal and restart; "
                "to run without them and without this warning, set LINK_CARDS=off."
            )
            intents.guild_messages = intents.message_content = False
            await super().connect(reconnect=reconnect)

    async def on_ready(self) -> None:
        """Log who the bot is and where it is; settle long-lived objects out of the collector's way."""
        if not self._frozen:
            # A cycle at once: deliveries a stopped process left pending are settled now that channels can be read.
            poll_feeds_now(self.services.scheduler)
            # Version notices a stopped process claimed are settled (looked for, then sent) now too.
            post_notices_now(self.services.scheduler)
            # Imports a stopped process left half-applied are rolled back, now and every minute; members are told.
            watch_imports(
                self.services.scheduler,
                imports=self.services.imports.importer,
                told=self.services.imports.progress,
            )
            # Every group's digest job is rebuilt from its schedule; weeks missed while down are settled.
            self.services.scheduler.add_job(
                self.services.digests.runner.start,
                id="digests:start",
                replace_existing=True,
            )
            # Reading-session reminders, every minute; claims a stopped process left are settled first.
            watch_reminders(self.services.scheduler, self.services.reading.reminders)
            # Objects made at start-up live as long as the process; freezing them keeps full collections
            # (tens of ms with them, a few ms without) from stalling the event loop later (bench/notes.py).
            gc.freeze()
            self._frozen = True
        log.info("online as %s (id=%s) in %d servers", self.user, self.user and self.user.id, len(self.guilds))

    async def close(self) -> None:
        """Stop the jobs and the arXiv client, disconnect, then close the database. Safe to call twice."""
        if self._stopping:
            await super().close()
            return
        self._stopping = True
        # Stopped while discord.py still waits for the servers before announcing ready: that wait would announce it
        # after the client is closed, into no event loop. (discord.py keeps the wait as a private task.)
        waiting = getattr(self._connection, "_ready_task", None)
        if waiting is not None:
            waiting.cancel()
        if self.services.scheduler.running:
            self.services.scheduler.shutdown(wait=False)
        for lease in (POLL_LEASE, NOTICES_LEASE, CHECK_VERSIONS_LEASE):
            try:
                await self.services.leases.release(lease)  # another process may poll, post or check, at once
            except Exception:
                log.warning("could not give back the %s lease; it expires by itself", lease, exc_info=True)
        await self.services.arxiv.close()
        await self.services.feeds.checker.close()
        await super().close()
        await self.services.engine.dispose()


class ShardedPaperClub(PaperClub, commands.AutoShardedBot):
    """The bot over several shards in one process: ``SHARD_COUNT`` shards, or just ``SHARD_IDS`` of them.

    With shards spread over processes on one PostgreSQL, each process schedules only its own guilds' digests,
    feed polling is done by whichever process holds the lease, and deliveries and digest runs stay exactly-once
    through the database's unique rows.
    """


def make_bot(settings: Settings) -> PaperClub:
    """The bot for these settings, with its services: sharded when ``SHARD_COUNT`` is set, else one connection."""
    if settings.shard_count is None:
        return PaperClub(settings)
    ids = list(settings.shard_ids) if settings.shard_ids is not None else None
    return ShardedPaperClub(settings, shard_count=settings.shard_count, shard_ids=ids)


async def point_at_api(settings: Settings) -> None:
    """Send REST calls to DISCORD_API_BASE and take the gateway URL from its ``/gateway/bot``."""
    if not settings.discord_api_base:
        return
    discord.http.Route.BASE = settings.discord_api_base
    headers = {"Authorization": f"Bot {settings.discord_token}"}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{settings.discord_api_base}/gateway/bot", headers=headers) as r,
    ):
        r.raise_for_status()
        data = await r.json(content_type=None)
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(data["url"])
    log.info("using the Discord API at %s", settings.discord_api_base)
