"""Finding the paper a member named, for any command that takes one: asking which when several match, and counting
the member's arXiv lookups."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import discord

from bot.interactions import NO_MENTIONS, MemberCooldown, guild_of
from bot.render import clip
from bot.views import PaperPicker
from storage.identity import PaperKey, TitleQuery
from storage.papers import Ambiguous, PaperService, PaperView

ARXIV_LOOKUPS_PER_MINUTE = 6  # per member: commands asking arXiv (its API takes one request per 3 s)

Then = Callable[[discord.Interaction, PaperView], Awaitable[None]]


class PaperChoice:
    """The paper a command names, found in the group's papers or on arXiv; one member's lookups counted across
    every command that takes a paper."""

    def __init__(self, *, papers: PaperService) -> None:
        self.papers = papers
        self.arxiv_lookups = MemberCooldown(ARXIV_LOOKUPS_PER_MINUTE, 60.0)  # spent only when arXiv is asked

    async def resolve_then(self, interaction: discord.Interaction, wanted: PaperKey | TitleQuery, then: Then) -> None:
        """Start the public answer, find the paper ``wanted`` names (asking which when several match), go on with it.

        Asking arXiv counts one of the member's lookups; a paper the bot already has in full costs none, and is
        shown even to a member with no lookups left. For such a member the paper is looked up (in the bot's own
        store only) before the public answer starts, so "slow down" is told to them alone.
        """
        guild_id = guild_of(interaction)
        asking = self.arxiv_lookups.spend_once(interaction)
        out_of_lookups = self.arxiv_lookups.wait(guild_id, interaction.user.id) > 0
        if not out_of_lookups:
            await interaction.response.defer(thinking=True)
        found = await self.papers.resolve(guild_id=guild_id, text=wanted, before_remote=asking)
        if out_of_lookups:
            await interaction.response.defer(thinking=True)
        if isinstance(found, Ambiguous) and len(found.candidates) == 1:  # one match: nothing to choose between
            only = found.candidates[0]
            found = await self.papers.ensure(PaperKey(only.key), metadata=only.metadata, before_remote=asking)
        if isinstance(found, Ambiguous):
            picker = PaperPicker(owner_id=interaction.user.id, found=found, on_pick=then, papers=self.papers)
            await interaction.followup.send(
                f"Several papers match “{clip(found.query, 100)}”. Which one?",
                view=picker,
                allowed_mentions=NO_MENTIONS,
            )
            return
        await then(interaction, found)
