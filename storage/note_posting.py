"""Posting a member's note on the paper they name: the use cases behind /note add, /note edit and a paper card's
"Add a note" button, each one call for the bot."""

from __future__ import annotations

from dataclasses import dataclass

from storage.errors import AlreadyNotedError, UserFacingError
from storage.identity import PaperKey, TitleQuery
from storage.notes import NoteService, NoteView
from storage.papers import Ambiguous, PaperService, PaperView
from storage.titles import TitleService

PaperRef = PaperKey | TitleQuery | PaperView
"""A paper as a member named it (parsed once, from what they typed), or one already found."""


@dataclass(frozen=True, slots=True)
class NoteTaken:
    """The member already has a note on the paper: theirs to update instead."""

    paper: PaperView
    note_id: int


class NotePosting:
    """Finds the paper a note is about, checks the member's room for another note, and saves it."""

    def __init__(self, *, notes: NoteService, papers: PaperService, titles: TitleService) -> None:
        self.notes = notes
        self.papers = papers
        self.titles = titles

    async def start_note(self, *, guild_id: int, author_id: int, paper: PaperRef) -> NoteView | None:
        """Before the note form opens: the member's note on that paper, to edit instead, if they have one; else
        None once their room for another note today is checked, so nobody writes a note that can't be saved."""
        existing = None
        if isinstance(paper, PaperView):
            existing = await self.notes.find(guild_id=guild_id, paper_id=paper.id, author_id=author_id)
        elif isinstance(paper, PaperKey):
            existing = await self.notes.find_by_key(guild_id=guild_id, key=paper.key, author_id=author_id)
        if existing is not None:
            return existing
        await self.notes.check_room(guild_id=guild_id, author_id=author_id)
        return None

    async def add(
        self, *, guild_id: int, author_id: int, author_name: str, paper: PaperRef, body: str, tags: list[str]
    ) -> NoteView | NoteTaken | Ambiguous:
        """Find the paper (or the candidates to pick from when unsure), then save the member's note on it.

        A member who already has a note on the paper gets it back (:class:`NoteTaken`) to update instead; one
        with no room left for another note today is refused.
        """
        found = paper if isinstance(paper, PaperView) else await self.papers.resolve(guild_id=guild_id, text=paper)
        if isinstance(found, Ambiguous):
            return found
        try:
            return await self.notes.add(
                guild_id=guild_id, paper_id=found.id, author_id=author_id, author_name=author_name, body=body, tags=tags
            )
        except AlreadyNotedError as exc:
            return NoteTaken(paper=found, note_id=exc.note_id)

    async def editable(self, *, guild_id: int, note_id: int, editor_id: int) -> NoteView:
        """A note its author is about to edit; anyone else is refused."""
        note = await self.notes.get(guild_id=guild_id, note_id=note_id)
        if note.author_id != editor_id:
            raise UserFacingError(f"Note #{note_id} is {note.author_name}'s; only its author can edit it.")
        return note

    async def edit(
        self,
        *,
        guild_id: int,
        note_id: int,
        editor_id: int,
        body: str | None,
        tags: list[str] | None,
        paper: PaperKey | None,
    ) -> NoteView:
        """Move a note to the paper it is about (when ``paper`` is given), then replace its text and/or tags (those
        given)."""
        if paper is not None:
            linked = await self.papers.ensure(paper)
            note_id = await self.titles.link_note(
                guild_id=guild_id, note_id=note_id, editor_id=editor_id, paper_id=linked.id
            )
            if body is None and tags is None:
                return await self.notes.get(guild_id=guild_id, note_id=note_id)
        return await self.notes.edit(guild_id=guild_id, note_id=note_id, editor_id=editor_id, body=body, tags=tags)
