"""Small pieces every cog uses: the server an interaction came from, and the confirm-or-cancel buttons."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import discord
from discord import app_commands

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


class MemberCooldown:
    """At most ``rate`` uses in ``per`` seconds for each member in each server, kept by the cog that owns it.

    discord.py's cooldown decorator keeps its counts on the command, shared by every bot in the process; this
    one lives and dies with its cog.
    """

    PRUNE_AT = 10_000  # members tracked before the ones whose window has passed are forgotten

    def __init__(self, rate: int, per: float) -> None:
        self.rate, self.per = rate, per
        self._buckets: dict[tuple[int | None, int], app_commands.Cooldown] = {}

    def check(self, interaction: discord.Interaction) -> None:
        """Count a use; raise CommandOnCooldown (answered by the one error handler) when over the rate."""
        if len(self._buckets) >= self.PRUNE_AT:
            self._buckets = {k: b for k, b in self._buckets.items() if b.get_tokens() < self.rate}
        key = (interaction.guild_id, interaction.user.id)
        bucket = self._buckets.setdefault(key, app_commands.Cooldown(self.rate, self.per))
        retry_after = bucket.update_rate_limit()
        if retry_after:
            raise app_commands.CommandOnCooldown(bucket, retry_after)


# discord.py runs no cog interaction_check for autocomplete, and a server's admin may open a moderators' command to
# anyone (Integrations → command permissions): on an autocomplete callback, this answers members without Manage
# Server with no choices at all.
MODERATORS_ONLY = app_commands.checks.has_permissions(manage_guild=True)
