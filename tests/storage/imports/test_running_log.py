"""A running log with week headers becomes one dated note per paper."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from storage.imports import outline, running_log
from storage.imports.plan import FlaggedDate, ImportPlan, Leftover, NoteStatus, PlannedNote, Shape

SAMPLE = Path(__file__).parents[2] / "data" / "imports" / "running_log.md"
DAILY = "**Mike's Daily Paper, 22.11.2024:**\nSparse Autoencoders Find Features\nhttps://arxiv.org/abs/2411.01234\n"


@pytest.fixture(scope="module")
def plan() -> ImportPlan:
    return running_log.parse(SAMPLE.read_text(encoding="utf-8"))


def _note(plan: ImportPlan, title_start: str) -> PlannedNote:
    (note,) = [note for note in plan.notes if (note.paper.title or "").startswith(title_start)]
    return note


def test_sample_gives_thirty_notes_with_three_duplicates_merged(plan: ImportPlan) -> None:
    assert plan.shape == Shape.RUNNING_LOG
    assert (len(plan.notes), plan.duplicates_merged, plan.lines) == (30, 3, 167)
    assert sum(note.merged for note in plan.notes) == 33
    assert all(note.body.strip() for note in plan.notes)


def test_note_is_dated_on_the_first_day_of_its_week(plan: ImportPlan) -> None:
    assert _note(plan, "Reasoning Models Don't").written_on == date(2025, 10, 26)
    assert _note(plan, "Train Short, Test Long").written_on == date(2025, 10, 12)  # an 8-day range
    assert plan.date_range == (date(2024, 9, 14), date(2025, 10, 26))


def test_undated_block_gives_notes_without_a_date(plan: ImportPlan) -> None:
    undated = [note.paper.title for note in plan.notes if note.written_on is None]
    assert len(undated) == 6
    assert "GPT-4 Technical Report" in undated


def test_title_line_gives_citation_surnames_and_year(plan: ImportPlan) -> None:
    note = _note(plan, "Identity Matters")
    assert (note.paper.surnames, note.paper.year, note.line, note.paper.line) == (("hardt", "ma"), 2017, 64, 64)
    assert _note(plan, "Auto-Regressive").paper.surnames == ("malach",)
    assert _note(plan, "GPT-4").paper.surnames == ("openai",)
    assert _note(plan, "P\\(^3\\)SUM").paper.title == (
        "P\\(^3\\)SUM: Preserving Author's Perspective in News Summarization with Diffusion Language Models"
    )


def test_citation_alone_on_the_next_line_still_opens_the_paper(plan: ImportPlan) -> None:
    note = _note(plan, "Toolformer")
    assert (note.paper.title, note.paper.surnames, note.line) == (
        "Toolformer: Language Models Can Teach Themselves to Use Tools",
        ("schick",),
        104,
    )
    assert note.body.startswith("Self-supervised: sample API calls")


def test_arxiv_link_under_the_title_gives_the_key(plan: ImportPlan) -> None:
    assert _note(plan, "Direct Preference").paper.key == "arxiv:2305.18290"
    assert sum(1 for note in plan.notes if note.paper.key) == 1


def test_section_words_become_headings_and_bullets_nest(plan: ImportPlan) -> None:
    body = _note(plan, "Reasoning Models Don't").body
    assert "\n## Method\n- Pairs of prompts" in body
    assert "\n  - A CoT counts as faithful" in body
    assert "\n## Questions\n- Is verbalising the hint" in body
    headings = [line for line in _note(plan, "Auto-Regressive").body.splitlines() if line.startswith("## ")]
    assert headings == ["## Notation", "## Problem Setup", "## Main Results", "## Thoughts"]
    dpo = [line for line in _note(plan, "Direct Preference").body.splitlines() if line.startswith("## ")]
    assert dpo == ["## Experiment 1", "## Experiment 2", "## Ablations"]


def test_keywords_become_tags_not_body(plan: ImportPlan) -> None:
    note = _note(plan, "Reasoning Models Don't")
    assert note.tags == ["chain-of-thought", "faithfulness", "interpretability"]
    assert "Keywords" not in note.body
    assert plan.tags == [
        "chain-of-thought",
        "faithfulness",
        "interpretability",
        "state-space-models",
        "efficiency",
        "alignment",
        "rlaif",
    ]


def test_wip_and_partial_markers_set_the_status(plan: ImportPlan) -> None:
    wip = {note.paper.title: note.body for note in plan.notes if note.status == NoteStatus.WIP}
    assert len(wip) == 3
    assert wip["Self-Consistency Improves Chain of Thought Reasoning in Language Models"] == "WIP"
    flash = "FlashAttention: Fast and Memory-Efficient Exact Attention with IO-Awareness"
    assert wip[flash] == flash + " (Dao et al., 2022)"  # nothing under the title: its line is the body
    partial = [note for note in plan.notes if note.status == NoteStatus.PARTIAL]
    assert [note.line for note in partial] == [60, 74]
    assert partial[0].body.startswith("(Section 3.4 Only)\nALiBi")
    assert plan.wip == 5


def test_body_keeps_latex_qa_pairs_arrows_and_tool_call_text(plan: ImportPlan) -> None:
    assert "\\[ x_{t-1} = x_t - \\eta" in _note(plan, "P\\(^3\\)SUM").body
    assert '<tool_call>{"name": "search"' in _note(plan, "Tool-Augmented").body
    cot = _note(plan, "Chain-of-Thought Prompting").body
    assert "\nQ1. Does it help small models?\nA1. No;" in cot
    assert "\n→ Yes: putting the answer first" in cot
    assert "\n1. Thought: decide what to look up.\n2. Action:" in _note(plan, "ReAct").body


def test_same_paper_twice_is_one_note_with_each_text_under_its_week(plan: ImportPlan) -> None:
    cot = _note(plan, "Chain-of-Thought Prompting")
    assert (cot.merged, cot.line, cot.written_on, cot.paper.year) == (2, 40, date(2025, 10, 5), 2022)
    assert cot.body.startswith("**Week of 2025-10-19**\nFew-shot exemplars")
    assert "\n\n**Week of 2025-10-05**\nSecond pass" in cot.body
    verify = _note(plan, "Let's Verify")
    assert (verify.merged, verify.status) == (2, NoteStatus.DONE)  # partly read first, finished later
    assert verify.body.startswith("**Week of 2025-10-12**\n(Partially finished)\nProcess supervision")
    attention = _note(plan, "Attention Is All")
    assert (attention.merged, attention.written_on) == (2, date(2025, 9, 7))
    assert "**Before September 2025**\nFirst read" in attention.body


def test_text_outside_any_paper_is_reported_with_its_line(plan: ImportPlan) -> None:
    assert plan.leftovers == [
        Leftover(1, "Paper reading log (NLP reading group, Thursdays 5pm)", "before the first paper"),
        Leftover(
            59, "(no meeting this week: each of us read on our own)", "under a week header, before its first paper"
        ),
    ]


def test_a_mistyped_year_in_a_header_is_flagged_not_changed(plan: ImportPlan) -> None:
    assert plan.flagged == [
        FlaggedDate(
            130,
            "9/14/2024~9/20/2024",
            date(2024, 9, 14),
            date(2025, 9, 14),
            "the year breaks the sequence: the header before it starts 2025-09-21",
        )
    ]
    assert _note(plan, "Emergent Abilities").written_on == date(2024, 9, 14)


def test_score_is_high_on_a_log_and_zero_on_other_shapes() -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    assert running_log.score(text) == 1.0
    assert running_log.score((SAMPLE.parent / "outline.md").read_text(encoding="utf-8")) == 0.0
    assert running_log.score(DAILY) == 0.0
    assert outline.score(text) == 0.0


def test_odd_input_never_raises() -> None:
    for text in ["", "\n\n", "(Wei et al., 2022)", "9/31/2025~10/6/2025\nA Title (Wei, 2020)", "•" + " " * 5000 + "x"]:
        plan = running_log.parse(text)
        assert all(note.body for note in plan.notes)
    odd = running_log.parse("9/31/2025~10/6/2025\nA Title (Wei, 2020)\nbody")
    assert odd.leftovers == [Leftover(1, "9/31/2025~10/6/2025", "a week header whose first day is not a date")]
    assert (odd.notes[0].written_on, odd.notes[0].body) == (None, "body")


def test_a_650_kb_log_repeating_the_sample_merges_every_repeat() -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    big = "\n".join([text] * (650_000 // len(text) + 1))  # its speed is bench.imports' business
    plan = running_log.parse(big)
    assert (len(plan.notes), plan.duplicates_merged) == (30, 33 * (650_000 // len(text) + 1) - 30)
