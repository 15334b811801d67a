"""/queue propose, list and remove, the vote buttons on proposal cards, and 📌 reactions that propose a paper."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.autocomplete import paper_choices
from bot.interactions import NO_MENTIONS, answer, guild_of, server_moderator
from bot.paper_choice import PaperChoice
from bot.queue_flows import QueueFlows
from bot.queue_render import QueuePager, Ranks, queue_embed
from bot.render import clip, plain
from bot.requesters import ask_as
from bot.views import fitted_pages, send_pages
from storage.errors import UserFacingError
from storage.identity import parse_paper
from storage.papers import PaperService, PaperView
from storage.queue import QueueService, check_why

log = logging.getLogger(__name__)

PIN = "📌"
PAGE_SIZE = 8


@app_commands.guild_only()
class Queue(commands.GroupCog, group_name="queue", group_description="The group's reading queue, ranked by votes"):
    """The reading queue: proposals, votes, pins."""

    def __init__(
        self, bot: commands.Bot, *, queue: QueueService, papers: PaperService, choice: PaperChoice, flows: QueueFlows
    ) -> None:
        super().__init__()
        self.bot = bot
        self.queue = queue
        self.papers = papers
        self.choice = choice
        self.flows = flows

    async def cog_load(self) -> None:
        """The vote buttons answer on every card, also those posted before a restart."""
        self.bot.add_dynamic_items(self.flows.buttons)

    async def cog_unload(self) -> None:
        """Stop answering the vote buttons."""
        self.bot.remove_dynamic_items(self.flows.buttons)

    # --- /queue propose --------------------------------------------------------------------------------------

    @app_commands.command(name="propose", description="Propose a paper for the group to read, with vote buttons")
    @app_commands.describe(
        paper="arXiv id or link, DOI, any link, or words from the title",
        why="Why the group should read it (up to 300 characters)",
    )
    async def propose(
        self,
        interaction: discord.Interaction,
        paper: app_commands.Range[str, 1, 1000],
        why: app_commands.Range[str, 1, 1000] | None = None,
    ) -> None:
        """Post the proposal's card, or say where the paper already is."""
        wanted = parse_paper(paper)  # a malformed id or too long a reason is told to the member alone
        reason = check_why(why)

        async def then(pressed: discord.Interaction, found: PaperView) -> None:
            await self.flows.propose(pressed, found, reason)

        await self.choice.resolve_then(interaction, wanted, then)

    @propose.autocomplete("paper")
    async def propose_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        """The group's papers matching what is typed; the typed text itself is always allowed."""
        return await paper_choices(self.papers, interaction, current)

    # --- /queue list -----------------------------------------------------------------------------------------

    @app_commands.command(name="list", description="The reading queue: most votes first, then the oldest proposal")
    async def list_queue(self, interaction: discord.Interaction) -> None:
        """The ranked queue, a page at a time."""
        guild_id = guild_of(interaction)
        await interaction.response.defer(thinking=True)  # acknowledged before the database is read

        ranks: Ranks = {}

        async def read(page: int, offset: int) -> tuple[discord.Embed, int, bool]:
            found = await self.queue.page(guild_id=guild_id, offset=offset, limit=PAGE_SIZE)
            embed, shown = queue_embed(found)
            ranks[page] = [(offset + n + 1, item.id) for n, item in enumerate(found.items[:shown])]
            return embed, shown, offset + shown < found.total

        fetch = fitted_pages(read)
        await send_pages(interaction, fetch, pager=QueuePager(owner_id=interaction.user.id, fetch=fetch, ranks=ranks))

    # --- /queue remove ---------------------------------------------------------------------------------------

    @app_commands.command(name="remove", description="Take a paper off the queue (yours, or any with Manage Messages)")
    @app_commands.describe(paper="The queued paper: start typing its title")
    async def remove(self, interaction: discord.Interaction, paper: app_commands.Range[str, 1, 1000]) -> None:
        """Take it off, keeping its history, and say so on its card."""
        guild_id = guild_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        gone = await self.queue.remove(
            guild_id=guild_id, text=paper, member_id=interaction.user.id, moderator=server_moderator(interaction)
        )
        await answer(
            interaction,
            content=f"Took **{plain(clip(gone.paper.display_title, 200))}** off the reading queue.",
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )
        await self.flows.show_card(gone)

    @remove.autocomplete("paper")
    async def queued_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        """The group's queued papers, the top of the queue first."""
        if interaction.guild_id is None:
            return []
        found = await self.queue.choices(guild_id=interaction.guild_id, text=current)
        return [app_commands.Choice(name=label, value=key[:100]) for key, label in found]

    # --- 📌 reactions ----------------------------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        """A member's 📌 on a message with a paper link proposes the paper; never let a failure escape."""
        if payload.guild_id is None or str(payload.emoji) != PIN or payload.user_id == getattr(self.bot.user, "id", 0):
            return
        ask_as(payload.guild_id, payload.user_id)  # an arXiv lookup takes its server's turn
        try:
            await self.flows.pinned(payload, guild_id=payload.guild_id)
        except UserFacingError as exc:  # nobody to tell without a channel message: logged
            log.info("guild=%s pin on message %s: %s", payload.guild_id, payload.message_id, exc.message)
        except Exception:
            log.exception("guild=%s pin on message %s failed", payload.guild_id, payload.message_id)
