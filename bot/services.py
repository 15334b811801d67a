"""The app's wiring diagram: what is built, in which order, and who is given what.

Read :func:`build_services` top to bottom: the database and the outside world first, then the group's
library, then the Discord adapters on the bot's client, then the background workers that post through them.
Everything arrives through a constructor; nothing is set on an object after it is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import discord
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.delivery import DiscordDeliverer
from bot.digest_post import DigestPublisher
from bot.import_progress import DiscordImportProgress
from bot.requesters import BotJobs
from bot.session_post import SessionPosts
from bot.settings import Settings
from bot.version_post import DiscordVersionPoster
from schedules.arxiv import ArxivClient
from schedules.catch_up import CatchUp
from schedules.digests import DigestRunner
from schedules.poller import FeedPoller
from schedules.ratelimit import ArxivLimiter
from schedules.reminders import ReminderRunner
from schedules.source_check import SourceChecker
from schedules.titles import TitleResolver
from schedules.versions import VersionWatch
from storage.db import Sessions, make_engine, make_sessions
from storage.digests.content import DigestContent
from storage.digests.runs import DigestRuns
from storage.digests.schedule import DigestSchedules
from storage.exports import ExportService
from storage.feeds.polls import PollRecords
from storage.feeds.subscriptions import SubscriptionService
from storage.group_settings import GroupSettingsService
from storage.imports.importer import ImportService
from storage.leases import LeaseService
from storage.note_posting import NotePosting
from storage.notes import NoteService
from storage.paper_threads import PaperThreads
from storage.papers import PaperService
from storage.queue import QueueService
from storage.reading_sessions import ReadingSessions
from storage.search import SearchService
from storage.similar import SimilarService
from storage.stats import StatsService
from storage.titles import TitleService
from storage.version_check import VersionCheck
from storage.versions import VersionNotices

__all__ = ["DigestServices", "FeedServices", "ImportServices", "ReadingServices", "Services", "build_services"]


@dataclass(frozen=True)
class FeedServices:
    """Feeds: the groups' subscriptions, the poller's records, the poller that posts new papers, and the checker
    that reads a source before a moderator follows it."""

    subscriptions: SubscriptionService
    polls: PollRecords
    poller: FeedPoller
    checker: SourceChecker  # /feed add and /feed test fetch a source through it


@dataclass(frozen=True)
class DigestServices:
    """Weekly digests: the groups' schedules, runs and content, and the runner that posts them."""

    schedules: DigestSchedules
    runs: DigestRuns
    content: DigestContent
    runner: DigestRunner


@dataclass(frozen=True)
class ImportServices:
    """Bringing notes in and out: imports, exports, and the titles of imported papers matched to arXiv."""

    importer: ImportService
    exporter: ExportService
    titles: TitleService
    resolver: TitleResolver
    progress: DiscordImportProgress  # edits an import's message in its channel


@dataclass(frozen=True)
class ReadingServices:
    """Reading sessions: the calendar and the rotation, their posts on Discord, and the reminders' runner."""

    sessions: ReadingSessions
    posts: SessionPosts  # announcements, the server's scheduled events, reminders
    reminders: ReminderRunner


@dataclass(frozen=True)
class Services:
    """What the bot runs on; each cog is given only the parts it calls."""

    engine: AsyncEngine
    sessions: Sessions
    scheduler: AsyncIOScheduler
    leases: LeaseService  # several processes on one database: who polls feeds, posts a digest, applies an import
    limiter: ArxivLimiter  # shared by every arXiv request: API lookups and feed fetches
    arxiv: ArxivClient
    papers: PaperService
    notes: NoteService
    posting: NotePosting  # /note add and /note edit: the paper found, the member's room checked, the note saved
    threads: PaperThreads  # each paper's one discussion thread in a group
    group_settings: GroupSettingsService
    search: SearchService
    similar: SimilarService
    stats: StatsService
    queue: QueueService  # the group's reading queue: proposals and votes
    feeds: FeedServices
    digests: DigestServices
    imports: ImportServices
    versions: VersionWatch  # the noted papers' new versions: checked daily on arXiv, told where they were discussed
    reading: ReadingServices


def build_services(settings: Settings, client: discord.Client) -> Services:
    """Everything the bot's commands and jobs use, on the bot's ``client``. Nothing connects yet."""
    # The ground: the database, the scheduler, and the one pace for every arXiv request.
    engine = make_engine(settings.database_url)
    sessions = make_sessions(engine)
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_executor(BotJobs())  # jobs ask arXiv as the bot, whoever last moved a job
    leases = LeaseService(sessions)
    limiter = ArxivLimiter(min_interval=settings.arxiv_min_interval)
    arxiv = ArxivClient(api_base=settings.arxiv_api_base, limiter=limiter)

    # The Discord adapters: how the workers below post and edit messages through the bot's client.
    sender = DiscordDeliverer(client, pause=settings.feed_post_pause)
    importer = ImportService(sessions, leases=leases)  # claims the imports it applies
    progress = DiscordImportProgress(client, importer)

    # Feeds: new papers of every due feed, posted by the poller.
    subscriptions = SubscriptionService(
        sessions, max_subscriptions=settings.max_subscriptions, max_feeds=settings.max_feeds
    )
    polls = PollRecords(sessions)
    poller = FeedPoller(
        polls=polls,
        feeds=subscriptions,
        limiter=limiter,
        deliverer=sender,
        interval=settings.feed_poll_interval,
        max_posts=settings.feed_max_posts,
        guard=settings.feed_guard(),
        catch_up=CatchUp(polls=polls, arxiv=arxiv),  # listing days a feed missed, from the arXiv API
    )

    checker = SourceChecker(
        feeds=subscriptions,
        polls=polls,
        limiter=limiter,
        guard=settings.feed_guard(),
        rss_base=settings.arxiv_rss_base,
        api_base=settings.arxiv_api_base,
        poll_interval=settings.feed_poll_interval,
        max_posts=settings.feed_max_posts,
    )

    # Digests: each group's week, posted by the one process holding its run's claim.
    schedules, runs, content = DigestSchedules(sessions), DigestRuns(sessions), DigestContent(sessions)
    runner = DigestRunner(
        schedules=schedules,
        runs=runs,
        content=content,
        publisher=DigestPublisher(sender),
        grace=timedelta(hours=settings.digest_grace_hours),
        leases=leases,
        scheduler=scheduler,  # /digest schedule may move jobs at once
        owns=settings.owns_guild,  # with shards over processes, each schedules only its own guilds' digests
    )

    # Imports: titles without an arXiv id are matched later, a batch at a time, and the channel is told.
    titles = TitleService(sessions)
    imports = ImportServices(
        importer=importer,
        exporter=ExportService(sessions),
        titles=titles,
        resolver=TitleResolver(titles, arxiv, progress),
        progress=progress,
    )

    # Notes: a member's note saved on its paper, found on arXiv when the group does not know it yet.
    papers = PaperService(sessions, arxiv)
    notes = NoteService(sessions, max_per_day=settings.max_notes_per_day)
    posting = NotePosting(notes=notes, papers=papers, titles=titles)

    # New versions of noted papers: recorded by feeds and a daily check on arXiv, told in the paper's place.
    threads = PaperThreads(sessions)
    versions = VersionWatch(
        check=VersionCheck(sessions),
        notices=VersionNotices(sessions),
        source=arxiv,
        poster=DiscordVersionPoster(sender, threads=threads),
    )
    # Reading sessions: announced and put on the server's calendar by the cog, reminded by the runner, each
    # reminder posted by the process owning the guild.
    reading = ReadingSessions(sessions)
    session_posts = SessionPosts(client, sender)
    reminders = ReminderRunner(sessions=reading, poster=session_posts, owns=settings.owns_guild)

    return Services(
        engine=engine,
        sessions=sessions,
        scheduler=scheduler,
        leases=leases,
        limiter=limiter,
        arxiv=arxiv,
        papers=papers,
        notes=notes,
        posting=posting,
        threads=threads,
        group_settings=GroupSettingsService(sessions),
        search=SearchService(sessions),
        similar=SimilarService(sessions),
        stats=StatsService(sessions),
        queue=QueueService(sessions),
        feeds=FeedServices(subscriptions=subscriptions, polls=polls, poller=poller, checker=checker),
        digests=DigestServices(schedules=schedules, runs=runs, content=content, runner=runner),
        imports=imports,
        versions=versions,
        reading=ReadingServices(sessions=reading, posts=session_posts, reminders=reminders),
    )
