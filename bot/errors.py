"""One place that turns errors into short ephemeral replies, for commands, buttons and forms alike."""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands

from bot.interactions import answer
from bot.requesters import ask_as
from storage.errors import UserFacingError

log = logging.getLogger(__name__)

# Permissions as Discord's own settings name them, where discord.py's attribute names differ.
PERMISSION_NAMES = {"manage_guild": "Manage Server", "manage_messages": "Manage Messages"}
UNEXPECTED = "Something went wrong on my side and it has been logged. Please try again in a moment."


def describe(error: BaseException) -> str | None:
    """The member-facing text for an error, or None when it is a fault of the bot's own."""
    original = getattr(error, "original", error)
    if isinstance(original, UserFacingError):
        return original.message
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command works in a server, not in direct messages."
    if isinstance(error, app_commands.MissingPermissions):
        needed = ", ".join(PERMISSION_NAMES.get(p, p.replace("_", " ").title()) for p in error.missing_permissions)
        return f"You need the {needed} permission for this."
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down a little: try again in {error.retry_after:.0f} s."
    if isinstance(error, app_commands.TransformerError) and error.type is discord.AppCommandOptionType.user:
        return "That person is not a member of this server: pick a member from the list."  # a Member option
    if isinstance(error, app_commands.CheckFailure):
        return "You can't use this command here."
    return None


async def reply_error(interaction: discord.Interaction, text: str) -> None:
    """Tell the member what went wrong, only to them."""
    try:
        await answer(interaction, content=text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none())
    except discord.HTTPException:
        log.warning("could not deliver an error reply to interaction %s", interaction.id)


async def handle_error(interaction: discord.Interaction, error: BaseException, *, where: str = "") -> None:
    """Reply with the error's text, or log a traceback and apologise."""
    text = describe(error)
    if text is None:
        original = getattr(error, "original", error)
        log.error(
            "guild=%s error in %s",
            interaction.guild_id,
            where or (interaction.command.qualified_name if interaction.command else "interaction"),
            exc_info=original,
        )
        text = UNEXPECTED
    await reply_error(interaction, text)


def install_error_handler(tree: app_commands.CommandTree[Any]) -> None:
    """Route every slash-command error through :func:`handle_error`."""

    async def on_error(interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        await handle_error(interaction, error)

    tree.on_error = on_error  # type: ignore[method-assign]


class View(discord.ui.View):
    """A view whose errors are answered like command errors, usable only by the member it was made for."""

    def __init__(self, *, owner_id: int | None, timeout: float | None = 600) -> None:
        super().__init__(timeout=timeout)
        self.owner_id = owner_id

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Only the member the buttons were offered to may press them; their arXiv requests take its server's turn."""
        ask_as(interaction.guild_id, interaction.user.id)
        if self.owner_id is not None and interaction.user.id != self.owner_id:
            await reply_error(interaction, "These buttons belong to someone else's command.")
            return False
        return True

    async def on_error(self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any]) -> None:
        """Answer like a command error."""
        await handle_error(interaction, error, where=f"{type(self).__name__} {getattr(item, 'custom_id', '')}")


class Modal(discord.ui.Modal):
    """A form whose errors are answered like command errors."""

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Anyone shown the form may send it; its arXiv requests take the server's turn."""
        ask_as(interaction.guild_id, interaction.user.id)
        return True

    async def on_error(self, interaction: discord.Interaction, error: Exception, *_: Any) -> None:
        """Answer like a command error."""
        await handle_error(interaction, error, where=type(self).__name__)
