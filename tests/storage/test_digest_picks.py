"""Choosing the week's feed papers for the digest: the verdict of storage.feeds.filters.matches, much faster."""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from storage.digests.content import DigestPaper, FeedFilter
from storage.digests.picks import UNSUPPORTED_LATEX, Picked, pick_papers, tag_terms
from storage.feeds.filters import keyword_terms, matches

WHEN = datetime(2025, 2, 26, 12, tzinfo=UTC)


def paper(title: str, abstract: str = "", paper_id: int = 1, categories: tuple[str, ...] = ("cs.LG",)) -> DigestPaper:
    return DigestPaper(
        paper_id=paper_id,
        key=f"arxiv:2502.{paper_id:05d}",
        title=title,
        url=f"https://arxiv.org/abs/2502.{paper_id:05d}",
        abstract=abstract,
        categories=categories,
        first_seen=WHEN,
    )


def feed(keywords: str | None, exclude: str | None = None, source: str = "cs.LG", sid: int = 1) -> FeedFilter:
    return FeedFilter(subscription_id=sid, source=source, keywords=keywords, exclude=exclude)


def verdict(item: DigestPaper, keywords: str, exclude: str | None) -> tuple[bool, str | None]:
    picked = pick_papers([item], [feed(keywords, exclude)], [])
    assert picked.rest == 1 - len(picked.chosen)
    return (True, picked.chosen[0][1]) if picked.chosen else (False, None)


def expected(item: DigestPaper, keywords: str, exclude: str | None) -> tuple[bool, str | None]:
    kept, reason = matches(item, keywords, exclude)
    if not keyword_terms(keywords):  # a subscription without keywords adds no interest
        return False, None
    return (True, f"{reason} (cs.LG feed)") if kept else (False, None)


def assert_same(title: str, abstract: str, keywords: str, exclude: str | None = None) -> None:
    item = paper(title, abstract)
    assert verdict(item, keywords, exclude) == expected(item, keywords, exclude), (title, abstract, keywords, exclude)


# The same verdict as matches()

# Words that terms are made of, so that generated texts and terms meet often.
VOCAB = [
    "model", "models", "merging", "merge", "llm", "llms", "prompting", "task", "tasks", "arithmetic", "diffusion",
    "self", "attention", "c", "r", "d", "es", "s", "gpt", "4", "4o", "3d", "alpha", "divergence", "schrodinger",
    "q", "a", "the", "OR", "AND", "e.g", "net", "x",
]  # fmt: skip
SEPARATORS = [" ", "  ", "-", "--", "/", "_", ", ", ". ", "; ", "(", ")", "\n", "\t", "$", "^", "{", "}", "~", "+", "&"]
LATEX = [
    "$\\alpha$", "\\alpha", "\\mathcal{O}", "\\log n", "\\sqrt{n}", 'Schr\\"odinger', "Schr\\\"{o}dinger",
    "\\'e", "\\c c", "\\v{s}", "\\`a", "\\^o", "\\~n", "\\={a}", "\\.z", "\\u{g}", "\\H o", "\\k{a}", "\\r{a}",
    "\\alpha-divergence", "\\emph{model} merging", "\\foo*", "\\theta)", "\\eta,", "$x_1$", "\\\\", "\\{", "\\$",
]  # fmt: skip

fragments = st.one_of(
    st.sampled_from(VOCAB),
    st.sampled_from(VOCAB).map(str.upper),
    st.sampled_from(VOCAB).map(str.title),
    st.sampled_from(SEPARATORS),
    st.sampled_from(LATEX),
    st.text(alphabet=string.printable, max_size=6),
)
texts = st.lists(fragments, max_size=30).map("".join)
ascii_text = st.text(alphabet=st.characters(max_codepoint=127), max_size=120)
term = st.one_of(
    st.sampled_from(VOCAB),
    st.lists(st.sampled_from(VOCAB), min_size=1, max_size=3).map(" ".join),
    st.text(alphabet=string.ascii_letters + string.digits + "+&.-'", min_size=1, max_size=8),
)
keywords = st.one_of(
    st.lists(term, min_size=1, max_size=4).map(" ".join),
    st.lists(term, min_size=1, max_size=3).map(", ".join),
    st.lists(term, min_size=1, max_size=3).map(lambda ts: " ".join(f'"{t}"' for t in ts)),
    st.lists(term, min_size=1, max_size=3).map(lambda ts: " ".join(t + "*" for t in ts)),
    ascii_text.map(lambda t: t[:40]),
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=texts, abstract=texts, keywords=keywords, exclude=st.one_of(st.none(), keywords))
@example(title="Model Merging at Scale", abstract="We merge LLMs; a survey.", keywords="LLM", exclude=None)
@example(title="Model, merging", abstract="", keywords='"model merging"', exclude=None)
@example(title="model  -- merging", abstract="", keywords='"model merging"', exclude=None)
@example(title='Schr\\"odinger bridges', abstract="", keywords="schrodinger", exclude=None)
@example(title="\\foo* bar", abstract="", keywords='"foo bar"', exclude=None)
@example(title="\\theta)", abstract="", keywords='"theta)"', exclude=None)
@example(title="C++ and R&D", abstract="", keywords="c++, r&d", exclude="d")
@example(title="Emerging", abstract="", keywords="merg*", exclude=None)
@example(title="title end", abstract="abstract start", keywords='"end abstract"', exclude=None)
def test_same_verdict_as_matches_on_ascii_text(title: str, abstract: str, keywords: str, exclude: str | None) -> None:
    assume(not UNSUPPORTED_LATEX.search(f"{title} \n {abstract}"))
    assert_same(title, abstract, keywords, exclude)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=ascii_text, abstract=ascii_text, keywords=keywords, exclude=st.one_of(st.none(), keywords))
def test_same_verdict_on_any_ascii(title: str, abstract: str, keywords: str, exclude: str | None) -> None:
    assume(not UNSUPPORTED_LATEX.search(f"{title} \n {abstract}"))
    assert_same(title, abstract, keywords, exclude)


UNICODE_WORDS = ["café", "Schrödinger", "naïve", "ﬁne", "Straße", "STRASSE", "Ærø", "Łódź", "Ǆemal", "İstanbul", "αβ"]
UNICODE_SEPARATORS = ["—", "–", "\u00a0", "\u2009", "’", "“", "”", "…", "≤", "×", "＄", "＿", "＼", "\u0301", "½"]
unicode_fragments = st.one_of(
    fragments,
    st.sampled_from(UNICODE_WORDS),
    st.sampled_from(UNICODE_SEPARATORS),
    st.text(max_size=4),  # anything at all
)
unicode_text = st.lists(unicode_fragments, max_size=25).map("".join)
unicode_keywords = st.one_of(
    keywords,
    st.lists(st.one_of(term, st.sampled_from(UNICODE_WORDS)), min_size=1, max_size=3).map(", ".join),
    st.text(max_size=20),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=unicode_text, abstract=unicode_text, keywords=unicode_keywords, exclude=st.one_of(st.none(), keywords))
@example(title="Caf\u00e9 culture", abstract="", keywords="cafe", exclude=None)
@example(title="STRASSE", abstract="", keywords="straße", exclude=None)
@example(title="ﬁne-tuning", abstract="", keywords='"fine tuning"', exclude=None)
@example(title="O’Brien", abstract="", keywords="o’brien", exclude=None)
@example(title="price＄5", abstract="", keywords='"＄5"', exclude=None)
def test_same_verdict_on_unicode_without_latex(title: str, abstract: str, keywords: str, exclude: str | None) -> None:
    # Non-ASCII text is folded exactly as matches() folds it; only LaTeX mixed with it may differ (see the module).
    assume("\\" not in title + abstract)
    assert_same(title, abstract, keywords, exclude)


@pytest.mark.parametrize(
    ("text", "keyword", "ours", "theirs"),
    [
        ("S\\o{}ren Kierkegaard", "søren", False, True),  # a LaTeX letter command
        ("an \\ell2 bound", "ell", False, True),  # ... read as one word here
        ("an \\ell2 bound", "ell2", True, False),  # a command against a digit
    ],
)
def test_documented_latex_differences(text: str, keyword: str, ours: bool, theirs: bool) -> None:
    assert UNSUPPORTED_LATEX.search(text)
    item = paper(text)
    assert verdict(item, keyword, None)[0] is ours
    assert matches(item, keyword, None)[0] is theirs


# Reasons, order, the count of the rest

MERGING = paper("Model Merging at Scale", "We merge fine-tuned LLMs with task arithmetic.", paper_id=1)
PROMPTS = paper("Prompting Large Language Models", "Chain-of-thought prompting for LLMs.", paper_id=2)
QUANTUM = paper("Surface Codes", "Quantum error correction with surface codes.", paper_id=3, categories=("quant-ph",))
SURVEY = paper("A Survey of Model Merging", "We survey merging methods.", paper_id=4)


def test_reasons_name_the_subscription_or_the_tag() -> None:
    picked = pick_papers(
        [MERGING, PROMPTS, QUANTUM, SURVEY],
        [feed('"model merging"', "survey", source="cs.LG"), feed('"surface code*"', source="quant-ph", sid=2)],
        ["llms/prompting", "misc"],
    )
    assert picked == Picked(
        chosen=[
            (MERGING, "matches “model merging” (cs.LG feed)"),
            (PROMPTS, "tagged interest “llms/prompting”"),
            (QUANTUM, "matches “surface code*” (quant-ph feed)"),
        ],
        rest=1,
    )


def test_an_excluded_paper_can_still_come_in_through_a_tag_or_another_subscription() -> None:
    filters = [feed("merging", "survey"), feed("model merging, distillation", source="cs.CL", sid=2)]
    assert pick_papers([SURVEY], filters[:1], []).chosen == []
    assert pick_papers([SURVEY], filters, []).chosen == [(SURVEY, "matches “model merging” (cs.CL feed)")]
    assert pick_papers([SURVEY], filters[:1], ["model-merging"]).chosen == [(SURVEY, "tagged interest “model-merging”")]


def test_subscriptions_come_before_tags_and_the_first_matching_term_is_named() -> None:
    picked = pick_papers([MERGING], [feed("arithmetic merging", source="cs.LG")], ["model-merging"])
    assert picked.chosen == [(MERGING, "matches “arithmetic” (cs.LG feed)")]


def test_papers_keep_their_order_and_the_rest_is_counted() -> None:
    papers = [paper(f"Paper {i} on {'merging' if i % 3 == 0 else 'pruning'}", paper_id=i) for i in range(1, 31)]
    picked = pick_papers(papers, [feed("merging")], [])
    assert [p.paper_id for p, _ in picked.chosen] == [3, 6, 9, 12, 15, 18, 21, 24, 27, 30]
    assert picked.rest == 20


def test_no_interests_choose_nothing() -> None:
    papers = [MERGING, PROMPTS]
    assert pick_papers(papers, [], []) == Picked(chosen=[], rest=2)
    assert pick_papers(papers, [feed(None), feed("   ", sid=2)], ["misc", "to-read", "ml"]) == Picked([], 2)
    assert pick_papers([], [feed("merging")], ["llms"]) == Picked([], 0)


def test_a_long_source_is_shortened_in_the_reason() -> None:
    source = "https://example.org/" + "very-long-path/" * 10 + "feed.xml"
    (_item, reason), *_ = pick_papers([MERGING], [feed("merging", source=source)], []).chosen
    assert reason.startswith("matches “merging” (https://example.org/") and reason.endswith("… feed)")
    assert len(reason) < 100


@pytest.mark.parametrize(
    ("tag", "terms"),
    [
        ("llms/prompting", ("llms", "prompting")),
        ("model-merging", ("model-merging",)),
        ("ml", ()),
        ("rl/rlhf", ("rlhf",)),
        ("misc", ()),
        ("to-read", ()),
        ("gpt-4", ("gpt-4",)),
        ("3d", ()),
        ("deep-learning", ("deep-learning",)),  # a phrase is specific even when its words are not
        ("theory/learning", ()),
        ("c++", ("c++",)),
    ],
)
def test_tag_terms(tag: str, terms: tuple[str, ...]) -> None:
    assert tag_terms(tag) == terms


@pytest.mark.parametrize(
    ("tag", "title", "chosen"),
    [
        ("model-merging", "Model merging for LLMs", True),
        ("model-merging", "Merging a model", False),
        ("llms/prompting", "Prompting, revisited", True),
        ("llms/prompting", "Large LLMs", True),
        ("llms/prompting", "Language models", False),
        ("gpt-4", "Evaluating GPT-4 on maths", True),
        ("gpt-4", "Evaluating GPT on maths", False),
        ("ml", "ML systems", False),
        ("misc/learning", "Learning things", False),
    ],
)
def test_tags_as_interests(tag: str, title: str, chosen: bool) -> None:
    assert bool(pick_papers([paper(title)], [], [tag]).chosen) is chosen


def test_latex_and_accents_in_abstracts() -> None:
    papers = [
        paper("Bridges", 'On Schr\\"odinger bridges and $\\alpha$-divergences.', paper_id=1),
        paper("Caf\u00e9 recommendations", "A café-style setting.", paper_id=2),
        paper("Unrelated", "$\\mathcal{O}(n \\log n)$ memory.", paper_id=3),
    ]
    picked = pick_papers(papers, [feed("schrödinger, alpha divergence, cafe")], [])
    assert [(p.paper_id, reason) for p, reason in picked.chosen] == [
        (1, "matches “schrödinger” (cs.LG feed)"),
        (2, "matches “cafe” (cs.LG feed)"),
    ]


def test_unsupported_latex_names_only_what_it_says() -> None:
    assert not UNSUPPORTED_LATEX.search('$\\alpha$, \\mathcal{O}(n\\log n), Schr\\"odinger, \\in, \\item, \\ell_2')
    for text in ("S{\\o}ren", "\\ss", "\\aa{}", "\\ell2", '\\\\"o'):
        assert UNSUPPORTED_LATEX.search(text), text
    assert re.compile(UNSUPPORTED_LATEX.pattern)  # still one pattern, for tests and callers alike
