"""Paper references in a line of a document: arXiv ids and links, DOIs and other links, each with its span.

Every import parser finds its papers' ids here, and :mod:`storage.identity` reads them, so a document's
``(arXiv:2401.10034)``, ``[paper](https://arxiv.org/pdf/2401.10034v2)`` and a member's typed ``2401.10034`` make the
same key. Forms read: arXiv links (``arxiv.org/abs|pdf|html/…``, ``www.``/``export.`` hosts, ``http://``, ``.pdf``),
``hf.co/papers/…`` and ``huggingface.co/papers/…`` links, ``arXiv:`` tags, old-style ids (``hep-th/9901001``),
``doi:`` tags and ``doi.org`` links, any other ``http(s)://`` or ``www.`` link (a ``url:`` key), and a bare id when
it is alone on its line. A reference that names no paper (an id cut short, a month that does not exist) comes back
without a key, as written, so the parser reports it instead of guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from storage.errors import PaperInputError
from storage.identity import PaperKey, paper_key

__all__ = ["Ref", "find_refs", "may_hold_ref", "without_refs"]

# What ends an id or link as written: space, brackets, quotes, markdown emphasis, list separators.
_ID = r"[^\s?#()<>\[\]\"'`*|,;]+"
_REF = re.compile(
    r"(?:(?:https?://)?(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html)/"
    r"|(?:https?://)?(?:www\.)?(?:huggingface|hf)\.co/papers/"
    # A tag must be followed by something shaped like an id: ``arXiv: see below`` is prose, not a broken id.
    r"|\barxiv\s*:\s*(?=\d|[a-z-]+(?:\.[a-z]{2})?/\d))(?P<arxiv>" + _ID + r")"
    r"|(?:(?:https?://)?(?:dx\.|www\.)?doi\.org/|\bdoi\s*:\s*)(?P<doi>10\.\d{4,9}/[^\s<>\[\]\"'`]+)"
    r"|(?P<url>(?:https?://|\bwww\.)[^\s<>()\[\]\"'`]+)",
    re.IGNORECASE,
)
_ALONE = re.compile(r"\d{4}\.\d{3,6}(?:v\d+)?", re.ASCII)
_TRAILING = ".,;:!?"
_HINTS = ("arxiv", "doi", "http", "www.", "hf.co/", "huggingface.co/")
_WRAPPERS = (("<", ">"), ("(", ")"))
ARXIV, DOI, URL = "arxiv", "doi", "url"


@dataclass(frozen=True, slots=True)
class Ref:
    """A paper reference in a line: its span, its kind, the id or link as written, and its key (None: no paper)."""

    start: int
    end: int  # the span covers ``<…>`` or ``(…)`` around the reference, so removing it leaves no empty brackets
    kind: str  # ``arxiv`` (links, tags and bare ids), ``doi`` or ``url``
    written: str  # the id, DOI or link as written, trailing punctuation and ``.pdf`` dropped
    key: PaperKey | None

    @property
    def why(self) -> str:
        """Why the reference names no paper, for a leftover (``an arXiv id cut short: 2412.0498``); "" if it does."""
        if self.key is not None:
            return ""
        if self.kind != ARXIV:
            return f"not a paper link: {self.full[:80]}"
        numbers = self.written.split(".")[-1].split("v")[0]
        cut = "." in self.written and len(numbers) < 5
        return f"{'an arXiv id cut short' if cut else 'not an arXiv id'}: {self.written}"

    @property
    def full(self) -> str:
        """The reference as :func:`storage.identity.paper_key` reads it (``doi:10.1038/…``, ``arXiv:2401.10034``)."""
        return {ARXIV: "arXiv:", DOI: "doi:"}.get(self.kind, "") + self.written


def may_hold_ref(line: str) -> bool:
    """Whether a line mentions anything that could be a paper reference (cheap: no regex)."""
    low = line.lower()
    return any(hint in low for hint in _HINTS)


def _trim(text: str) -> str:
    """A reference without the punctuation that ends its sentence, and without an unopened ``)``."""
    text = text.rstrip(_TRAILING)
    while text.endswith(")") and text.count("(") < text.count(")"):
        text = text[:-1].rstrip(_TRAILING)
    return text


def _key(full: str) -> PaperKey | None:
    try:
        return paper_key(full)
    except PaperInputError:
        return None


def _ref(line: str, start: int, end: int, kind: str, written: str) -> Ref:
    for opening, closing in _WRAPPERS:
        if line[start - 1 : start] == opening and line[end : end + 1] == closing:
            start, end = start - 1, end + 1
            break
    prefix = {ARXIV: "arXiv:", DOI: "doi:"}.get(kind, "")
    return Ref(start, end, kind, written, _key(prefix + written))


def find_refs(line: str, *, alone: bool = False) -> list[Ref]:
    """Every paper reference in a line, in order; ``alone``: a bare id (``2401.10034``) filling the line counts too."""
    if alone and (bare := _ALONE.fullmatch(line.strip())):
        offset = len(line) - len(line.lstrip())
        return [_ref(line, offset + bare.start(), offset + bare.end(), ARXIV, bare.group())]
    if not may_hold_ref(line):
        return []
    refs: list[Ref] = []
    for m in _REF.finditer(line):
        kind = ARXIV if m["arxiv"] else DOI if m["doi"] else URL
        written = _trim(m[kind])
        end = m.start(kind) + len(written)
        if kind == ARXIV:
            written = written.rstrip("/")
            written = _trim(written[:-4] if written.lower().endswith(".pdf") else written)
        refs.append(_ref(line, m.start(), end, kind, written))
    return refs


def without_refs(line: str, refs: list[Ref], gap: str = "") -> str:
    """The line with the given references cut out (each replaced by ``gap``)."""
    pieces: list[str] = []
    at = 0
    for ref in refs:
        pieces.append(line[at : ref.start])
        at = ref.end
    pieces.append(line[at:])
    return gap.join(pieces)
