"""Caches are bounded in bytes: feeds and members write text of any length, and a count of entries bounds nothing."""

from __future__ import annotations

import gc
import random
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from storage.caches import bytes_bounded
from storage.digests import picks as digest_picks
from storage.digests.content import DigestPaper
from storage.digests.picks import pick_papers
from storage.feeds import filters as feed_filters
from storage.feeds.filters import matches


@dataclass(frozen=True)
class Text:
    title: str
    abstract: str


@contextmanager
def held_after() -> Iterator[Callable[[], int]]:
    """Bytes still allocated once the block is done (and garbage collected): what it left behind."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    held: list[int] = []
    try:
        yield lambda: held[0]
    finally:
        gc.collect()
        held.append(tracemalloc.get_traced_memory()[0] - before)
        tracemalloc.stop()


def clear_caches() -> None:
    for cached in (feed_filters._haystack, feed_filters._patterns, digest_picks._word_run, digest_picks._phrase_run):
        cached.cache_clear()
    digest_picks._term.cache_clear()
    digest_picks._interests.cache_clear()


def test_filtering_many_long_abstracts_keeps_at_most_the_budget_of_folded_text() -> None:
    clear_caches()
    text = "🙂 Model merging " + "averages weights " * 294  # 5,014 characters, four bytes each (the emoji)
    with held_after() as held:
        for n in range(600):  # 600 distinct abstracts: 24 MB if each were kept with its folding
            matches(Text(f"Paper {n}", text[n:] + text[:n]), "merging", None)
    assert held() < feed_filters.HAYSTACKS_BUDGET * 1.1
    assert feed_filters._haystack.cache.currsize <= feed_filters.HAYSTACKS_BUDGET  # type: ignore[attr-defined]


def test_choosing_papers_with_long_runs_of_other_scripts_keeps_at_most_the_budget() -> None:
    clear_caches()
    rng = random.Random(7)
    greek = "".join(chr(rng.randrange(0x3B1, 0x3CA)) for _ in range(3_000))
    papers = [
        DigestPaper(
            paper_id=n,
            key=f"arxiv:2504.{n:05d}",
            title=f"Paper {n} " + greek[n:] + greek[:n],
            url=f"https://arxiv.org/abs/2504.{n:05d}",
            abstract="",
            categories=("cs.LG",),
        )
        for n in range(200)
    ]
    with held_after() as held:  # each title one 3,000-letter run: 2.4 MB if every run were kept with its folding
        pick_papers(papers, (), ("llms",))
    assert held() < digest_picks.RUNS_BUDGET * 1.5  # the words' cache, and a tag's compiled terms
    assert digest_picks._word_run.cache.currsize <= digest_picks.RUNS_BUDGET  # type: ignore[attr-defined]


def test_an_entry_larger_than_the_whole_budget_is_computed_and_not_kept() -> None:
    calls: list[str] = []

    @bytes_bounded(10_000)
    def shout(text: str) -> str:
        calls.append(text)
        return text.upper()

    assert shout("a" * 20_000) == "A" * 20_000
    assert shout.cache.currsize == 0  # type: ignore[attr-defined]
    assert shout("hi") == shout("hi") == "HI"
    assert calls.count("hi") == 1  # a small one is kept
    for n in range(100):
        shout(f"{n}" * 500)
    assert 0 < shout.cache.currsize <= 10_000  # type: ignore[attr-defined]
