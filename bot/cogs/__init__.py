"""The cogs, loaded from an explicit list, each given only the services it calls."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.app import PaperClub


async def load_cogs(bot: PaperClub) -> None:
    """Add every cog to the bot."""
    from bot.cogs.digest import Digest
    from bot.cogs.exports import Exports
    from bot.cogs.feeds import Feeds
    from bot.cogs.help import Help
    from bot.cogs.imports import Imports
    from bot.cogs.links import LinkCards
    from bot.cogs.lookup import Lookup
    from bot.cogs.notes import NoteLists, Notes
    from bot.cogs.settings import Settings
    from bot.cogs.stats import Stats
    from bot.note_flows import NoteFlows

    services = bot.services
    flows = NoteFlows(  # the note form and posting, shared by /note and a paper card's button
        bot, posting=services.posting, notes=services.notes, papers=services.papers, guilds=services.guilds
    )
    await bot.add_cog(Notes(bot, notes=services.notes, papers=services.papers, posting=services.posting, flows=flows))
    await bot.add_cog(NoteLists(notes=services.notes, papers=services.papers))
    await bot.add_cog(Settings(guilds=services.guilds))
    await bot.add_cog(Help(bot))
    await bot.add_cog(
        Lookup(
            bot,
            papers=services.papers,
            notes=services.notes,
            search=services.search,
            similar=services.similar,
            flows=flows,
        )
    )
    await bot.add_cog(Stats(sessions=services.sessions))
    await bot.add_cog(LinkCards(bot, papers=services.papers, notes=services.notes, guilds=services.guilds))
    await bot.add_cog(
        Feeds(bot, feeds=services.feeds, runs=services.runs, limiter=services.limiter, settings=bot.settings)
    )
    await bot.add_cog(Digest(digests=services.digests, runner=services.digest_runner, guilds=services.guilds))
    await bot.add_cog(Imports(imports=services.imports))
    await bot.add_cog(Exports(exports=services.exports))
