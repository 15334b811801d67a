"""Daily paper posts copied out of a channel: headers, titles, links, duplicates, dates and what is left over."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from storage.imports import daily_posts
from storage.imports.dates import find_date, flag_out_of_sequence
from storage.imports.plan import ImportPlan, Leftover, NoteStatus, PlannedNote, Shape
from storage.note_text import questions

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "imports" / "daily_posts.md"


@pytest.fixture(scope="module")
def plan() -> ImportPlan:
    return daily_posts.parse(SAMPLE.read_text(encoding="utf-8"))


def note(plan: ImportPlan, title: str) -> PlannedNote:
    (found,) = [n for n in plan.notes if n.paper.title == title]
    return found


def channel_copy(copies: int) -> str:
    """The sample's posts repeated with other papers and later years, as a long channel would read."""
    text = SAMPLE.read_text(encoding="utf-8")
    posts = text[text.index("**Mike's Daily Paper, 22.11.2024:**") :]
    parts = []
    for n in range(copies):
        # Each copy is two years later (dates stay in sequence) and links to other papers (no merging across copies).
        shifted = re.sub(r"\b(20)?2([345])\b", lambda m, n=n: f"{m[1] or ''}{int('2' + m[2]) + 2 * n:02d}", posts)
        shifted = re.sub(r"(\d{4}\.)(\d{5})", lambda m, n=n: f"{m[1]}{n + 10:02d}{m[2][2:]}", shifted)
        parts.append(shifted.replace("02511-7", f"{2511 + n:05d}-7").replace("aQp2L", f"aQp{n:02d}"))
    return "\n\n".join(parts)


# --- the sample channel ---------------------------------------------------------------------------------------


def test_sample_gives_one_note_per_paper(plan: ImportPlan) -> None:
    assert plan.shape == Shape.DAILY_POSTS
    assert plan.lines == 658
    assert len(plan.notes) == 32  # 33 headed posts + 1 without a header, 2 papers posted twice
    assert plan.duplicates_merged == 2
    assert [n.merged for n in plan.notes].count(2) == 2
    assert len(plan.all_papers) == 32
    assert sum(1 for n in plan.notes if n.paper.key and n.paper.key.startswith("arxiv:")) == 28
    assert [n.paper.title for n in plan.notes if n.paper.key is None] == [
        "Phi-4 Technical Report",
        "The Geometry of Refusal in Instruction-Tuned Models",
    ]
    assert plan.tags == [
        "transformers",
        "attention",
        "long-context",
        "llm",
        "representation-learning",
        "memory",
        "scaling",
        "interpretability",
        "safety",
        "architectures",
        "reasoning",
        "rl",
        "optimizers",
        "training",
    ]
    assert plan.wip == 1
    assert plan.date_range == (date(2023, 11, 28), date(2025, 4, 10))


def test_every_note_has_a_title_and_a_body(plan: ImportPlan) -> None:
    for n in plan.notes:
        assert n.paper.title and n.body.strip()
        assert "**" not in n.paper.title


def test_dates_and_lines_of_the_posts(plan: ImportPlan) -> None:
    got = [(n.line, n.written_on) for n in plan.notes]
    assert got[:12] == [
        (4, date(2024, 11, 22)),
        (22, date(2024, 11, 24)),
        (74, date(2024, 11, 26)),
        (86, date(2024, 11, 27)),
        (99, date(2023, 11, 28)),  # read as written; only flagged
        (109, date(2024, 11, 29)),
        (122, date(2024, 12, 1)),
        (136, date(2024, 12, 1)),  # no header of its own: the previous post's date
        (155, date(2024, 12, 5)),  # 12/05/24: slashes put the month first
        (203, date(2024, 12, 8)),
        (211, date(2024, 12, 10)),
        (320, date(2024, 12, 12)),
    ]
    assert note(plan, "Titans: Learning to Memorize at Test Time").written_on == date(2025, 1, 2)
    assert note(plan, "Transformer-Squared: Self-adaptive LLMs").written_on == date(2025, 1, 8)
    assert note(plan, "Large Language Diffusion Models").written_on == date(2025, 2, 20)
    assert note(plan, "Transformers without Normalization").written_on == date(2025, 3, 14)
    assert plan.notes[-1].written_on == date(2025, 4, 10)


def test_keys_and_versions_from_every_link_form(plan: ImportPlan) -> None:
    def paper(title: str) -> tuple[str | None, int | None]:
        found = note(plan, title).paper
        return found.key, found.version

    assert paper("Differential Transformer") == ("arxiv:2410.05258", None)  # <https://arxiv.org/abs/…>
    assert paper("Were RNNs All We Needed?") == ("arxiv:2410.01201", 3)  # [paper](…/pdf/…v3)
    assert paper("THINKING LLMS: GENERAL INSTRUCTION FOLLOWING WITH THOUGHT GENERATION") == ("arxiv:2410.10630", None)
    assert paper(  # www.arxiv.org/abs/…
        "Scaling LLM Test-Time Compute Optimally can be More Effective than Scaling Model Parameters"
    ) == ("arxiv:2408.03314", None)
    assert paper("KAN: Kolmogorov–Arnold Networks") == ("arxiv:2404.19756", 4)  # http://…v4
    assert paper("Mixtral of Experts") == ("arxiv:2401.04088", None)  # pdf/….pdf
    assert paper("Neural Scaling of Protein Language Models Under Fixed Compute Budgets") == (
        "doi:10.1038/s41592-024-02511-7",
        None,
    )
    assert paper("Sparse Autoencoders Find Interpretable Features in Chess-Playing Transformers") == (
        "url:https://openreview.net/forum?id=Xk3v9aQp2L",
        None,
    )
    assert paper("LIMO: Less is More for Reasoning") == ("arxiv:2502.03387", 1)
    assert paper("Self-Discover: Large Language Models Self-Compose Reasoning Structures") == ("arxiv:2402.03620", None)
    assert paper("Long-Context Retrieval Heads in Mixture-of-Experts Models") == ("arxiv:2401.10034", 2)


def test_titles_in_every_position(plan: ImportPlan) -> None:
    # On the header line, after emoji.
    assert plan.notes[1].paper.title == "nGPT: Normalized Transformer with Representation Learning on the Hypersphere"
    assert plan.notes[1].paper.line == 22
    # Bold across two lines.
    assert plan.notes[5].paper.title == "KAN: Kolmogorov–Arnold Networks"
    assert plan.notes[5].body.startswith("Instead of fixed activation functions")
    # ALL CAPS, kept as written.
    assert plan.notes[3].paper.title == "THINKING LLMS: GENERAL INSTRUCTION FOLLOWING WITH THOUGHT GENERATION"
    # After a preamble line, which stays in the body.
    rstar = note(plan, "rStar-Math: Small LLMs Can Master Math Reasoning with Self-Evolved Deep Thinking")
    assert rstar.body.startswith("Back after the break! Today's paper is from Microsoft Research Asia:\n")
    assert rstar.paper.line == 430
    # A `Paper Review:` subtitle stays in the body.
    lcm = plan.notes[8]
    assert lcm.paper.title == "Large Concept Models: Language Modeling in a Sentence Representation Space"
    assert lcm.body.startswith("Paper Review: thinking in sentences, not tokens\n")


def test_latex_and_tables_stay_in_the_body(plan: ImportPlan) -> None:
    ngpt = plan.notes[1].body
    assert "$$h \\leftarrow \\mathrm{Norm}\\big(h + \\alpha_A \\,(h_A - h)\\big)" in ngpt
    assert "| 8k | ~20x |" in ngpt
    assert 4000 < len(ngpt) < 5000
    memory = note(plan, "Memory Layers at Scale").body
    assert 11_000 < len(memory) < 12_500
    # The closing link became the key and the hashtag line the tags.
    assert memory.endswith(
        "- How does the gain change with data repetition: is the memory just a better way to memorise the training set?"
    )
    assert "2412.09764" not in memory and "#memory" not in memory


def test_section_words_become_headings(plan: ImportPlan) -> None:
    memory = note(plan, "Memory Layers at Scale")
    headings = [line for line in memory.body.split("\n") if line.startswith("## ")]
    assert headings == ["## Summary", "## Method", "## Results", "## Questions"]
    assert questions(memory.body)[0].startswith("Does the memory store facts")
    assert len(questions(memory.body)) == 4
    assert "**The setup**" in plan.notes[1].body  # not a section word: kept as written


def test_post_after_a_link_without_header_is_its_own_note(plan: ImportPlan) -> None:
    mixtral, distil = plan.notes[6], plan.notes[7]
    assert distil.paper.title == "Distilling the Knowledge in a Neural Network"
    assert distil.paper.key == "arxiv:1503.02531"
    assert distil.line == 136
    assert distil.body.startswith("A bonus classic") and distil.body.endswith(
        "a distant ancestor of today's mixtures of experts."
    )
    assert mixtral.body.endswith("indentation in code often go to the same expert.")


def test_teaser_before_a_header_belongs_to_the_next_post(plan: ImportPlan) -> None:
    rnn = plan.notes[2]
    assert rnn.body.startswith("🔥 This one changed how I think about RNNs 🔥\n\nA short one today")
    assert plan.notes[1].body.endswith("report back in the comments.")
    limo = note(plan, "LIMO: Less is More for Reasoning")
    assert limo.body.startswith("Less is more? For reasoning, apparently yes.\n\nHot on the heels of s1")


def test_same_paper_posted_twice_is_one_note_with_both_texts(plan: ImportPlan) -> None:
    diff = plan.notes[0]
    assert diff.merged == 2 and diff.written_on == date(2024, 11, 22) and diff.line == 4
    assert diff.body.startswith("## 22.11.2024\nAttention noise is one")
    assert "\n\n## 03.12.2024\nComing back to this one" in diff.body
    assert diff.tags == ["transformers", "attention", "long-context"]
    refusal = note(plan, "The Geometry of Refusal in Instruction-Tuned Models")  # no key: same title
    assert refusal.merged == 2 and refusal.written_on == date(2024, 12, 18)
    assert "## 18.12.2024\n" in refusal.body and "## 27.12.2024\nReposting this one" in refusal.body
    assert refusal.tags == ["interpretability", "safety"]


def test_partially_finished_post(plan: ImportPlan) -> None:
    kimi = plan.notes[18]
    assert kimi.paper.title == "Kimi k1.5: Scaling Reinforcement Learning with LLMs"
    assert kimi.status == NoteStatus.PARTIAL


def test_year_out_of_sequence_is_flagged_not_changed(plan: ImportPlan) -> None:
    assert len(plan.flagged) == 1
    flag = plan.flagged[0]
    assert (flag.line, flag.text, flag.read_as, flag.proposed) == (
        99,
        "28.11.23",
        date(2023, 11, 28),
        date(2024, 11, 28),
    )
    assert "2024-11-27 to 2024-11-29" in flag.why
    assert plan.notes[4].written_on == date(2023, 11, 28)


def test_leftovers_are_the_preamble_and_the_cut_short_id(plan: ImportPlan) -> None:
    assert plan.leftovers == [
        Leftover(1, "Channel export: Daily paper reviews (Telegram, saved 9 April 2025)", "before the first post"),
        Leftover(2, "Posts are copied as they were written; links kept as posted.", "before the first post"),
        Leftover(331, "https://arxiv.org/abs/2412.0890", "an arXiv id cut short: 2412.0890"),
    ]
    assert note(plan, "Phi-4 Technical Report").paper.key is None


# --- headers and dates ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "day", "title"),
    [
        ("**Mike's Daily Paper, 22.11.2024:**", date(2024, 11, 22), "Next Line Title"),
        ("⚡️🚀 Mike's Daily Paper - 28.11.24: ⚡️🚀 Header Title", date(2024, 11, 28), "Header Title"),
        ("Mike's DailyPaper – 07.04.25", date(2025, 4, 7), "Next Line Title"),
        ("Mike’s Daily Paper: 01.12.24", date(2024, 12, 1), "Next Line Title"),
        ("Mike's Daily Article: 16.02.25", date(2025, 2, 16), "Next Line Title"),
        ("Yaniv's and Mike's Daily Paper: 2025-01-08 – Header Title", date(2025, 1, 8), "Header Title"),
        ("Mike's Daily Paper – 12/05/24", date(2024, 12, 5), "Next Line Title"),
        ("Mike's Daily Paper — January 2, 2025", date(2025, 1, 2), "Next Line Title"),
        ("## Mike's Daily Paper (3 March 2025): **Header Title**", date(2025, 3, 3), "Header Title"),
        ("Mike’s Daily Paper", None, "Next Line Title"),
    ],
)
def test_header_styles(header: str, day: date | None, title: str) -> None:
    text = f"{header}\nNext Line Title\n\nSome prose about the paper.\n\nhttps://arxiv.org/abs/2501.00663\n"
    result = daily_posts.parse(text)
    assert [(n.written_on, n.paper.title, n.paper.key) for n in result.notes] == [(day, title, "arxiv:2501.00663")]
    assert result.leftovers == []


def test_bold_title_from_the_header_line_runs_on_to_the_next() -> None:
    text = "⚡️ Mike's Daily Paper - 28.11.24: **Titans: Learning\nto Memorize at Test Time**\n\nProse.\n"
    (only,) = daily_posts.parse(text).notes
    assert (only.paper.title, only.body) == ("Titans: Learning to Memorize at Test Time", "Prose.")


def test_prose_naming_the_series_is_not_a_header() -> None:
    text = "Mike's Daily Paper, 22.11.2024:\nA Title Here\n\nMike's Daily Paper has been running for a year now.\n"
    result = daily_posts.parse(text)
    assert len(result.notes) == 1
    assert result.notes[0].body == "Mike's Daily Paper has been running for a year now."


@pytest.mark.parametrize(
    ("written", "day"),
    [
        ("22.11.2024", date(2024, 11, 22)),
        ("28.11.24", date(2024, 11, 28)),
        ("2025-01-08", date(2025, 1, 8)),
        ("12/05/24", date(2024, 12, 5)),
        ("02/20/2025", date(2025, 2, 20)),
        ("March 14, 2025", date(2025, 3, 14)),
        ("Sept. 3rd 2024", date(2024, 9, 3)),
        ("3 March 2025", date(2025, 3, 3)),
        ("31.02.25", None),
    ],
)
def test_written_dates(written: str, day: date | None) -> None:
    found = find_date(f"- {written}: ")
    assert found is not None and found.text == written and found.day == day


def test_impossible_date_is_a_leftover_and_the_post_undated() -> None:
    result = daily_posts.parse("Mike's Daily Paper - 31.02.25\nSome Title Here\n\nBody text.\n")
    assert result.notes[0].written_on is None
    assert result.leftovers == [Leftover(1, "31.02.25", "not a calendar date")]


def test_sequence_check_needs_agreeing_neighbours() -> None:
    nov = [
        (1, "27.11.24", date(2024, 11, 27)),
        (2, "28.11.23", date(2023, 11, 28)),
        (3, "29.11.24", date(2024, 11, 29)),
    ]
    assert [f.proposed for f in flag_out_of_sequence(nov)] == [date(2024, 11, 28)]
    far_apart = [(1, "a", date(2024, 1, 5)), (2, "b", date(2023, 3, 1)), (3, "c", date(2024, 9, 1))]
    assert flag_out_of_sequence(far_apart) == []
    first = [(1, "02.01.24", date(2024, 1, 2)), (2, "06.01.25", date(2025, 1, 6)), (3, "08.01.25", date(2025, 1, 8))]
    assert [(f.line, f.proposed) for f in flag_out_of_sequence(first)] == [(1, date(2025, 1, 2))]
    in_order = [(n, "x", date(2025, 1, n)) for n in range(1, 20)]
    assert flag_out_of_sequence(in_order) == []


# --- links ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("link", "key", "version"),
    [
        ("<https://arxiv.org/abs/2401.10034>", "arxiv:2401.10034", None),
        ("[paper](https://arxiv.org/pdf/2401.10034v2)", "arxiv:2401.10034", 2),
        ("https://arxiv.org/pdf/2401.10034v1.pdf", "arxiv:2401.10034", 1),
        ("Paper: Some Title (arXiv:2401.10034)", "arxiv:2401.10034", None),
        ("www.arxiv.org/abs/2401.10034", "arxiv:2401.10034", None),
        ("🔗 http://arxiv.org/abs/hep-th/9901001", "arxiv:hep-th/9901001", None),
        ("https://doi.org/10.1038/nature14539.", "doi:10.1038/nature14539", None),
        ("Published: doi:10.1145/3580305.3599256", "doi:10.1145/3580305.3599256", None),
        (
            "Paper: https://openreview.net/forum?id=abc123&utm_source=x",
            "url:https://openreview.net/forum?id=abc123",
            None,
        ),
        ("Code: https://github.com/x/y\nPaper: https://arxiv.org/abs/2401.10034", "arxiv:2401.10034", None),
    ],
)
def test_closing_link_forms(link: str, key: str, version: int | None) -> None:
    text = f"Mike's Daily Paper - 02.04.25\nA Paper Title\n\nThe prose of the post.\n\n{link}\n"
    (found,) = daily_posts.parse(text).notes
    assert (found.paper.key, found.paper.version) == (key, version)


def test_link_in_the_middle_of_the_prose_is_not_the_key() -> None:
    text = (
        "Mike's Daily Paper - 02.04.25\nA Paper Title\n\n"
        "It builds on LoRA (see https://arxiv.org/abs/2106.09685) in a way I found clever and worth a longer look.\n"
        + "More prose.\n"
        * 5
    )
    assert daily_posts.parse(text).notes[0].paper.key is None


def test_cut_short_id_is_reported_not_guessed() -> None:
    text = "Mike's Daily Paper - 02.04.25\nA Paper Title\n\nProse.\n\nhttps://arxiv.org/abs/2412.0498\n"
    result = daily_posts.parse(text)
    assert result.notes[0].paper.key is None
    assert result.leftovers == [Leftover(6, "https://arxiv.org/abs/2412.0498", "an arXiv id cut short: 2412.0498")]


def test_keyed_post_and_title_only_post_of_the_same_title_merge() -> None:
    text = (
        "Mike's Daily Paper - 02.04.25\nA Paper Title\n\nFirst.\n\nhttps://arxiv.org/abs/2401.10034\n\n"
        "Mike's Daily Paper - 05.04.25\nA paper title\n\nSecond.\n\n"
        "Mike's Daily Paper - 07.04.25\nA Paper Title\n\nThird, another paper.\n\nhttps://arxiv.org/abs/2402.03300\n"
    )
    result = daily_posts.parse(text)
    assert [(n.paper.key, n.merged) for n in result.notes] == [("arxiv:2401.10034", 2), ("arxiv:2402.03300", 1)]
    assert result.notes[0].body == "## 02.04.2025\nFirst.\n\n## 05.04.2025\nSecond."
    assert result.duplicates_merged == 1


# --- odd input, shape score, speed ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n\n\n",
        "just some text\nwith no posts",
        "Mike's Daily Paper - 02.04.25",
        "Mike's Daily Paper - 02.04.25\n\n\n",
        "Mike's Daily Paper - 02.04.25\r\n**Bold title that never\r\n",
        "Mike's Daily Paper - 02.04.25\nhttps://arxiv.org/abs/2401.10034\nhttps://arxiv.org/abs/9913.99999\n",
        "Mike's Daily Paper - 02.04.25\nT\n#tag #other\n" + "#x " * 30,
    ],
)
def test_odd_input_never_raises_and_bodies_are_never_empty(text: str) -> None:
    result = daily_posts.parse(text)
    for n in result.notes:
        assert n.body.strip()
        assert len(n.tags) <= 10


def test_header_with_nothing_after_it_is_a_leftover() -> None:
    result = daily_posts.parse(
        "Mike's Daily Paper - 02.04.25\nA Title Here\n\nProse.\n\n⚡️ Mike's Daily Paper - 03.04.25 ⚡️\n"
    )
    assert [n.paper.title for n in result.notes] == ["A Title Here"]
    assert result.leftovers == [Leftover(6, "⚡️ Mike's Daily Paper - 03.04.25 ⚡️", "a post naming no paper")]


def test_empty_post_gets_its_title_as_body() -> None:
    (only,) = daily_posts.parse("Mike's Daily Paper - 02.04.25: A Paper With No Words\n").notes
    assert only.body == "A Paper With No Words"


def test_score_is_high_on_daily_posts_and_zero_on_other_shapes() -> None:
    assert daily_posts.score(SAMPLE.read_text(encoding="utf-8")) == 1.0
    assert daily_posts.score("Mike's Daily Paper - 02.04.25\nA Title\n") >= 0.6
    running_log = (
        "9/21/2025~9/27/2025\n\nChain-of-Thought Prompting Elicits Reasoning (Wei et al., 2022)\n"
        "They prompt with worked examples.\nMethod\nFew-shot exemplars.\nQuestions\nWhy does it need scale?\n\n"
        "9/28/2025~10/4/2025\n\nRepresentation Engineering (Zou et al., 2023)\nWIP\n"
    )
    assert daily_posts.score(running_log) == 0.0
    outline = "7. llms\n7.7. llms#\n7.7.1. (auto)prompting\n- Self-Refine (Madaan et al., 2023) - iterative\n"
    assert daily_posts.score(outline) == 0.0


def test_a_650_kb_channel_keeps_every_post() -> None:
    text = channel_copy(12)  # its speed is bench.imports' business
    assert 640_000 < len(text.encode()) < 720_000
    result = daily_posts.parse(text)
    # 34 posts a copy; the title-only papers (Phi-4, Geometry of Refusal) are the same in every copy.
    assert len(result.notes) == 12 * 30 + 2
    assert result.duplicates_merged == 12 * 34 - (12 * 30 + 2)
    assert len(result.flagged) == 12
