"""Shared Discord views: confirm-or-cancel buttons, Previous/Next pages, the paper picker, the note form and the
note's History button."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import discord

from bot.errors import Modal, View
from bot.interactions import NO_MENTIONS, MemberCooldown, answer
from bot.render import clip
from storage.identity import PaperKey
from storage.note_text import SECTION_NAMES, compose_body, parse_tags
from storage.papers import Ambiguous, PaperService, PaperView

SECTION_HINTS = {
    "Summary": "What the paper does, in your words",
    "Method": "How they do it",
    "Results": "What they found",
    "Questions": "What you'd ask the authors or the group (one per line)",
}

PageFetch = Callable[[int], Awaitable[tuple[discord.Embed, int, int]]]
"""Page ``n`` asked for → (its embed, the page number shown, how many pages there are so far)."""
PickFn = Callable[[discord.Interaction, PaperView], Awaitable[None]]


class ConfirmView(View):
    """Two buttons: go ahead, or leave everything as it is."""

    def __init__(
        self,
        *,
        owner_id: int,
        label: str,
        style: discord.ButtonStyle,
        action: Callable[[discord.Interaction], Awaitable[None]],
    ) -> None:
        super().__init__(owner_id=owner_id)
        self.action = action
        self.confirm.label = label
        self.confirm.style = style

    @discord.ui.button(label="Confirm", style=discord.ButtonStyle.primary, custom_id="confirm")
    async def confirm(self, interaction: discord.Interaction, button: discord.ui.Button[ConfirmView]) -> None:
        """Do it."""
        self.stop()
        await self.action(interaction)

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary, custom_id="cancel")
    async def cancel(self, interaction: discord.Interaction, button: discord.ui.Button[ConfirmView]) -> None:
        """Leave everything as it is."""
        self.stop()
        await interaction.response.edit_message(
            content="Cancelled: nothing was changed.", embed=None, attachments=[], view=None
        )


async def ask_to_confirm(
    interaction: discord.Interaction,
    question: str,
    *,
    label: str,
    style: discord.ButtonStyle,
    action: Callable[[discord.Interaction], Awaitable[None]],
) -> None:
    """Ask the member alone, with the confirm-or-cancel buttons; ``action`` runs when they confirm."""
    view = ConfirmView(owner_id=interaction.user.id, label=label, style=style, action=action)
    await answer(interaction, content=question, view=view, ephemeral=True, allowed_mentions=NO_MENTIONS)


class Pager(View):
    """Previous / next buttons over a listing; with ``cooldown``, each page turned spends one of the member's uses
    (a page of search results is a search of its own)."""

    def __init__(self, *, owner_id: int, fetch: PageFetch, cooldown: MemberCooldown | None = None) -> None:
        super().__init__(owner_id=owner_id)
        self.fetch = fetch
        self.cooldown = cooldown
        self.page = 1

    def shown(self, pages: int) -> bool:
        """Whether the listing needs these buttons at all: only when it has more than one page."""
        return pages > 1

    def sync(self, page: int, pages: int) -> None:
        """Enable only the buttons that lead somewhere."""
        self.page = page
        self.previous.disabled = page <= 1
        self.next.disabled = page >= pages

    async def _show(self, interaction: discord.Interaction, page: int) -> None:
        if self.cooldown is not None:
            self.cooldown.check(interaction)  # over the rate: told like a command, and the page stays as it is
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


async def send_pages(
    interaction: discord.Interaction,
    fetch: PageFetch,
    *,
    ephemeral: bool = False,
    pager: Pager | None = None,
    cooldown: MemberCooldown | None = None,
) -> None:
    """Answer with the first page, and Previous/Next buttons (for the asker) when there are more; ``pager`` is the
    view with those buttons when a listing needs more of them. ``cooldown`` is spent by each page turned (the
    command has spent one for the first page)."""
    embed, page, pages = await fetch(1)
    pager = pager or Pager(owner_id=interaction.user.id, fetch=fetch, cooldown=cooldown)
    pager.sync(page, pages)
    await answer(
        interaction,
        embed=embed,
        view=pager if pager.shown(pages) else discord.utils.MISSING,
        ephemeral=ephemeral,
        allowed_mentions=NO_MENTIONS,
    )


def fitted_pages(read: Callable[[int, int], Awaitable[tuple[discord.Embed, int, bool]]]) -> PageFetch:
    """Pages that each hold as many items as fit: ``read(page, offset)`` gives that page, starting at ``offset``,
    how many items it shows and whether more follow. Where each page reached so far begins is remembered."""
    starts = {1: 0}

    async def fetch(page: int) -> tuple[discord.Embed, int, int]:
        page = min(max(page, 1), max(starts))
        embed, shown, more = await read(page, starts[page])
        if shown and more:
            starts[page + 1] = starts[page] + shown
            return embed, page, page + 1
        return embed, page, page

    return fetch


def fixed_pages(embeds: list[discord.Embed]) -> PageFetch:
    """Pages over embeds made in advance."""

    async def fetch(page: int) -> tuple[discord.Embed, int, int]:
        page = min(max(page, 1), len(embeds))
        return embeds[page - 1], page, len(embeds)

    return fetch


class PaperPicker(View):
    """Up to five papers that may be the one meant; the member picks."""

    def __init__(self, *, owner_id: int, found: Ambiguous, on_pick: PickFn, papers: PaperService) -> None:
        super().__init__(owner_id=owner_id)
        self.found = found
        self.on_pick = on_pick
        self.papers = papers
        options = [
            discord.SelectOption(label=clip(c.title, 100), value=c.key, description=clip(f"{c.detail} · {c.key}", 100))
            for c in found.candidates
        ]
        self.pick.options = options

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


class HistoryButton(View):
    """A "History" button under a shown note that has earlier versions."""

    def __init__(self, *, owner_id: int, open_history: Callable[[discord.Interaction], Awaitable[None]]) -> None:
        super().__init__(owner_id=owner_id)
        self.open_history = open_history

    @discord.ui.button(label="History", style=discord.ButtonStyle.secondary, custom_id="note:history")
    async def history(self, interaction: discord.Interaction, button: discord.ui.Button[HistoryButton]) -> None:
        """Every earlier version, to the member alone."""
        await self.open_history(interaction)
