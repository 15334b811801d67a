"""Links to the messages notes and digests were posted as."""

from __future__ import annotations


def jump_url(guild_id: int, channel_id: int | None, message_id: int | None) -> str | None:
    """The link that opens a message in its channel; None when the message is not known."""
    if channel_id and message_id:
        return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"
    return None


def channel_url(guild_id: int, channel_id: int) -> str:
    """The link that opens a channel or a thread."""
    return f"https://discord.com/channels/{guild_id}/{channel_id}"
