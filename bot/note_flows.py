"""The steps of writing a note that more than one command takes: the note form for a paper, saving (asking which
paper when unsure, offering an update when the member has a note there), the edit form, and posting the note (in
the channel, or in its paper's thread: bot/note_threads.py)."""

from __future__ import annotations

import logging

import discord

from bot.errors import View
from bot.interactions import NO_MENTIONS, guild_of
from bot.note_posts import retract, send_note
from bot.note_threads import NoteThreads
from bot.render import clip, link_label
from bot.views import NoteForm, PaperPicker, ask_to_confirm
from storage.errors import UserFacingError
from storage.group_settings import GroupSettingsService
from storage.identity import PaperKey
from storage.message_links import jump_url
from storage.note_posting import NotePosting, NoteTaken, PaperRef
from storage.note_text import modal_sections
from storage.notes import NoteService, NoteView
from storage.papers import Ambiguous, PaperService, PaperView

log = logging.getLogger(__name__)


def form_label(paper: PaperRef) -> str:
    """How the note form names the paper: its arXiv id (or what was typed), else its title."""
    if isinstance(paper, PaperView):
        return paper.arxiv_id or paper.display_title
    return paper.value if isinstance(paper, PaperKey) else paper.text


class NoteFlows:
    """Writing, saving, editing and posting a note, for the /note commands and a paper card's button alike."""

    def __init__(
        self,
        client: discord.Client,
        *,
        posting: NotePosting,
        notes: NoteService,
        papers: PaperService,
        guilds: GroupSettingsService,
        threads: NoteThreads,
    ) -> None:
        self.client = client
        self.threads = threads
        self.posting = posting
        self.notes = notes
        self.papers = papers
        self.guilds = guilds

    async def open_form(
        self, interaction: discord.Interaction, paper: PaperRef, *, tags: list[str] | None = None
    ) -> None:
        """Open the note form for a paper; a note the member already has on it is offered for editing instead."""
        existing = await self.posting.start_note(
            guild_id=guild_of(interaction), author_id=interaction.user.id, paper=paper
        )
        if existing is not None:
            await self.offer_edit(interaction, existing)
            return

        async def from_form(submitted: discord.Interaction, body: str, form_tags: list[str]) -> None:
            await submitted.response.defer(ephemeral=True, thinking=True)
            await self.save(submitted, paper, body, form_tags)

        await interaction.response.send_modal(
            NoteForm(title=f"Note on {form_label(paper)}", on_done=from_form, tags=tags)
        )

    async def save(self, interaction: discord.Interaction, paper: PaperRef, body: str, tags: list[str]) -> None:
        """Find the paper (asking when unsure), then save and post the note. ``interaction`` is already deferred."""
        result = await self.posting.add(
            guild_id=guild_of(interaction),
            author_id=interaction.user.id,
            author_name=interaction.user.display_name,
            paper=paper,
            body=body,
            tags=tags,
        )
        if isinstance(result, Ambiguous):

            async def save(picked: discord.Interaction, found: PaperView) -> None:
                await self.save(picked, found, body, tags)

            picker = PaperPicker(owner_id=interaction.user.id, found=result, on_pick=save, papers=self.papers)
            await interaction.followup.send(
                f"Several papers match “{clip(result.query, 100)}”. Pick the one you mean:",
                view=picker,
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )
        elif isinstance(result, NoteTaken):
            await self._offer_update(interaction, result, body, tags)
        else:
            await self.publish(interaction, result, verb="Saved")

    async def _offer_update(
        self, interaction: discord.Interaction, taken: NoteTaken, body: str, tags: list[str]
    ) -> None:
        async def update(pressed: discord.Interaction) -> None:
            await pressed.response.edit_message(content="Updating your note…", view=None)
            note = await self.notes.edit(
                guild_id=guild_of(pressed),
                note_id=taken.note_id,
                editor_id=pressed.user.id,
                body=body,
                tags=tags or None,
            )
            await self.publish(pressed, note, verb="Updated", replace=True)

        await ask_to_confirm(
            interaction,
            f"You already have a note on **{link_label(taken.paper.display_title, 200)}** (#{taken.note_id}). "
            "Update it with this text? The current version is kept in its history.",
            label="Update my note",
            style=discord.ButtonStyle.primary,
            action=update,
        )

    async def offer_edit(self, interaction: discord.Interaction, note: NoteView) -> None:
        """Offer the member's existing note on the paper for editing."""

        async def edit(pressed: discord.Interaction) -> None:
            await self.open_edit_form(pressed, note)

        await ask_to_confirm(
            interaction,
            f"You already have a note on **{link_label(note.paper.display_title, 200)}** (#{note.id}). "
            "Edit it instead?",
            label="Edit my note",
            style=discord.ButtonStyle.primary,
            action=edit,
        )

    async def open_edit_form(self, interaction: discord.Interaction, note: NoteView) -> None:
        """The note form filled with the note's sections and tags; sending it saves a new version."""
        sections = modal_sections(note.body)
        if sections is None:
            raise UserFacingError(
                f"Note #{note.id} is too long for the edit form (4,000 characters a section). "
                "Use `/note edit` with a `file` instead."
            )

        async def from_form(submitted: discord.Interaction, body: str, form_tags: list[str]) -> None:
            await submitted.response.defer(ephemeral=True, thinking=True)
            updated = await self.notes.edit(
                guild_id=note.guild_id, note_id=note.id, editor_id=submitted.user.id, body=body, tags=form_tags
            )
            await self.publish(submitted, updated, verb="Updated", replace=True)

        form = NoteForm(title=f"Edit note #{note.id}", on_done=from_form, sections=sections, tags=list(note.tags))
        await interaction.response.send_modal(form)

    async def publish(
        self, interaction: discord.Interaction, note: NoteView, *, verb: str, replace: bool = False
    ) -> None:
        """Post (or re-post) the note and tell the member where it is: in the channel, or in the paper's thread
        when the group has the threads setting on (an edited note goes back where it was)."""
        channel = interaction.channel
        posted: list[discord.Message] = []
        line: discord.Message | None = None
        thread_id = note.thread_id
        problem = ""
        if isinstance(channel, discord.abc.Messageable):
            if replace:
                await retract(self.client, note)
            try:
                posted, thread_id, line = await self._post(channel, note, replace=replace)
            except discord.HTTPException as exc:
                log.warning(
                    "guild=%s could not post note %s in channel %s: %s",
                    note.guild_id,
                    note.id,
                    interaction.channel_id,
                    exc,
                )
                problem = " I couldn't post it in this channel (missing permission?); `/note show` shows it."
        if posted or replace:  # a replaced note whose new post failed no longer points at deleted messages
            await self.notes.set_message(
                guild_id=note.guild_id,
                note_id=note.id,
                channel_id=posted[0].channel.id if posted else None,
                message_id=posted[0].id if posted else None,
                thread_id=thread_id,
                message_ids=[m.id for m in posted],
                line=(line.channel.id, line.id) if line is not None else None,
            )
        pending = (
            " arXiv isn't answering right now; the paper's details will be filled in later."
            if note.paper.pending
            else ""
        )
        where = f" [Jump to it]({jump_url(note.guild_id, posted[0].channel.id, posted[0].id)})." if posted else ""
        await interaction.followup.send(
            f"{verb} note #{note.id} on **{link_label(note.paper.display_title, 200)}**.{where}{pending}{problem}",
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    async def take_down(self, note: NoteView) -> None:
        """What the bot posted for a deleted note goes: its messages, and the line about it beside its paper's
        thread (the line that opened the thread is reworded instead). A message gone or out of reach is left be."""
        await retract(self.client, note)
        await self.threads.take_back_line(note)

    async def _post(
        self, channel: discord.abc.Messageable, note: NoteView, *, replace: bool
    ) -> tuple[list[discord.Message], int | None, discord.Message | None]:
        """The note's messages, its paper's thread and the line about it beside the thread: a new note goes in the
        paper's thread when the group has threads on, an edited one back into the thread it was in; otherwise (or
        with no thread to be had) in the channel. An edited note whose thread was gone is in a new thread, with a
        new line: its old line, leading to the old thread, is taken back as a deleted note's is."""
        was_in_thread = note.thread_id is not None and note.channel_id == note.thread_id
        if was_in_thread if replace else (await self.guilds.get(note.guild_id)).note_threads:
            placed = await self.threads.post(channel, note, announce=not replace)
            if placed is not None:
                if replace and placed.thread_id != note.thread_id:
                    await self.threads.take_back_line(note)
                return placed.messages, placed.thread_id, placed.line
        return await send_note(channel, note), None if was_in_thread else note.thread_id, None


class AddNoteButton(View):
    """Under a paper card: anyone may open the note form for this paper."""

    def __init__(self, *, paper: PaperView, flows: NoteFlows) -> None:
        super().__init__(owner_id=None, timeout=1800)
        self.paper = paper
        self.flows = flows

    @discord.ui.button(label="Add a note", style=discord.ButtonStyle.primary, custom_id="paper:add-note")
    async def add(self, interaction: discord.Interaction, button: discord.ui.Button[AddNoteButton]) -> None:
        """Open the form; an existing note is offered for editing instead."""
        await self.flows.open_form(interaction, self.paper)
