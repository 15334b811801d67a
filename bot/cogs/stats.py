"""/tags and /stats: the group's topic index, and how much and how steadily members read."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import discord
from discord import app_commands
from discord.ext import commands

from bot.interactions import NO_MENTIONS, guild_of
from bot.render import CHUNK, COLOUR, EMBED_TITLE, FIELD_VALUE, clip, pack, plain
from storage.db import Sessions
from storage.stats import GroupStats, ReadingStats, StatsService, TagNode

log = logging.getLogger(__name__)

INDENT = "\u2003"  # one step of indentation under a parent tag (an em space)
NO_TAGS = (
    "No tags yet. Give your notes topics with `/note add ... tags:` (comma-separated, nested with `/`, "
    "like `llms/prompting`), and they will be listed here with their counts."
)


def plural(count: int, word: str) -> str:
    """``1 note``, ``2 notes``."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def name_of(text: str) -> str:
    """A member's or server's name, safe to show in markdown."""
    return plain(clip(text, 100))


def tag_line(node: TagNode, *, continued: bool = False) -> str:
    """One tag of the index: indented under its parent, with how many notes it covers."""
    more = " (continued)" if continued else ""
    if node.depth == 0:
        return f"**`{node.label}`** · {plural(node.count, 'note')}{more}"
    return f"{INDENT * node.depth}└ `{node.label}` · {node.count:,}{more}"


def _lines(nodes: Iterable[TagNode], above: tuple[TagNode, ...] = ()) -> Iterable[tuple[TagNode, tuple[TagNode, ...]]]:
    for node in nodes:
        yield node, above
        yield from _lines(node.children, (*above, node))


def tag_index_embeds(nodes: list[TagNode], *, limit: int = CHUNK) -> list[list[discord.Embed]]:
    """The topic index as embeds grouped into messages, in order, nothing left out.

    A part that starts inside a tag's family repeats the tags above, marked "(continued)".
    """
    if not nodes:
        return [[discord.Embed(title="Topics", description=NO_TAGS, colour=COLOUR)]]
    parts: list[list[str]] = [[]]
    size = 0
    for node, above in _lines(nodes):
        line = tag_line(node)
        if parts[-1] and size + len(line) + 1 > limit:
            parts.append([tag_line(a, continued=True) for a in above])
            size = sum(len(x) + 1 for x in parts[-1])
        parts[-1].append(line)
        size += len(line) + 1
    total = sum(1 for _ in _lines(nodes))
    embeds = []
    for i, lines in enumerate(parts, start=1):
        embed = discord.Embed(description="\n".join(lines), colour=COLOUR)
        if i == 1:
            embed.title = f"Topics · {plural(total, 'tag')}"
        hint = "A count includes the notes under its sub-tags · /notes tag:<name> lists them"
        embed.set_footer(text=f"{hint} · part {i} of {len(parts)}" if len(parts) > 1 else hint)
        embeds.append(embed)
    return pack(embeds)


def _streak(stats: ReadingStats) -> str:
    if not stats.longest_streak:
        return "none yet"
    text = f"**{plural(stats.streak, 'week')}** · longest {plural(stats.longest_streak, 'week')}"
    if stats.streak and not stats.noted_this_week:
        text += "\nNo note yet this week: one keeps it going."
    return text


def _tags(stats: ReadingStats) -> str:
    if not stats.top_tags:
        return "none yet"
    return clip(" · ".join(f"`{name}` {count:,}" for name, count in stats.top_tags), FIELD_VALUE)


def _footer(embed: discord.Embed, stats: ReadingStats) -> None:
    since = f" · first note {stats.first_note:%Y-%m-%d}" if stats.first_note else ""
    embed.set_footer(text=f"Weeks start on Monday, {stats.timezone} time{since}")


def member_stats_embed(stats: ReadingStats, *, name: str) -> discord.Embed:
    """One member's notes, papers, weekly streak and top tags."""
    embed = discord.Embed(title=clip(f"Reading stats: {name}", EMBED_TITLE), colour=COLOUR)
    if not stats.notes:
        embed.description = f"{name_of(name)} has no notes in this server yet. Notes are posted with `/note add`."
        return embed
    embed.add_field(name="Notes", value=f"**{stats.notes:,}** on {plural(stats.papers, 'paper')}", inline=True)
    embed.add_field(name="Weekly streak", value=_streak(stats), inline=True)
    embed.add_field(name="Top tags", value=_tags(stats), inline=False)
    _footer(embed, stats)
    return embed


def group_stats_embed(stats: GroupStats, *, name: str) -> discord.Embed:
    """The group's notes, weekly streak, this month's most active members and top tags."""
    reading = stats.reading
    embed = discord.Embed(title=clip(f"Reading stats: {name}", EMBED_TITLE), colour=COLOUR)
    if not reading.notes:
        embed.description = "No notes in this server yet. Post the first with `/note add`."
        return embed
    embed.add_field(
        name="Notes",
        value=f"**{reading.notes:,}** on {plural(reading.papers, 'paper')} by {plural(reading.members, 'member')}",
        inline=False,
    )
    embed.add_field(name="Weekly streak (weeks with any note)", value=_streak(reading), inline=False)
    month = f"{stats.month:%B %Y}"
    if stats.active_members:
        top = ", ".join(f"{name_of(m.name)} ({m.notes:,})" for m in stats.most_active)
        value = f"**{plural(stats.active_members, 'member')}** posted notes\nMost active: {top}"
    else:
        value = "No notes yet this month."
    embed.add_field(name=f"This month ({month})", value=clip(value, FIELD_VALUE), inline=False)
    embed.add_field(name="Top tags", value=_tags(reading), inline=False)
    _footer(embed, reading)
    return embed


class Stats(commands.Cog):
    """/tags and /stats."""

    def __init__(self, *, sessions: Sessions) -> None:
        self.stats = StatsService(sessions)

    @app_commands.command(name="tags", description="The group's topics, nested, with how many notes each covers")
    @app_commands.guild_only()
    async def tags(self, interaction: discord.Interaction) -> None:
        """The topic index, over as many embeds and messages as it needs."""
        guild_id = guild_of(interaction)
        await interaction.response.defer(thinking=True)
        messages = tag_index_embeds(await self.stats.tags(guild_id=guild_id))
        for embeds in messages:
            await interaction.followup.send(embeds=embeds, allowed_mentions=NO_MENTIONS)

    @app_commands.command(name="stats", description="Notes, weekly streak and top tags, of a member or the group")
    @app_commands.guild_only()
    @app_commands.describe(member="Whose stats (leave empty for the whole group)")
    async def stats_command(
        self, interaction: discord.Interaction, member: discord.Member | discord.User | None = None
    ) -> None:
        """A member's stats, or the group's with this month's most active members."""
        guild_id = guild_of(interaction)
        await interaction.response.defer(thinking=True)
        if member is not None:
            reading = await self.stats.member(guild_id=guild_id, author_id=member.id)
            embed = member_stats_embed(reading, name=member.display_name)
        else:
            group = await self.stats.group(guild_id=guild_id)
            embed = group_stats_embed(group, name=interaction.guild.name if interaction.guild else "this server")
        await interaction.followup.send(embed=embed, allowed_mentions=NO_MENTIONS)
