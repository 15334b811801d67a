"""An import's summary message, edited as its titles are matched to arXiv: the title resolver's progress port."""

from __future__ import annotations

import logging

import discord

from bot.import_render import TitleProgress, summary_embed
from bot.interactions import NO_MENTIONS
from storage.imports.importer import ImportService
from storage.titles import ImportProgressView

log = logging.getLogger(__name__)


class DiscordImportProgress:
    """Edits the summary an import posted, so the channel sees its titles being looked up."""

    def __init__(self, client: discord.Client, imports: ImportService) -> None:
        self.client = client
        self.imports = imports

    async def report(self, run: ImportProgressView) -> None:
        """Show how far the import's title lookups have come."""
        if run.channel_id is None or run.message_id is None:
            return  # imported from the command line: nothing to edit
        record = await self.imports.record(guild_id=run.guild_id, import_id=run.import_id)
        if record is None:
            return
        embed = summary_embed(
            file_name=record.file_name,
            shape=record.shape,
            counts=record.counts,
            by_id=record.member_id,
            author_id=record.author_id,
            titles=TitleProgress(resolved=run.resolved, unresolved=run.unresolved, pending=run.pending),
        )
        message = self.client.get_partial_messageable(run.channel_id).get_partial_message(run.message_id)
        try:
            await message.edit(embed=embed, allowed_mentions=NO_MENTIONS)
        except discord.NotFound:
            log.info("guild=%s import=%s: its summary message is gone", run.guild_id, run.import_id)
