"""The bot: services wired in, cogs loaded from an explicit list, commands synced, clean shutdown."""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import discord
import yarl
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from discord.ext import commands
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import heartbeat
from bot.delivery import DiscordDeliverer
from bot.digest_post import DigestPublisher
from bot.import_progress import DiscordImportProgress
from bot.requesters import BotJobs, Tree
from bot.settings import Settings
from schedules.arxiv import ArxivClient
from schedules.catch_up import CatchUp
from schedules.digests import DigestRunner
from schedules.jobs import POLL_LEASE, poll_at_once, register_jobs, watch_imports
from schedules.poller import FeedPoller
from schedules.ratelimit import ArxivLimiter
from schedules.titles import TitleResolver
from storage.db import Sessions, create_schema, make_engine, make_sessions
from storage.digests import DigestService
from storage.exports import ExportService
from storage.feeds import FeedRuns, FeedService
from storage.guilds import GuildSettingsService
from storage.imports.importer import ImportService
from storage.leases import LeaseService
from storage.note_posting import NotePosting
from storage.notes import NoteService
from storage.papers import PaperService
from storage.search import SearchService
from storage.similar import SimilarService
from storage.titles import TitleService

log = logging.getLogger(__name__)


@dataclass
class Services:
    """What the cogs call; each cog takes only the parts it needs."""

    engine: AsyncEngine
    sessions: Sessions
    arxiv: ArxivClient
    papers: PaperService
    notes: NoteService
    guilds: GuildSettingsService
    search: SearchService
    similar: SimilarService
    scheduler: AsyncIOScheduler
    limiter: ArxivLimiter  # shared by every arXiv request: API lookups and feed fetches
    feeds: FeedService
    runs: FeedRuns
    poller: FeedPoller  # its deliverer is the bot, set once the bot exists
    digests: DigestService
    digest_runner: DigestRunner  # its publisher is the bot, likewise
    leases: LeaseService
    imports: ImportService
    exports: ExportService
    titles: TitleService
    title_resolver: TitleResolver  # its progress port is the bot, set once the bot exists
    posting: NotePosting  # /note add and /note edit: the paper found, the member's room checked, the note saved


def build_services(settings: Settings) -> Services:
    """The database, the arXiv client and the services on top of them. Nothing connects yet."""
    engine = make_engine(settings.database_url)
    sessions = make_sessions(engine)
    limiter = ArxivLimiter(min_interval=settings.arxiv_min_interval)
    arxiv = ArxivClient(api_base=settings.arxiv_api_base, limiter=limiter)
    feeds = FeedService(sessions, max_subscriptions=settings.max_subscriptions, max_feeds=settings.max_feeds)
    runs, digests = FeedRuns(sessions), DigestService(sessions)
    poller = FeedPoller(
        runs=runs,
        feeds=feeds,
        limiter=limiter,
        deliverer=None,
        interval=settings.feed_poll_interval,
        max_posts=settings.feed_max_posts,
        guard=settings.feed_guard(),
        catch_up=CatchUp(runs=runs, arxiv=arxiv),  # listing days a feed missed, from the arXiv API
    )
    return Services(
        engine=engine,
        sessions=sessions,
        arxiv=arxiv,
        papers=(papers := PaperService(sessions, arxiv)),
        notes=(notes := NoteService(sessions, max_per_day=settings.max_notes_per_day)),
        guilds=GuildSettingsService(sessions),
        search=SearchService(sessions),
        similar=SimilarService(sessions),
        scheduler=AsyncIOScheduler(timezone="UTC"),
        limiter=limiter,
        feeds=feeds,
        runs=runs,
        poller=poller,
        digests=digests,
        digest_runner=DigestRunner(
            digests, grace=timedelta(hours=settings.digest_grace_hours), leases=LeaseService(sessions)
        ),  # a run is posted by the one process holding its claim
        leases=LeaseService(sessions),
        imports=ImportService(sessions, leases=LeaseService(sessions)),  # claims the imports it applies
        exports=ExportService(sessions),
        titles=(titles := TitleService(sessions)),
        title_resolver=TitleResolver(titles, arxiv),
        posting=NotePosting(notes=notes, papers=papers, titles=titles),
    )


class PaperClub(commands.Bot):
    """The reading group's bot, on one gateway connection (see :class:`ShardedPaperClub` for more)."""

    def __init__(self, settings: Settings, services: Services, **sharding: Any) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        # Link cards read what members post: message content is a privileged intent, asked for only for them.
        intents.guild_messages = intents.message_content = settings.link_cards
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            max_messages=None,  # nothing reads old messages back; with link cards on, a cache only costs memory
            tree_cls=Tree,  # each command's arXiv requests wait in its server's turn
            **sharding,
        )
        self.settings = settings
        self.services = services
        services.scheduler.add_executor(BotJobs())  # jobs ask arXiv as the bot, whoever last moved a job
        sender = DiscordDeliverer(self, pause=settings.feed_post_pause)
        services.poller.deliverer = sender
        services.digest_runner.publisher = DigestPublisher(sender)
        services.title_resolver.progress = DiscordImportProgress(self, services.imports)
        self._stopping = False
        self._frozen = False

    async def setup_hook(self) -> None:
        """Prepare the database, load the cogs, start the jobs and sync the commands."""
        from bot.cogs import load_cogs
        from bot.errors import install_error_handler

        await create_schema(self.services.engine)
        await self.services.arxiv.start()
        install_error_handler(self.tree)
        await load_cogs(self)
        register_jobs(
            self.services.scheduler,
            papers=self.services.papers,
            poller=self.services.poller,
            settings=self.settings,
            leases=self.services.leases,  # several processes on one database: one polls at a time
            titles=self.services.title_resolver,
        )
        self.services.digest_runner.scheduler = self.services.scheduler  # /digest schedule may move jobs at once
        heartbeat.start(self)  # touches HEARTBEAT_FILE when ready and every 30 s, for `python -m bot health`
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
            poll_at_once(self.services.scheduler)
            # Imports a stopped process left half-applied are rolled back, now and every minute; members are told.
            watch_imports(
                self.services.scheduler,
                imports=self.services.imports,
                told=DiscordImportProgress(self, self.services.imports),
            )
            # Every group's digest job is rebuilt from its schedule; weeks missed while down are settled.
            self.services.scheduler.add_job(
                self.services.digest_runner.start,
                args=[self.services.scheduler],
                id="digests:start",
                replace_existing=True,
            )
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
        if self.services.scheduler.running:
            self.services.scheduler.shutdown(wait=False)
        try:
            await self.services.leases.release(POLL_LEASE)  # another process may poll at once
        except Exception:
            log.warning("could not give back the feed-polling lease; it expires by itself", exc_info=True)
        await self.services.arxiv.close()
        await super().close()
        await self.services.engine.dispose()


class ShardedPaperClub(PaperClub, commands.AutoShardedBot):
    """The bot over several shards in one process: ``SHARD_COUNT`` shards, or just ``SHARD_IDS`` of them.

    With shards spread over processes on one PostgreSQL, each process schedules only its own guilds' digests,
    feed polling is done by whichever process holds the lease, and deliveries and digest runs stay exactly-once
    through the database's unique rows.
    """


def make_bot(settings: Settings, services: Services) -> PaperClub:
    """The bot for these settings: sharded when ``SHARD_COUNT`` is set, else one connection."""
    if settings.shard_count is None:
        return PaperClub(settings, services)
    ids = list(settings.shard_ids) if settings.shard_ids is not None else None
    services.digest_runner.owns = settings.owns_guild
    return ShardedPaperClub(settings, services, shard_count=settings.shard_count, shard_ids=ids)


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
