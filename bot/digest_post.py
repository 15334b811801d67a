"""The weekly digest on Discord: built from the week's data, posted part by part, each part recorded."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import discord

from bot.delivery import DiscordDeliverer
from bot.digest_render import render_digest
from schedules.digests import OnPart
from schedules.interests import choose
from storage.digests import DigestData, ScheduleView


def build_digest(data: DigestData, *, quiet_weeks: bool, explain: bool = False) -> list[list[discord.Embed]]:
    """The digest's messages: the week's notes, questions, the feed papers that match the group, troubles."""
    picked = choose(data)
    return render_digest(data, picked, quiet_weeks=quiet_weeks, explain=explain)


class DigestPublisher:
    """Renders digests and posts them through the same paced sender as feed papers."""

    def __init__(self, sender: DiscordDeliverer) -> None:
        self.sender = sender

    def render(self, data: DigestData, schedule: ScheduleView) -> Sequence[Any]:
        """The messages of a group's digest (none for a quiet week the group keeps quiet)."""
        return build_digest(data, quiet_weeks=schedule.quiet_weeks)

    async def post(self, channel_id: int, parts: Sequence[Any], on_part: OnPart) -> None:
        """Post the parts in order; raises ChannelUnavailable when the channel is gone or forbidden."""
        await self.sender.post_messages(channel_id, list(parts), on_part)
