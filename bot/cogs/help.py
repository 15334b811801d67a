"""/help: what the bot does and every command, one line each."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.render import COLOUR

INTRO = (
    "paperclub keeps the reading group's paper notes. Post a note with `/note add` (an arXiv id, a link or a "
    "title); look a paper up with `/paper`, find anything the group wrote with `/search`, and see the topics "
    "with `/tags`. Pasted arXiv links get a card saying how many notes the group has. Moderators can follow arXiv "
    "categories, searches and RSS feeds in a channel with `/feed add`, and bring in notes kept elsewhere with "
    "`/import`. Anyone can take the notes out with `/export`."
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


class Help(commands.Cog):
    """/help."""

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @app_commands.command(name="help", description="What this bot does and every command")
    async def help(self, interaction: discord.Interaction) -> None:
        """Every command, one line each."""
        embed = discord.Embed(title="paperclub", description=INTRO, colour=COLOUR)
        field: list[str] = []
        for line in command_lines(self.bot.tree):  # as many fields as the list needs, never cut
            if sum(len(x) + 1 for x in field) + len(line) > 1024:
                embed.add_field(
                    name="Commands" if not embed.fields else "More commands", value="\n".join(field), inline=False
                )
                field = []
            field.append(line)
        if field:
            embed.add_field(
                name="Commands" if not embed.fields else "More commands", value="\n".join(field), inline=False
            )
        await interaction.response.send_message(embed=embed, ephemeral=True)
