"""Resolving imported title-only papers to arXiv ids, in batches, in the background.

One arXiv request carries many titles: their exact phrases OR-ed (``ti:"…" OR ti:"…"``), built with the arXiv
client's own escaping so a document's text never becomes query syntax. What comes back is matched to each title
on its own, strictly, because a wrong link puts a group's notes on somebody else's paper:

- the normalised titles must agree to :data:`MATCH_RATIO` (rapidfuzz ``ratio``, not a partial score, so a title
  that is only the start of a longer one does not match), or to :data:`UNCHECKED_RATIO` when the document gave
  neither a year nor authors to check the candidate against;
- and word by word: where the titles' words differ, it must be a misspelling or spacing (``Pre-training``,
  ``Pretraining``) of the words in its place (:data:`WORD_RATIO`), never another word. A high overall
  ratio alone would link "… in Small Language Models" to "… in Large Language Models" (94), or "Attention Is All
  You Need" to "Attention Is Not All You Need" (93);
- a year the document cites must be within :data:`YEAR_SLACK` of the candidate's first arXiv version;
- when the document names authors, one of their surnames must be among the candidate's (accents folded);
- two acceptable candidates within :data:`TIE_MARGIN` of each other link neither.

All state is in ``title_lookups``: a restarted bot picks up what is still pending.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from schedules.arxiv import title_search_queries
from schedules.arxiv_answers import ArxivQueryError, ArxivUnavailable
from storage.imports.plan import normalise_title
from storage.metadata import PaperMetadata
from storage.titles import ImportProgressView, PendingTitle, TitleOutcome, TitleService

__all__ = [
    "BATCH_TITLES",
    "ImportProgress",
    "ImportProgressView",
    "ResolveReport",
    "TitleResolver",
    "TitleSearch",
    "best_match",
    "title_batch_query",
]

log = logging.getLogger(__name__)

BATCH_TITLES = 20  # titles per arXiv request: 0.05 requests per title
MAX_RESULTS = 150  # entries per request: room for several hits per title, one page of arXiv's answer
MAX_BATCHES = 10  # requests per run of the job (about 30 s at arXiv's pace), so feeds and members get turns
MATCH_RATIO = 92.0  # a typo, a dropped hyphen or LaTeX written differently; not another word
UNCHECKED_RATIO = 97.0  # nothing but the title to go on (a pasted paper list): near-identical only
YEAR_SLACK = 1  # cited with the conference year, posted to arXiv the year before (or after)
WORD_RATIO = 85.0  # model / models, recognitio / recognition; not small / large, few / zero
TIE_MARGIN = 1.0

_NAME_WORD = re.compile(r"[a-z0-9]+")


class TitleSearch(Protocol):
    """The part of the arXiv client the resolver uses (:class:`schedules.arxiv.ArxivClient` is one)."""

    async def query(self, search_query: str, *, max_results: int, sort_by: str) -> list[PaperMetadata]:
        """One page of an arXiv API search: at most ``max_results`` papers, ordered by ``sort_by``."""
        ...


class ImportProgress(Protocol):
    """Where the resolver reports an import's progress (the bot edits the import's summary message)."""

    async def report(self, run: ImportProgressView) -> None:
        """Show how many of an import's titles are resolved, unresolved and still pending."""
        ...


@dataclass(slots=True)
class ResolveReport:
    """What one run of the resolver did."""

    requests: int = 0
    resolved: int = 0
    unresolved: int = 0
    postponed: int = 0  # arXiv did not answer: still pending, for the next run


def _fold_words(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", text)
    return _NAME_WORD.findall("".join(ch for ch in folded if not unicodedata.combining(ch)).lower())


def _family_words(author: str) -> list[str]:
    """An author's name as words, ending with the family name (``Wei, Jason`` is read as ``Jason Wei``)."""
    family, comma, given = author.partition(",")
    return _fold_words(f"{given} {family}" if comma else author)


def _has_author(surnames: Sequence[str], authors: Sequence[str]) -> bool:
    """One cited surname ends one of the candidate's author names (``Ming-Wei Chang`` is a Chang, not a Wei)."""
    names = [_family_words(author) for author in authors]
    for surname in surnames:
        words = _fold_words(surname)
        if words and any(name[-len(words) :] == words for name in names):
            return True
    return False


def _same_words(cited: str, found: str) -> bool:
    """Two normalised titles have the same words in the same order, allowing misspellings and spacing.

    Where the word sequences differ, each differing stretch must read the same once its spaces are dropped
    (:data:`WORD_RATIO`): ``pre training`` / ``pretraining`` and ``transformer`` / ``transformers`` pass;
    ``small`` / ``large``, or a word only one title has (``not``, ``for code``), do not.
    """
    from difflib import SequenceMatcher  # loaded on first use, not held from start (bench/idle_memory.py)

    from rapidfuzz import fuzz  # loaded on first use, not held from start (bench/idle_memory.py)

    a, b = cited.split(), found.split()
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        if tag != "replace" or fuzz.ratio("".join(a[i1:i2]), "".join(b[j1:j2])) < WORD_RATIO:
            return False
    return True


def _acceptable(wanted: PendingTitle, title: str, candidate: PaperMetadata, found: str) -> bool:
    from rapidfuzz import fuzz  # loaded on first use, not held from start (bench/idle_memory.py)

    checked = wanted.year is not None or bool(wanted.surnames)
    if fuzz.ratio(title, found) < (MATCH_RATIO if checked else UNCHECKED_RATIO) or not _same_words(title, found):
        return False
    if wanted.year is not None:
        if candidate.published is None or abs(candidate.published.year - wanted.year) > YEAR_SLACK:
            return False
    return not wanted.surnames or _has_author(wanted.surnames, candidate.authors)


def best_match(wanted: PendingTitle, candidates: Sequence[PaperMetadata]) -> PaperMetadata | None:
    """The one candidate that is surely the paper the document cites, or None (none close enough, or a tie)."""
    from rapidfuzz import fuzz  # loaded on first use, not held from start (bench/idle_memory.py)

    title = normalise_title(wanted.title)
    if not title:
        return None
    scored: dict[str, tuple[float, PaperMetadata]] = {}
    for candidate in candidates:
        found = normalise_title(candidate.title)
        if not _acceptable(wanted, title, candidate, found):
            continue
        score = fuzz.ratio(title, found)
        if score > scored.get(candidate.key, (-1.0, candidate))[0]:
            scored[candidate.key] = (score, candidate)
    ranked = sorted(scored.values(), key=lambda pair: -pair[0])
    if not ranked or (len(ranked) > 1 and ranked[0][0] - ranked[1][0] < TIE_MARGIN):
        return None
    return ranked[0][1]


def title_phrase(title: str) -> str | None:
    """The exact-phrase search for one title (``ti:"…"``), or None when no searchable word is left."""
    queries = title_search_queries(title)
    return queries[0] if queries else None


def title_batch_query(titles: Sequence[str]) -> str:
    """One arXiv ``search_query`` asking for all these titles at once."""
    return " OR ".join(dict.fromkeys(phrase for title in titles if (phrase := title_phrase(title))))


class TitleResolver:
    """Takes pending titles a batch at a time, asks arXiv once per batch, and records what matched."""

    def __init__(
        self,
        titles: TitleService,
        search: TitleSearch,
        progress: ImportProgress | None = None,
        *,
        batch_size: int = BATCH_TITLES,
        max_results: int = MAX_RESULTS,
        max_batches: int = MAX_BATCHES,
    ) -> None:
        if batch_size < 1 or max_batches < 1:
            raise ValueError("batch_size and max_batches must be at least 1")
        self.titles = titles
        self.search = search
        self.progress = progress
        self.batch_size = batch_size
        self.max_results = max_results
        self.max_batches = max_batches

    async def run(self) -> ResolveReport:
        """Resolve batches until none is pending, arXiv stops answering, or this run's share is used up."""
        report = ResolveReport()
        await self._report(await self.titles.settle_imports())
        for _ in range(self.max_batches):
            batch = await self.titles.pending(limit=self.batch_size)
            if not batch:
                break
            if not await self.resolve_batch(batch, report):
                break
        if report.requests:
            log.info(
                "titles: %d resolved, %d unresolved, %d postponed in %d arXiv requests",
                report.resolved,
                report.unresolved,
                report.postponed,
                report.requests,
            )
        return report

    async def resolve_batch(self, batch: Sequence[PendingTitle], report: ResolveReport) -> bool:
        """Look one batch up and record it in one transaction; False when arXiv could not answer."""
        searchable = [item for item in batch if title_phrase(item.title)]
        try:
            candidates = await self._candidates(searchable, report)
        except ArxivUnavailable as exc:
            log.warning("arXiv is not answering title searches (%s); %d titles wait for the next run", exc, len(batch))
            await self.titles.postpone([item.id for item in batch])
            report.postponed += len(batch)
            return False
        outcomes = [TitleOutcome(item.id, best_match(item, candidates.get(item.id, ()))) for item in batch]
        views = await self.titles.apply(outcomes)
        if views is None:  # a concurrent change: asking again now would cost a request for the same answer
            return False
        report.resolved += sum(1 for outcome in outcomes if outcome.match is not None)
        report.unresolved += sum(1 for outcome in outcomes if outcome.match is None)
        await self._report(views)
        return True

    async def _candidates(
        self, batch: Sequence[PendingTitle], report: ResolveReport
    ) -> dict[int, Sequence[PaperMetadata]]:
        """Candidates for each title: everything one OR-ed request returned (split in two if arXiv refuses it)."""
        if not batch:
            return {}
        report.requests += 1
        try:
            found = await self.search.query(
                title_batch_query([item.title for item in batch]),
                max_results=self.max_results,
                sort_by="relevance",
            )
        except ArxivQueryError as exc:
            if len(batch) == 1:
                log.info("arXiv refused the title search for %r: %s", batch[0].title, exc)
                return {}
            half = len(batch) // 2
            return {**await self._candidates(batch[:half], report), **await self._candidates(batch[half:], report)}
        return {item.id: found for item in batch}

    async def _report(self, views: Sequence[ImportProgressView]) -> None:
        if self.progress is None:
            return
        for view in views:
            try:
                await self.progress.report(view)
            except Exception:  # a deleted message or a missing permission must not stop the resolving
                log.exception("reporting progress of import %s failed", view.import_id)
