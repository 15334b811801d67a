"""/settings: a group's choices, for moderators."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.interactions import answer, guild_of
from bot.render import COLOUR
from storage.group_settings import GroupSettings, GroupSettingsService


def settings_embed(settings: GroupSettings, *, cards_possible: bool = True) -> discord.Embed:
    """The group's settings, one line each."""
    on = {True: "on", False: "off"}
    embed = discord.Embed(title="Settings for this server", colour=COLOUR)
    cards = f"Card for each arXiv link members post: **{on[settings.link_cards]}** (`/settings link-cards`)"
    if settings.link_cards and not cards_possible:
        cards += "\n_The bot is not allowed to read messages (whoever hosts it can allow it), so no cards for now._"
    role = f"<@&{settings.session_role_id}>" if settings.session_role_id else "nobody else"
    embed.description = (
        f"One discussion thread per paper, its notes in it: **{on[settings.note_threads]}** (`/settings threads`)\n"
        f"{cards}\n"
        f"Time zone: **{settings.timezone}** (`/digest schedule`)\n"
        f"Besides Manage Server, who schedules reading sessions: {role} (`/settings session-role`)"
    )
    return embed


def cards_possible(interaction: discord.Interaction) -> bool:
    """Whether this bot reads members' messages at all (its host may have turned link cards off)."""
    return interaction.client.intents.message_content


async def show_settings(interaction: discord.Interaction, settings: GroupSettings) -> None:
    """The group's settings as they are now, to the moderator alone."""
    embed = settings_embed(settings, cards_possible=cards_possible(interaction))
    await answer(interaction, embed=embed, ephemeral=True)


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class ServerSettings(commands.GroupCog, group_name="settings", group_description="This server's paperclub settings"):
    """Moderators' settings."""

    def __init__(self, *, group_settings: GroupSettingsService) -> None:
        super().__init__()
        self.group_settings = group_settings

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Back up the default permission: only members with Manage Server change settings."""
        if not interaction.permissions.manage_guild:
            raise app_commands.MissingPermissions(["manage_guild"])
        return True

    @app_commands.command(name="show", description="Show this server's settings")
    async def show(self, interaction: discord.Interaction) -> None:
        """Every setting."""
        guild_id = guild_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)  # acknowledged before the database is read
        settings = await self.group_settings.get(guild_id)
        await show_settings(interaction, settings)

    @app_commands.command(name="threads", description="One discussion thread per paper, where its notes go")
    @app_commands.describe(enabled="On: a paper's first note opens its thread; later notes go in it")
    async def threads(self, interaction: discord.Interaction, enabled: bool) -> None:
        """Turn paper threads on or off."""
        guild_id = guild_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)  # acknowledged before the database is read
        settings = await self.group_settings.update(guild_id, note_threads=enabled)
        await show_settings(interaction, settings)

    @app_commands.command(name="link-cards", description="Reply to arXiv links members post with a paper card")
    @app_commands.describe(enabled="On: a pasted arXiv link gets a card with the group's note count")
    async def link_cards(self, interaction: discord.Interaction, enabled: bool) -> None:
        """Turn link cards on or off."""
        guild_id = guild_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)  # acknowledged before the database is read
        settings = await self.group_settings.update(guild_id, link_cards=enabled)
        await show_settings(interaction, settings)

    @app_commands.command(name="session-role", description="Let members with a role schedule reading sessions")
    @app_commands.describe(role="Members with this role may schedule, move and cancel sessions (empty: nobody else)")
    async def session_role(self, interaction: discord.Interaction, role: discord.Role | None = None) -> None:
        """Name the role that may schedule reading sessions besides Manage Server, or clear it."""
        guild_id = guild_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)  # acknowledged before the database is read
        settings = await self.group_settings.update(guild_id, session_role_id=role.id if role else None)
        await show_settings(interaction, settings)
