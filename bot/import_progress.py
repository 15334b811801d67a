"""An import's message in the channel: posted as it starts, the summary once applied, edited as its titles are
matched to arXiv (the title resolver's progress port), or to say it was rolled back (the roll-back job's port)."""

from __future__ import annotations

import logging

import discord

from bot.import_render import TitleProgress, plural, summary_embed
from bot.interactions import NO_MENTIONS
from bot.render import COLOUR, EMBED_TITLE, clip
from storage.imports.importer import ImportPreview, ImportService, StoppedImport
from storage.imports.plan import Shape
from storage.titles import ImportProgressView

log = logging.getLogger(__name__)


def applying_embed(preview: ImportPreview, *, by_id: int) -> discord.Embed:
    """What the channel sees while an import is being written: replaced by its summary once it is in."""
    label = Shape.LABELS.get(preview.plan.shape, preview.plan.shape)
    embed = discord.Embed(title=clip(f"Importing {preview.file_name}…", EMBED_TITLE), colour=COLOUR)
    size = len(preview.export.notes) if preview.export is not None else len(preview.plan.notes)
    what = plural(size, "note") if size or not preview.plan.papers else plural(len(preview.plan.papers), "paper")
    embed.description = f"<@{by_id}> is importing a {label}: {what}. This message shows the summary once it is in."
    return embed


def stopped_embed(run: StoppedImport) -> discord.Embed:
    """An import the bot stopped in the middle of (a restart, or an error), rolled back."""
    embed = discord.Embed(title=clip(f"Import of {run.file_name} stopped", EMBED_TITLE), colour=COLOUR)
    embed.description = (
        f"The bot was stopped by a restart (or an error) before <@{run.member_id}>'s import of `{run.file_name}` "
        "finished, so nothing of it was kept: no notes, papers or tags from it are here.\n"
        "Run `/import` again with the same file to bring it in whole."
    )
    return embed


class DiscordImportProgress:
    """Edits the message an import posted, so the channel sees its titles being looked up, or that it was
    rolled back."""

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
        await self._edit(run.guild_id, run.import_id, run.channel_id, run.message_id, embed)

    async def tell_stopped(self, run: StoppedImport) -> None:
        """Tell the channel that the import was rolled back and is to be run again."""
        if run.channel_id is None or run.message_id is None:
            return  # imported from the command line, or its message could not be posted
        await self._edit(run.guild_id, run.import_id, run.channel_id, run.message_id, stopped_embed(run))

    async def _edit(
        self, guild_id: int, import_id: int, channel_id: int, message_id: int, embed: discord.Embed
    ) -> None:
        message = self.client.get_partial_messageable(channel_id).get_partial_message(message_id)
        try:
            await message.edit(embed=embed, allowed_mentions=NO_MENTIONS)
        except discord.NotFound:
            log.info("guild=%s import=%s: its summary message is gone", guild_id, import_id)
