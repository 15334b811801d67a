"""Small pieces every cog uses: the server an interaction came from, sending without pings, members' cooldowns and
the moderators-only check."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import discord
from discord import app_commands

from storage.errors import UserFacingError

NO_MENTIONS = discord.AllowedMentions.none()


def guild_of(interaction: discord.Interaction) -> int:
    """The server an interaction came from; notes live only in servers."""
    if interaction.guild_id is None:
        raise UserFacingError("Notes live in a server: use this command there, not in direct messages.")
    return interaction.guild_id


def server_moderator(interaction: discord.Interaction) -> bool:
    """Manage Messages in the server itself: a channel's overwrite granting it does not make a member a moderator."""
    user = interaction.user
    return isinstance(user, discord.Member) and user.guild_permissions.manage_messages


async def answer(interaction: discord.Interaction, **message: Any) -> None:
    """Send a command's answer: as its response, or once it was deferred as the message that replaces "thinking…"
    (which keeps the deferral's visibility: only the member, or everyone)."""
    if interaction.response.is_done():
        await interaction.followup.send(**message)
    else:
        await interaction.response.send_message(**message)


class MemberCooldown:
    """At most ``rate`` uses in ``per`` seconds for each member in each server, kept by the cog that owns it.

    discord.py's cooldown decorator keeps its counts on the command, shared by every bot in the process; this
    one lives and dies with its cog. A refusal says how many whole seconds are left, never "0 s".
    """

    PRUNE_AT = 10_000  # members tracked before the ones whose window has passed are forgotten

    def __init__(self, rate: int, per: float, *, clock: Callable[[], float] = time.time) -> None:
        self.rate, self.per = rate, per
        self.clock = clock
        self._buckets: dict[tuple[int | None, int], app_commands.Cooldown] = {}

    def _bucket(self, guild_id: int | None, member_id: int, now: float) -> app_commands.Cooldown:
        if len(self._buckets) >= self.PRUNE_AT:
            self._buckets = {k: b for k, b in self._buckets.items() if b.get_tokens(now) < self.rate}
        return self._buckets.setdefault((guild_id, member_id), app_commands.Cooldown(self.rate, self.per))

    def wait(self, guild_id: int | None, member_id: int) -> float:
        """Seconds until this member has a use again, 0 when one is free now; spends nothing."""
        bucket = self._buckets.get((guild_id, member_id))
        return bucket.get_retry_after(self.clock()) if bucket is not None else 0.0

    def spend(self, guild_id: int | None, member_id: int) -> float:
        """Spend one of this member's uses and return 0; with none left, spend nothing and return the wait."""
        now = self.clock()
        bucket = self._bucket(guild_id, member_id, now)
        waiting = bucket.get_retry_after(now)
        if waiting:
            return waiting
        bucket.update_rate_limit(now)
        return 0.0

    def _refuse(self, interaction: discord.Interaction, waiting: float) -> None:
        if waiting:
            bucket = self._buckets[(interaction.guild_id, interaction.user.id)]
            raise app_commands.CommandOnCooldown(bucket, float(max(1, math.ceil(waiting))))

    def check(self, interaction: discord.Interaction) -> None:
        """Count a use; raise CommandOnCooldown (answered by the one error handler) when over the rate."""
        self._refuse(interaction, self.spend(interaction.guild_id, interaction.user.id))

    def check_free(self, interaction: discord.Interaction) -> None:
        """Raise CommandOnCooldown when the member has no use left, without spending one."""
        self._refuse(interaction, self.wait(interaction.guild_id, interaction.user.id))

    def spend_once(self, interaction: discord.Interaction) -> Callable[[], None]:
        """A callback that counts one use for this interaction the first time it is called (and raises when over
        the rate); later calls cost nothing, so one command is one use however many requests it sends."""
        spent = False

        def spend() -> None:
            nonlocal spent
            if not spent:
                self.check(interaction)
                spent = True

        return spend


# discord.py runs no cog interaction_check for autocomplete, and a server's admin may open a moderators' command to
# anyone (Integrations → command permissions): on an autocomplete callback, this answers members without Manage
# Server with no choices at all.
MODERATORS_ONLY = app_commands.checks.has_permissions(manage_guild=True)
