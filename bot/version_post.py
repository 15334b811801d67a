"""A paper's new version told on Discord: one short message in the paper's thread or its latest note's channel.

This is the Discord side of :mod:`schedules.versions`: :class:`DiscordVersionPoster` implements its
``NoticePoster``, through the same paced sender as feed papers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import discord

from bot.delivery import DiscordDeliverer
from bot.render import COLOUR, EMBED_TITLE, clip, plain, safe_url
from schedules.poller import ChannelUnavailable
from storage.paper_threads import PaperThreads
from storage.versions import Notice

COMMENT = 300  # characters of arXiv's comment shown: a line or two
VERSION_MARK = "arXiv · new version"


def version_embed(notice: Notice) -> discord.Embed:
    """ "v3 is out": the paper, linked to the version's own page, with arXiv's comment when it has one."""
    title = clip(f"v{notice.version} is out: {' '.join(notice.display_title.split())}", EMBED_TITLE)
    embed = discord.Embed(title=title, url=safe_url(notice.url), colour=COLOUR)
    comment = " ".join((notice.comment or "").split())
    if comment:
        embed.description = f"arXiv comment: {plain(clip(comment, COMMENT))}"
    embed.set_footer(text=VERSION_MARK)
    return embed


class DiscordVersionPoster:
    """Posts version notices, and finds one a stopped process posted without recording it."""

    def __init__(self, sender: DiscordDeliverer, *, threads: PaperThreads) -> None:
        self.sender = sender
        self.threads = threads

    async def post(self, notice: Notice) -> int:
        """Post the notice; its message id. Raises ChannelUnavailable when its place is gone or forbidden."""
        posted: list[int] = []

        async def record(message_id: int) -> None:
            posted.append(message_id)

        async with self._place_of(notice):
            await self.sender.post_messages(notice.channel_id, [[version_embed(notice)]], record)
        return posted[0]

    async def find_posted(self, notice: Notice) -> int | None:
        """The bot's message that is this notice, posted in its place since the notice was recorded."""
        embeds = [version_embed(notice)]
        async with self._place_of(notice):
            return await self.sender.find_message(notice.channel_id, embeds, after=None, since=notice.created_at)

    @asynccontextmanager
    async def _place_of(self, notice: Notice) -> AsyncIterator[None]:
        """A place found deleted that was the paper's thread is marked gone, as when a note finds it so: /paper
        links it no more and the paper's next note opens a new one. The error goes on (the notice moves on)."""
        try:
            yield
        except ChannelUnavailable as exc:
            if isinstance(exc.__cause__, discord.NotFound):
                await self.threads.forget(guild_id=notice.guild_id, thread_id=notice.channel_id)
            raise
