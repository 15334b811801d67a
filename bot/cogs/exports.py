"""/export: the group's notes as a Markdown, JSON or BibTeX file, for any member."""

from __future__ import annotations

import io
import re

import discord
from discord import app_commands
from discord.ext import commands

from bot.interactions import NO_MENTIONS, MemberCooldown, guild_of
from storage.exports import ExportService

FORMAT_CHOICES = [
    app_commands.Choice(name="Markdown (to read)", value="md"),
    app_commands.Choice(name="JSON (everything, re-importable)", value="json"),
    app_commands.Choice(name="BibTeX (one entry per paper)", value="bibtex"),
]
SUFFIXES = {"md": "md", "json": "json", "bibtex": "bib"}
MAX_ATTACHMENT = 8_000_000  # under the smallest upload limit a server has; larger exports are sent gzipped
EXPORTS_PER_MINUTE = 3  # per member: each export reads the whole group


def export_name(server: str, fmt: str, day: str) -> str:
    """``paperclub-reading-group-2025-03-03.md``: the server's name in file-safe characters."""
    slug = re.sub(r"[^a-z0-9]+", "-", server.lower()).strip("-")[:40] or "server"
    return f"paperclub-{slug}-{day}.{SUFFIXES[fmt]}"


def export_file(text: str, name: str) -> discord.File | None:
    """The export as an attachment, gzipped when large; None when even that is too big to upload."""
    data = text.encode("utf-8")
    if len(data) > MAX_ATTACHMENT:
        import gzip  # loaded on first use, not held from start (bench/idle_memory.py)

        data, name = gzip.compress(data), name + ".gz"
        if len(data) > MAX_ATTACHMENT:
            return None
    return discord.File(io.BytesIO(data), filename=name)


class Exports(commands.Cog):
    """/export."""

    def __init__(self, *, exports: ExportService) -> None:
        self.exports = exports
        self.cooldown = MemberCooldown(EXPORTS_PER_MINUTE, 60.0)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Each export reads the whole group: a few a minute per member."""
        self.cooldown.check(interaction)
        return True

    @app_commands.command(name="export", description="The group's notes as a Markdown, JSON or BibTeX file")
    @app_commands.guild_only()
    @app_commands.describe(format="Markdown to read, JSON to keep or re-import, BibTeX to cite (default Markdown)")
    @app_commands.choices(format=FORMAT_CHOICES)
    async def export(self, interaction: discord.Interaction, format: app_commands.Choice[str] | None = None) -> None:
        """Write every note of the group and send it, only to the member who asked."""
        guild_id = guild_of(interaction)
        fmt = format.value if format else "md"
        await interaction.response.defer(ephemeral=True, thinking=True)
        written = await self.exports.export(guild_id=guild_id, fmt=fmt)
        name = export_name(interaction.guild.name if interaction.guild else "server", fmt, written.day)
        file = export_file(written.text, name)
        if file is None:
            await interaction.followup.send(
                f"The export is {len(written.text) / 1e6:.0f} MB, too big to upload here. The bot's operator can "
                f"write it with `python -m bot export --guild {guild_id} --format {fmt}`.",
                ephemeral=True,
            )
            return
        await interaction.followup.send(
            f"{written.notes:,} notes on {written.papers:,} papers.",
            file=file,
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )
