"""What a document would bring into a group: the plan a parser makes and ``/import`` shows before applying.

A parser turns a document's text into an :class:`ImportPlan` and touches nothing else: no database, no network,
no clock. Applying the plan is :mod:`storage.imports.apply`'s job.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import date
from typing import ClassVar


class NoteStatus:
    """How finished a note is, as its author marked it."""

    DONE = "done"
    WIP = "wip"  # the body is only a placeholder (``WIP``)
    PARTIAL = "partial"  # ``(Partially finished)``, ``(Section 3.4 Only)``


class Shape:
    """The document shapes the importer recognises."""

    RUNNING_LOG = "log"  # date-range headers, a title line with a citation per paper
    DAILY_POSTS = "daily"  # one dated post per paper, with a link near its end
    OUTLINE = "outline"  # numbered topic headings, a paper per line
    PAPER_LIST = "list"  # a title line, then its abstract, from a papers website
    EXPORT = "json"  # paperclub's own JSON export

    ALL: ClassVar[tuple[str, ...]] = (RUNNING_LOG, DAILY_POSTS, OUTLINE, PAPER_LIST, EXPORT)
    LABELS: ClassVar[dict[str, str]] = {
        RUNNING_LOG: "running log",
        DAILY_POSTS: "daily posts",
        OUTLINE: "topic outline",
        PAPER_LIST: "list of papers",
        EXPORT: "paperclub JSON export",
    }


@dataclass(slots=True)
class PlannedPaper:
    """A paper as the document names it: by an identifier, or only by its title (and a citation)."""

    title: str | None  # as written, LaTeX and all; None when only an id is given
    key: str | None = None  # canonical key (``arxiv:2401.10034``, ``doi:…``, ``url:…``) when the document gives one
    version: int | None = None  # the arXiv version the document links to, if any
    surnames: tuple[str, ...] = ()  # authors' surnames from the citation, as written (``wei``, ``hardt``)
    year: int | None = None  # the cited year
    abstract: str | None = None  # only a list of papers brings abstracts
    line: int = 0  # 1-based line where the paper is named

    @property
    def identity(self) -> str:
        """What makes two mentions the same paper: the key, else the normalised title."""
        if self.key:
            return self.key
        return "title:" + normalise_title(self.title or "")


@dataclass(slots=True)
class PlannedNote:
    """A note the document holds: its paper, markdown body (sections as ``##`` headings), tags, status and date."""

    paper: PlannedPaper
    body: str
    tags: list[str] = field(default_factory=list)
    status: str = NoteStatus.DONE
    written_on: date | None = None  # the post's day, or the first day of its week; None: undated
    line: int = 0  # 1-based line where the entry starts
    merged: int = 1  # how many entries of the document this note merges (the same paper posted twice: 2)


@dataclass(frozen=True, slots=True)
class Leftover:
    """A line the parser could not place, kept for the dry run's report."""

    line: int
    text: str
    why: str = ""  # short: "no title before it", "an arXiv id cut short: 2412.0498"


@dataclass(frozen=True, slots=True)
class FlaggedDate:
    """A date that breaks the document's sequence: shown in the dry run with the date proposed instead.

    The note keeps ``read_as`` unless the importer accepts ``proposed``; a flagged date is never changed silently.
    """

    line: int
    text: str  # the date as written
    read_as: date
    proposed: date
    why: str


@dataclass(slots=True)
class ImportPlan:
    """Everything a document would bring: notes, papers without notes, and what could not be understood."""

    shape: str
    notes: list[PlannedNote] = field(default_factory=list)
    papers: list[PlannedPaper] = field(default_factory=list)  # known to the group without a note (a paper list)
    leftovers: list[Leftover] = field(default_factory=list)
    flagged: list[FlaggedDate] = field(default_factory=list)
    duplicates_merged: int = 0  # entries folded into another entry's note (or paper)
    lines: int = 0  # lines in the document

    @property
    def tags(self) -> list[str]:
        """Every tag the notes carry, each once, in order of first use."""
        return list(dict.fromkeys(tag for note in self.notes for tag in note.tags))

    @property
    def all_papers(self) -> list[PlannedPaper]:
        """The distinct papers of the notes and of the list, in document order."""
        seen: dict[str, PlannedPaper] = {}
        for paper in [note.paper for note in self.notes] + self.papers:
            seen.setdefault(paper.identity, paper)
        return list(seen.values())

    @property
    def wip(self) -> int:
        """Notes that are only a placeholder or partly written."""
        return sum(1 for note in self.notes if note.status != NoteStatus.DONE)

    def with_proposed_dates(self) -> ImportPlan:
        """The plan with every flagged date replaced by the date proposed for it: the importer accepted them."""
        proposed = {flag.read_as: flag.proposed for flag in self.flagged}
        notes = [
            replace(note, written_on=proposed[note.written_on]) if note.written_on in proposed else note
            for note in self.notes
        ]
        return replace(self, notes=notes, flagged=[])

    @property
    def date_range(self) -> tuple[date, date] | None:
        """The earliest and latest note dates, if any note is dated."""
        days = [note.written_on for note in self.notes if note.written_on is not None]
        return (min(days), max(days)) if days else None


_NOT_WORD = re.compile(r"[^a-z0-9]+")
_LATEX_CMD = re.compile(r"\\[a-zA-Z]+|\\[()\[\]]|[{}$^_]")


def normalise_title(title: str) -> str:
    """A title reduced to what identifies it: accents folded, LaTeX markup, case and punctuation dropped."""
    folded = unicodedata.normalize("NFKD", _LATEX_CMD.sub(" ", title))
    ascii_only = "".join(ch for ch in folded if not unicodedata.combining(ch)).lower()
    return _NOT_WORD.sub(" ", ascii_only).strip()


_TAG_JUNK = re.compile(r"[^\w.+/-]+")
MAX_TAG_CHARS = 40


def to_tag(text: str) -> str | None:
    """A label from a document (``Chain of Thought``, ``7.7.1. (auto)prompting``) as a valid tag, or None.

    Lower case, spaces as ``-``, characters a tag may not hold dropped, at most 40 characters.
    """
    folded = unicodedata.normalize("NFKD", text)
    ascii_only = "".join(ch for ch in folded if not unicodedata.combining(ch)).lower().strip()
    slug = _TAG_JUNK.sub("-", ascii_only.replace(" ", "-"))
    slug = re.sub(r"-{2,}", "-", slug)
    parts = [part.strip("-.+") for part in slug.split("/")]
    slug = "/".join(part for part in parts if part)
    return slug[:MAX_TAG_CHARS].rstrip("-./+") or None
