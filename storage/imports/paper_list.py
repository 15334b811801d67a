"""Shape 4: a list of papers pasted from a papers website (a "trending papers" page).

Each paper is a short title line followed by its abstract paragraph, with the page's chrome around them
(``Subscribe``, upvote and star counts, ``· 12 authors``, ``Published on Mar 3``, ``Submitted by …``). The
papers become papers the group knows, without notes; an arXiv link or id after a title gives that paper its key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from storage.identity import PaperKey
from storage.imports.links import ARXIV, Ref, find_refs
from storage.imports.plan import ImportPlan, Leftover, PlannedPaper, Shape, normalise_title

__all__ = ["parse", "score"]

LONG_CHARS = 200  # an abstract; no title is this long
LONG_WORDS = 25
SHOWN_CHARS = 80  # of a leftover's text in the dry run
FOREIGN_WEIGHT = 3  # a date header or citation on one title in three means another shape

# Chrome of papers websites, each matched against a whole line or one of its " · "-separated pieces.
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_CHROME = re.compile(
    r"""
    get\ trending\ papers\ in\ your\ email\ inbox!? | (?:un)?subscribe | follow(?:ing)? | share
    | upvoted? (?:\ \d[\d,.]*k?)? | \d[\d,.]*k?\ upvotes?
    | trending (?:\ papers|\ this\ (?:week|month)|\ today)? | daily\ papers | latest | most\ (?:upvoted|recent)
    | by\ ak\ and\ the\ research\ community
    | \d[\d,]*\ authors?
    | (?:published|submitted|updated)\ on\ """
    + _MONTH
    + r"""\ \d{1,2}(?:,?\ \d{4})? | """
    + _MONTH
    + r"""\ \d{1,2}(?:,?\ \d{4})?
    | submitted\ by (?:\ @?[\w.-]+)?
    | [★⭐☆✩]?\ ?\d[\d,.]*\ ?[km]? (?:\ stars?)?
    | github | arxiv(?:\ page)? | paper\ page | view\ (?:arxiv\ page|pdf) | pdf | project\ page | code
    | add\ to\ collection | \d+\ comments? | comments? | load\ more | show\ more | page\ \d+(?:\ of\ \d+)?
    | \#\d+(?:\ paper\ of\ the\ (?:day|week|month))?
    """,
    re.IGNORECASE | re.VERBOSE,
)
_JSON_START = re.compile(r"\ufeff?\s*[{\[]\s*[\"{\[\]}]")
_PIECES = re.compile(r"\s*[·•|]\s*")
_GLUED = re.compile(r"^(?:get trending papers in your email inbox!\s*)?subscribe(?=\S|$)", re.IGNORECASE)
_BARE_SUBMITTER = re.compile(r"submitted by:?", re.IGNORECASE)
_USERNAME = re.compile(r"@?[\w.-]{1,39}")
_LINE_MARKUP = re.compile(r"^(?:#{1,6}\s+|[-*+]\s+|\d{1,3}[.)]\s+)|^\*\*(?=.*\*\*$)|\*\*$")
# Marks of the other shapes: a line like these says the document is not a plain list of papers.
_FOREIGN = re.compile(
    r"\d{1,2}/\d{1,2}/\d{2,4}\s*[~–-]"  # a running log's week header
    r"|\((?:[^()]*\bet al\.?|[A-Z][\w'-]+(?: and [A-Z][\w'-]+)?),? \d{4}\)"  # a citation after a title
    r"|\b\d{1,2}\.\d{1,2}\.\d{2,4}\b"  # a daily post's date
    r"|^\d+(?:\.\d+)+\.?\s"  # an outline's numbered heading
    r"|^(?:method|results|questions|summary)s?:?$",  # a note's section word
    re.IGNORECASE,
)


@dataclass(slots=True)
class _Entry:
    title: str
    line: int
    abstract: list[str] = field(default_factory=list)
    key: PaperKey | None = None


@dataclass(slots=True)
class _Scan:
    entries: list[_Entry] = field(default_factory=list)
    leftovers: list[Leftover] = field(default_factory=list)
    long_paragraphs: int = 0
    chrome: int = 0
    foreign: int = 0
    lines: int = 0


def _is_long(text: str) -> bool:
    return len(text) >= LONG_CHARS or text.count(" ") >= LONG_WORDS - 1


def _is_chrome(text: str) -> bool:
    return all(not piece or _CHROME.fullmatch(piece) for piece in _PIECES.split(text))


def _without_chrome_tail(text: str) -> str:
    """A title with chrome glued after it (``Title · 8 authors``) without the chrome."""
    pieces = _PIECES.split(text)
    kept = len(pieces)
    while kept > 1 and (not pieces[kept - 1] or _CHROME.fullmatch(pieces[kept - 1])):
        kept -= 1
    return text if kept == len(pieces) else " · ".join(pieces[:kept])


def _arxiv_ref(text: str) -> Ref | None:
    """The arXiv reference when the line is an arXiv link or id (and little else), else None."""
    ref = next((ref for ref in find_refs(text, alone=True) if ref.kind == ARXIV), None)
    if ref is None:
        return None
    rest = (text[: ref.start] + text[ref.end :]).strip(" :-–·<>()[]")
    if len(rest) > 12:  # a sentence that mentions a link, not a link line
        return None
    return ref


class _Reader:
    """One pass over the lines: blocks of text become titles and abstracts; chrome and links are set aside."""

    def __init__(self) -> None:
        self.scan = _Scan()
        self.block: list[tuple[int, str]] = []
        self.current: _Entry | None = None
        self.chrome_since_abstract = True  # a second paragraph only continues an abstract across blank lines

    def line(self, number: int, raw: str) -> None:
        text = raw.strip()
        if not text:
            self.flush()
            return
        glued = _GLUED.match(text)
        if glued:
            self.scan.chrome += 1
            text = text[glued.end() :].lstrip()
            if not text:
                self.flush()
                self.chrome_since_abstract = True
                return
        ref = _arxiv_ref(text)
        if ref is not None:
            self.flush()
            self.attach(number, text, ref)
        elif _is_chrome(text):
            self.flush()
            self.scan.chrome += 1
            self.chrome_since_abstract = True
        else:
            short = not _is_long(text)
            if short and _FOREIGN.search(text):
                self.scan.foreign += 1
            if short and self.block and _is_long(self.block[-1][1]):
                self.flush()  # a short line after an abstract's long line starts something new
            self.block.append((number, text))

    def attach(self, number: int, text: str, ref: Ref) -> None:
        key = ref.key
        if key is None:
            self.scan.leftovers.append(Leftover(number, text[:SHOWN_CHARS], f"not an arXiv id: {ref.written[:30]}"))
            return
        self.chrome_since_abstract = True
        if self.current is None:
            self.scan.leftovers.append(Leftover(number, text[:SHOWN_CHARS], "an arXiv link before any title"))
        elif self.current.key is None:
            self.current.key = key
        elif self.current.key.key != key.key:
            self.scan.leftovers.append(Leftover(number, text[:SHOWN_CHARS], "a second arXiv id for one paper"))

    def flush(self) -> None:
        if not self.block:
            return
        block, self.block = self.block, []
        number, first = block[0]
        texts = [text for _, text in block]
        if not _is_long(first):
            title = _LINE_MARKUP.sub("", _without_chrome_tail(first)).strip()
            self.current = _Entry(title=" ".join(title.split()) or first, line=number, abstract=texts[1:])
            self.scan.entries.append(self.current)
            self.scan.long_paragraphs += int(len(texts) > 1 and _is_long(" ".join(texts[1:])))
            self.chrome_since_abstract = len(texts) == 1
            return
        self.scan.long_paragraphs += 1
        current = self.current
        if current is not None and (not current.abstract or not self.chrome_since_abstract):
            if current.abstract:
                current.abstract.append("")  # a paragraph break inside the abstract
            current.abstract.extend(texts)
            self.chrome_since_abstract = False
        else:
            self.scan.leftovers.append(Leftover(number, first[:SHOWN_CHARS], "a paragraph with no title before it"))


def _scan(text: str) -> _Scan:
    reader = _Reader()
    awaiting_submitter = False
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it opens no new one
    for number, raw in enumerate(lines, start=1):
        stripped = raw.strip()
        # "Submitted by" on its own line: the next line is the submitter's user name, chrome too.
        if awaiting_submitter and stripped:
            awaiting_submitter = False
            if _USERNAME.fullmatch(stripped):
                reader.scan.chrome += 1
                continue
        awaiting_submitter = awaiting_submitter or bool(_BARE_SUBMITTER.fullmatch(stripped))
        reader.line(number, raw)
    reader.flush()
    reader.scan.lines = len(lines)
    return reader.scan


def _abstract(lines: list[str]) -> str | None:
    """The abstract's lines joined, wrapped lines into one, paragraphs (split by "") kept apart."""
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        if line:
            paragraphs[-1].append(line)
        else:
            paragraphs.append([])
    joined = "\n\n".join(" ".join(" ".join(paragraph).split()) for paragraph in paragraphs if paragraph)
    return joined or None


def score(text: str) -> float:
    """High for short title lines each followed by a long abstract, with a website's chrome around them."""
    if _JSON_START.match(text):
        return 0.0  # a JSON file (an export) is no pasted page; no need to read megabytes of it
    scan = _scan(text)
    pairs = sum(1 for entry in scan.entries if entry.abstract and _is_long(" ".join(entry.abstract)))
    if pairs < 2 or scan.long_paragraphs == 0:
        return 0.0
    alternation = min(1.0, pairs / scan.long_paragraphs)  # every long paragraph is an abstract right after a title
    titled = pairs / len(scan.entries)  # and nearly every short line is a title with an abstract
    chrome = min(1.0, scan.chrome / pairs)
    foreign = min(1.0, FOREIGN_WEIGHT * scan.foreign / pairs)
    return round(alternation * titled * (0.8 + 0.2 * chrome) * (1.0 - foreign), 3)


def parse(text: str) -> ImportPlan:
    """The papers of the list, each once (title, abstract, arXiv key when linked), and no notes."""
    scan = _scan(text)
    papers: list[PlannedPaper] = []
    groups: list[list[_Entry]] = []
    by_key: dict[str, int] = {}
    by_title: dict[str, int] = {}
    for entry in scan.entries:
        title = normalise_title(entry.title)
        found = by_key.get(entry.key.key) if entry.key else None
        if found is None and title in by_title:
            other = papers[by_title[title]].key
            found = by_title[title] if entry.key is None or other is None or other == entry.key.key else None
        if found is None:
            found = len(papers)
            papers.append(PlannedPaper(title=entry.title, line=entry.line))
            groups.append([])
            by_title.setdefault(title, found)
        groups[found].append(entry)
        paper = papers[found]
        if entry.key is not None and paper.key is None:
            paper.key, paper.version = entry.key.key, entry.key.version
            by_key.setdefault(entry.key.key, found)
        if paper.abstract is None:
            paper.abstract = _abstract(entry.abstract)
    plan = ImportPlan(shape=Shape.PAPER_LIST, leftovers=scan.leftovers, lines=scan.lines)
    for paper, entries in zip(papers, groups, strict=True):
        if paper.abstract is None and paper.key is None:
            # A short line with nothing after it: page chrome this parser does not know, or a stray remark.
            plan.leftovers.extend(
                Leftover(entry.line, entry.title[:SHOWN_CHARS], "no abstract after it") for entry in entries
            )
            continue
        plan.papers.append(paper)
        plan.duplicates_merged += len(entries) - 1
    plan.leftovers.sort(key=lambda leftover: leftover.line)
    return plan
