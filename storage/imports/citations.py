"""How notes documents write papers: author-year citations, a paper line split into title, citation and comment,
and the bullets of the notes under it turned into markdown lists.

Forms read: ``(Wei et al., 2025)``, ``(Wei et al, 2025)``, ``(Hardt and Ma, 2018)``, ``(Malach, 2024)``,
``(liu…neubig, 2023)`` (first…last author), ``(liu…zhu, 2023, microsoft)`` (an extra field after the year),
``(2021)`` (year only), ``(OpenAI, 2023)`` (an organisation as author), several at once
``(Wei et al., 2022; Kojima et al., 2022)``, and natbib's ``GShard Lepikhin et al. (2021)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "Citation",
    "CitedLine",
    "find_citation",
    "is_bullet",
    "markdown_lines",
    "parse_citation",
    "split_comment",
    "split_line",
]

# A parenthesis that is not LaTeX's \( \), holding no nested parenthesis.
_PAREN = re.compile(r"(?<!\\)\((?P<inner>[^()]{1,240}?)(?<!\\)\)")
_PART = re.compile(
    r"^(?P<authors>[^\d;]*?)[\s,]*(?P<year>(?:19|20)\d\d)[a-z]?(?:\s*,\s*(?P<extra>[^;]{1,60}))?$", re.IGNORECASE
)
_ET_AL = re.compile(r"\s*,?\s*\bet\s+al\b\.?", re.IGNORECASE)
_AUTHOR_SPLIT = re.compile(r"\s*(?:…|\.\.\.|,|&|\band\b)\s*", re.IGNORECASE)
_NAME = re.compile(r"^[^\W\d_][\w'’.-]*(?:\s+[^\W\d_][\w'’.-]*){0,3}$")
# natbib: ``Lepikhin et al. (2021)``, ``Hardt and Ma (2018)``; a single name needs ``et al.`` or a partner,
# else ``Attention Vaswani (2017)`` could not be told from a title ending in a word before a year.
_NATBIB = re.compile(
    r"(?P<names>\b[A-Z][\w'’-]+(?:\s+et\s+al\.?|\s+(?:and|&)\s+[A-Z][\w'’-]+))\s*"
    r"\((?P<year>(?:19|20)\d\d)[a-z]?\)"
)
# What separates a comment from the citation before it; without a citation only a spaced dash does,
# because titles hold colons (``P\(^3\)SUM: Preserving…``).
_AFTER_CITATION = re.compile(r"^\s*(?:[-–—:]+\s*)?")
_DASH_SEPARATOR = re.compile(r"(?<=\s)[-–—]+(?=\s)")
_BULLET = re.compile(r"^(?P<indent>[ \t]*)(?:(?P<mark>[•◦▪▫●○■□‣⁃*+-])|(?P<num>\d{1,3}[.)]))[ \t]+(?P<text>\S.*)$")


@dataclass(frozen=True, slots=True)
class Citation:
    """One cited work: its authors' surnames (lower case), its year, and any extra field (``microsoft``)."""

    surnames: tuple[str, ...]
    year: int
    extra: str | None = None


@dataclass(frozen=True, slots=True)
class CitedLine:
    """A paper line taken apart: title as written, its citations, and the comment after them."""

    title: str
    citations: tuple[Citation, ...] = ()
    comment: str = ""
    citation_text: str = ""  # the citation as written, parentheses included

    @property
    def surnames(self) -> tuple[str, ...]:
        """The first citation's surnames (the paper the line names)."""
        return self.citations[0].surnames if self.citations else ()

    @property
    def year(self) -> int | None:
        """The first citation's year."""
        return self.citations[0].year if self.citations else None


def _surnames(authors: str) -> tuple[str, ...] | None:
    """Surnames from a citation's author field, or None when it does not read as names."""
    authors = _ET_AL.sub("", authors).strip(" ,")
    if not authors:
        return ()
    names = [name for name in _AUTHOR_SPLIT.split(authors) if name]
    if not names or not all(_NAME.match(name) for name in names):
        return None
    # The surname is a name's last word (``Jason Wei`` → ``wei``); an organisation stays whole when one word.
    return tuple(name.split()[-1].strip(".").lower() for name in names)


def parse_citation(inner: str) -> tuple[Citation, ...] | None:
    """The citations inside one pair of parentheses (``Wei et al., 2022; Kojima et al., 2022``), or None."""
    citations: list[Citation] = []
    for part in inner.split(";"):
        m = _PART.match(part.strip())
        if not m:
            return None
        surnames = _surnames(m["authors"])
        if surnames is None:
            return None
        extra = m["extra"].strip() if m["extra"] else None
        if extra and not _NAME.match(extra):
            return None
        citations.append(Citation(surnames, int(m["year"]), extra))
    return tuple(citations) or None


def find_citation(line: str) -> tuple[int, int, tuple[Citation, ...]] | None:
    """The first citation in a line: its start, end and what it cites; natbib form included."""
    for m in _PAREN.finditer(line):
        if cited := parse_citation(m["inner"]):
            natbib = _NATBIB.search(line, max(0, m.start() - 60), m.end())
            if natbib and natbib.end() == m.end() and not cited[0].surnames:
                names = _surnames(natbib["names"])
                if names:
                    return natbib.start(), natbib.end(), (Citation(names, cited[0].year),)
            return m.start(), m.end(), cited
    return None


def split_comment(text: str) -> tuple[str, str]:
    """A line with no citation split at its first spaced dash into (title, comment)."""
    parts = _DASH_SEPARATOR.split(text.strip(), maxsplit=1)
    return parts[0].strip(), (parts[1].strip() if len(parts) > 1 else "")


def split_line(line: str) -> CitedLine:
    """A paper line as (title, citations, comment): ``Title (Wei et al., 2022) - comment`` and its variants."""
    text = line.strip()
    found = find_citation(text)
    if found is None:
        title, comment = split_comment(text)
        return CitedLine(title=title, comment=comment)
    start, end, cited = found
    after = text[end:]
    comment = _AFTER_CITATION.sub("", after, count=1).strip()
    return CitedLine(
        title=text[:start].strip().rstrip(",–—-:").strip(),
        citations=cited,
        comment=comment,
        citation_text=text[start:end],
    )


def is_bullet(line: str) -> bool:
    """Whether a line is a list item (``•``, ``-``, ``*``, ``1.``), at any indent."""
    return _BULLET.match(line) is not None


def markdown_lines(lines: list[str]) -> list[str]:
    """A block of note lines as markdown: bullets as ``-`` items nested by indent, numbered steps kept.

    Lines that are not list items lose their indent (four spaces would make a code block), unless they continue
    a list item above them, where they keep its depth.
    """
    out: list[str] = []
    indents: list[int] = []  # the indent of each open list level
    for raw in lines:
        line = raw.rstrip().expandtabs(4)
        if not line:
            out.append("")
            continue
        m = _BULLET.match(line)
        indent = len(line) - len(line.lstrip())
        if m:
            while indents and indents[-1] > indent:
                indents.pop()
            if not indents or indents[-1] < indent:
                indents.append(indent)
            out.append("  " * (len(indents) - 1) + (m["num"] or "-") + " " + m["text"].strip())
        elif indents and indent > indents[0]:
            out.append("  " * sum(1 for level in indents if level <= indent) + line.strip())
        else:
            indents.clear()
            out.append(line.strip())
    return out
