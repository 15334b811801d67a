"""A running log kept in one document for years: week headers (``9/21/2025~9/27/2025``), then per paper a title
line ending in its citation, and the notes under it.

Rules the parser follows:

- A header is a date range ``m/d/yyyy~m/d/yyyy`` (7 or 8 days); its notes are dated on its first day. A block
  headed ``Before September 2025`` (or ``Undated``) holds undated notes.
- A paper opens with an unindented line ending in a citation that names authors (``(Wei et al., 2025)``), or a
  title-like line followed by a line holding only the citation.
- Bare section words (``Method``, ``Thoughts:``, ``Experiment 1``) become ``## Word`` headings; ``Keywords: a, b``
  becomes tags; a body that is only ``WIP`` makes a WIP note, a ``(Partially finished)`` or ``(Section 3.4 Only)``
  marker a partial one (the marker stays in the body: it says what was read).
- The same title twice makes one note holding both texts, each under its week.
- Text before the first paper, or under a header before that week's first paper, is reported as a leftover.
- A header whose year breaks the sequence (``1/4/2025~1/10/2025`` between January 2026 weeks) is flagged with the
  date the neighbouring header suggests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from storage.identity import PaperKey
from storage.imports.citations import CitedLine, is_bullet, markdown_lines, parse_citation, split_line
from storage.imports.links import find_refs
from storage.imports.plan import (
    FlaggedDate,
    ImportPlan,
    Leftover,
    NoteStatus,
    PlannedNote,
    PlannedPaper,
    Shape,
    normalise_title,
    to_tag,
)
from storage.note_text import MAX_TAGS

__all__ = ["parse", "score"]

_RANGE = re.compile(
    r"^[#*\s]*(?P<m1>\d{1,2})/(?P<d1>\d{1,2})/(?P<y1>\d{4})\s*[~～–—-]\s*"
    r"(?P<m2>\d{1,2})/(?P<d2>\d{1,2})/(?P<y2>\d{4})[*\s:]*$"
)
_UNDATED = re.compile(
    r"^[#*\s]*(?:(?:before|prior\s+to|earlier\s+than)\s+[A-Za-z]+\.?\s+\d{4}|undated|older)[*\s:]*$",
    re.IGNORECASE,
)
_SECTION = re.compile(
    r"^(?:main\s+)?(?:methods?|results|questions|thoughts|ablations?|analysis|addendum|notation|problem\s+setup|"
    r"setup|summary|background|motivation|discussion|limitations|takeaways|related\s+work|conclusions?|"
    r"experiments?(?:\s+\d+)?)$",
    re.IGNORECASE,
)
_KEYWORDS = re.compile(r"^\s*key\s*words?\s*:\s*(?P<words>.*)$", re.IGNORECASE)
_WIP = re.compile(r"^\(?\s*wip\s*\)?[.!]*$", re.IGNORECASE)
_PARTIAL = re.compile(
    r"^\(\s*(?:partially\s+(?:finished|read|done)|partial|sections?\s+\d[\d.,&and -]{0,40}?\s*only)\s*\)$",
    re.IGNORECASE,
)
_STANDALONE_CITATION = re.compile(r"^\s*(?<!\\)\((?P<inner>[^()]{1,240})\)\s*$")
MAX_TITLE_WORDS = 30
MAX_TITLE_CHARS = 300
_YEAR_SLIP_DAYS = 60  # a header this far from the one before it is checked for a mistyped year


@dataclass(slots=True)
class _Entry:
    """One paper's entry in the log, before entries of the same paper are merged."""

    cited: CitedLine
    title_line: str
    line: int
    week: date | None
    week_label: str
    body: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


def _title_like(line: str) -> bool:
    """Whether an unindented line could be a paper's title (its citation may follow on the next line)."""
    text = line.strip()
    if not text or line[0].isspace() or is_bullet(line) or _SECTION.match(text.rstrip(":").strip()):
        return False
    if _KEYWORDS.match(text) or _RANGE.match(text) or _UNDATED.match(text) or _WIP.match(text):
        return False
    return (
        len(text) <= MAX_TITLE_CHARS
        and len(text.split()) <= MAX_TITLE_WORDS
        and not text.endswith((".", ",", ";", "?", ":"))
        and ". " not in text
    )


def _title_line(line: str) -> CitedLine | None:
    """The title and citation of a line that opens a paper, or None."""
    if not line or line[0].isspace():
        return None
    cited = split_line(line)
    if not cited.surnames or (cited.comment and not _PARTIAL.match(cited.comment)):
        return None
    head = cited.title
    if not head or not _title_like(head) or (head[:1] in "QA→" and head[1:2].isdigit()):
        return None
    return cited


def _citation_only(line: str) -> CitedLine | None:
    """A line holding only a citation with authors (the title is on the line above)."""
    m = _STANDALONE_CITATION.match(line)
    cited = parse_citation(m["inner"]) if m else None
    if not m or not cited or not cited[0].surnames:
        return None
    return CitedLine(title="", citations=cited, citation_text=m.group().strip())


def _day(month: str, day: str, year: str) -> date | None:
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        return None


def _year_slip(start: date, previous: date | None) -> date | None:
    """The date a mistyped year was meant to be, judged from the previous header, or None when it looks right."""
    if previous is None or abs((start - previous).days) <= _YEAR_SLIP_DAYS:
        return None
    for year in (previous.year, previous.year - 1, previous.year + 1):
        candidate = _day(str(start.month), str(start.day), str(year))
        if candidate and abs((candidate - previous).days) <= 14:
            return candidate
    return None


def _paper_key(entry: _Entry) -> PaperKey | None:
    """The id a title line or a bare link line under it gives the paper."""
    for text in [entry.title_line, *entry.body[:3]]:
        if key := next((ref.key for ref in find_refs(text) if ref.key), None):
            return key
    return None


def _body(entry: _Entry) -> tuple[str, str]:
    """An entry's markdown body and status."""
    lines: list[str] = []
    block: list[str] = [entry.cited.comment] if entry.cited.comment else []  # a marker on the title line
    for raw in entry.body:
        text = raw.strip()
        if not raw[:1].isspace() and _SECTION.match(text.rstrip(":").strip()):
            lines += markdown_lines(block)
            block = []
            lines += ["", "## " + text.rstrip(":").strip()]
        else:
            block.append(raw)
    lines += markdown_lines(block)
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    partial = any(_PARTIAL.match(line.strip()) for line in [entry.cited.comment, *entry.body])
    if _WIP.match(body):
        return "WIP", NoteStatus.WIP
    if not body:
        return entry.title_line.strip(), NoteStatus.WIP  # a title with nothing under it: not written yet
    if partial:
        return body, NoteStatus.PARTIAL
    return body, NoteStatus.DONE


def _note(entries: list[_Entry]) -> PlannedNote:
    """One note for every entry of the same paper; a merged note keeps each text under its week."""
    first = entries[0]
    bodies = [(entry, *_body(entry)) for entry in entries]
    written = [item for item in bodies if item[2] != NoteStatus.WIP] or bodies[:1]
    if len(entries) == 1:
        body, status = bodies[0][1], bodies[0][2]
    else:
        labels = (f"**Week of {e.week.isoformat()}**" if e.week else f"**{e.week_label}**" for e, _, _ in written)
        body = "\n\n".join(f"{label}\n{text}" for label, (_, text, _) in zip(labels, written, strict=True))
        statuses = {item[2] for item in written}
        status = NoteStatus.DONE if NoteStatus.DONE in statuses else written[0][2]
    key = next((k for k in map(_paper_key, entries) if k), None)
    cited = next((e.cited for e in entries if e.cited.surnames), first.cited)
    paper = PlannedPaper(
        title=first.cited.title,
        key=key.key if key else None,
        version=key.version if key else None,
        surnames=cited.surnames,
        year=cited.year,
        line=first.line,
    )
    tags = list(dict.fromkeys(tag for entry in entries for tag in entry.tags))[:MAX_TAGS]
    days = [entry.week for entry in entries if entry.week is not None]
    return PlannedNote(
        paper=paper,
        body=body,
        tags=tags,
        status=status,
        written_on=min(days) if days else None,
        line=first.line,
        merged=len(entries),
    )


def parse(text: str) -> ImportPlan:
    """The notes a running log holds, one per paper, dated by their week."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    plan = ImportPlan(shape=Shape.RUNNING_LOG, lines=len(lines) - (lines[-1] == ""))
    entries: list[_Entry] = []
    week: date | None = None
    week_label = "Undated"
    previous_start: date | None = None
    seen_header = False
    current: _Entry | None = None
    skip = -1
    for index, line in enumerate(lines):
        number = index + 1
        if index == skip:
            continue
        stripped = line.strip()
        if m := _RANGE.match(line):
            current, seen_header = None, True
            # Only the first day dates the notes: a slip in the last day (a range of 9 days) changes nothing.
            start = _day(m["m1"], m["d1"], m["y1"])
            if start is None:
                plan.leftovers.append(Leftover(number, stripped, "a week header whose first day is not a date"))
                week, week_label = None, stripped
                continue
            if proposed := _year_slip(start, previous_start):
                why = f"the year breaks the sequence: the header before it starts {previous_start}"
                plan.flagged.append(FlaggedDate(number, stripped, start, proposed, why))
            week, week_label, previous_start = start, stripped, proposed or start
            continue
        if _UNDATED.match(line):
            current, seen_header = None, True
            week, week_label = None, stripped.strip("#* :")
            continue
        cited = _title_line(line)
        if cited is None and index + 1 < len(lines) and _title_like(line):
            if below := _citation_only(lines[index + 1]):
                cited, skip = CitedLine(stripped, below.citations, "", below.citation_text), index + 1
        if cited is not None:
            current = _Entry(cited, line, number, week, week_label)
            entries.append(current)
            continue
        if current is None:
            if stripped:
                why = "under a week header, before its first paper" if seen_header else "before the first paper"
                plan.leftovers.append(Leftover(number, stripped[:200], why))
            continue
        if m := _KEYWORDS.match(line):
            current.tags += [tag for word in m["words"].split(",") if (tag := to_tag(word.strip()))]
            continue
        current.body.append(line)

    groups: dict[str, list[_Entry]] = {}
    for entry in entries:
        groups.setdefault(normalise_title(entry.cited.title) or entry.title_line, []).append(entry)
    plan.notes = [_note(group) for group in groups.values()]
    plan.duplicates_merged = sum(len(group) - 1 for group in groups.values())
    return plan


def score(text: str) -> float:
    """How much the text looks like a running log: week-range headers, and title lines ending in a citation."""
    headers = titles = 0
    for line in text.splitlines():
        if _RANGE.match(line):
            headers += 1
        elif line[:1].strip() and line.rstrip().endswith(")") and _title_line(line):
            titles += 1
    if headers == 0 or titles == 0:
        return 0.0
    return 0.4 + 0.3 * min(headers, 4) / 4 + 0.3 * min(titles, 6) / 6
