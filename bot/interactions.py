"""Small pieces every cog uses: the server an interaction came from, and the confirm-or-cancel buttons."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import discord

from bot.errors import View
from storage.errors import UserFacingError

NO_MENTIONS = discord.AllowedMentions.none()


def guild_of(interaction: discord.Interaction) -> int:
    """The server an interaction came from; notes live only in servers."""
    if interaction.guild_id is None:
        raise UserFacingError("Notes live in a server: use this command there, not in direct messages.")
    return interaction.guild_id


class ConfirmView(View):
    """Two buttons: go ahead, or leave everything as it is."""

    def __init__(
        self,
        *,
        owner_id: int,
        label: str,
        style: discord.ButtonStyle,
        action: Callable[[discord.Interaction], Awaitable[None]],
    ) -> None:
        super().__init__(owner_id=owner_id)
        self.action = action
        self.confirm.label = label
        self.confirm.style = style

    @discord.ui.button(label="Confirm", style=discord.ButtonStyle.primary, custom_id="confirm")
    async def confirm(self, interaction: discord.Interaction, button: discord.ui.Button[ConfirmView]) -> None:
        """Do it."""
        self.stop()
        await self.action(interaction)

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary, custom_id="cancel")
    async def cancel(self, interaction: discord.Interaction, button: discord.ui.Button[ConfirmView]) -> None:
        """Leave everything as it is."""
        self.stop()
        await interaction.response.edit_message(
            content="Cancelled: nothing was changed.", embed=None, attachments=[], view=None
        )
