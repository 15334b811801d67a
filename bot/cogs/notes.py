"""/note add, edit, delete, show and /notes: members' paper notes."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.autocomplete import paper_choices, tag_choices
from bot.interactions import NO_MENTIONS, answer, guild_of, server_moderator
from bot.note_flows import NoteFlows
from bot.note_posts import history_pages, show_note
from bot.options import note_text, parse_note_id, parse_since, tag_filter
from bot.render import link_label, note_list_embed
from bot.views import HistoryButton, ask_to_confirm, fitted_pages, fixed_pages, send_pages
from storage.errors import NotFoundError
from storage.identity import paper_key, parse_paper
from storage.note_posting import NotePosting
from storage.note_text import parse_tags
from storage.notes import NoteService
from storage.papers import PaperService

log = logging.getLogger(__name__)

PAGE_SIZE = 8


@app_commands.guild_only()
class Notes(commands.GroupCog, group_name="note", group_description="Post, edit, show and delete paper notes"):
    """Members' notes on papers."""

    def __init__(
        self, bot: commands.Bot, *, notes: NoteService, papers: PaperService, posting: NotePosting, flows: NoteFlows
    ) -> None:
        super().__init__()
        self.bot = bot
        self.notes = notes
        self.papers = papers
        self.posting = posting
        self.flows = flows

    # --- /note add -------------------------------------------------------------------------------------------

    @app_commands.command(name="add", description="Save your note on a paper (no text or file opens a form)")
    @app_commands.describe(
        paper="arXiv id or link, DOI, any link, or words from the title",
        tags="Topics, comma-separated, nested with / (llms/prompting)",
        text="The note itself, for a short one",
        file="A .md or .txt file with a long note (up to 1 MB)",
    )
    async def add(
        self,
        interaction: discord.Interaction,
        paper: app_commands.Range[str, 1, 1000],
        tags: app_commands.Range[str, 0, 400] | None = None,
        text: app_commands.Range[str, 1, 6000] | None = None,
        file: discord.Attachment | None = None,
    ) -> None:
        """Save a note, or open the form when neither text nor file is given."""
        guild_of(interaction)  # a server's command: said before anything else
        wanted = parse_paper(paper)  # parsed once: a malformed id is told before anything opens
        tag_names = parse_tags(tags)
        if text is None and file is None:
            await self.flows.open_form(interaction, wanted, tags=tag_names)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.flows.save(interaction, wanted, await note_text(text, file), tag_names)

    # --- /note edit ------------------------------------------------------------------------------------------

    @app_commands.command(name="edit", description="Edit your note (the earlier version is kept)")
    @app_commands.describe(
        note="Your note: start typing the paper's title",
        text="New text for the whole note (leave empty to edit in a form)",
        file="A .md or .txt file with the new text",
        tags="New tags, comma-separated (replaces the current ones)",
        paper="The paper's arXiv id or link: links a note imported by its title alone",
    )
    async def edit(
        self,
        interaction: discord.Interaction,
        note: str,
        text: app_commands.Range[str, 1, 6000] | None = None,
        file: discord.Attachment | None = None,
        tags: app_commands.Range[str, 0, 400] | None = None,
        paper: app_commands.Range[str, 1, 300] | None = None,
    ) -> None:
        """Open the edit form, or replace the text, tags or paper directly."""
        guild_id = guild_of(interaction)
        current = await self.posting.editable(
            guild_id=guild_id, note_id=parse_note_id(note), editor_id=interaction.user.id
        )
        new_tags = parse_tags(tags) if tags is not None else None
        target = paper_key(paper) if paper is not None else None
        if text is None and file is None and new_tags is None and target is None:
            await self.flows.open_edit_form(interaction, current)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        updated = await self.posting.edit(
            guild_id=guild_id,
            note_id=current.id,
            editor_id=interaction.user.id,
            body=await note_text(text, file) if text is not None or file is not None else None,
            tags=new_tags,
            paper=target,
        )
        await self.flows.publish(interaction, updated, verb="Updated", replace=True)

    # --- papers' threads deleted on Discord ------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_raw_thread_delete(self, payload: discord.RawThreadDeleteEvent) -> None:
        """A paper's thread deleted on Discord is forgotten; never let a failure escape."""
        try:
            await self.flows.threads.forget(payload.guild_id, payload.thread_id)
        except Exception:
            log.exception("guild=%s thread %s deletion not recorded", payload.guild_id, payload.thread_id)

    @commands.Cog.listener()
    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        """A channel deleted on Discord takes its threads along, papers' threads too, with no event for each (only
        the threads the bot has in view get one); never let a failure escape."""
        try:
            await self.flows.threads.forget_channel(channel.guild.id, channel.id)
        except Exception:
            log.exception("guild=%s channel %s deletion not recorded", channel.guild.id, channel.id)

    # --- /note delete ----------------------------------------------------------------------------------------

    @app_commands.command(name="delete", description="Delete a note (yours, or any with Manage Messages)")
    @app_commands.describe(note="The note: start typing the paper's title")
    async def delete(self, interaction: discord.Interaction, note: str) -> None:
        """Ask for confirmation, then delete."""
        guild_id = guild_of(interaction)
        note_id = parse_note_id(note)
        moderator = server_moderator(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)  # acknowledged before the database is read
        target = await self.notes.check_delete(
            guild_id=guild_id, note_id=note_id, member_id=interaction.user.id, moderator=moderator
        )

        async def really_delete(pressed: discord.Interaction) -> None:
            gone = await self.notes.delete(
                guild_id=guild_id, note_id=note_id, member_id=pressed.user.id, moderator=moderator
            )
            await pressed.response.edit_message(
                content=f"Deleted note #{gone.id} on **{link_label(gone.paper.display_title, 200)}**.", view=None
            )
            await self.flows.take_down(gone)

        whose = "your note" if target.author_id == interaction.user.id else f"{target.author_name}'s note"
        await ask_to_confirm(
            interaction,
            f"Delete {whose} #{target.id} on **{link_label(target.paper.display_title, 200)}**? "
            "This removes it and its earlier versions.",
            label="Delete",
            style=discord.ButtonStyle.danger,
            action=really_delete,
        )

    # --- /note show ------------------------------------------------------------------------------------------

    @app_commands.command(name="show", description="Show a whole note (only to you)")
    @app_commands.describe(note="The note: start typing the paper's title or the author")
    async def show(self, interaction: discord.Interaction, note: str) -> None:
        """The full note in at most three messages (then its start and the whole note as a file)."""
        guild_id = guild_of(interaction)
        note_id = parse_note_id(note)
        await interaction.response.defer(ephemeral=True, thinking=True)  # acknowledged before the database is read
        shown = await self.notes.get(guild_id=guild_id, note_id=note_id)
        button = None
        if shown.revision > 1:

            async def open_history(pressed: discord.Interaction) -> None:
                await self._send_history(pressed, guild_id, shown.id)

            button = HistoryButton(owner_id=interaction.user.id, open_history=open_history)
        await show_note(interaction, shown, view=button)

    # --- /note history ---------------------------------------------------------------------------------------

    @app_commands.command(name="history", description="Every earlier version of a note, with its date and editor")
    @app_commands.describe(note="The note: start typing the paper's title or the author")
    async def history(self, interaction: discord.Interaction, note: str) -> None:
        """The note's earlier versions, newest first, a page at a time, to the member alone."""
        await self._send_history(interaction, guild_of(interaction), parse_note_id(note))

    async def _send_history(self, interaction: discord.Interaction, guild_id: int, note_id: int) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)  # acknowledged before the database is read
        pages = history_pages(*await self.notes.history(guild_id=guild_id, note_id=note_id))
        if not pages:
            await answer(
                interaction,
                content=f"Note #{note_id} has not been edited: it has no earlier versions.",
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )
            return

        await send_pages(interaction, fixed_pages(pages), ephemeral=True)

    # --- autocomplete ----------------------------------------------------------------------------------------

    @add.autocomplete("paper")
    async def paper_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        """The group's papers matching what is typed; the typed text itself is always allowed."""
        return await paper_choices(self.papers, interaction, current)

    @edit.autocomplete("note")
    async def own_note_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        """The member's own notes."""
        return await self._note_choices(interaction, current, own=True)

    @delete.autocomplete("note")
    async def deletable_note_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """The member's notes, or every note for moderators."""
        return await self._note_choices(interaction, current, own=not server_moderator(interaction))

    @show.autocomplete("note")
    @history.autocomplete("note")
    async def any_note_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        """Every note in the group."""
        return await self._note_choices(interaction, current, own=False)

    async def _note_choices(
        self, interaction: discord.Interaction, current: str, *, own: bool
    ) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None:
            return []
        found = await self.notes.autocomplete(
            guild_id=interaction.guild_id, author_id=interaction.user.id if own else None, text=current
        )
        return [app_commands.Choice(name=label, value=str(note_id)) for note_id, label in found]

    @add.autocomplete("tags")
    @edit.autocomplete("tags")
    async def tag_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        """The group's tags, completing the last one in a comma-separated list."""
        return await tag_choices(self.notes, interaction, current)


class NoteLists(commands.Cog):
    """/notes: browse the group's notes."""

    def __init__(self, *, notes: NoteService, papers: PaperService) -> None:
        self.notes = notes
        self.papers = papers

    @app_commands.command(name="notes", description="Browse the group's notes, newest first")
    @app_commands.guild_only()
    @app_commands.describe(
        member="Only this member's notes",
        tag="Only notes with this tag (and its sub-tags)",
        paper="Only notes on this paper",
        since="Only notes since a date: 2025-01-31, or 7d, 2w, 3m",
    )
    async def list_notes(
        self,
        interaction: discord.Interaction,
        member: discord.Member | None = None,
        tag: str | None = None,
        paper: str | None = None,
        since: str | None = None,
    ) -> None:
        """A page of notes with buttons for the rest."""
        guild_id = guild_of(interaction)
        tag_name = tag_filter(tag)
        start = parse_since(since)
        await interaction.response.defer(ephemeral=True, thinking=True)  # acknowledged before the database is read
        paper_id = await self._known_paper(guild_id, paper) if paper else None
        filters = [
            f
            for f in (
                member and f"by {member.display_name}",
                tag_name and f"tagged {tag_name}",
                paper and "on one paper",
                start and f"since {start:%Y-%m-%d}",
            )
            if f
        ]
        heading = "Notes" + (f" ({', '.join(filters)})" if filters else "")

        async def read(page: int, offset: int) -> tuple[discord.Embed, int, bool]:  # as many notes as fit
            result = await self.notes.page(
                guild_id=guild_id,
                author_id=member.id if member else None,
                tag=tag_name,
                paper_id=paper_id,
                since=start,
                offset=offset,
                limit=PAGE_SIZE,
            )
            embed, shown = note_list_embed(result, heading=heading, number=page)
            return embed, shown, offset + shown < result.total

        await send_pages(interaction, fitted_pages(read), ephemeral=True)

    async def _known_paper(self, guild_id: int, text: str) -> int:
        paper = await self.papers.find_known(guild_id=guild_id, text=text)
        if paper is None:
            raise NotFoundError("The group has no notes on that paper yet. Pick one from the list as you type.")
        return paper.id

    @list_notes.autocomplete("paper")
    async def paper_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        """The group's papers."""
        return await paper_choices(self.papers, interaction, current)

    @list_notes.autocomplete("tag")
    async def tag_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        """The group's tags."""
        return await tag_choices(self.notes, interaction, current)
