"""How the reading queue looks: a proposal's card with its vote buttons (which keep working after a restart), and
the ranked queue a page at a time."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from bot.render import COLOUR, DESCRIPTION, FIELD_VALUE, clip, fitting, md_link, paper_title, people, plain, safe_url
from bot.views import PageFetch, Pager
from storage.message_links import jump_url
from storage.queue import QueueItem, QueuePage

VOTE, TAKE_BACK = "vote", "unvote"
OnVote = Callable[[discord.Interaction, int, bool], Awaitable[None]]
"""A member pressed a card's button: (their interaction, the entry's id, True to vote or False to take it back)."""


def votes_text(count: int) -> str:
    """``1 vote``, ``3 votes``."""
    return f"{count:,} vote{'' if count == 1 else 's'}"


def when(moment: Any, style: str = "F") -> str:
    """A moment as a Discord timestamp, shown in each member's own time zone."""
    return f"<t:{int(moment.timestamp())}:{style}>"


def proposer_line(item: QueueItem) -> str:
    """Who proposed it, how, and when."""
    how = " with 📌" if item.source == "pin" else ""
    return f"Proposed by **{plain(clip(item.proposer_name, 100))}**{how} {when(item.created_at, 'R')}"


def proposal_card(item: QueueItem) -> discord.Embed:
    """A proposal: the paper linked, its authors, who proposed it and why, its votes, and a session if one is set."""
    embed = discord.Embed(title=paper_title(item.paper), url=safe_url(item.paper.url), colour=COLOUR)
    lines = [people(item.paper.authors, 300, shown=3)] if item.paper.authors else []
    lines.append(proposer_line(item))
    if item.why:
        lines.append(f"> {plain(item.why)}")
    if item.next_session is not None:
        lines.append(f"📅 Session {when(item.next_session)}")
    if item.removed_at is not None:
        lines.append("*Taken off the reading queue.*")
    elif item.read_at is not None:
        lines.append(f"*Read on {when(item.read_at, 'D')}.*")
    embed.description = "\n".join(lines)
    embed.add_field(name="Votes", value=f"**{votes_text(item.votes)}**", inline=True)
    embed.set_footer(text=clip(f"Reading queue · {item.paper.key} · /queue list shows the queue", 300))
    return embed


VoteButtons = type[discord.ui.DynamicItem[discord.ui.Button[Any]]]


def vote_buttons(on_vote: OnVote) -> VoteButtons:
    """The card's buttons, as a class discord.py rebuilds from a click's custom id (the entry's id is in it), so
    they work on any card however old and after a restart; ``on_vote`` answers each press."""

    class VoteButton(
        discord.ui.DynamicItem[discord.ui.Button[Any]], template=rf"queue:(?P<action>{VOTE}|{TAKE_BACK}):(?P<entry>\d+)"
    ):
        """Vote for the paper, showing how many votes it has; or take one's vote back."""

        def __init__(self, entry_id: int, wanted: bool, votes: int = 0) -> None:
            if wanted:
                button: discord.ui.Button[Any] = discord.ui.Button(
                    label=f"Vote · {votes:,}", emoji="👍", style=discord.ButtonStyle.success
                )
            else:
                button = discord.ui.Button(label="Take back my vote", style=discord.ButtonStyle.secondary)
            button.custom_id = f"queue:{VOTE if wanted else TAKE_BACK}:{entry_id}"
            super().__init__(button)
            self.entry_id, self.wanted = entry_id, wanted

        @classmethod
        async def from_custom_id(
            cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
        ) -> VoteButton:
            return cls(int(match["entry"]), match["action"] == VOTE)

        async def callback(self, interaction: discord.Interaction) -> None:
            await on_vote(interaction, self.entry_id, self.wanted)

    return VoteButton


def card_view(buttons: Callable[..., discord.ui.Item[Any]], item: QueueItem) -> discord.ui.View | None:
    """The buttons under a card: none once the paper left the queue. They never time out."""
    if not item.queued:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(buttons(item.id, True, item.votes))
    view.add_item(buttons(item.id, False))
    return view


def queue_item(rank: int, item: QueueItem) -> str:
    """One paper of the ranked queue: at most about 900 characters."""
    head = f"**{rank}. {md_link(item.paper.display_title, item.paper.url, 150)}** · {votes_text(item.votes)}"
    card = jump_url(item.guild_id, item.channel_id, item.message_id)
    lines = [head, proposer_line(item) + (f" · [vote on its card]({card})" if card else "")]
    if item.why:
        lines.append(f"> {plain(item.why)}")
    if item.next_session is not None:
        lines.append(f"📅 Session {when(item.next_session)}")
    return clip("\n".join(lines), FIELD_VALUE)


def queue_embed(page: QueuePage) -> tuple[discord.Embed, int]:
    """One page of the ranked queue, as many of ``page.items`` as fit, and how many that is."""
    embed = discord.Embed(title=f"Reading queue · {page.total:,} paper{'' if page.total == 1 else 's'}", colour=COLOUR)
    if not page.items:
        embed.description = (
            "The queue is empty. Propose a paper with `/queue propose`, or react 📌 to a message with a paper link."
            if page.offset == 0
            else "No more papers."
        )
        return embed, 0
    items = [queue_item(page.offset + n + 1, item) for n, item in enumerate(page.items)]
    shown = fitting(items, DESCRIPTION)
    embed.description = "\n\n".join(items[:shown])
    embed.set_footer(text=f"{page.offset + 1}–{page.offset + shown} of {page.total} · most votes first, then oldest")
    return embed, shown


Ranks = dict[int, list[tuple[int, int]]]
"""Page number -> (rank, entry id) of the papers it shows, filled in as pages are read."""


class QueuePager(Pager):
    """The queue's Previous/Next buttons, for the member who asked, and a vote button for each paper on the page,
    for anyone: the same custom ids as a card's, answered by the card's vote button after any restart."""

    def __init__(self, *, owner_id: int, fetch: PageFetch, ranks: Ranks) -> None:
        super().__init__(owner_id=owner_id, fetch=fetch)
        self.ranks = ranks
        self.votes: list[discord.ui.Button[QueuePager]] = []

    def shown(self, pages: int) -> bool:
        """Whenever a page has papers to vote for."""
        return pages > 1 or bool(self.votes)

    def sync(self, page: int, pages: int) -> None:
        """The page buttons, and one vote button per paper the page shows, numbered by rank."""
        super().sync(page, pages)
        for button in self.votes:
            self.remove_item(button)
        self.votes = [
            discord.ui.Button(
                label=f"👍 {rank}",
                style=discord.ButtonStyle.success,
                custom_id=f"queue:{VOTE}:{entry_id}",
                row=1 + n // 5,
            )
            for n, (rank, entry_id) in enumerate(self.ranks.get(page, []))
        ]
        for button in self.votes:
            self.add_item(button)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Anyone may vote (the vote button answers); only the asker turns the pages."""
        data: dict[str, Any] = dict(interaction.data or {})
        if str(data.get("custom_id", "")).startswith(f"queue:{VOTE}:"):
            return False
        return await super().interaction_check(interaction)
