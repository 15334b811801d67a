"""A topic outline becomes one undated note per paper, tagged with its section path."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.imports import outline, running_log
from storage.imports.outline import section_tag
from storage.imports.plan import ImportPlan, Leftover, NoteStatus, PlannedNote, Shape

SAMPLE = Path(__file__).parents[2] / "data" / "imports" / "outline.md"
DAILY = "**Mike's Daily Paper, 22.11.2024:**\nSparse Autoencoders Find Features\nhttps://arxiv.org/abs/2411.01234\n"


@pytest.fixture(scope="module")
def plan() -> ImportPlan:
    return outline.parse(SAMPLE.read_text(encoding="utf-8"))


def _note(plan: ImportPlan, title_start: str) -> PlannedNote:
    (note,) = [note for note in plan.notes if (note.paper.title or "").startswith(title_start)]
    return note


def test_sample_gives_one_undated_note_per_paper(plan: ImportPlan) -> None:
    assert plan.shape == Shape.OUTLINE
    assert (len(plan.notes), plan.duplicates_merged, plan.lines) == (38, 2, 83)
    assert all(note.written_on is None and note.status == NoteStatus.DONE for note in plan.notes)
    assert all(note.body.strip() for note in plan.notes)
    assert [note.line for note in plan.notes[:4]] == [7, 8, 11, 12]


def test_notes_are_tagged_with_their_section_path(plan: ImportPlan) -> None:
    assert _note(plan, "A Survey of Large").tags == ["language-models"]
    assert _note(plan, "Mamba").tags == ["language-models/architecture"]
    assert _note(plan, "tree of thoughts").tags == ["language-models/llms/prompting"]
    # language-models/llms/prompting/autoprompting is 44 characters: the deepest parts that fit are kept
    assert _note(plan, "AutoPrompt").tags == ["llms/prompting/autoprompting"]
    assert _note(plan, "Gorilla").tags == ["prompting/llm-chaining/agents-with-tools"]  # five levels deep
    assert _note(plan, "Toy Models").tags == ["interpretability/mechanistic"]
    assert len(plan.tags) == 11


def test_section_tag_trims_from_the_top() -> None:
    assert section_tag(["language models", "llms", "prompting", "(auto)prompting"]) == "llms/prompting/autoprompting"
    assert section_tag(["vision/language"]) == "vision-language"
    assert section_tag([]) is None


def test_citation_forms_give_surnames_and_year(plan: ImportPlan) -> None:
    assert _note(plan, "GShard").paper.surnames == ("lepikhin",)
    assert _note(plan, "Pre-train, Prompt").paper.surnames == ("liu", "neubig")
    geval = _note(plan, "G-Eval")
    assert (geval.paper.surnames, geval.paper.year, geval.body) == (
        ("liu", "zhu"),
        2023,
        "chain-of-thought plus form filling",
    )
    big_bench = _note(plan, "Beyond the Imitation Game")
    assert (big_bench.paper.surnames, big_bench.paper.year, big_bench.body) == ((), 2022, "BIG-bench")
    assert _note(plan, "GPT-4 Technical").paper.surnames == ("openai",)
    assert _note(plan, "Identity Matters").paper.surnames == ("hardt", "ma")
    assert _note(plan, "Emergent Abilities").paper.surnames == ("wei",)


def test_comment_after_any_separator_is_the_body(plan: ImportPlan) -> None:
    assert _note(plan, "Scaling Laws").body == "power laws in parameters, data and compute"  # –
    assert _note(plan, "Switch Transformers").body == "top-1 routing is enough"  # :
    assert _note(plan, "Locating and Editing").body == "ROME"  # spaced :
    assert _note(plan, "Large Language Models as Optimizers").body == "OPRO"


def test_lines_under_a_paper_are_its_notes(plan: ImportPlan) -> None:
    assert _note(plan, "GShard").body == (
        "mixture of experts sharded over 2048 TPU cores\n- top-2 gating with a capacity factor\n"
        "- the auxiliary load-balancing loss is what later MoE papers keep"
    )
    assert _note(plan, "Training Compute-Optimal").body == (
        "chinchilla\nequal scaling of parameters and tokens\n"
        "the earlier fits were skewed by a fixed learning-rate schedule"
    )
    assert _note(plan, "Rethinking the Role").body.startswith(
        "- random labels in the demonstrations barely hurt\n- the"
    )


def test_paper_with_nothing_to_say_has_its_line_as_body(plan: ImportPlan) -> None:
    mamba = _note(plan, "Mamba")
    assert mamba.body == "Mamba: Linear-Time Sequence Modeling with Selective State Spaces (Gu and Dao, 2023)"
    sparks = _note(plan, "Sparks")
    assert (sparks.paper.surnames, sparks.paper.year) == ((), None)
    assert (
        sparks.body == sparks.paper.title == "Sparks of Artificial General Intelligence: Early experiments with GPT-4"
    )


def test_short_names_and_several_citations(plan: ImportPlan) -> None:
    tot = _note(plan, "tree of thoughts")
    assert (tot.paper.title, tot.body, tot.paper.surnames) == (
        "tree of thoughts",
        "search over partial solutions with BFS or DFS",
        (),
    )
    cot = _note(plan, "chain of thought")
    assert (cot.paper.surnames, cot.paper.year) == (("wei",), 2022)
    assert cot.body == "few-shot and zero-shot versions\nCited together: (Wei et al., 2022; Kojima et al., 2022)"


def test_group_labels_are_not_notes(plan: ImportPlan) -> None:
    titles = {note.paper.title for note in plan.notes}
    assert not titles & {"misc", "overviews"}
    assert not any(leftover.text in ("misc", "overviews") for leftover in plan.leftovers)


def test_paper_under_two_sections_is_one_note_with_both_tags(plan: ImportPlan) -> None:
    toolformer = _note(plan, "Toolformer")
    assert (toolformer.merged, toolformer.line, toolformer.paper.key) == (2, 51, "arxiv:2302.04761")
    assert toolformer.tags == ["llms/prompting/llm-chaining", "prompting/llm-chaining/agents-with-tools"]
    # the first mention had only its line: the second one's comment and notes are the body
    assert (
        toolformer.body
        == "the API-call filtering step\n- keep a call only if its result lowers the loss on the next tokens"
    )
    heads = _note(plan, "In-context Learning")
    assert (heads.merged, heads.tags) == (2, ["interpretability/mechanistic", "interpretability/probing"])


def test_intros_and_stray_lines_are_reported_with_their_line(plan: ImportPlan) -> None:
    assert plan.leftovers == [
        Leftover(1, "ML reading notes: a topic outline", "before the first section heading"),
        Leftover(2, "(kept by Dana; ask before reorganising the numbering)", "before the first section heading"),
        Leftover(5, "See related papers in the 📌 interpretability page.", "a section's introduction, not a paper"),
        Leftover(26, "Papers on RLHF live in the alignment doc, not here.", "a section's introduction, not a paper"),
        Leftover(27, "- todo: move the reward-model papers over from the old doc", "a note with no paper above it"),
    ]


def test_label_rules_on_a_small_outline() -> None:
    text = "\n".join(
        [
            "1.2. agents#",
            "older work:",
            "WebGPT: Browser-assisted question-answering (Nakano et al., 2021)",
            "voyager",
            "  - minecraft, skill library",
            "reflexion",
            "2. other#",
            "1. Attention Is All You Need (Vaswani et al., 2017)",
        ]
    )
    plan = outline.parse(text)
    # a label with notes under it is a paper; a lone word at the end of its section is a short name
    assert [(note.paper.title, note.tags) for note in plan.notes] == [
        ("WebGPT: Browser-assisted question-answering", ["agents"]),
        ("voyager", ["agents"]),
        ("reflexion", ["agents"]),
    ]
    # a numbered line with a citation is a bulleted paper line, not a heading: no paper above it
    assert plan.leftovers == [
        Leftover(8, "1. Attention Is All You Need (Vaswani et al., 2017)", "a note with no paper above it")
    ]


def test_score_is_high_on_an_outline_and_zero_on_other_shapes() -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    assert outline.score(text) == 1.0
    assert outline.score((SAMPLE.parent / "running_log.md").read_text(encoding="utf-8")) == 0.0
    assert outline.score(DAILY) == 0.0
    assert running_log.score(text) == 0.0


def test_odd_input_never_raises() -> None:
    for text in ["", "#", "1.", "1. #", "  - x", "7.7. llms#\n" + " " * 5000 + "x", "1. a" + " " * 50_000 + "b"]:
        assert all(note.body for note in outline.parse(text).notes)


def test_a_650_kb_outline_repeating_the_sample_merges_its_repeats() -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    copies = 650_000 // len(text) + 1
    plan = outline.parse("\n".join([text] * copies))  # its speed is bench.imports' business
    # 40 paper lines a copy; from the second copy on, its two opening lines sit under the last section and read
    # as two more papers: every copy after the first is merged whole
    assert (len(plan.notes), plan.duplicates_merged) == (40, 42 * (copies - 1))
