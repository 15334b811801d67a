"""The cogs, loaded from an explicit list, each given only the services it calls."""

from __future__ import annotations

from discord.ext import commands

from bot.cogs.digest import Digest
from bot.cogs.exports import Exports
from bot.cogs.feeds import Feeds
from bot.cogs.help import Help
from bot.cogs.imports import Imports
from bot.cogs.links import LinkCards
from bot.cogs.lookup import Lookup
from bot.cogs.notes import NoteLists, Notes
from bot.cogs.queue import Queue
from bot.cogs.sessions import Sessions
from bot.cogs.settings import ServerSettings
from bot.cogs.stats import Stats
from bot.note_flows import NoteFlows
from bot.note_threads import NoteThreads
from bot.paper_choice import PaperChoice
from bot.queue_flows import QueueFlows
from bot.services import Services
from bot.session_flows import SessionFlows
from bot.settings import Settings


async def load_cogs(bot: commands.Bot, services: Services, settings: Settings) -> None:
    """Add every cog to the bot."""
    flows = NoteFlows(  # the note form and posting, shared by /note and a paper card's button
        bot,
        posting=services.posting,
        notes=services.notes,
        papers=services.papers,
        guilds=services.group_settings,
        threads=NoteThreads(bot, threads=services.threads),  # notes in their paper's thread, when the group wants it
    )
    choice = PaperChoice(papers=services.papers)  # the paper a command names; one member's arXiv lookups counted
    await bot.add_cog(Notes(bot, notes=services.notes, papers=services.papers, posting=services.posting, flows=flows))
    await bot.add_cog(NoteLists(notes=services.notes, papers=services.papers))
    await bot.add_cog(ServerSettings(group_settings=services.group_settings))
    await bot.add_cog(Help(bot))
    await bot.add_cog(
        Lookup(
            bot,
            papers=services.papers,
            notes=services.notes,
            threads=services.threads,
            search=services.search,
            similar=services.similar,
            flows=flows,
            choice=choice,
        )
    )
    await bot.add_cog(Stats(stats=services.stats))
    await bot.add_cog(
        Queue(
            bot,
            queue=services.queue,
            papers=services.papers,
            choice=choice,
            flows=QueueFlows(bot, queue=services.queue, papers=services.papers),
        )
    )
    await bot.add_cog(LinkCards(bot, papers=services.papers, notes=services.notes, guilds=services.group_settings))
    await bot.add_cog(
        Feeds(
            bot,
            feeds=services.feeds.subscriptions,
            polls=services.feeds.polls,
            sources=services.feeds.checker,
        )
    )
    digests = services.digests
    await bot.add_cog(
        Digest(
            schedules=digests.schedules,
            runs=digests.runs,
            content=digests.content,
            runner=digests.runner,
            guilds=services.group_settings,
        )
    )
    await bot.add_cog(Imports(imports=services.imports.importer))
    await bot.add_cog(Exports(exports=services.imports.exporter))
    reading = services.reading
    await bot.add_cog(
        Sessions(
            reading=reading.sessions,
            flows=SessionFlows(reading=reading.sessions, posts=reading.posts),
            guilds=services.group_settings,
            choice=choice,
        )
    )
