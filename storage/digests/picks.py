"""Which of the week's feed papers match a group's interests: its subscriptions' keywords and its tags.

A paper is chosen when a subscription's keywords match it (and that subscription's exclude terms don't), or
when one of the group's tags does. Keyword semantics are those of :func:`storage.feeds.filters.matches`: case- and
accent-insensitive, on word boundaries, quoted or comma-separated phrases, a plural ``s``/``es``, a trailing
``*`` for any ending. A tag ``llms/prompting`` stands for the terms ``llms`` and ``prompting`` (either one);
``model-merging`` stands for the phrase "model merging"; tag words of at most two characters and a few generic
words (:data:`GENERIC_TAG_WORDS`) are no interest on their own.

How
---
:func:`~storage.feeds.filters.matches` folds each abstract through several regular expressions (LaTeX, accents,
dashes), 50-90 µs a paper: far too slow for a week of 5,000 papers. Here the week is read once, in C as far as
possible:

- each paper is encoded to ASCII with a codec error handler that folds only its non-ASCII runs, exactly as
  ``matches`` does (decomposed, accents dropped, case-folded; punctuation among them becomes ``,``); LaTeX
  accents (``Schr\\"odinger``) come off their letters by one bytes regex; one ``bytes.translate`` lower-cases
  and turns every other byte into a space: the paper's *words view*;
- one ``frozenset.intersection`` of the split words view with the vocabulary of every term gives the words
  that matter, gathered into postings (word -> papers);
- then interest by interest, in order: a one-word term (``llms``) is the union of its words' postings (the
  word, with ``s``, with ``es``); a prefix term (``merg*``) is a substring test for `` merg`` in the words view;
  a phrase or a term with punctuation (``model merging``, ``c++``) runs the exact pattern of ``matches`` only on
  the papers that have all of its words, on the text normalised as ``matches`` normalises it (made on demand,
  once a paper). A paper an earlier interest took is not tried again.

Almost all of the time goes into reading the text: on the 2-core machine this was written on (CPython 3.11)
the 5,000 papers of ``bench/digest.py`` take about 80 ms when no paper matches and about 115 ms when nearly all
do; ``bytes.split`` of the words views alone takes 32 ms. Going much lower needs the words view made once per
paper when it is ingested, not once per digest.

The verdict equals ``matches()`` for ASCII text, LaTeX included (``tests/storage/test_digest_picks.py`` checks it
with hypothesis), and for non-ASCII text, except for these deliberate differences, all rare in titles and
abstracts and none worth a slower digest:

- LaTeX letter commands (``\\o``, ``\\ss``, ``\\ae``, ``\\aa``, ``\\l``, ``\\i`` …) are not turned into letters:
  ``S\\o{}ren`` reads as the words "s", "o" and "ren" here, "søren" in ``matches``.
- A LaTeX command written straight against a digit or a non-ASCII letter (``\\ell2``) stays one word here
  ("ell2"); ``matches`` separates it ("ell", "2").
- A LaTeX accent on a letter that stays non-ASCII (``\\"{ø}``), or one right after a backslash or a command
  (``\\\\"o``, ``\\alpha\\'e``), may split or join words differently.

:data:`UNSUPPORTED_LATEX` finds the ASCII constructs of the first three; the tests exclude exactly those.
"""

from __future__ import annotations

import codecs
import dataclasses
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from storage.caches import bytes_bounded
from storage.digests.content import DigestData, DigestPaper, FeedFilter
from storage.feeds.filters import JOINERS, LATEX_NOISE, fold, keyword_terms, term_pattern, unaccented

__all__ = ["GENERIC_TAG_WORDS", "UNSUPPORTED_LATEX", "Picked", "choose", "pick_papers", "tag_terms"]

GENERIC_TAG_WORDS = frozenset(
    """and are but for from into not the then with via using based about other misc general todo wip done
    read reading toread later paper papers note notes review reviews fav favs favorite favorites favourite
    favourites important interesting cool classic classics meta week weekly stuff idea ideas random various
    learning model models method methods data result results analysis theory approach study new""".split()
)
SOURCE_CHARS = 60  # a feed's source as a reason names it

# ASCII LaTeX that this module reads differently from storage.feeds.filters.matches (see the module docstring).
UNSUPPORTED_LATEX = re.compile(
    r"\\(?:ss|ae|AE|oe|OE|aa|AA|[oOlLij])(?![A-Za-z])"  # letter commands
    r"|\\[A-Za-z]+[0-9]"  # a command against a digit
    r"|\\(?:[A-Za-z]+)?(?=\\(?:['`^\"~=.]|[uvHckr][\s{]))"  # a backslash or a command before an accent
)

_SPACE = rb"[ \t\n\r\f\v\x1c-\x1f]"  # what \s matches among ASCII characters in a str pattern
_ACCENT = re.compile(
    rb"\\(?:['`^\"~=.]|[uvHckr](?=" + _SPACE[:-1] + rb"{]))" + _SPACE + rb"*"
    rb"(?:\{" + _SPACE + rb"*(\w)" + _SPACE + rb"*\}|(\w))"
)
_COMMAND = re.compile(rb"\\([A-Za-z]+)\*?")
# A command that matches() would read differently unless it is spaced out: one followed by something other than
# a letter, a space, a dash or LaTeX noise (``\\alpha)``, ``\\foo*``). Most commands in abstracts are not.
_BREAKS = "".join(dict.fromkeys(char for char in LATEX_NOISE + JOINERS if char.isascii()))  # \\ $ ^ _ { } ~ - /
_COMMAND_AGAINST = re.compile(rb"\\[A-Za-z]++(?=[^A-Za-z \t\n\r\f\v\x1c-\x1f" + re.escape(_BREAKS).encode() + rb"])")
_PIECE = re.compile(r"[^\W_]+")  # a word as the tokenizer sees it: letters and digits
_JOINERS = frozenset(JOINERS)
# Noise characters that NFKD makes out of non-ASCII ones (＄ -> $) stay in matches(): they go through the
# phrase table as bytes that never occur in UTF-8, and come back as themselves.
_STAND_INS = {noise: 0xF8 + index for index, noise in enumerate(LATEX_NOISE.replace("_", ""))}  # _ joins words


def _table(mapping: Callable[[int], int]) -> bytes:
    return bytes(mapping(byte) for byte in range(256))


def _word_byte(byte: int) -> int:
    if byte >= 0x80:
        return byte
    char = chr(byte)
    return ord(char.lower()) if char.isalnum() else 0x20


def _phrase_byte(byte: int) -> int:
    if byte >= 0x80:
        return next((ord(noise) for noise, stand_in in _STAND_INS.items() if stand_in == byte), byte)
    char = chr(byte)
    if char.isspace() or char in _JOINERS or char in _STAND_INS:
        return 0x20
    return ord(char.lower())


_WORD_TABLE = _table(_word_byte)  # lower case; every other ASCII byte a space
_PHRASE_TABLE = _table(_phrase_byte)  # lower case; whitespace, dashes, / _ and LaTeX noise a space


def _plain(run: str) -> str:
    """A run of non-ASCII characters as :func:`~storage.feeds.filters.fold` folds it: without accents, case-folded."""
    return unaccented(run).casefold()


# Budgets in bytes, arguments and results together. A run is an accented name or a word in another script, a few
# hundred bytes with its folded form: a megabyte keeps thousands. A term with its compiled pattern is 1-3 KB; a
# group's compiled interests (subscriptions' keywords and tags) a few KB to a few hundred for a busy group.
RUNS_BUDGET = 1_000_000  # each of the two run caches
TERMS_BUDGET = 2_000_000
INTERESTS_BUDGET = 4_000_000


@bytes_bounded(RUNS_BUDGET)
def _word_run(run: str) -> bytes:
    """A non-ASCII run for the word view: letters and digits as UTF-8, spaces and dashes a space, the rest ``,``."""
    out = bytearray()
    for char in _plain(run):
        if char.isalnum():
            out += char.encode()
        else:
            out += b" " if char.isspace() or char in _JOINERS else b","
    return bytes(out)


@bytes_bounded(RUNS_BUDGET)
def _phrase_run(run: str) -> bytes:
    """A non-ASCII run for the exact phrase view: every character as matches() ends up with it."""
    out = bytearray()
    for char in _plain(run):
        if char in _STAND_INS:
            out.append(_STAND_INS[char])
        elif char.isspace() or char in _JOINERS:
            out += b" "
        else:
            out += char.encode()
    return bytes(out)


def _words_handler(error: UnicodeError) -> tuple[bytes, int]:
    assert isinstance(error, UnicodeEncodeError)
    return _word_run(error.object[error.start : error.end]), error.end


def _phrases_handler(error: UnicodeError) -> tuple[bytes, int]:
    assert isinstance(error, UnicodeEncodeError)
    return _phrase_run(error.object[error.start : error.end]), error.end


_WORDS = "paperclub.interests.words"
_PHRASES = "paperclub.interests.phrases"
codecs.register_error(_WORDS, _words_handler)
codecs.register_error(_PHRASES, _phrases_handler)


def _accented(match: re.Match[bytes]) -> bytes:
    return match[1] or match[2]


def _spaced(match: re.Match[bytes]) -> bytes:
    return b" " + match[1] + b" "


def _encoded(text: str) -> bytes:
    """The text folded as matches() folds it, still cased, with its punctuation: the source of both views below.

    Non-ASCII runs are folded by the codec error handler (each punctuation mark among them becomes ``,``), and
    LaTeX accents are taken off their letters.
    """
    data = text.encode("ascii", _WORDS)
    return _ACCENT.sub(_accented, data) if b"\\" in data else data


def _phrase_view(data: bytes) -> str:
    """What a phrase pattern runs on, from :func:`_encoded`: matches()' text but for runs of spaces."""
    if b"\\" in data and _COMMAND_AGAINST.search(data):
        data = _COMMAND.sub(_spaced, data)
    return data.translate(_PHRASE_TABLE).decode()


def _normalised(text: str) -> str:
    """The phrase view with every non-ASCII punctuation mark as itself, for terms that spell one out (``o’brien``)."""
    data = text.encode("ascii", _PHRASES)
    if b"\\" in data:
        data = _ACCENT.sub(_accented, data)
    return _phrase_view(data)


# Terms

WORD, PREFIX, PATTERN = "word", "prefix", "pattern"


@dataclass(frozen=True, slots=True)
class _Term:
    """One term, ready to test against many papers."""

    text: str  # as written: what a reason quotes
    kind: str  # WORD: decided by `accept`; PREFIX: by `needle`; PATTERN: by `pattern`, once the words are there
    accept: frozenset[bytes]  # one of these words decides a WORD term (the word, with s/es); a PATTERN's last word
    needle: bytes | None  # b" " + a prefix: some word begins with it
    pieces: frozenset[bytes]  # words that must all be in a paper for its PATTERN to be worth running
    pattern: re.Pattern[str]
    punctuated: bool  # the term spells out punctuation (c++, o’brien): non-ASCII text needs the exact view


@bytes_bounded(TERMS_BUDGET)
def _term(text: str) -> _Term | None:
    """A term compiled both ways: the pattern of storage.feeds.filters.matches and the words that decide it."""
    pattern = term_pattern(text)
    if pattern is None:
        return None
    prefix = text.endswith("*")
    words = fold(text.rstrip("*")).split()
    last = words[-1][-1]
    plural = not prefix and last.isalpha()
    folded = " ".join(words)
    pieces = [piece.encode() for piece in _PIECE.findall(folded)]
    ending = pieces.pop() if last.isalnum() and (prefix or plural) else None  # it may run on: mergings, merg*
    accept = frozenset({ending, ending + b"s", ending + b"es"}) if ending and plural else frozenset()
    needle = b" " + ending if ending and prefix else None
    simple = len(words) == 1 and _PIECE.fullmatch(words[0]) is not None
    if simple and not prefix and not accept:  # a word ending in a digit has no plural
        accept, pieces = frozenset(pieces), []
    kind = (PREFIX if prefix else WORD) if simple else PATTERN
    punctuated = any(not (char.isalnum() or char == " ") for char in folded)
    return _Term(text, kind, accept, needle, frozenset(pieces), pattern, punctuated)


def tag_terms(tag: str) -> tuple[str, ...]:
    """The terms a tag stands for: each ``/`` part a term, ``-`` and ``_`` joining a phrase; generic parts dropped."""
    terms: list[str] = []
    for part in tag.split("/"):
        words = fold(part.rstrip("*")).split()
        if words and not all(len(word) <= 2 or word in GENERIC_TAG_WORDS for word in words):
            terms.append(part.strip())
    return tuple(dict.fromkeys(terms))


@dataclass(frozen=True, slots=True)
class _Group:
    """A reason to choose a paper: one subscription's keywords (less its exclude terms), or one tag."""

    terms: tuple[_Term, ...]
    reasons: tuple[str, ...]  # for each term, the reason a member reads when it is the first that matches
    exclude: tuple[_Term, ...]


@dataclass(frozen=True, slots=True)
class _Interests:
    """A group's interests compiled for many papers."""

    groups: tuple[_Group, ...]  # in the order reasons are given: subscriptions, then tags
    vocabulary: frozenset[bytes]  # every word a term (an exclude term too) may need


def _compile_terms(texts: Sequence[str]) -> tuple[_Term, ...]:
    terms = (_term(text) for text in texts)
    return tuple(term for term in terms if term is not None)


@bytes_bounded(INTERESTS_BUDGET)
def _interests(filters: tuple[FeedFilter, ...], tags: tuple[str, ...]) -> _Interests:
    groups: list[_Group] = []
    for feed in filters:
        terms = _compile_terms(keyword_terms(feed.keywords))
        if terms:
            source = feed.source if len(feed.source) <= SOURCE_CHARS else feed.source[: SOURCE_CHARS - 1] + "…"
            reasons = tuple(f"matches “{term.text}” ({source} feed)" for term in terms)
            groups.append(_Group(terms, reasons, _compile_terms(keyword_terms(feed.exclude))))
    for tag in tags:
        terms = _compile_terms(tag_terms(tag))
        if terms:
            groups.append(_Group(terms, (f"tagged interest “{tag}”",) * len(terms), ()))
    vocabulary: set[bytes] = set()
    for group in groups:
        for term in group.terms + group.exclude:
            vocabulary |= term.accept | term.pieces
    return _Interests(groups=tuple(groups), vocabulary=frozenset(vocabulary))


# Matching


class _Week:
    """The week's papers read once: each one's words, which vocabulary words it has, and views made on demand."""

    def __init__(self, texts: list[str], vocabulary: frozenset[bytes]) -> None:
        self.texts = texts
        encoded = [text.encode("ascii", _WORDS) for text in texts]  # what _encoded does, without a call a paper
        self.encoded = [_ACCENT.sub(_accented, data) if b"\\" in data else data for data in encoded]
        self.words = [data.translate(_WORD_TABLE) for data in self.encoded]  # " model merging for llms …"
        self.postings: defaultdict[bytes, list[int]] = defaultdict(list)  # vocabulary word -> papers that have it
        for index, found in enumerate(map(vocabulary.intersection, map(bytes.split, self.words))):
            for word in found:
                self.postings[word].append(index)
        self._views: dict[int, str] = {}
        self._exact: dict[int, str] = {}

    def having(self, words: Iterable[bytes]) -> set[int]:
        """Papers with any of these words."""
        found: set[int] = set()
        for word in words:
            found.update(self.postings.get(word, ()))
        return found

    def matching(self, term: _Term, among: Iterable[int]) -> set[int]:
        """Which of these papers the term matches."""
        kind = term.kind
        if kind is WORD:
            having = self.having(term.accept)
            return having.intersection(among)
        if kind is PREFIX:
            needle, words = term.needle or b"", self.words
            return {index for index in among if needle in words[index]}
        candidates = set(among)
        for piece in sorted(term.pieces, key=lambda word: len(self.postings.get(word, ()))):
            candidates.intersection_update(self.postings.get(piece, ()))
            if not candidates:
                return candidates
        if term.accept:
            candidates.intersection_update(self.having(term.accept))
        if term.needle is not None:
            needle, words = term.needle, self.words
            candidates = {index for index in candidates if needle in words[index]}
        search = term.pattern.search
        return {index for index in candidates if search(self._view(index, term.punctuated)) is not None}

    def _view(self, index: int, exact: bool) -> str:
        if exact and not self.texts[index].isascii():
            if index not in self._exact:
                self._exact[index] = _normalised(self.texts[index])
            return self._exact[index]
        if index not in self._views:
            self._views[index] = _phrase_view(self.encoded[index])
        return self._views[index]


@dataclass(frozen=True, slots=True)
class Picked:
    """The week's feed papers that match the group's interests, each with why, and how many did not."""

    chosen: list[tuple[DigestPaper, str]]  # in the papers' order, each with a reason a member reads
    rest: int  # papers of the week not chosen


def pick_papers(papers: Sequence[DigestPaper], filters: Sequence[FeedFilter], tags: Sequence[str]) -> Picked:
    """The papers that match a subscription's keywords (less its exclude terms) or one of the group's tags.

    The reason names the first interest that matches, subscriptions first (in the order given), then tags, and
    within a subscription the first of its terms: ``matches “model merging” (cs.LG feed)`` or
    ``tagged interest “llms/prompting”``.
    """
    interests = _interests(tuple(filters), tuple(tags))
    if not interests.groups or not papers:
        return Picked(chosen=[], rest=len(papers))
    # The haystack of matches(), title and abstract, with a space first so that every word follows a space.
    week = _Week([f" {paper.title} \n {paper.abstract}" for paper in papers], interests.vocabulary)
    reasons: dict[int, str] = {}
    open_ = set(range(len(papers)))  # papers no interest has taken yet
    for group in interests.groups:
        matched: dict[int, str] = {}
        for term, reason in zip(group.terms, group.reasons, strict=True):
            for index in week.matching(term, open_.difference(matched)):
                matched[index] = reason
        if matched and group.exclude:
            excluded: set[int] = set()
            for term in group.exclude:
                excluded |= week.matching(term, set(matched).difference(excluded))
            for index in excluded:
                del matched[index]
        reasons.update(matched)
        open_.difference_update(matched)
    chosen = [(papers[index], reasons[index]) for index in sorted(reasons)]
    return Picked(chosen=chosen, rest=len(papers) - len(chosen))


def choose(data: DigestData) -> Picked:
    """The week's feed papers for the digest, each with why, in the week's order.

    A paper is in when one of the group's subscriptions' keywords kept it as it was listed (decided at ingest,
    where the filters run anyway: ``data.picked``), or when its title names one of the group's tags. Titles
    only, for tags: a week of abstracts is too slow to read again here (see above), and a tag word in a title
    is the stronger sign.
    """
    reasons = dict(data.picked)
    rest = [dataclasses.replace(paper, abstract="") for paper in data.papers if paper.paper_id not in reasons]
    for paper, reason in pick_papers(rest, (), data.tags).chosen:
        reasons[paper.paper_id] = reason
    chosen = [(paper, reasons[paper.paper_id]) for paper in data.papers if paper.paper_id in reasons]
    return Picked(chosen=chosen, rest=len(data.papers) - len(chosen))
