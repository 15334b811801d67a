"""A group's notes written out: JSON (lossless, for re-import), Markdown (to read), BibTeX (to cite).

Reading is one pass over the database (:meth:`ExportService.snapshot`); the three formats are pure functions of
that snapshot, so each is tested without a database and the same snapshot can be written in several formats.

The JSON format (``"format": "paperclub-notes"``, ``"version": 1``)::

    {
      "format": "paperclub-notes", "version": 1,
      "exported_at": "2025-03-03T09:00:00+00:00",     # ISO 8601, UTC
      "guild_id": "500000000000000001",               # Discord ids are strings (they overflow JSON doubles)
      "tags": ["llms", "llms/prompting"],             # every tag the group has, with or without notes
      "notes": [                                      # oldest first
        {
          "id": 12, "author": {"id": "7000…", "name": "ann"},
          "body": "…", "tags": ["llms"], "revision": 2,
          "created_at": "…", "updated_at": "…",
          "message": {"channel_id": "…", "message_id": "…", "thread_id": null} | null,
          "paper": {"key": "arxiv:2403.17887", "url": "…", "version": 2, "title": "…", "authors": […],
                    "abstract": "…", "categories": […], "published": "…", "updated": "…", "doi": null,
                    "journal_ref": null, "comment": null, "metadata_status": "ok"},
          "revisions": [                               # earlier versions, oldest first
            {"revision": 1, "body": "…", "tags": […], "editor_id": "…", "written_at": "…", "replaced_at": "…"}
          ]
        }
      ]
    }

A note is identified on import by (paper key, author id); note ids are only this database's.
"""

from __future__ import annotations

import asyncio
import json
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlmodel import col, select

from storage.db import Sessions, chunked
from storage.identity import PaperKey, display_title
from storage.message_links import jump_url
from storage.models import Note, NoteRevision, Paper, Tag, as_utc, utcnow
from storage.notes import note_tags
from storage.papers import papers_by_id

__all__ = [
    "FORMATS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "ExportService",
    "ExportedNote",
    "ExportedPaper",
    "ExportedRevision",
    "GroupExport",
    "bibtex_escape",
    "bibtex_keys",
    "render",
    "to_bibtex",
    "to_json",
    "to_markdown",
]

FORMAT_NAME = "paperclub-notes"
FORMAT_VERSION = 1
FORMATS = ("json", "md", "bibtex")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ExportedPaper:
    """Everything stored about a paper that says what it is (not the bot's bookkeeping)."""

    key: str
    version: int | None
    title: str | None
    authors: tuple[str, ...]
    abstract: str | None
    categories: tuple[str, ...]
    published: datetime | None
    updated: datetime | None
    doi: str | None
    journal_ref: str | None
    comment: str | None
    metadata_status: str

    @property
    def url(self) -> str:
        """The paper's page."""
        return PaperKey(self.key).abs_url

    @property
    def display_title(self) -> str:
        """The title, or the identifier while it has none."""
        return display_title(self.key, self.title)


@dataclass(frozen=True, slots=True)
class ExportedRevision:
    """An earlier version of a note."""

    revision: int
    body: str
    tags: tuple[str, ...]
    editor_id: int
    written_at: datetime
    replaced_at: datetime


@dataclass(frozen=True, slots=True)
class ExportedNote:
    """A note with its paper, tags and earlier versions."""

    id: int
    author_id: int
    author_name: str
    body: str
    tags: tuple[str, ...]
    revision: int
    created_at: datetime
    updated_at: datetime
    channel_id: int | None
    message_id: int | None
    thread_id: int | None
    paper: ExportedPaper
    revisions: tuple[ExportedRevision, ...]


@dataclass(frozen=True, slots=True)
class GroupExport:
    """A group's notes as read at one moment."""

    guild_id: int
    exported_at: datetime
    notes: tuple[ExportedNote, ...]  # oldest first
    tags: tuple[str, ...]  # every tag of the group, by name

    @property
    def papers(self) -> tuple[ExportedPaper, ...]:
        """The distinct papers noted, in the order they were first noted."""
        seen: dict[str, ExportedPaper] = {}
        for note in self.notes:
            seen.setdefault(note.paper.key, note.paper)
        return tuple(seen.values())


def _paper(row: Paper) -> ExportedPaper:
    return ExportedPaper(
        key=row.key,
        version=row.version,
        title=row.title,
        authors=tuple(row.authors or ()),
        abstract=row.abstract,
        categories=tuple(row.categories or ()),
        published=as_utc(row.published) if row.published else None,
        updated=as_utc(row.updated) if row.updated else None,
        doi=row.doi,
        journal_ref=row.journal_ref,
        comment=row.comment,
        metadata_status=row.metadata_status,
    )


class ExportService:
    """Reads a group's notes for export, in one transaction."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def snapshot(self, *, guild_id: int, now: datetime | None = None) -> GroupExport:
        """Every note of the group with its paper, tags and earlier versions, and the group's tags."""
        async with self.sessions() as session:
            notes = list(
                (
                    await session.exec(
                        select(Note).where(Note.guild_id == guild_id).order_by(col(Note.created_at), col(Note.id))
                    )
                ).all()
            )
            note_ids = [note.id for note in notes if note.id is not None]
            papers = await papers_by_id(session, paper_ids={note.paper_id for note in notes})
            tags: dict[int, list[str]] = {}
            revisions: dict[int, list[ExportedRevision]] = {}
            for chunk in chunked(note_ids):
                tags.update(await note_tags(session, guild_id=guild_id, note_ids=list(chunk)))  # in the order given
                revision_query = (
                    select(NoteRevision)
                    .where(NoteRevision.guild_id == guild_id, col(NoteRevision.note_id).in_(chunk))
                    .order_by(col(NoteRevision.note_id), col(NoteRevision.revision))
                )
                for row in (await session.exec(revision_query)).all():
                    revisions.setdefault(row.note_id, []).append(
                        ExportedRevision(
                            revision=row.revision,
                            body=row.body,
                            tags=tuple(row.tags or ()),
                            editor_id=row.editor_id,
                            written_at=as_utc(row.written_at),
                            replaced_at=as_utc(row.replaced_at),
                        )
                    )
            group_tags = tuple(
                (await session.exec(select(Tag.name).where(Tag.guild_id == guild_id).order_by(col(Tag.name)))).all()
            )
            exported_papers = {paper_id: _paper(row) for paper_id, row in papers.items()}
        made = []
        for note in notes:
            assert note.id is not None
            made.append(
                ExportedNote(
                    id=note.id,
                    author_id=note.author_id,
                    author_name=note.author_name,
                    body=note.body,
                    tags=tuple(tags.get(note.id, ())),
                    revision=note.revision,
                    created_at=as_utc(note.created_at),
                    updated_at=as_utc(note.updated_at),
                    channel_id=note.channel_id,
                    message_id=note.message_id,
                    thread_id=note.thread_id,
                    paper=exported_papers[note.paper_id],
                    revisions=tuple(revisions.get(note.id, ())),
                )
            )
        return GroupExport(guild_id=guild_id, exported_at=as_utc(now or utcnow()), notes=tuple(made), tags=group_tags)

    async def export(self, *, guild_id: int, fmt: str, now: datetime | None = None) -> WrittenExport:
        """The group's notes in ``fmt`` (one of :data:`FORMATS`), written in a worker thread."""
        if fmt not in FORMATS:
            raise ValueError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
        snapshot = await self.snapshot(guild_id=guild_id, now=now)
        text = await asyncio.to_thread(render, snapshot, fmt)  # a big group's export is seconds of CPU
        return WrittenExport(
            text=text, notes=len(snapshot.notes), papers=len(snapshot.papers), day=f"{snapshot.exported_at:%Y-%m-%d}"
        )


@dataclass(frozen=True, slots=True)
class WrittenExport:
    """An export written out, with what it holds."""

    text: str
    notes: int
    papers: int
    day: str  # the export's date, for its file name


def render(export: GroupExport, fmt: str) -> str:
    """A snapshot in one of :data:`FORMATS`."""
    if fmt == "json":
        return to_json(export)
    if fmt == "md":
        return to_markdown(export)
    if fmt == "bibtex":
        return to_bibtex(export)
    raise ValueError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")


# --- JSON ---------------------------------------------------------------------------------------------------


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _id(snowflake: int | None) -> str | None:
    return str(snowflake) if snowflake is not None else None


def _paper_json(paper: ExportedPaper) -> dict[str, Any]:
    return {
        "key": paper.key,
        "url": paper.url,
        "version": paper.version,
        "title": paper.title,
        "authors": list(paper.authors),
        "abstract": paper.abstract,
        "categories": list(paper.categories),
        "published": _when(paper.published),
        "updated": _when(paper.updated),
        "doi": paper.doi,
        "journal_ref": paper.journal_ref,
        "comment": paper.comment,
        "metadata_status": paper.metadata_status,
    }


def _note_json(note: ExportedNote) -> dict[str, Any]:
    message = None
    if note.channel_id or note.message_id or note.thread_id:
        message = {
            "channel_id": _id(note.channel_id),
            "message_id": _id(note.message_id),
            "thread_id": _id(note.thread_id),
        }
    return {
        "id": note.id,
        "author": {"id": _id(note.author_id), "name": note.author_name},
        "body": note.body,
        "tags": list(note.tags),
        "revision": note.revision,
        "created_at": _when(note.created_at),
        "updated_at": _when(note.updated_at),
        "message": message,
        "paper": _paper_json(note.paper),
        "revisions": [
            {
                "revision": rev.revision,
                "body": rev.body,
                "tags": list(rev.tags),
                "editor_id": _id(rev.editor_id),
                "written_at": _when(rev.written_at),
                "replaced_at": _when(rev.replaced_at),
            }
            for rev in note.revisions
        ],
    }


def to_json(export: GroupExport) -> str:
    """The lossless, re-importable export (see the module's docstring for the format)."""
    document = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "exported_at": _when(export.exported_at),
        "guild_id": _id(export.guild_id),
        "tags": list(export.tags),
        "notes": [_note_json(note) for note in export.notes],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


# --- Markdown -----------------------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~])")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_ATX = re.compile(r"^( {0,3})(#{1,6})(?=\s|$)")
BODY_HEADING_LEVEL = 3  # a note's own headings sit under its paper's ``##``


def _md(text: str) -> str:
    """Text shown literally in Markdown, on one line."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _md_url(url: str) -> str:
    return url.replace(" ", "%20").replace("(", "%28").replace(")", "%29").replace("<", "%3C").replace(">", "%3E")


def _demoted(body: str) -> str:
    """The body with its ATX headings pushed below the note's section, their nesting kept; code left alone."""
    lines = body.split("\n")
    headings = list(_headings(lines))
    levels = [len(heading.group(2)) for _, heading in headings]
    if not levels or min(levels) >= BODY_HEADING_LEVEL:
        return body
    shift = BODY_HEADING_LEVEL - min(levels)
    for index, heading in headings:
        level = min(6, len(heading.group(2)) + shift)
        lines[index] = heading.group(1) + "#" * level + lines[index][heading.end() :]
    return "\n".join(lines)


def _headings(lines: list[str]) -> Iterator[tuple[int, re.Match[str]]]:
    """The ATX headings among these lines (index and match), not counting lines inside fenced code."""
    fence: str | None = None
    for index, line in enumerate(lines):
        opened = _FENCE.match(line)
        if fence is None and opened:
            fence = opened.group(1)[0]
        elif fence is not None and opened and opened.group(1)[0] == fence:
            fence = None
        elif fence is None and (heading := _ATX.match(line)):
            yield index, heading


def _date(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d}"


def _note_md(note: ExportedNote, guild_id: int) -> str:
    paper = note.paper
    lines = [f"## [{_md(paper.display_title)}]({_md_url(paper.url)})", ""]
    about = []
    if paper.authors:
        shown = ", ".join(paper.authors[:6]) + (f" and {len(paper.authors) - 6} more" if len(paper.authors) > 6 else "")
        about.append(_md(shown))
    ident = PaperKey(paper.key)
    about.append(f"arXiv:{ident.value}" if ident.scheme == "arxiv" else _md(paper.key))
    if paper.published:
        about.append(str(paper.published.year))
    lines.append("*" + " · ".join(about) + "*")
    lines.append("")
    meta = [f"**{_md(note.author_name)}**", _date(note.created_at)]
    if note.revision > 1:
        meta.append(f"edited {_date(note.updated_at)} (revision {note.revision})")
    if note.tags:
        meta.append("tags: " + ", ".join(f"`{tag}`" for tag in note.tags))
    if note.channel_id and note.message_id:
        meta.append(f"[on Discord]({jump_url(guild_id, note.channel_id, note.message_id)})")
    lines.append(" · ".join(meta))
    lines.append("")
    lines.append(_demoted(note.body))
    return "\n".join(lines)


def to_markdown(export: GroupExport) -> str:
    """One section per note, oldest first: the paper as a linked heading, who wrote it, when, tags, the body."""
    papers = len(export.papers)
    head = [
        f"# Paper notes · server {export.guild_id}",
        "",
        f"Exported {export.exported_at:%Y-%m-%d %H:%M} UTC: {len(export.notes):,} "
        f"{'note' if len(export.notes) == 1 else 'notes'} on {papers:,} {'paper' if papers == 1 else 'papers'}.",
    ]
    sections = ["\n".join(head)] + [_note_md(note, export.guild_id) for note in export.notes]
    return "\n\n".join(sections) + "\n"


# --- BibTeX -------------------------------------------------------------------------------------------------

BIBTEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "%": r"\%",
    "#": r"\#",
    "_": r"\_",
    "^": r"\^{}",
    "~": r"\~{}",
}
_BIBTEX_SPECIAL = re.compile("[" + re.escape("".join(BIBTEX_ESCAPES)) + "]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_KEY_STOP_WORDS = frozenset("a an the on of in for to and with from by is are at as its via towards toward".split())
_AND = re.compile(r"\band\b", re.IGNORECASE)


def bibtex_escape(text: str) -> str:
    """Text as a BibTeX field value shows it literally: LaTeX's special characters escaped, braces always
    balanced, whitespace (newlines too) collapsed to single spaces. Other characters stay as UTF-8."""
    flat = " ".join(_CONTROL.sub(" ", text).split())
    return _BIBTEX_SPECIAL.sub(lambda m: BIBTEX_ESCAPES[m.group()], flat)


def _verbatim(text: str) -> str:
    """A URL, DOI or eprint id, which styles print verbatim: only what would unbalance the entry is encoded."""
    flat = "".join(_CONTROL.sub("", text).split())
    return flat.replace("%", "%25").replace("\\", "%5C").replace("{", "%7B").replace("}", "%7D")


def _ascii_word(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", folded.lower())


def _base_key(paper: ExportedPaper) -> str:
    """``vaswani2017attention``: first author's last name, year, first significant word of the title."""
    surname = ""
    if paper.authors:
        name = paper.authors[0].strip()
        # "Last, First" or "First Last"
        surname = _ascii_word(name.split(",")[0] if "," in name else (name.split() or [""])[-1])
    year = str(paper.published.year) if paper.published else ""
    word = ""
    for token in (paper.title or "").split():
        candidate = _ascii_word(token)
        if candidate and candidate not in _KEY_STOP_WORDS:
            word = candidate
            break
    if surname and (year or word):
        return f"{surname}{year}{word}"
    # No metadata: the identifier itself, in characters every BibTeX and biber accepts.
    ident = PaperKey(paper.key)
    if ident.scheme == "title":  # a group's paper known by its title alone: its words, not the group's id
        return "title-" + (re.sub(r"[^a-z0-9]+", "-", ident.value.split("/", 1)[-1]).strip("-")[:60] or "paper")
    value = re.sub(r"[^A-Za-z0-9.\-]+", "-", ident.value).strip("-.")[:60] or "paper"
    return f"{ident.scheme}-{value}"


def bibtex_keys(papers: Sequence[ExportedPaper]) -> dict[str, str]:
    """A citation key per paper key: readable, the same in every export, unique in this one.

    Papers sharing a base key (same author, year and title word) keep the order they were first noted in:
    the first has the plain key, later ones ``b``, ``c``, ... after it; papers noted later never change the
    keys of earlier ones.
    """
    keys: dict[str, str] = {}
    used: set[str] = set()
    for paper in papers:
        base = _base_key(paper)
        key, n = base, 1
        while key.lower() in used:
            n += 1
            key = base + _suffix(n)
        used.add(key.lower())
        keys[paper.key] = key
    return keys


def _suffix(n: int) -> str:
    """b, c, ..., z, ba, bb, ... for the 2nd, 3rd, ... paper on one base key."""
    letters = ""
    n -= 1
    while True:
        n, digit = divmod(n, 26)
        letters = "abcdefghijklmnopqrstuvwxyz"[digit] + letters
        if n == 0:
            return letters


def _author(name: str) -> str:
    escaped = bibtex_escape(name)
    # A name with "and" in it would be split into two people: keep it whole.
    return f"{{{escaped}}}" if _AND.search(escaped) else escaped


def _entry(paper: ExportedPaper, key: str) -> str:
    ident = PaperKey(paper.key)
    fields: list[tuple[str, str]] = []
    if paper.title:
        fields.append(("title", "{" + bibtex_escape(paper.title) + "}"))  # double braces: keep its capitals
    authors = [_author(name) for name in paper.authors if name.strip()]
    if authors:
        fields.append(("author", " and ".join(authors)))
    if paper.published:
        fields.append(("year", str(paper.published.year)))
    if ident.scheme == "arxiv":
        fields.append(("eprint", _verbatim(ident.value)))
        fields.append(("archivePrefix", "arXiv"))
        primary = paper.categories[0] if paper.categories else ident.value.split("/")[0] if "/" in ident.value else ""
        if primary:
            fields.append(("primaryClass", _verbatim(primary)))
    doi = paper.doi or (ident.value if ident.scheme == "doi" else None)
    if doi:
        fields.append(("doi", _verbatim(doi)))
    if ident.scheme != "title":  # a title-only paper has no page of its own, only a search for it
        fields.append(("url", _verbatim(paper.url)))
    if paper.journal_ref:
        fields.append(("note", bibtex_escape(paper.journal_ref)))
    width = max(len(name) for name, _ in fields)
    body = ",\n".join(f"  {name.ljust(width)} = {{{value}}}" for name, value in fields)
    return f"@misc{{{key},\n{body}\n}}"


def to_bibtex(export: GroupExport) -> str:
    """One ``@misc`` entry per paper the group has notes on, in the order they were first noted.

    arXiv papers carry ``eprint``, ``archivePrefix`` and ``primaryClass`` (as arXiv's own BibTeX does), a DOI
    where one is known, and the paper's URL.
    """
    papers = export.papers
    keys = bibtex_keys(papers)
    # BibTeX ignores text outside entries; this line has no "@", so no tool mistakes it for one.
    head = (
        f"% paperclub export: {len(papers):,} {'paper' if len(papers) == 1 else 'papers'} noted in server "
        f"{export.guild_id}, {export.exported_at:%Y-%m-%d %H:%M} UTC. Encoding: UTF-8."
    )
    return "\n\n".join([head, *(_entry(paper, keys[paper.key]) for paper in papers)]) + "\n"
