"""Shape 5: paperclub's own JSON export, brought back into a group (after a move, or from another server).

The plan mirrors the export's notes for the dry run's counts; applying takes the lossless content from
:func:`read_export` (revisions, authors, message links), which the plan has no room for.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from storage.errors import PaperInputError, ValidationError
from storage.exports import FORMAT_NAME, FORMAT_VERSION, ExportedNote, ExportedPaper, ExportedRevision, GroupExport
from storage.identity import paper_key
from storage.imports.plan import ImportPlan, NoteStatus, PlannedNote, PlannedPaper, Shape

__all__ = ["from_json", "parse", "plan_of", "read_export", "score"]

HEAD_CHARS = 600  # "format" is the first key to_json writes; a hand-edited file may put a few before it
_OPENS_OBJECT = re.compile(r"^\ufeff?\s*\{")
_FORMAT = re.compile(r'"format"\s*:\s*"' + re.escape(FORMAT_NAME) + '"')


_SNOWFLAKE = re.compile(r"\d{1,20}", re.ASCII)
_KEY = re.compile(r"(?:arxiv|doi|url):\S+|title:\d+/[a-z0-9 ]+")  # title: a group's title-only paper
_KINDS = {str: "text", int: "a whole number", list: "a list", dict: "an object"}
MAX_SNOWFLAKE = 2**63 - 1  # Discord ids are stored as signed 64-bit integers


class _Malformed(ValueError):
    """A part of an export that is missing or not what the format holds there."""


def _get(obj: dict[str, Any], name: str, kind: type, *, required: bool = True) -> Any:
    value = obj.get(name)
    if value is None:
        if required:
            raise _Malformed(f"has no `{name}`")
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):  # JSON true is no number
        raise _Malformed(f"has a `{name}` that is not {_KINDS.get(kind, kind.__name__)}")
    return value


def _moment(obj: dict[str, Any], name: str, *, required: bool = True) -> datetime | None:
    text = _get(obj, name, str, required=required)
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise _Malformed(f"has a `{name}` that is not an ISO 8601 time: `{text[:40]}`") from None


def _snowflake(obj: dict[str, Any], name: str, *, required: bool = True, label: str = "") -> int | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise _Malformed(f"has no {label or f'`{name}`'}")
        return None
    # Written as strings (JSON doubles would round them); a hand-made file may give numbers.
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not _SNOWFLAKE.fullmatch(text) or int(text) > MAX_SNOWFLAKE:
        raise _Malformed(f"has {label or f'a `{name}`'} that is not a Discord id: `{str(value)[:30]}`")
    return int(text)


def _texts(obj: dict[str, Any], name: str) -> tuple[str, ...]:
    values = _get(obj, name, list, required=False) or []
    if not all(isinstance(value, str) for value in values):
        raise _Malformed(f"has a `{name}` list with something other than text in it")
    return tuple(values)


def _object(value: Any, name: str | None = None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Malformed(f"has a `{name}` that is not an object" if name else "is not an object")
    return value


def _canonical(key: str) -> str | None:
    """The key as the bot itself would write it for the same id or link, or None when it names no paper."""
    try:
        return paper_key(key if key.startswith("doi:") else key.split(":", 1)[1]).key
    except PaperInputError:
        return None


def _exported_paper(value: Any) -> ExportedPaper:
    paper = _object(value, "paper")
    key = paper.get("key")
    if not isinstance(key, str) or not key:
        raise _Malformed("has no paper `key`")
    if not _KEY.fullmatch(key):
        raise _Malformed(f"has a paper key that is not `arxiv:…`, `doi:…`, `url:…` or `title:…`: `{key[:60]}`")
    if not key.startswith("title:") and _canonical(key) != key:
        raise _Malformed(f"has a paper key that names no paper: `{key[:60]}`")
    return ExportedPaper(
        key=key,
        version=_get(paper, "version", int, required=False),
        title=_get(paper, "title", str, required=False),
        authors=_texts(paper, "authors"),
        abstract=_get(paper, "abstract", str, required=False),
        categories=_texts(paper, "categories"),
        published=_moment(paper, "published", required=False),
        updated=_moment(paper, "updated", required=False),
        doi=_get(paper, "doi", str, required=False),
        journal_ref=_get(paper, "journal_ref", str, required=False),
        comment=_get(paper, "comment", str, required=False),
        metadata_status=_get(paper, "metadata_status", str, required=False) or "pending",
    )


def _exported_revision(value: Any, index: int) -> ExportedRevision:
    try:
        rev = _object(value)
        editor = _snowflake(rev, "editor_id")
        written, replaced = _moment(rev, "written_at"), _moment(rev, "replaced_at")
        assert editor is not None and written is not None and replaced is not None  # required above
        return ExportedRevision(
            revision=_get(rev, "revision", int),
            body=_get(rev, "body", str),
            tags=_texts(rev, "tags"),
            editor_id=editor,
            written_at=written,
            replaced_at=replaced,
        )
    except _Malformed as exc:
        raise _Malformed(f"has an earlier version (revision {index + 1}) that {exc}") from None


def _exported_note(value: Any) -> ExportedNote:
    note = _object(value)
    author = _object(note.get("author"), "author") if note.get("author") is not None else {}
    author_id = _snowflake(author, "id", label="author id")
    body = note.get("body")
    if not isinstance(body, str) or not body.strip():
        raise _Malformed("has no `body`" if body is None else "has an empty or non-text `body`")
    paper = _exported_paper(note.get("paper"))
    message = note.get("message")
    message = _object(message, "message") if message is not None else {}
    created = _moment(note, "created_at")
    assert author_id is not None and created is not None  # required above
    revisions = _get(note, "revisions", list, required=False) or []
    note_id = _get(note, "id", int, required=False)
    revision = _get(note, "revision", int, required=False)
    updated = _moment(note, "updated_at", required=False)
    return ExportedNote(
        id=note_id if note_id is not None else 0,  # only the exporting database's; import ignores it
        author_id=author_id,
        author_name=_get(author, "name", str, required=False) or "",
        body=body,
        tags=_texts(note, "tags"),
        revision=revision if revision is not None else 1,
        created_at=created,
        updated_at=updated if updated is not None else created,
        channel_id=_snowflake(message, "channel_id", required=False),
        message_id=_snowflake(message, "message_id", required=False),
        thread_id=_snowflake(message, "thread_id", required=False),
        paper=paper,
        revisions=tuple(_exported_revision(rev, n) for n, rev in enumerate(revisions)),
    )


def from_json(text: str) -> GroupExport:
    """A JSON export read back: the inverse of :func:`to_json` (``to_json(from_json(t)) == t`` for its output).

    Raises :class:`~storage.errors.ValidationError` naming what is wrong (notes are counted from 1) when the text
    is not JSON, not a paperclub export, a newer format version, or has a malformed note.
    """
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"This is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).") from None
    except RecursionError:
        raise ValidationError("This JSON nests too deeply to be a paperclub export.") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        found = document.get("format") if isinstance(document, dict) else None
        shown = f" (its `format` is `{str(found)[:40]}`)" if found is not None else ""
        raise ValidationError(f'This is JSON, but not a paperclub export{shown}: it needs `"format": "{FORMAT_NAME}"`.')
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValidationError(f"This export has no valid format `version` (found `{str(version)[:20]}`).")
    if version > FORMAT_VERSION:
        raise ValidationError(
            f"This export is format version {version}; this paperclub reads version {FORMAT_VERSION}. "
            "Update paperclub, then import it."
        )
    try:
        exported_at = _moment(document, "exported_at")
        guild_id = _snowflake(document, "guild_id")
        tags = _texts(document, "tags")
        raw_notes = _get(document, "notes", list)
    except _Malformed as exc:
        raise ValidationError(f"The export {exc}.") from None
    assert exported_at is not None and guild_id is not None  # required above
    notes = []
    for index, raw in enumerate(raw_notes):
        try:
            notes.append(_exported_note(raw))
        except _Malformed as exc:
            raise ValidationError(f"Note {index + 1} of the export {exc}.") from None
    return GroupExport(guild_id=guild_id, exported_at=exported_at, notes=tuple(notes), tags=tags)


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
    return plan_of(read_export(text), text)


def plan_of(export: GroupExport, text: str) -> ImportPlan:
    """The plan an export read back makes: its notes, for the dry run's counts."""
    lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    return ImportPlan(shape=Shape.EXPORT, notes=[_planned(note) for note in export.notes], lines=lines)
