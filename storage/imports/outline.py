"""A topic outline: numbered section headings (``7.7.1.1. (auto)prompting#``), one paper per line under them.

Rules the parser follows:

- A heading is an unindented line ``7.7.1.`` + name, up to five levels, usually with a trailing ``#`` anchor;
  its depth is how many numbers it has, so skipped numbers do not matter.
- A paper is an unindented, unbulleted line: ``Title (authors, year) - comment`` (``–``, ``:`` or nothing as
  separator), a short name (``tree of thoughts - …``) or a bare title. Indented or bulleted lines under it are its
  notes. The body is the comment and the notes; a paper with neither gets its line as body.
- A group label (``misc``, ``overviews``, ``older work:``) is not a paper: an unindented line with no citation,
  no comment and no notes that ends with ``:``, or is lower case and at most two words, with a paper line after
  it in the same section. A one-word short name with nothing under it reads as a label too; give it a comment.
- A section introduction (``See related papers in the 📌 interpretability page.``) is not a paper: a line with no
  citation that starts with ``See``/``Also see``/``Note:`` or is a sentence (five words or more, ending in ``.``,
  ``!`` or ``?``, no dash comment). It is reported as a leftover so the dry run shows it.
- Each paper is tagged with its section path (``llms/prompting/autoprompting``), trimmed from the top to fit 40
  characters. The same paper in two sections is one note with both tags. Outline notes are undated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from storage.identity import PaperKey
from storage.imports.citations import is_bullet, markdown_lines, split_line
from storage.imports.links import Ref, find_refs, without_refs
from storage.imports.plan import (
    MAX_TAG_CHARS,
    ImportPlan,
    Leftover,
    PlannedNote,
    PlannedPaper,
    Shape,
    normalise_title,
    to_tag,
)
from storage.note_text import MAX_TAGS

__all__ = ["parse", "score", "section_tag"]

_HEADING = re.compile(r"^#{0,6}\s*(?P<number>\d{1,3}(?:\.\d{1,3}){0,4})\.?\s+(?P<name>\S.*)$")
_INTRO_START = re.compile(r"^(?:see|also\s+see|note\s*:|nb\s*:|related\s*:)", re.IGNORECASE)
_DASH_COMMENT = re.compile(r"\s[-–—]+\s")
_PARENS = re.compile(r"[()\[\]]")
MAX_LABEL_WORDS = 2
MAX_LABEL_CHARS = 24
MIN_INTRO_WORDS = 5


@dataclass(slots=True)
class _Block:
    """An unindented line under a section, with the indented or bulleted lines after it."""

    line: int
    text: str
    tag: str | None
    notes: list[str] = field(default_factory=list)


def section_tag(names: list[str]) -> str | None:
    """A section path as one tag (``llms/prompting/autoprompting``), keeping the deepest parts that fit."""
    parts = [part for name in names if (part := to_tag(_PARENS.sub("", name.replace("/", " "))))]
    while len(parts) > 1 and len("/".join(parts)) > MAX_TAG_CHARS:
        parts.pop(0)
    return "/".join(parts) or None


def _heading(line: str) -> tuple[int, str] | None:
    """The depth and name of a numbered heading line, or None."""
    m = _HEADING.match(line)
    if not m or (not m["name"].endswith("#") and split_line(m["name"]).citations):
        return None  # ``1. Attention Is All You Need (Vaswani et al., 2017)`` is a numbered paper, not a section
    name = m["name"].rstrip("#").strip()
    return (m["number"].count(".") + 1, name) if name else None


def _is_intro(text: str) -> bool:
    """Whether an uncited line introduces its section instead of naming a paper."""
    if _INTRO_START.match(text):
        return True
    return text.endswith((".", "!", "?")) and len(text.split()) >= MIN_INTRO_WORDS and not _DASH_COMMENT.search(text)


def _is_label(block: _Block, following: _Block | None) -> bool:
    """Whether a line groups the papers after it (``misc``, ``overviews``) rather than naming one."""
    if following is None or following.tag != block.tag or any(note.strip() for note in block.notes):
        return False
    text = block.text
    if text.endswith(":") and ":" not in text[:-1]:
        return True
    return text == text.lower() and len(text.split()) <= MAX_LABEL_WORDS and len(text) <= MAX_LABEL_CHARS


def _arxiv_key(refs: list[Ref]) -> PaperKey | None:
    """The first arXiv paper a line names: an outline keys its papers by arXiv id only, never by a code link."""
    return next((ref.key for ref in refs if ref.key and ref.key.scheme == "arxiv"), None)


def _note(block: _Block) -> PlannedNote:
    """The note one paper line and its notes make."""
    refs = find_refs(block.text)
    key = _arxiv_key(refs)
    cited = split_line(without_refs(block.text, refs, " "))
    body_lines = [cited.comment] if cited.comment else []
    if len(cited.citations) > 1:
        body_lines.append(f"Cited together: {cited.citation_text}")
    body_lines += markdown_lines(block.notes)
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(body_lines)).strip() or block.text
    paper = PlannedPaper(
        title=cited.title or (None if key else block.text),
        key=key.key if key else None,
        version=key.version if key else None,
        surnames=cited.surnames,
        year=cited.year,
        line=block.line,
    )
    return PlannedNote(paper=paper, body=body, tags=[block.tag] if block.tag else [], written_on=None, line=block.line)


def _merge(into: PlannedNote, other: PlannedNote) -> None:
    """Fold a second mention of a paper into its note: its section's tag and any new text."""
    for tag in other.tags:
        if tag not in into.tags and len(into.tags) < MAX_TAGS:
            into.tags.append(tag)
    if other.body not in into.body:
        into.body = f"{into.body}\n\n{other.body}"
    if not into.paper.key and other.paper.key:
        into.paper.key, into.paper.version = other.paper.key, other.paper.version
    if not into.paper.surnames and other.paper.surnames:
        into.paper.surnames, into.paper.year = other.paper.surnames, other.paper.year
    into.merged += 1


def _blocks(lines: list[str], plan: ImportPlan) -> list[_Block]:
    """The document's unindented lines under headings with their notes; what fits nowhere becomes a leftover."""
    blocks: list[_Block] = []
    path: list[tuple[int, str]] = []
    tag: str | None = None
    current: _Block | None = None
    for index, raw in enumerate(lines):
        number, text = index + 1, raw.strip()
        if not text:
            if current is not None:
                current.notes.append("")
            continue
        if not raw[:1].isspace() and (heading := _heading(text)):
            depth, name = heading
            path = [(level, part) for level, part in path if level < depth] + [(depth, name)]
            tag = section_tag([part for _, part in path])
            current = None
            continue
        if raw[:1].isspace() or is_bullet(raw):
            if current is not None:
                current.notes.append(raw)
            else:
                plan.leftovers.append(Leftover(number, text[:200], "a note with no paper above it"))
            continue
        if not path:
            plan.leftovers.append(Leftover(number, text[:200], "before the first section heading"))
            current = None
            continue
        if _is_intro(text) and not split_line(text).citations and not _arxiv_key(find_refs(text)):
            plan.leftovers.append(Leftover(number, text[:200], "a section's introduction, not a paper"))
            current = None  # lines indented under it are reported too, not given to the paper above
            continue
        current = _Block(number, text, tag)
        blocks.append(current)
    return blocks


def parse(text: str) -> ImportPlan:
    """The notes a topic outline holds: one per paper, tagged with its sections."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    plan = ImportPlan(shape=Shape.OUTLINE, lines=len(lines) - (lines[-1] == ""))
    blocks = _blocks(lines, plan)
    notes: dict[str, PlannedNote] = {}
    blocks_by_line = {block.line: block for block in blocks}
    for position, block in enumerate(blocks):
        following = blocks[position + 1] if position + 1 < len(blocks) else None
        if _is_label(block, following) and not split_line(block.text).citations:
            continue
        note = _note(block)
        # One mention may give an arXiv link and the other only the title: either names the same paper.
        names = [note.paper.identity, "title:" + normalise_title(note.paper.title or "")]
        if seen := next((notes[name] for name in names if name in notes), None):
            if seen.body == blocks_by_line[seen.line].text:
                seen.body = note.body  # the first mention had only its line to show; this one says more
            _merge(seen, note)
            plan.duplicates_merged += 1
        else:
            plan.notes.append(note)
            seen = note
        notes.update((name, seen) for name in names if name != "title:")
    return plan


def score(text: str) -> float:
    """How much the text looks like a topic outline: multi-level numbered headings with ``#`` anchors, cited lines."""
    strong = cited = 0
    for line in text.splitlines():
        if not line[:1].strip():
            continue
        m = _HEADING.match(line.strip())
        if m and (m["name"].endswith("#") or "." in m["number"]):
            strong += 1
        elif line.rstrip().endswith(")") or " - " in line:
            cited += 1 if split_line(line).citations else 0
    if strong == 0:
        return 0.0
    return 0.4 + 0.35 * min(strong, 6) / 6 + 0.25 * min(cited, 6) / 6
