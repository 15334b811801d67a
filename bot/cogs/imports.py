"""/import: bring in the notes a group kept elsewhere, after a dry run a moderator confirms."""

from __future__ import annotations

import io
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

import discord
from discord import app_commands
from discord.ext import commands

from bot.import_progress import applying_embed
from bot.import_render import REPORT_NAME, TitleProgress, preview_embed, report_text, summary_embed
from bot.interactions import NO_MENTIONS, MemberCooldown, guild_of
from bot.views import ConfirmView
from storage.errors import UserFacingError, ValidationError
from storage.imports.importer import MAX_IMPORT_BYTES, Author, ImportPreview, ImportService
from storage.imports.plan import Shape

log = logging.getLogger(__name__)

IMPORTS_PER_MINUTE = 5  # per member: each one reads and parses up to 5 MB
SHAPE_CHOICES = [app_commands.Choice(name=label, value=shape) for shape, label in Shape.LABELS.items()]


async def read_document(file: discord.Attachment) -> bytes:
    """An uploaded document's bytes, its size checked before downloading."""
    if file.size > MAX_IMPORT_BYTES:
        raise ValidationError(
            f"`{file.filename}` is {file.size / 1e6:.1f} MB; documents can be at most {MAX_IMPORT_BYTES / 1e6:g} MB."
        )
    try:
        return await file.read()
    except discord.HTTPException as exc:
        raise UserFacingError(f"I couldn't download `{file.filename}` ({exc.status}). Attach it again.") from exc


def report_files(preview: ImportPreview) -> list[discord.File]:
    """The dry run's full report as an attached text file, when there is anything to report."""
    text = report_text(preview.plan, file_name=preview.file_name)
    return [discord.File(io.BytesIO(text.encode()), filename=REPORT_NAME)] if text else []


class ProposedDatesButton(discord.ui.Button["ConfirmView"]):
    """Import with each date that breaks the document's sequence replaced by the date its neighbours suggest."""

    def __init__(
        self, preview: ImportPreview, *, on_press: Callable[[discord.Interaction, ImportPreview], Awaitable[None]]
    ) -> None:
        super().__init__(
            label="Import with the suggested dates", style=discord.ButtonStyle.secondary, custom_id="fixed"
        )
        self.preview = replace(preview, plan=preview.plan.with_proposed_dates())
        self.on_press = on_press

    async def callback(self, interaction: discord.Interaction) -> None:
        """Import with the dates corrected."""
        if self.view is not None:
            self.view.stop()
        await interaction.response.edit_message(content="Importing with the suggested dates…", view=None)
        await self.on_press(interaction, self.preview)


class Imports(commands.Cog):
    """/import, for moderators."""

    def __init__(self, *, imports: ImportService) -> None:
        self.imports = imports
        self.cooldown = MemberCooldown(IMPORTS_PER_MINUTE, 60.0)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Back up the default permission: only members with Manage Server import."""
        if not interaction.permissions.manage_guild:
            raise app_commands.MissingPermissions(["manage_guild"])
        self.cooldown.check(interaction)
        return True

    @app_commands.command(name="import", description="Bring in notes kept elsewhere: a dry run first, then confirm")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.describe(
        file="A Markdown, text or paperclub JSON file, up to 5 MB",
        dry_run="Show what would be imported and ask before changing anything (the default)",
        member="Whose notes these are (default: yours)",
        shape="What kind of document it is, when it is not recognised by itself",
    )
    @app_commands.choices(shape=SHAPE_CHOICES)
    async def import_command(
        self,
        interaction: discord.Interaction,
        file: discord.Attachment,
        dry_run: bool = True,
        member: discord.Member | discord.User | None = None,
        shape: app_commands.Choice[str] | None = None,
    ) -> None:
        """Parse the document and show the dry run with a confirm button, or import it straight away."""
        guild_of(interaction)  # imports belong to a server
        await interaction.response.defer(ephemeral=True, thinking=True)
        preview = await self.imports.preview(
            file.filename, await read_document(file), shape=shape.value if shape else None
        )
        owner = member or interaction.user
        author = Author(id=owner.id, name=owner.display_name)
        whose = "their original authors" if preview.export is not None else author.name  # an export keeps its own
        embed = preview_embed(preview.plan, file_name=preview.file_name, author=whose)
        if not preview.plan.notes and not preview.plan.papers:
            embed.set_footer(text="There is nothing to import in this file.")
            await interaction.followup.send(embed=embed, files=report_files(preview), ephemeral=True)
            return
        if not dry_run:
            await interaction.followup.send(embed=embed, files=report_files(preview), ephemeral=True)
            await self._apply(interaction, preview, author)
            return

        async def confirm(pressed: discord.Interaction) -> None:
            await pressed.response.edit_message(content="Importing…", view=None)
            await self._apply(pressed, preview, author)

        count = len(preview.plan.notes) or len(preview.plan.papers)
        noun = "note" if preview.plan.notes else "paper"
        view = ConfirmView(
            owner_id=interaction.user.id,
            label=f"Import {count:,} {noun}{'' if count == 1 else 's'}",
            style=discord.ButtonStyle.primary,
            action=confirm,
        )
        if preview.plan.flagged:
            view.add_item(
                ProposedDatesButton(preview, on_press=lambda pressed, fixed: self._apply(pressed, fixed, author))
            )
        await interaction.followup.send(embed=embed, files=report_files(preview), view=view, ephemeral=True)

    async def _apply(self, interaction: discord.Interaction, preview: ImportPreview, author: Author) -> None:
        """Post the import's one message in the channel, write the notes, turn the message into the summary, and
        tell the moderator. If the bot stops mid-way, the import is rolled back and the message says so."""
        guild_id = guild_of(interaction)
        posted = await self._announce(interaction, preview)
        outcome = await self.imports.apply(
            preview,
            guild_id=guild_id,
            member_id=interaction.user.id,
            author=author,
            message=(posted.channel.id, posted.id) if posted is not None else None,
        )
        summary = summary_embed(
            file_name=preview.file_name,
            shape=preview.plan.shape,
            counts=outcome.counts(),
            by_id=interaction.user.id,
            author_id=None if preview.export is not None else author.id,
            titles=TitleProgress(resolved=0, unresolved=0, pending=outcome.titles_queued),
        )
        done = f"Imported: {outcome.notes_created:,} new notes, {outcome.notes_kept:,} already here."
        if outcome.notes_refused:
            done += "\nNot saved:\n" + "\n".join(f"- {reason}" for reason in outcome.notes_refused[:10])
        if posted is None:
            done += "\nI could not post the summary in this channel."
        else:
            try:
                await posted.edit(embed=summary, allowed_mentions=NO_MENTIONS)
            except discord.HTTPException as exc:
                log.warning("guild=%s import=%s summary not shown: %s", guild_id, outcome.import_id, exc)
            done += f"\nSummary: {posted.jump_url}"
        if outcome.titles_queued:
            done += f"\n{outcome.titles_queued:,} titles are being looked up on arXiv; the summary shows how far."
        await interaction.followup.send(done[:2000], ephemeral=True, allowed_mentions=NO_MENTIONS)

    async def _announce(self, interaction: discord.Interaction, preview: ImportPreview) -> discord.Message | None:
        """The import's message in the channel, posted before anything is written; None if it can't be posted."""
        channel = interaction.channel
        if not isinstance(channel, discord.abc.Messageable):
            return None
        try:
            return await channel.send(
                embed=applying_embed(preview, by_id=interaction.user.id), allowed_mentions=NO_MENTIONS
            )
        except discord.HTTPException as exc:
            log.warning(
                "guild=%s import of %s: its message was not posted: %s", interaction.guild_id, preview.file_name, exc
            )
            return None
