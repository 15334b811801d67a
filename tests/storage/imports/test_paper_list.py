"""A list of papers pasted from a papers website: titles and abstracts become papers, the page chrome is ignored."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.imports import paper_list
from storage.imports.plan import Leftover, PlannedPaper, Shape

DATA = Path(__file__).parents[2] / "data" / "imports"
SAMPLE = (DATA / "paper_list.md").read_text(encoding="utf-8")
ABSTRACT = (
    "We propose a method that does one thing well, measure it on three benchmarks and report the gains, "
    "the costs and the cases where it fails, with code and data released for others to reproduce every number."
)


def _by_title(papers: list[PlannedPaper]) -> dict[str, PlannedPaper]:
    return {paper.title or "": paper for paper in papers}


def test_sample_list_gives_each_paper_once_and_no_notes() -> None:
    plan = paper_list.parse(SAMPLE)
    assert plan.shape == Shape.PAPER_LIST == "list"
    assert plan.notes == [] and plan.flagged == [] and plan.tags == []
    assert len(plan.papers) == 32 and plan.duplicates_merged == 2 and plan.lines == 291
    assert sum(1 for paper in plan.papers if paper.key) == 20
    assert sum(1 for paper in plan.papers if paper.key is None) == 12
    assert all(paper.abstract and len(paper.abstract) > 300 for paper in plan.papers)
    assert plan.all_papers == plan.papers
    assert plan.papers[0].title == "Attention Is All You Need"  # "Subscribe" glued to it is page chrome
    assert plan.papers[-1].title == "Calibrated Uncertainty for LLM-as-a-Judge"
    assert [paper.line for paper in plan.papers[:5]] == [6, 17, 26, 35, 42]


def test_sample_list_reports_only_unknown_junk_and_bad_ids_as_leftovers() -> None:
    # Known chrome (upvotes, star counts, "Submitted by" and the user name under it, "Trending this week",
    # "Load more", "Page 2", lone numbers) is not reported.
    assert paper_list.parse(SAMPLE).leftovers == [
        Leftover(67, "ok this one looks good", "no abstract after it"),
        Leftover(126, "arxiv.org/abs/2412.0498", "not an arXiv id: 2412.0498"),
        Leftover(203, "see Kim's thread", "no abstract after it"),
    ]


def test_sample_list_keys_come_from_the_link_after_each_title() -> None:
    papers = _by_title(paper_list.parse(SAMPLE).papers)
    attention = papers["Attention Is All You Need"]
    assert (attention.key, attention.version, attention.line) == ("arxiv:1706.03762", None, 6)
    assert attention.abstract is not None and attention.abstract.startswith("The dominant sequence transduction")
    assert attention.abstract.endswith("significantly less time to train.")
    assert papers["Sparse Mixture-of-Experts Routing with Learned Capacity Budgets"].key == "arxiv:2502.11873"
    assert papers["Self-Correcting Chain-of-Thought via Verifier-Guided Backtracking"].key == "arxiv:2503.04412"
    scaling = papers["Scaling Test-Time Compute for Small Language Models"]
    assert (scaling.key, scaling.version) == ("arxiv:2501.09321", 2)
    drafts = papers["Speculative Decoding with Draft Trees Learned On the Fly"]
    assert (drafts.key, drafts.version) == ("arxiv:2501.03344", 1)  # a PDF link
    assert papers[r"$\mu$P-Transfer: Hyperparameter Transfer Across Depth and Width"].key == "arxiv:2410.05512"
    assert papers["Tülu-style Preference Tuning at Scale: What Matters?"].key == "arxiv:2411.15124"
    # The bad id after it is a leftover, not a key.
    assert papers["Do Reasoning Models Know When They Are Wrong?"].key is None
    assert papers["LongRoPE-2: Extending Context Windows Without Perplexity Collapse"].key is None
    assert all(paper.surnames == () and paper.year is None for paper in papers.values())


def test_sample_list_merges_a_title_listed_twice() -> None:
    papers = _by_title(paper_list.parse(SAMPLE).papers)
    diffusion = papers["Diffusion Forcing for Video World Models"]
    assert diffusion.line == 61
    assert diffusion.key == "arxiv:2407.01392"  # only the second listing links it
    assert diffusion.abstract is not None and diffusion.abstract.endswith("ten minutes of simulated time.")
    flash = papers["FlashKV: Memory-Efficient KV-Cache Quantization for Long-Context Inference"]
    assert flash.line == 103 and flash.key is None  # the second listing differs only in case
    assert "FlashKV: Memory-efficient KV-cache quantization for long-context inference" not in papers


def test_a_wrapped_abstract_is_joined_into_one_paragraph() -> None:
    papers = _by_title(paper_list.parse(SAMPLE).papers)
    sycophancy = papers["Sycophancy Under Pressure: Measuring Opinion Shifts in Chat Assistants"]
    assert sycophancy.abstract is not None and "\n" not in sycophancy.abstract
    assert "a benchmark of 3,000 multi-turn conversations in which" in sycophancy.abstract
    assert sycophancy.abstract.endswith("stubborn when the user is right.")


@pytest.mark.parametrize(
    "chrome",
    [
        "Get trending papers in your email inbox!",
        "Subscribe",
        "Trending Papers",
        "by AK and the research community",
        "· 12 authors",
        "Published on Mar 3",
        "Published on Oct 7, 2024",
        "Submitted by akhaliq",
        "Upvote",
        "Upvote 87",
        "142",
        "12.4k",
        "★ 1,234",
        "GitHub",
        "arXiv Page",
        "Published on Mar 3 · Submitted by akhaliq",
        "#1 Paper of the day",
        "Load more",
    ],
)
def test_known_chrome_between_entries_is_ignored(chrome: str) -> None:
    text = f"First Paper Title\n{ABSTRACT}\n{chrome}\n\nSecond Paper Title\n{ABSTRACT}\n{chrome}\n"
    plan = paper_list.parse(text)
    assert [paper.title for paper in plan.papers] == ["First Paper Title", "Second Paper Title"]
    assert plan.leftovers == []


def test_unknown_short_junk_is_a_leftover_with_its_line() -> None:
    text = f"First Paper Title\n{ABSTRACT}\nRead later!!\n\nSecond Paper Title\n\n{ABSTRACT}\n"
    plan = paper_list.parse(text)
    assert [(paper.title, paper.line) for paper in plan.papers] == [("First Paper Title", 1), ("Second Paper Title", 5)]
    assert plan.leftovers == [Leftover(3, "Read later!!", "no abstract after it")]


def test_chrome_glued_to_a_title_is_cut_off() -> None:
    text = f"SubscribeMamba-2 in Practice · 9 authors\n{ABSTRACT}\nGet trending papers in your email inbox!Subscribe\n"
    [paper] = paper_list.parse(text).papers
    assert paper.title == "Mamba-2 in Practice" and paper.abstract == ABSTRACT


def test_arxiv_ids_in_every_written_form_attach_to_the_title_before_them() -> None:
    forms = ["2401.10034", "arXiv:2401.10035v3", "<https://arxiv.org/abs/2401.10036>", "hf.co/papers/2401.10037"]
    text = "".join(f"Paper {n}\n{ABSTRACT}\n{form}\n\n" for n, form in enumerate(forms))
    plan = paper_list.parse(text)
    assert [(paper.key, paper.version) for paper in plan.papers] == [
        ("arxiv:2401.10034", None),
        ("arxiv:2401.10035", 3),
        ("arxiv:2401.10036", None),
        ("arxiv:2401.10037", None),
    ]
    assert plan.leftovers == []


def test_misplaced_links_and_paragraphs_are_leftovers() -> None:
    text = (
        "arxiv.org/abs/2401.10034\n"  # 1: no title yet
        f"{ABSTRACT}\n\n"  # 2: no title yet
        f"Only Paper\n{ABSTRACT}\n"
        "arXiv:2401.10035\n"  # 6: its key
        "arXiv:2401.10036\n"  # 7: a second, different id
        "12\n"
        f"{ABSTRACT}\n"  # 9: after chrome, not a continuation of the abstract
    )
    plan = paper_list.parse(text)
    [paper] = plan.papers
    assert (paper.title, paper.key, paper.abstract) == ("Only Paper", "arxiv:2401.10035", ABSTRACT)
    assert plan.leftovers == [
        Leftover(1, "arxiv.org/abs/2401.10034", "an arXiv link before any title"),
        Leftover(2, ABSTRACT[:80], "a paragraph with no title before it"),
        Leftover(7, "arXiv:2401.10036", "a second arXiv id for one paper"),
        Leftover(9, ABSTRACT[:80], "a paragraph with no title before it"),
    ]


def test_an_abstract_of_two_paragraphs_keeps_both() -> None:
    [paper] = paper_list.parse(f"A Two-Part Abstract\n{ABSTRACT}\n\n{ABSTRACT}\n· 3 authors\n").papers
    assert paper.abstract == f"{ABSTRACT}\n\n{ABSTRACT}"


def test_one_title_with_two_different_ids_stays_two_papers() -> None:
    text = f"Scaling Laws\n{ABSTRACT}\n2001.08361\n\nScaling Laws\n{ABSTRACT}\n2203.15556\n"
    plan = paper_list.parse(text)
    assert [paper.key for paper in plan.papers] == ["arxiv:2001.08361", "arxiv:2203.15556"]
    assert plan.duplicates_merged == 0


def test_windows_line_endings_give_the_same_plan() -> None:
    assert paper_list.parse(SAMPLE.replace("\n", "\r\n")) == paper_list.parse(SAMPLE)


def test_score_is_high_for_a_paper_list() -> None:
    assert paper_list.score(SAMPLE) >= 0.9
    plain = "".join(f"Paper Number {n}\n{ABSTRACT}\n\n" for n in range(5))  # no chrome at all: still a list
    assert paper_list.score(plain) >= 0.75


DAILY = f"""**Mike's Daily Paper, 22.11.2024:**

**Differential Transformer**

{ABSTRACT}

{ABSTRACT}

https://arxiv.org/abs/2410.05258

🔥 Mike's Daily Paper 28.11.24 🔥

**Byte Latent Transformer**

{ABSTRACT}

https://arxiv.org/abs/2412.09871
"""
RUNNING_LOG = f"""9/21/2025~9/27/2025
Chain-of-Thought Prompting Elicits Reasoning in Large Language Models (Wei et al., 2022)
{ABSTRACT}
Method
{ABSTRACT}
Questions
  • Why only at scale?

Calibrate Before Use (Zhao et al., 2021)
{ABSTRACT}
WIP
"""
OUTLINE = """7.7. llms#
7.7.1. (auto)prompting#
Large Language Models Are Human-Level Prompt Engineers (Zhou et al., 2022) - APE
Automatic Chain of Thought Prompting (Zhang et al., 2022) - clusters questions first
7.7.2. llm chaining#
AI Chains (Wu et al., 2022) - chaining prompts through a visual editor
"""


EXPORT = '{\n  "format": "paperclub-notes",\n  "version": 1,\n  "notes": []\n}\n'


@pytest.mark.parametrize("text", [DAILY, RUNNING_LOG, OUTLINE, EXPORT, "", "\n\n", "just one line"])
def test_score_is_low_for_the_other_shapes(text: str) -> None:
    assert paper_list.score(text) < 0.2


@pytest.mark.parametrize("name", ["daily_posts.md", "running_log.md", "outline.md"])
def test_score_is_low_for_the_other_sample_documents(name: str) -> None:
    assert paper_list.score((DATA / name).read_text(encoding="utf-8")) < 0.2


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab ·\n\r\t:./0123456789Subscribe★#*-xXarv")), max_size=400))
def test_odd_input_never_raises(text: str) -> None:
    plan = paper_list.parse(text)
    assert 0.0 <= paper_list.score(text) <= 1.0
    assert all(leftover.line >= 1 for leftover in plan.leftovers)
    assert all(paper.title and (paper.abstract or paper.key) for paper in plan.papers)


def test_a_650_kb_list_repeating_the_sample_merges_every_repeat() -> None:
    text = SAMPLE * 35  # 36 titles of the sample, 35 times over (its speed is bench.imports' business)
    assert 600_000 < len(text.encode()) < 700_000
    plan = paper_list.parse(text)
    assert len(plan.papers) == 32 and plan.duplicates_merged == 34 * 35 - 32
