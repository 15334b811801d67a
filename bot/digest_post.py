"""The weekly digest on Discord: built from the week's data, posted part by part, each part recorded."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import discord

from bot.delivery import DiscordDeliverer
from schedules.digests import OnPart, Part
from storage.digests.content import DigestData
from storage.digests.schedule import ScheduleView


def build_digest(data: DigestData, *, quiet_weeks: bool, explain: bool = False) -> list[list[discord.Embed]]:
    """The digest's messages: the week's notes, questions, the feed papers that match the group, troubles."""
    # Loaded by the first digest (weekly) or preview, not held from start (bench/idle_memory.py).
    from bot.digest_render import render_digest
    from storage.digests.picks import choose

    picked = choose(data)
    return render_digest(data, picked, quiet_weeks=quiet_weeks, explain=explain)


class DigestPublisher:
    """Renders digests and posts them through the same paced sender as feed papers.

    A digest's parts are plain JSON (each message a list of embed dicts) so the run can keep them: a resume
    posts exactly what was rendered when the digest began.
    """

    def __init__(self, sender: DiscordDeliverer) -> None:
        self.sender = sender

    def render(self, data: DigestData, schedule: ScheduleView) -> list[Part]:
        """The messages of a group's digest (none for a quiet week the group keeps quiet), as plain JSON."""
        return [
            [embed.to_dict() for embed in embeds] for embeds in build_digest(data, quiet_weeks=schedule.quiet_weeks)
        ]

    async def post(self, channel_id: int, parts: Sequence[Part], on_part: OnPart) -> None:
        """Post the parts in order; raises ChannelUnavailable when the channel is gone or forbidden."""
        await self.sender.post_messages(channel_id, [_embeds(part) for part in parts], on_part)

    async def find_posted(self, channel_id: int, part: Part, *, after: int | None, since: datetime) -> int | None:
        """The bot's message in the channel that is this part, posted after ``after`` (or since ``since``)."""
        return await self.sender.find_message(channel_id, _embeds(part), after=after, since=since)


def _embeds(part: Part) -> list[discord.Embed]:
    return [discord.Embed.from_dict(embed) for embed in part]
