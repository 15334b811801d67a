"""/help: what the bot does and every command, one line each."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.render import COLOUR, EMBED_TOTAL, FIELD_VALUE, FIELDS, clip, embed_size, pack

INTRO = (
    "paperclub keeps the reading group's paper notes. Post a note with `/note add` (an arXiv id, a link or a "
    "title); look a paper up with `/paper`, find anything the group wrote with `/search`, and see the topics "
    "with `/tags`. Pasted arXiv links get a card saying how many notes the group has. Moderators can follow arXiv "
    "categories, searches and RSS feeds in a channel with `/feed add`, and bring in notes kept elsewhere with "
    "`/import`. Anyone can take the notes out with `/export`. Choose what to read next with `/queue propose` and "
    "the vote buttons (or react 📌 to a message with a paper link), and see the queue with `/queue list`. Reading "
    "sessions go on the calendar with `/session schedule`, with a presenter rotation members join with "
    "`/session volunteer` and reminders before each."
)


def command_lines(tree: app_commands.CommandTree[commands.Bot]) -> list[str]:
    """``/name — description`` for every command and subcommand, in name order."""
    lines: list[str] = []

    def walk(command: app_commands.Command | app_commands.Group) -> None:  # type: ignore[type-arg]
        if isinstance(command, app_commands.Group):
            for child in sorted(command.commands, key=lambda c: c.name):
                walk(child)
        else:
            lines.append(f"`/{command.qualified_name}` — {command.description}")

    for command in sorted(tree.get_commands(type=discord.AppCommandType.chat_input), key=lambda c: c.name):
        walk(command)  # type: ignore[arg-type]
    return lines


def help_embeds(lines: list[str]) -> list[list[discord.Embed]]:
    """The introduction and every command line, in fields of at most 1,024 characters, as messages within limits."""
    embeds = [discord.Embed(title="paperclub", description=INTRO, colour=COLOUR)]
    field: list[str] = []
    fields: list[str] = []
    for line in lines:  # as many fields as the list needs, never cut
        line = clip(line, FIELD_VALUE)
        if field and sum(len(x) + 1 for x in field) + len(line) > FIELD_VALUE:
            fields.append("\n".join(field))
            field = []
        field.append(line)
    if field:
        fields.append("\n".join(field))
    for i, value in enumerate(fields):
        embed = embeds[-1]
        if len(embed.fields) == FIELDS or embed_size(embed) + len(value) + 20 > EMBED_TOTAL:
            embed = discord.Embed(colour=COLOUR)
            embeds.append(embed)
        embed.add_field(name="Commands" if i == 0 else "More commands", value=value, inline=False)
    return pack(embeds)


class Help(commands.Cog):
    """/help."""

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @app_commands.command(name="help", description="What this bot does and every command")
    async def help(self, interaction: discord.Interaction) -> None:
        """Every command, one line each."""
        messages = help_embeds(command_lines(self.bot.tree))
        await interaction.response.send_message(embeds=messages[0], ephemeral=True)
        for embeds in messages[1:]:
            await interaction.followup.send(embeds=embeds, ephemeral=True)
