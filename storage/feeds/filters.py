"""The keyword filter language of subscriptions: how a keywords or exclude field becomes terms, how a paper's text
is folded for matching, and what it means for a term to match.

One definition, used by the poller (:func:`matches`, one paper against one subscription's filters) and by the
digest picker (:mod:`storage.digests.picks`, a week of papers against all of a group's interests at once, which
builds on :func:`fold`, :func:`unaccented` and :func:`term_pattern`).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from typing import Protocol

from storage.caches import bytes_bounded
from storage.plain_text import LATEX_COMMAND, latex_letters

__all__ = [
    "HAYSTACKS_BUDGET",
    "JOINERS",
    "LATEX_NOISE",
    "PATTERNS_BUDGET",
    "Listed",
    "fold",
    "keyword_terms",
    "matches",
    "term_pattern",
    "unaccented",
]

log = logging.getLogger(__name__)

JOINERS = "-_/\u2010\u2011\u2012\u2013\u2014\u2015"  # dashes, slashes and underscores join words: a space
LATEX_NOISE = "\\$^_{}~"  # what LaTeX markup leaves around words: a space


class Listed(Protocol):
    """Anything with a title and an abstract, as the filters read it: a feed item or stored paper metadata."""

    @property
    def title(self) -> str: ...

    @property
    def abstract(self) -> str: ...


_LATEX_NOISE = re.compile(f"[{re.escape(LATEX_NOISE)}]+")
_JOINERS = re.compile(rf"[\s{re.escape(JOINERS)}]+")
_QUOTES = '"\u201c\u201d\u201e\u00ab\u00bb'  # straight, curly and guillemet quotes all open and close a phrase
_QUOTED = re.compile(f"[{_QUOTES}](?P<phrase>[^{_QUOTES}]*)(?:[{_QUOTES}]|$)")
_COMMAS = re.compile(r"[,;]")
_OPERATORS = frozenset({"OR", "AND", "|", "||"})
_MAX_TERMS = 50
_MAX_TERM_CHARS = 200
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def unaccented(text: str) -> str:
    """The text decomposed (compatibility forms too: ﬁ is fi) and with its accents taken off."""
    return "".join(char for char in unicodedata.normalize("NFKD", text) if not unicodedata.combining(char))


def fold(text: str) -> str:
    """Text for matching: LaTeX accents and commands made plain, case and accents folded, dashes made spaces."""
    if "\\" in text:
        text = latex_letters(text)
        text = LATEX_COMMAND.sub(lambda m: " " + m["name"] + " ", text)
    text = _LATEX_NOISE.sub(" ", text)
    text = _NON_ASCII.sub(lambda run: unaccented(run[0]), text)  # only the few non-ASCII runs of an abstract
    return _JOINERS.sub(" ", text.casefold()).strip()


def keyword_terms(text: str | None) -> tuple[str, ...]:
    """The terms a keywords or exclude field names: ``"quoted phrases"``, comma-separated phrases, or words.

    Without commas each unquoted word is a term (``merging distillation``: either word); with commas each
    comma-separated part is a phrase (``model merging, task arithmetic``). ``OR``/``AND`` between words are
    ignored (terms are always alternatives), and a trailing ``*`` matches any ending (``merg*``).
    """
    if not text:
        return ()
    terms: list[str] = []
    rest: list[str] = []
    position = 0
    for quoted in _QUOTED.finditer(text):
        rest.append(text[position : quoted.start()])
        terms.append(quoted["phrase"])
        position = quoted.end()
    rest.append(text[position:])
    split = _COMMAS.split if any(_COMMAS.search(piece) for piece in rest) else str.split
    for piece in rest:
        terms.extend(part for part in split(piece) if part.strip() not in _OPERATORS)  # quoted "OR" stays a term
    cleaned = (" ".join(term.split())[:_MAX_TERM_CHARS] for term in terms)
    usable = (term for term in cleaned if term and fold(term.rstrip("*")))
    return tuple(dict.fromkeys(usable))[:_MAX_TERMS]


# Budgets in bytes, arguments and results together. A subscription's keywords compile to a few KB (at most 50
# terms). A paper's title and abstract with their folded form take about 3 KB for a typical abstract: 16 MB holds
# a busy day's listing whole (2,000 papers: 6 MB), so every distinct filter of its subscriptions reads each paper
# folded once.
PATTERNS_BUDGET = 2_000_000
HAYSTACKS_BUDGET = 16_000_000


def term_pattern(term: str) -> re.Pattern[str] | None:
    """What a term matches in folded text: its words, on word boundaries, in order with any spaces between.

    A plural ending is allowed so that "LLM" finds "LLMs"; a trailing ``*`` matches any ending (``merg*``).
    None for a term with no word in it.
    """
    prefix = term.endswith("*")
    words = fold(term.rstrip("*")).split()
    if not words:
        return None
    first = re.escape(words[0])
    rest = "".join(r"\s+" + re.escape(word) for word in words[1:])
    tail = r"\w*" if prefix else (r"(?:s|es)?" if words[-1][-1].isalpha() else "")
    # (?<!\w){first}… with the look-behind after the first word: a literal start lets the regex engine skip
    # through the text.
    return re.compile(rf"{first}(?<!\w{first}){rest}{tail}(?!\w)")


@bytes_bounded(PATTERNS_BUDGET)
def _patterns(text: str | None) -> tuple[tuple[str, re.Pattern[str]], ...]:
    compiled = ((term, term_pattern(term)) for term in keyword_terms(text))
    return tuple((term, pattern) for term, pattern in compiled if pattern is not None)


@bytes_bounded(HAYSTACKS_BUDGET)
def _haystack(title: str, abstract: str) -> str:
    return fold(f"{title} \n {abstract}")


def matches(item: Listed, keywords: str | None, exclude: str | None) -> tuple[bool, str]:
    """Whether a subscription's filters keep an item, and why, as a member would read it.

    Title and abstract are matched case- and accent-insensitively on word boundaries; any keyword keeps the
    item, and any exclude term drops it even when a keyword matches.
    """
    try:
        haystack = _haystack(str(getattr(item, "title", "") or ""), str(getattr(item, "abstract", "") or ""))
        for term, pattern in _patterns(exclude or None):
            if pattern.search(haystack):
                return False, f"excluded by “{term}”"
        wanted = _patterns(keywords or None)
        if not wanted:
            return True, "no keyword filter"
        for term, pattern in wanted:
            if pattern.search(haystack):
                return True, f"matches “{term}”"
        return False, "no keyword in title or abstract"
    except Exception:  # pragma: no cover - a filter must never stop a feed; hold the item back and say why
        log.exception("could not apply filters %r / %r", keywords, exclude)
        return False, "the filters could not be applied"
