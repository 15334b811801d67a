"""/note add, edit, delete, show and /notes: members' paper notes."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import Modal, View
from bot.interactions import NO_MENTIONS, ConfirmView, guild_of
from bot.note_posts import history_pages, retract, send_note, show_note
from bot.render import clip, note_list_embed
from storage.errors import AlreadyNotedError, NotFoundError, UserFacingError, ValidationError
from storage.group_settings import GroupSettingsService
from storage.identity import PaperKey, paper_key, parse_paper
from storage.note_text import MAX_FILE_BYTES, SECTION_NAMES, compose_body, decode_note_file, modal_sections, parse_tags
from storage.notes import NoteService, NoteView
from storage.papers import Ambiguous, PaperService, PaperView
from storage.titles import TitleService

log = logging.getLogger(__name__)

PAGE_SIZE = 8
SECTION_HINTS = {
    "Summary": "What the paper does, in your words",
    "Method": "How they do it",
    "Results": "What they found",
    "Questions": "What you'd ask the authors or the group (one per line)",
}

SaveFn = Callable[[discord.Interaction, PaperView], Awaitable[None]]


def parse_note_id(text: str) -> int:
    """A note id from what was typed or picked (``12``, ``#12``, or an autocomplete value)."""
    m = re.fullmatch(r"\s*#?(\d{1,18})\b.*", text or "", re.DOTALL)
    if not m:
        raise ValidationError("Pick a note from the list as you type, or give its number (`12` or `#12`).")
    return int(m[1])


def parse_since(text: str | None, *, now: datetime | None = None) -> datetime | None:
    """A start date from ``2025-01-31``, ``7d``, ``2w``, ``3m``, ``today`` or ``yesterday``."""
    if not text or not text.strip():
        return None
    value = text.strip().lower()
    now = now or datetime.now(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if value in ("today", "yesterday"):
        return today - timedelta(days=1 if value == "yesterday" else 0)
    if m := re.fullmatch(r"(\d{1,4})\s*(d|w|m|y)", value):
        days = int(m[1]) * {"d": 1, "w": 7, "m": 30, "y": 365}[m[2]]
        return now - timedelta(days=days)
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError:
        pass
    raise ValidationError(f"`{clip(text, 40)}` is not a date: use `2025-01-31`, or `7d`, `2w`, `3m` for “since”.")


async def read_attachment(file: discord.Attachment) -> str:
    """The text of an attached note file, checked before and after download."""
    if file.size > MAX_FILE_BYTES:
        raise ValidationError(f"`{file.filename}` is {file.size / 1e6:.1f} MB; note files can be at most 1 MB.")
    try:
        data = await file.read()
    except discord.HTTPException as exc:
        raise UserFacingError(f"I couldn't download `{file.filename}` ({exc.status}). Attach it again.") from exc
    return decode_note_file(file.filename, data)


class NoteForm(Modal):
    """Summary, Method, Results, Questions and Tags, 4,000 characters each."""

    def __init__(
        self,
        *,
        title: str,
        on_done: Callable[[discord.Interaction, str, list[str]], Awaitable[None]],
        sections: dict[str, str] | None = None,
        tags: list[str] | None = None,
    ) -> None:
        super().__init__(title=clip(title, 45), timeout=1800)
        self.on_done = on_done
        self.fields: dict[str, discord.ui.TextInput[NoteForm]] = {}
        for name in SECTION_NAMES:
            field: discord.ui.TextInput[NoteForm] = discord.ui.TextInput(
                label=name,
                style=discord.TextStyle.paragraph,
                required=False,
                max_length=4000,
                placeholder=SECTION_HINTS[name],
                default=(sections or {}).get(name) or None,
                custom_id=f"note:{name.lower()}",
            )
            self.fields[name] = field
            self.add_item(field)
        self.tags_field: discord.ui.TextInput[NoteForm] = discord.ui.TextInput(
            label="Tags",
            required=False,
            max_length=400,
            placeholder="comma-separated, nested with / (llms/prompting, rl)",
            default=", ".join(tags) if tags else None,
            custom_id="note:tags",
        )
        self.add_item(self.tags_field)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        """Check the form, then hand the note on."""
        body = compose_body({name: field.value for name, field in self.fields.items()})
        tags = parse_tags(self.tags_field.value)
        await self.on_done(interaction, body, tags)


class PaperPicker(View):
    """Up to five papers that may be the one meant; the member picks."""

    def __init__(self, *, owner_id: int, found: Ambiguous, on_pick: SaveFn, papers: PaperService) -> None:
        super().__init__(owner_id=owner_id)
        self.found = found
        self.on_pick = on_pick
        self.papers = papers
        options = [
            discord.SelectOption(label=clip(c.title, 100), value=c.key, description=clip(f"{c.detail} · {c.key}", 100))
            for c in found.candidates
        ]
        self.pick.options = options

    # cls is discord.py's default, given so that the type checker knows what ``self.pick`` is
    @discord.ui.select(
        cls=discord.ui.Select,
        placeholder="Which paper do you mean?",
        custom_id="pick-paper",
        min_values=1,
        max_values=1,
    )
    async def pick(self, interaction: discord.Interaction, select: discord.ui.Select[PaperPicker]) -> None:
        """Use the picked paper."""
        self.stop()
        key = select.values[0]
        chosen = next(c for c in self.found.candidates if c.key == key)
        await interaction.response.edit_message(content=f"Using **{clip(chosen.title, 200)}**…", view=None)
        paper = await self.papers.ensure(PaperKey(key), metadata=chosen.metadata)
        await self.on_pick(interaction, paper)


class Pager(View):
    """Previous / next buttons over a note listing."""

    def __init__(self, *, owner_id: int, fetch: Callable[[int], Awaitable[tuple[discord.Embed, int, int]]]) -> None:
        super().__init__(owner_id=owner_id)
        self.fetch = fetch
        self.page = 1

    def sync(self, page: int, pages: int) -> None:
        """Enable only the buttons that lead somewhere."""
        self.page = page
        self.previous.disabled = page <= 1
        self.next.disabled = page >= pages

    async def _show(self, interaction: discord.Interaction, page: int) -> None:
        embed, page, pages = await self.fetch(page)
        self.sync(page, pages)
        await interaction.response.edit_message(embed=embed, view=self, allowed_mentions=NO_MENTIONS)

    @discord.ui.button(label="◀ Previous", style=discord.ButtonStyle.secondary, custom_id="page:previous")
    async def previous(self, interaction: discord.Interaction, button: discord.ui.Button[Pager]) -> None:
        """The page before."""
        await self._show(interaction, self.page - 1)

    @discord.ui.button(label="Next ▶", style=discord.ButtonStyle.secondary, custom_id="page:next")
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button[Pager]) -> None:
        """The page after."""
        await self._show(interaction, self.page + 1)


def server_moderator(interaction: discord.Interaction) -> bool:
    """Manage Messages in the server itself: a channel's overwrite granting it does not make a member a moderator."""
    user = interaction.user
    return isinstance(user, discord.Member) and user.guild_permissions.manage_messages


class HistoryButton(View):
    """A "History" button under a shown note that has earlier versions."""

    def __init__(self, *, owner_id: int, open_history: Callable[[discord.Interaction], Awaitable[None]]) -> None:
        super().__init__(owner_id=owner_id)
        self.open_history = open_history

    @discord.ui.button(label="History", style=discord.ButtonStyle.secondary, custom_id="note:history")
    async def history(self, interaction: discord.Interaction, button: discord.ui.Button[HistoryButton]) -> None:
        """Every earlier version, to the member alone."""
        await self.open_history(interaction)


@app_commands.guild_only()
class Notes(commands.GroupCog, group_name="note", group_description="Post, edit, show and delete paper notes"):
    """Members' notes on papers."""

    def __init__(
        self,
        bot: commands.Bot,
        *,
        notes: NoteService,
        papers: PaperService,
        guilds: GroupSettingsService,
        titles: TitleService,
    ) -> None:
        super().__init__()
        self.bot = bot
        self.guilds = guilds
        self.notes = notes
        self.papers = papers
        self.titles = titles

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
        guild_id = guild_of(interaction)
        parsed = parse_paper(paper)
        tag_names = parse_tags(tags)
        if text is None and file is None:
            if isinstance(parsed, PaperKey):
                existing = await self.notes.find_by_key(
                    guild_id=guild_id, key=parsed.key, author_id=interaction.user.id
                )
                if existing is not None:
                    await self.offer_edit(interaction, existing)
                    return
            label = parsed.value if isinstance(parsed, PaperKey) else parsed.text
            await self.notes.check_room(guild_id=guild_id, author_id=interaction.user.id)  # before anything is typed

            async def from_form(submitted: discord.Interaction, body: str, form_tags: list[str]) -> None:
                await submitted.response.defer(ephemeral=True, thinking=True)
                await self._resolve_then_save(submitted, paper, body, form_tags)

            await interaction.response.send_modal(NoteForm(title=f"Note on {label}", on_done=from_form, tags=tag_names))
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        parts = []
        if text is not None:
            parts.append(text)
        if file is not None:
            parts.append(await read_attachment(file))
        await self._resolve_then_save(interaction, paper, "\n\n".join(parts), tag_names)

    async def _resolve_then_save(
        self, interaction: discord.Interaction, paper: str, body: str, tags: list[str]
    ) -> None:
        """Find the paper (asking when unsure), then save. ``interaction`` is already deferred."""
        guild_id = guild_of(interaction)

        async def save(inter: discord.Interaction, found: PaperView) -> None:
            await self.save_note(inter, found, body, tags)

        resolved = await self.papers.resolve(guild_id=guild_id, text=paper)
        if isinstance(resolved, Ambiguous):
            picker = PaperPicker(owner_id=interaction.user.id, found=resolved, on_pick=save, papers=self.papers)
            await interaction.followup.send(
                f"Several papers match “{clip(resolved.query, 100)}”. Pick the one you mean:",
                view=picker,
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )
            return
        await save(interaction, resolved)

    async def save_note(self, interaction: discord.Interaction, paper: PaperView, body: str, tags: list[str]) -> None:
        guild_id = guild_of(interaction)
        try:
            note = await self.notes.add(
                guild_id=guild_id,
                paper_id=paper.id,
                author_id=interaction.user.id,
                author_name=interaction.user.display_name,
                body=body,
                tags=tags,
            )
        except AlreadyNotedError as exc:
            await self._offer_update(interaction, exc.note_id, paper, body, tags)
            return
        await self._publish(interaction, note, verb="Saved")

    async def _offer_update(
        self, interaction: discord.Interaction, note_id: int, paper: PaperView, body: str, tags: list[str]
    ) -> None:
        async def update(pressed: discord.Interaction) -> None:
            await pressed.response.edit_message(content="Updating your note…", view=None)
            guild_id = guild_of(pressed)
            note = await self.notes.edit(
                guild_id=guild_id, note_id=note_id, editor_id=pressed.user.id, body=body, tags=tags or None
            )
            await self._publish(pressed, note, verb="Updated", replace=True)

        view = ConfirmView(
            owner_id=interaction.user.id, label="Update my note", style=discord.ButtonStyle.primary, action=update
        )
        await interaction.followup.send(
            f"You already have a note on **{clip(paper.display_title, 200)}** (#{note_id}). "
            "Update it with this text? The current version is kept in its history.",
            view=view,
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    async def offer_edit(self, interaction: discord.Interaction, note: NoteView) -> None:
        async def edit(pressed: discord.Interaction) -> None:
            await self._open_edit_form(pressed, note)

        view = ConfirmView(
            owner_id=interaction.user.id, label="Edit my note", style=discord.ButtonStyle.primary, action=edit
        )
        await interaction.response.send_message(
            f"You already have a note on **{clip(note.paper.display_title, 200)}** (#{note.id}). Edit it instead?",
            view=view,
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    async def _publish(
        self, interaction: discord.Interaction, note: NoteView, *, verb: str, replace: bool = False
    ) -> None:
        """Post (or re-post) the note in the channel and tell the member where it is."""
        channel = interaction.channel
        posted: list[discord.Message] = []
        problem = ""
        if isinstance(channel, discord.abc.Messageable):
            if replace:
                await retract(self.bot, note)
            try:
                posted = await send_note(channel, note)
            except discord.HTTPException as exc:
                log.warning(
                    "guild=%s could not post note %s in channel %s: %s",
                    note.guild_id,
                    note.id,
                    interaction.channel_id,
                    exc,
                )
                problem = " I couldn't post it in this channel (missing permission?); `/note show` shows it."
        thread_id = note.thread_id
        if posted and not replace and (await self.guilds.get(note.guild_id)).note_threads:
            thread_id = await self._open_thread(posted[0], note)
        if posted or replace:  # a replaced note whose new post failed no longer points at deleted messages
            await self.notes.set_message(
                guild_id=note.guild_id,
                note_id=note.id,
                channel_id=posted[0].channel.id if posted else None,
                message_id=posted[0].id if posted else None,
                thread_id=thread_id,
                message_ids=[m.id for m in posted],
            )
        pending = (
            " arXiv isn't answering right now; the paper's details will be filled in later."
            if note.paper.pending
            else ""
        )
        where = f" [Jump to it]({posted[0].jump_url})." if posted else ""
        await interaction.followup.send(
            f"{verb} note #{note.id} on **{clip(note.paper.display_title, 200)}**.{where}{pending}{problem}",
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    async def _open_thread(self, message: discord.Message, note: NoteView) -> int | None:
        """A discussion thread under a newly posted note."""
        try:
            thread = await message.create_thread(name=clip(note.paper.display_title, 100), auto_archive_duration=10080)
        except discord.HTTPException as exc:
            log.info("guild=%s no thread for note %s: %s", note.guild_id, note.id, exc)
            return None
        return thread.id

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
        note_id = parse_note_id(note)
        current = await self.notes.get(guild_id=guild_id, note_id=note_id)
        if current.author_id != interaction.user.id:
            raise UserFacingError(f"Note #{note_id} is {current.author_name}'s; only its author can edit it.")
        new_tags = parse_tags(tags) if tags is not None else None
        target = paper_key(paper) if paper is not None else None
        if text is None and file is None and new_tags is None and target is None:
            await self._open_edit_form(interaction, current)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        if target is not None:
            linked = await self.papers.ensure(target)
            note_id = await self.titles.link_note(
                guild_id=guild_id, note_id=note_id, editor_id=interaction.user.id, paper_id=linked.id
            )
            if text is None and file is None and new_tags is None:
                await self._publish(
                    interaction, await self.notes.get(guild_id=guild_id, note_id=note_id), verb="Updated", replace=True
                )
                return
        body = None
        if text is not None or file is not None:
            body = "\n\n".join([*([text] if text else []), *([await read_attachment(file)] if file else [])])
        updated = await self.notes.edit(
            guild_id=guild_id, note_id=note_id, editor_id=interaction.user.id, body=body, tags=new_tags
        )
        await self._publish(interaction, updated, verb="Updated", replace=True)

    async def _open_edit_form(self, interaction: discord.Interaction, note: NoteView) -> None:
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
            await self._publish(submitted, updated, verb="Updated", replace=True)

        form = NoteForm(title=f"Edit note #{note.id}", on_done=from_form, sections=sections, tags=list(note.tags))
        await interaction.response.send_modal(form)

    # --- /note delete ----------------------------------------------------------------------------------------

    @app_commands.command(name="delete", description="Delete a note (yours, or any with Manage Messages)")
    @app_commands.describe(note="The note: start typing the paper's title")
    async def delete(self, interaction: discord.Interaction, note: str) -> None:
        """Ask for confirmation, then delete."""
        guild_id = guild_of(interaction)
        note_id = parse_note_id(note)
        moderator = server_moderator(interaction)
        target = await self.notes.check_delete(
            guild_id=guild_id, note_id=note_id, member_id=interaction.user.id, moderator=moderator
        )

        async def really_delete(pressed: discord.Interaction) -> None:
            gone = await self.notes.delete(
                guild_id=guild_id, note_id=note_id, member_id=pressed.user.id, moderator=moderator
            )
            await pressed.response.edit_message(
                content=f"Deleted note #{gone.id} on **{clip(gone.paper.display_title, 200)}**.", view=None
            )
            await retract(self.bot, gone)

        whose = "your note" if target.author_id == interaction.user.id else f"{target.author_name}'s note"
        view = ConfirmView(
            owner_id=interaction.user.id, label="Delete", style=discord.ButtonStyle.danger, action=really_delete
        )
        await interaction.response.send_message(
            f"Delete {whose} #{target.id} on **{clip(target.paper.display_title, 200)}**? "
            "This removes it and its earlier versions.",
            view=view,
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    # --- /note show ------------------------------------------------------------------------------------------

    @app_commands.command(name="show", description="Show a whole note (only to you)")
    @app_commands.describe(note="The note: start typing the paper's title or the author")
    async def show(self, interaction: discord.Interaction, note: str) -> None:
        """The full note in at most three messages (then its start and the whole note as a file)."""
        guild_id = guild_of(interaction)
        shown = await self.notes.get(guild_id=guild_id, note_id=parse_note_id(note))
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
        current = await self.notes.get(guild_id=guild_id, note_id=note_id)
        pages = history_pages(current, await self.notes.revisions(guild_id=guild_id, note_id=note_id))
        if not pages:
            await interaction.response.send_message(
                f"Note #{note_id} has not been edited: it has no earlier versions.",
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )
            return

        async def fetch(page: int) -> tuple[discord.Embed, int, int]:
            page = min(max(page, 1), len(pages))
            return pages[page - 1], page, len(pages)

        await send_pages(interaction, fetch, ephemeral=True)

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


async def paper_choices(
    papers: PaperService, interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """The group's papers best matching what is typed so far."""
    if interaction.guild_id is None:
        return []
    found = await papers.autocomplete(guild_id=interaction.guild_id, text=current, limit=25)
    return [app_commands.Choice(name=label, value=key[:100]) for key, label in found]


async def tag_choices(
    notes: NoteService, interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """The group's tags, most used first, completing the last of a comma-separated list."""
    if interaction.guild_id is None:
        return []
    head, _, last = current.rpartition(",")
    last = last.strip().lstrip("#").lower()
    prefix = f"{head.strip()}, " if head.strip() else ""
    names = [name for name, _ in await notes.tags(guild_id=interaction.guild_id)]
    matches = [n for n in names if n.startswith(last)] + [
        n for n in names if last and last in n and not n.startswith(last)
    ]
    choices = []
    for name in matches[:25]:
        value = f"{prefix}{name}"
        if len(value) <= 100:
            choices.append(app_commands.Choice(name=value, value=value))
    return choices


async def send_pages(
    interaction: discord.Interaction,
    fetch: Callable[[int], Awaitable[tuple[discord.Embed, int, int]]],
    *,
    ephemeral: bool = False,
) -> None:
    """Answer with the first page, and Previous/Next buttons (for the asker) when there are more."""
    embed, page, pages = await fetch(1)
    pager = Pager(owner_id=interaction.user.id, fetch=fetch)
    pager.sync(page, pages)
    await interaction.response.send_message(
        embed=embed,
        view=pager if pages > 1 else discord.utils.MISSING,
        ephemeral=ephemeral,
        allowed_mentions=NO_MENTIONS,
    )


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
        tag_name = parse_tags(tag)[0] if tag and parse_tags(tag) else None
        start = parse_since(since)
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

        starts = {1: 0}  # where each page reached so far begins: a page holds as many notes as fit

        async def fetch(page: int) -> tuple[discord.Embed, int, int]:
            page = min(max(page, 1), max(starts))
            result = await self.notes.page(
                guild_id=guild_id,
                author_id=member.id if member else None,
                tag=tag_name,
                paper_id=paper_id,
                since=start,
                offset=starts[page],
                limit=PAGE_SIZE,
            )
            embed, shown = note_list_embed(result, heading=heading, number=page)
            if shown and starts[page] + shown < result.total:
                starts[page + 1] = starts[page] + shown
                return embed, page, page + 1
            return embed, page, page

        await send_pages(interaction, fetch, ephemeral=True)

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
