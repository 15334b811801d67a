"""Autocomplete shared by several commands: the group's papers and its tags as a member types."""

from __future__ import annotations

import discord
from discord import app_commands

from storage.notes import NoteService
from storage.papers import PaperService


async def paper_choices(
    papers: PaperService, interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """The group's papers best matching what is typed so far."""
    if interaction.guild_id is None:
        return []
    found = await papers.autocomplete(guild_id=interaction.guild_id, text=current, limit=25)
    return [app_commands.Choice(name=label, value=key[:100]) for key, label in found]


async def tag_choices(
    notes: NoteService, interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """The group's tags, most used first, completing the last of a comma-separated list."""
    if interaction.guild_id is None:
        return []
    head, _, last = current.rpartition(",")
    last = last.strip().lstrip("#").lower()
    prefix = f"{head.strip()}, " if head.strip() else ""
    names = [name for name, _ in await notes.tags(guild_id=interaction.guild_id)]
    matches = [n for n in names if n.startswith(last)] + [
        n for n in names if last and last in n and not n.startswith(last)
    ]
    choices = []
    for name in matches[:25]:
        value = f"{prefix}{name}"
        if len(value) <= 100:
            choices.append(app_commands.Choice(name=value, value=value))
    return choices
