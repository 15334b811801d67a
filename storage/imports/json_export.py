"""Shape 5: paperclub's own JSON export, brought back into a group (after a move, or from another server).

The plan mirrors the export's notes for the dry run's counts; applying takes the lossless content from
:func:`read_export` (revisions, authors, message links), which the plan has no room for.
"""

from __future__ import annotations

import re

from storage.errors import ValidationError
from storage.exports import FORMAT_NAME, ExportedNote, GroupExport, from_json
from storage.imports.plan import ImportPlan, NoteStatus, PlannedNote, PlannedPaper, Shape

__all__ = ["parse", "read_export", "score"]

HEAD_CHARS = 600  # "format" is the first key to_json writes; a hand-edited file may put a few before it
_OPENS_OBJECT = re.compile(r"^\ufeff?\s*\{")
_FORMAT = re.compile(r'"format"\s*:\s*"' + re.escape(FORMAT_NAME) + '"')


def score(text: str) -> float:
    """1.0 for a JSON object that declares itself a paperclub export, 0 otherwise; only the head is read."""
    head = text[:HEAD_CHARS]
    return 1.0 if _OPENS_OBJECT.match(head) and _FORMAT.search(head) else 0.0


def read_export(text: str) -> GroupExport:
    """The export's full content, checked: one note per paper and author, as the group stores them."""
    export = from_json(text.removeprefix("\ufeff"))
    first: dict[tuple[str, int], int] = {}
    for index, note in enumerate(export.notes):
        earlier = first.setdefault((note.paper.key, note.author_id), index)
        if earlier != index:
            raise ValidationError(
                f"Notes {earlier + 1} and {index + 1} of the export are both by author {note.author_id} on "
                f"{note.paper.key}: a member has one note per paper."
            )
    return export


def _planned(note: ExportedNote) -> PlannedNote:
    paper = note.paper
    planned = PlannedPaper(
        title=paper.title,
        key=paper.key,
        version=paper.version,
        surnames=tuple(name.split()[-1].lower() for name in paper.authors if name.split()),
        year=paper.published.year if paper.published else None,
        abstract=paper.abstract,
    )
    status = NoteStatus.WIP if note.body.strip() == "WIP" else NoteStatus.DONE
    return PlannedNote(
        paper=planned, body=note.body, tags=list(note.tags), status=status, written_on=note.created_at.date()
    )


def parse(text: str) -> ImportPlan:
    """The export's notes as a plan (for the dry run); raises ValidationError when it is not a usable export."""
    export = read_export(text)
    lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    return ImportPlan(shape=Shape.EXPORT, notes=[_planned(note) for note in export.notes], lines=lines)
