"""Reading author-year citations and splitting paper lines into title, citation and comment."""

from __future__ import annotations

import pytest

from storage.imports.citations import Citation, markdown_lines, parse_citation, split_line


@pytest.mark.parametrize(
    ("line", "title", "surnames", "year"),
    [
        ("Chain-of-Thought Prompting (Wei et al., 2025)", "Chain-of-Thought Prompting", ("wei",), 2025),
        ("Chain-of-Thought Prompting (Wei et al, 2025)", "Chain-of-Thought Prompting", ("wei",), 2025),
        (
            "Identity Matters in Deep Learning (Hardt and Ma, 2018)",
            "Identity Matters in Deep Learning",
            ("hardt", "ma"),
            2018,
        ),
        ("Universal Learners (Malach, 2024)", "Universal Learners", ("malach",), 2024),
        (
            "Pre-train, Prompt, and Predict (liu…neubig, 2023)",
            "Pre-train, Prompt, and Predict",
            ("liu", "neubig"),
            2023,
        ),
        ("GPT-4 Technical Report (OpenAI, 2023)", "GPT-4 Technical Report", ("openai",), 2023),
        ("BIG-bench (2022)", "BIG-bench", (), 2022),
        ("GShard Lepikhin et al. (2021)", "GShard", ("lepikhin",), 2021),
        (
            "P\\(^3\\)SUM: Preserving Perspective (Liu et al., 2024)",
            "P\\(^3\\)SUM: Preserving Perspective",
            ("liu",),
            2024,
        ),
    ],
)
def test_citation_forms_give_title_surnames_and_year(
    line: str, title: str, surnames: tuple[str, ...], year: int
) -> None:
    cited = split_line(line)
    assert (cited.title, cited.surnames, cited.year, cited.comment) == (title, surnames, year, "")


def test_extra_field_after_the_year_is_kept_apart() -> None:
    cited = split_line("G-Eval: NLG Evaluation (liu…zhu, 2023, microsoft) - form filling")
    assert cited.citations == (Citation(("liu", "zhu"), 2023, "microsoft"),)
    assert (cited.title, cited.comment) == ("G-Eval: NLG Evaluation", "form filling")


def test_several_citations_in_one_pair_of_parentheses() -> None:
    cited = split_line("chain of thought (Wei et al., 2022; Kojima et al., 2022) - zero-shot too")
    assert cited.citations == (Citation(("wei",), 2022), Citation(("kojima",), 2022))
    assert (cited.title, cited.surnames, cited.year, cited.comment) == (
        "chain of thought",
        ("wei",),
        2022,
        "zero-shot too",
    )


@pytest.mark.parametrize(
    ("line", "comment"),
    [
        ("Scaling Laws (Kaplan et al., 2020) - power laws", "power laws"),
        ("Scaling Laws (Kaplan et al., 2020) – power laws", "power laws"),
        ("Scaling Laws (Kaplan et al., 2020): power laws", "power laws"),
        ("Scaling Laws (Kaplan et al., 2020) power laws", "power laws"),
    ],
)
def test_comment_after_the_citation_with_any_separator(line: str, comment: str) -> None:
    cited = split_line(line)
    assert (cited.title, cited.comment) == ("Scaling Laws", comment)


def test_uncited_line_splits_at_a_spaced_dash_but_not_at_a_colon() -> None:
    assert (
        split_line("tree of thoughts - search over thoughts").title,
        split_line("tree of thoughts - x").comment,
    ) == (
        "tree of thoughts",
        "x",
    )
    cited = split_line("Sparks of AGI: Early experiments with GPT-4")
    assert (cited.title, cited.citations, cited.comment) == ("Sparks of AGI: Early experiments with GPT-4", (), "")


@pytest.mark.parametrize("inner", ["auto", "see section 3, 2021", "Section 3.4 Only", "Partially finished", "v2"])
def test_parentheses_that_are_not_citations(inner: str) -> None:
    assert parse_citation(inner) is None


def test_bullets_become_nested_markdown_lists() -> None:
    lines = ["intro", "  • first", "    • deeper", "    more of deeper", "  • second", "  1. step", "after"]
    assert markdown_lines(lines) == [
        "intro",
        "- first",
        "  - deeper",
        "    more of deeper",
        "- second",
        "1. step",
        "after",
    ]
