"""The channel a command posts to: the one picked or the one it was used in, and whether the bot may post there."""

from __future__ import annotations

import discord

from storage.errors import PermissionDeniedError, ValidationError


def can_post(channel: discord.abc.GuildChannel | discord.Thread) -> list[str]:
    """The permissions the bot lacks to post paper embeds in ``channel`` (empty when it has them all)."""
    me = channel.guild.me
    perms = channel.permissions_for(me)
    needed = (
        ("View Channel", perms.view_channel),
        ("Send Messages", perms.send_messages),
        ("Embed Links", perms.embed_links),
    )
    return [name for name, granted in needed if not granted]


def check_can_post(channel: discord.abc.GuildChannel | discord.Thread) -> None:
    """Refuse a channel the bot could not post papers in, saying what it needs there."""
    missing = can_post(channel)
    if missing:
        raise PermissionDeniedError(
            f"I can't post in {channel.mention}: I need {' and '.join(missing)} there. "
            "Give me those permissions in the channel's settings, or pick another channel."
        )


def target_channel(interaction: discord.Interaction, channel: discord.TextChannel | None) -> discord.TextChannel:
    """The channel a subscription posts to: the one given, else the one the command was used in."""
    if channel is not None:
        if channel.guild.id != interaction.guild_id:
            raise ValidationError("Pick a channel in this server.")
        return channel
    here = interaction.guild.get_channel(interaction.channel_id or 0) if interaction.guild else None
    if not isinstance(here, discord.TextChannel):
        raise ValidationError("Feeds post in text channels: pick one with the `channel` option.")
    return here
