"""/paper, /search and /similar: looking things up in chat."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.autocomplete import paper_choices, tag_choices
from bot.interactions import NO_MENTIONS, MemberCooldown, guild_of
from bot.note_flows import AddNoteButton, NoteFlows
from bot.options import parse_since, tag_filter
from bot.paper_choice import PaperChoice
from bot.render import COLOUR, DESCRIPTION, bold_hits, clip, fitting, md_link, paper_card, plain, safe_url
from bot.views import fitted_pages, send_pages
from storage.identity import PaperKey, display_title, parse_paper
from storage.message_links import channel_url, jump_url
from storage.notes import NoteService
from storage.paper_threads import PaperThreads, linked_thread
from storage.papers import PaperService, PaperView
from storage.search import HIT_END, HIT_START, SearchFilters, SearchHit, SearchPage, SearchService, fts_query
from storage.similar import Similar, SimilarService

log = logging.getLogger(__name__)
SEARCH_PAGE = 5
SEARCHES_PER_MINUTE = 20  # per member: each search ranks the group's whole note index
SIMILAR_PER_MINUTE = 6  # per member: each /similar scores the paper against every paper the group knows


def search_item(hit: SearchHit, *, guild_id: int) -> str:
    """One result: its paper linked (the title escaped), who wrote it and when, and the snippet."""
    title = md_link(display_title(hit.paper_key, hit.paper_title), PaperKey(hit.paper_key).abs_url, 150)
    snippet = bold_hits(hit.snippet, start=HIT_START, end=HIT_END)
    if hit.kind != "note":
        return f"📄 **{title}**\n> {snippet}"
    when = f" · {hit.created_at:%Y-%m-%d}" if hit.created_at else ""
    url = jump_url(guild_id, hit.channel_id, hit.message_id)
    jump = f" · [message]({url})" if url else ""
    author = plain(clip(hit.author_name or "someone", 100))
    return f"📝 **{title}** — note #{hit.note_id} by {author}{when}{jump}\n> {snippet}"


SEARCH_HEADINGS = {"note": "__**The group's notes**__", "paper": "__**Papers the group knows**__"}


def search_embed(page: SearchPage, *, query: str, guild_id: int) -> tuple[discord.Embed, int]:
    """One page of search results with their snippets: as many of the page's hits as fit, and how many that is.

    The group's notes come first, then the papers it knows, each under its heading (again on a page that goes on
    with them).
    """
    embed = discord.Embed(title=clip(f"Search: {query}", 256), colour=COLOUR)
    if not page.hits:
        embed.description = (
            "Nothing found. Try fewer or other words, a prefix like `merg*`, or drop a filter."
            if page.offset == 0
            else "No more results."
        )
        return embed, 0
    items = []
    for n, hit in enumerate(page.hits):
        item = search_item(hit, guild_id=guild_id)
        starts_kind = n == 0 or page.hits[n - 1].kind != hit.kind
        items.append(f"{SEARCH_HEADINGS[hit.kind]}\n{item}" if starts_kind else item)
    shown = fitting(items, DESCRIPTION)
    embed.description = "\n\n".join(items[:shown])
    embed.set_footer(text=f"Results {page.offset + 1}–{page.offset + shown} · notes, then papers · best first")
    return embed, shown


def similar_embed(found: PaperView, related: list[Similar]) -> discord.Embed:
    """The papers like ``found``, each linked (the title escaped) with a line saying why, as many as fit."""
    embed = discord.Embed(title=clip(f"Like: {found.display_title}", 256), url=safe_url(found.url), colour=COLOUR)
    if not related:
        embed.description = (
            "Nothing the group knows reads like this paper yet."
            if found.title
            else "arXiv hasn't sent this paper's details yet, so there is nothing to compare. Try again soon."
        )
        return embed
    items = []
    for item in related:
        notes = f" · {item.notes} note{'s' if item.notes != 1 else ''}" if item.notes else ""
        why = clip(item.why, 500)  # search terms (letters and digits) and tags (checked names): nothing to escape
        items.append(f"**{md_link(item.paper.display_title, item.paper.url, 150)}**{notes}\n{why}")
    shown = fitting(items, DESCRIPTION - 40)
    embed.description = "\n\n".join(items[:shown])
    if shown < len(items):
        embed.description += f"\n\n…and {len(items) - shown} more"
    return embed


class Lookup(commands.Cog):
    """Paper cards, search and similar papers."""

    def __init__(
        self,
        bot: commands.Bot,
        *,
        papers: PaperService,
        notes: NoteService,
        threads: PaperThreads,
        search: SearchService,
        similar: SimilarService,
        flows: NoteFlows,
        choice: PaperChoice,
    ) -> None:
        self.bot = bot
        self.flows = flows
        self.choice = choice
        self.papers = papers
        self.notes = notes
        self.threads = threads
        self.search_service = search
        self.similar_service = similar
        self.searches = MemberCooldown(SEARCHES_PER_MINUTE, 60.0)
        self.similars = MemberCooldown(SIMILAR_PER_MINUTE, 60.0)

    # --- /paper ----------------------------------------------------------------------------------------------

    @app_commands.command(name="paper", description="A paper's card: details, links and the group's notes")
    @app_commands.guild_only()
    @app_commands.describe(query="arXiv id or link, DOI, any link, or words from the title")
    async def paper(self, interaction: discord.Interaction, query: app_commands.Range[str, 1, 1000]) -> None:
        """Show the card, asking which paper when the words match several."""
        wanted = parse_paper(query)  # a malformed id is told to its author alone, before the public answer starts
        await self.choice.resolve_then(interaction, wanted, self.send_card)

    async def send_card(self, interaction: discord.Interaction, paper: PaperView) -> None:
        """The paper card, with the group's thread on it and a button to add a note for members who have none."""
        guild_id = guild_of(interaction)
        page = await self.notes.page(guild_id=guild_id, paper_id=paper.id, limit=5)
        thread_id = linked_thread(await self.threads.thread(guild_id=guild_id, paper_id=paper.id))
        url = channel_url(guild_id, thread_id) if thread_id is not None else None
        card = paper_card(paper, page, thread=url)
        view = AddNoteButton(paper=paper, flows=self.flows)
        await interaction.followup.send(embed=card, view=view, allowed_mentions=NO_MENTIONS)

    # --- /search ---------------------------------------------------------------------------------------------

    @app_commands.command(name="search", description="Search the group's notes and known papers")
    @app_commands.guild_only()
    @app_commands.describe(
        query='Words to find; "quotes" for a phrase, merg* for a prefix',
        member="Only this member's notes",
        tag="Only notes with this tag (and its sub-tags)",
        since="Only since a date: 2025-01-31, or 7d, 2w, 3m",
    )
    async def search(
        self,
        interaction: discord.Interaction,
        query: app_commands.Range[str, 1, 300],
        member: discord.Member | None = None,
        tag: str | None = None,
        since: str | None = None,
    ) -> None:
        """Ranked results with snippets, a page at a time."""
        guild_id = guild_of(interaction)
        filters = SearchFilters(author_id=member.id if member else None, tag=tag_filter(tag), since=parse_since(since))
        fts_query(query)  # nothing to search for is told to its author alone, before the public answer starts
        self.searches.check(interaction)  # a mistyped filter or query costs no use
        await interaction.response.defer(thinking=True)  # acknowledged before the database is read

        async def read(page: int, offset: int) -> tuple[discord.Embed, int, bool]:  # as many results as fit
            result = await self.search_service.search(
                guild_id=guild_id, query=query, filters=filters, offset=offset, limit=SEARCH_PAGE
            )
            embed, shown = search_embed(result, query=query, guild_id=guild_id)
            return embed, shown, shown < len(result.hits) or result.has_more

        await send_pages(interaction, fitted_pages(read), cooldown=self.searches)  # each page is a search

    @search.autocomplete("tag")
    async def search_tag_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """The group's tags."""
        return await tag_choices(self.notes, interaction, current)

    # --- /similar --------------------------------------------------------------------------------------------

    @app_commands.command(name="similar", description="Papers the group knows that are like this one")
    @app_commands.guild_only()
    @app_commands.describe(paper="arXiv id or link, DOI, any link, or words from the title")
    async def similar(self, interaction: discord.Interaction, paper: app_commands.Range[str, 1, 1000]) -> None:
        """Related papers, each with a line saying why."""
        wanted = parse_paper(paper)
        self.similars.check(interaction)
        await self.choice.resolve_then(interaction, wanted, self.send_similar)

    async def send_similar(self, interaction: discord.Interaction, found: PaperView) -> None:
        """The related papers, each with a line saying why."""
        related = await self.similar_service.similar(guild_id=guild_of(interaction), paper=found)
        embed = similar_embed(found, related)
        await interaction.followup.send(embed=embed, allowed_mentions=NO_MENTIONS)

    @paper.autocomplete("query")
    @similar.autocomplete("paper")
    async def paper_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        """The group's papers matching what is typed."""
        return await paper_choices(self.papers, interaction, current)
