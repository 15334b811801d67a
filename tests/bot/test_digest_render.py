"""The weekly digest as messages: its sections, a quiet week, and a huge week split without losing anything."""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import discord
import pytest

from bot.digest_render import (
    DESCRIPTION,
    MAX_NOTES,
    MAX_PAPERS,
    MAX_QUESTIONS,
    MAX_TROUBLES,
    render_digest,
    week_label,
)
from bot.render import embed_size
from storage.digests.content import DigestData, DigestNote, DigestPaper, DigestStats, FeedTrouble
from storage.digests.picks import Picked
from storage.papers import PaperView
from storage.queue import QueueItem

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2025, 2, 24, 9, tzinfo=BERLIN)
END = datetime(2025, 3, 3, 9, tzinfo=BERLIN)


def note(
    i: int,
    author: str = "Ann",
    author_id: int = 1,
    *,
    title: str | None = None,
    first: str = "A neat trick for merging models.",
    questions: tuple[str, ...] = (),
    tags: tuple[str, ...] = ("model-merging",),
    jump: bool = True,
) -> DigestNote:
    return DigestNote(
        note_id=i,
        author_id=author_id,
        author_name=author,
        paper_title=title or f"Paper number {i}",
        paper_url=f"https://arxiv.org/abs/2502.{i:05d}",
        tags=tags,
        first_line=first,
        questions=questions,
        jump_url=f"https://discord.com/channels/1/2/{1000 + i}" if jump else None,
        created_at=START + timedelta(hours=i % 160),
    )


def feed_paper(i: int, category: str = "cs.LG", title: str | None = None) -> DigestPaper:
    return DigestPaper(
        paper_id=i,
        key=f"arxiv:2502.{i:05d}",
        title=title or f"Feed paper {i}",
        url=f"https://arxiv.org/abs/2502.{i:05d}",
        abstract="",
        categories=(category, "stat.ML"),
        first_seen=START,
    )


def week(
    notes: tuple[DigestNote, ...] = (),
    troubles: tuple[FeedTrouble, ...] = (),
    stats: DigestStats | None = None,
    timezone: str = "Europe/Berlin",
) -> DigestData:
    members = len({n.author_id for n in notes})
    return DigestData(
        guild_id=1,
        start=START,
        end=END,
        timezone=timezone,
        notes=notes,
        papers=(),
        filters=(),
        tags=(),
        troubles=troubles,
        stats=stats or DigestStats(notes=len(notes), active_members=members, longest_streak=4, streak_holder="Ann"),
    )


NOTHING = Picked(chosen=[], rest=0)


def assert_valid(messages: list[list[discord.Embed]]) -> None:
    """Discord's limits, for every message and embed."""
    assert messages
    for message in messages:
        assert 1 <= len(message) <= 10
        assert sum(embed_size(e) for e in message) <= 6000
        for embed in message:
            assert len(embed.title or "") <= 256
            assert len(embed.description or "") <= DESCRIPTION
            assert len(embed.fields) <= 25
            assert all(len(f.value) <= 1024 and len(f.name) <= 256 for f in embed.fields)
            assert len(embed.footer.text or "") <= 2048


def sections(messages: list[list[discord.Embed]]) -> dict[str, str]:
    """Each section's text, continuations joined, by the section's title without its count."""
    found: dict[str, list[str]] = defaultdict(list)
    for message in messages:
        for embed in message:
            title = re.sub(r"(?: \((?:[\d,]+|continued)\))+$", "", embed.title or "")
            found[title].append(embed.description or "")
    return {title: "\n".join(parts) for title, parts in found.items()}


def more(text: str, what: str) -> int:
    """The counts in "…and N more <what>" lines."""
    return sum(int(n.replace(",", "")) for n in re.findall(rf"…and ([\d,]+) more {what}", text))


# The header


@pytest.mark.parametrize(
    ("start", "end", "zone", "label"),
    [
        (START, END, "Europe/Berlin", "24 Feb – 2 Mar 2025"),
        (datetime(2025, 3, 3, tzinfo=UTC), datetime(2025, 3, 10, tzinfo=UTC), "UTC", "3–9 Mar 2025"),
        (
            datetime(2025, 12, 29, 9, tzinfo=ZoneInfo("Australia/Sydney")),
            datetime(2026, 1, 5, 9, tzinfo=ZoneInfo("Australia/Sydney")),
            "Australia/Sydney",
            "29 Dec 2025 – 4 Jan 2026",
        ),
        # stored in UTC, shown in the group's zone: Monday 00:30 in Sydney is Sunday in UTC
        (datetime(2025, 2, 23, 13, 30, tzinfo=UTC), datetime(2025, 3, 2, 13, 30, tzinfo=UTC), "Australia/Sydney", ""),
    ],
)
def test_the_week_is_labelled_in_the_groups_time_zone(start: datetime, end: datetime, zone: str, label: str) -> None:
    data = DigestData(1, start, end, zone, (), (), (), (), (), DigestStats(0, 0, 0, None))
    assert week_label(data) == (label or "24 Feb – 2 Mar 2025")


def test_header_has_the_week_and_the_stats() -> None:
    data = week(
        (note(1), note(2, "Bob", 2)),
        stats=DigestStats(notes=2, active_members=2, longest_streak=7, streak_holder="Bob"),
    )
    header = render_digest(data, NOTHING)[0][0]
    assert header.title == "Weekly digest · 24 Feb – 2 Mar 2025"
    assert "**2 notes** · **2 active members** · longest current streak **7 weeks** (Bob)" in (header.description or "")


# The sections


def test_notes_are_grouped_by_member_with_links_tags_and_first_lines() -> None:
    data = week(
        (
            note(1, "Ann", 1, title="Model Soups", tags=("model-merging", "llms")),
            note(2, "Bob", 2, title="Task Arithmetic", first="Adds task vectors.", jump=False),
            note(3, "Ann", 1, title="TIES-Merging", first="Trims, elects signs, merges."),
        )
    )
    notes = sections(render_digest(data, NOTHING))["Notes this week"]
    assert notes.index("**Ann** · 2 notes") < notes.index("Model Soups") < notes.index("TIES-Merging")
    assert notes.index("TIES-Merging") < notes.index("**Bob** · 1 note") < notes.index("Task Arithmetic")
    assert "• [Model Soups](https://arxiv.org/abs/2502.00001) `model-merging` `llms`" in notes
    assert "· [note](https://discord.com/channels/1/2/1001)\n> A neat trick for merging models." in notes
    assert "[Task Arithmetic](https://arxiv.org/abs/2502.00002) `model-merging`\n> Adds task vectors." in notes
    assert "https://discord.com/channels/1/2/1002" not in notes  # no jump url, no link


def test_open_questions_are_attributed() -> None:
    data = week((note(1, "Ann", questions=("Does it scale?", "Why signs?")), note(2, "Bob", 2, questions=("Why?",))))
    questions = sections(render_digest(data, NOTHING))["Open questions"]
    assert questions.splitlines() == [
        "• Does it scale? — Ann, *Paper number 1*",
        "• Why signs? — Ann, *Paper number 1*",
        "• Why? — Bob, *Paper number 2*",
    ]


def test_feed_papers_by_primary_category_with_the_rest_counted_and_reasons_on_preview() -> None:
    picked = Picked(
        chosen=[
            (feed_paper(1, "cs.CL"), "tagged interest “llms/prompting”"),
            (feed_paper(2, "cs.LG"), "matches “model merging” (cs.LG feed)"),
            (feed_paper(3, "cs.LG"), "matches “merg*” (cs.LG feed)"),
        ],
        rest=120,
    )
    posted = sections(render_digest(week((note(1),)), picked))["From the feeds · matching the group's interests"]
    assert [line for line in posted.splitlines() if line] == [
        "**cs.LG** · 2 papers",
        "• [Feed paper 2](https://arxiv.org/abs/2502.00002)",
        "• [Feed paper 3](https://arxiv.org/abs/2502.00003)",
        "**cs.CL** · 1 paper",
        "• [Feed paper 1](https://arxiv.org/abs/2502.00001)",
        "and 120 more papers from the group's feeds this week",
    ]
    preview = sections(render_digest(week((note(1),)), picked, explain=True))
    assert (
        "• [Feed paper 2](https://arxiv.org/abs/2502.00002) — matches “model merging” (cs.LG feed)"
        in preview["From the feeds · matching the group's interests"]
    )


def test_paused_and_failing_feeds() -> None:
    troubles = (
        FeedTrouble(
            1, "cs.LG", 77, paused=True, reason="the bot can't post in this channel", last_error=None, failures=0
        ),
        FeedTrouble(2, "https://example.org/rss", 78, paused=False, reason=None, last_error="HTTP 503", failures=6),
        FeedTrouble(3, 'ti:"model_merging" `x`', 79, paused=False, reason=None, last_error=None, failures=0),
    )
    text = sections(render_digest(week((note(1),), troubles), NOTHING))["Feeds needing attention"]
    assert "• `cs.LG` in <#77> — paused: the bot can't post in this channel" in text
    assert "• `https://example.org/rss` in <#78> — 6 failures in a row: HTTP 503" in text
    assert "• `ti:\"model_merging\" 'x'` in <#79> — failing" in text  # in a code span: no escapes, no backticks


def test_a_quiet_week_is_short_and_friendly_unless_turned_off() -> None:
    quiet = render_digest(week(), Picked(chosen=[], rest=30))
    assert len(quiet) == 1
    header = quiet[0][0]
    assert "A quiet week: no notes" in (header.description or "") and "`/note add`" in (header.description or "")
    assert "None of the 30 papers from the group's feeds" in (quiet[0][1].description or "")
    assert render_digest(week(), Picked(chosen=[], rest=30), quiet_weeks=False) == []
    assert render_digest(week(), NOTHING, quiet_weeks=False) == []
    # papers alone are not a quiet week
    assert render_digest(week(), Picked(chosen=[(feed_paper(1), "x")], rest=0), quiet_weeks=False)


def test_member_text_is_escaped_and_mentions_nothing() -> None:
    sneaky = note(
        1,
        "**Ann** @everyone",
        title="[Click](https://evil.example) *bold* _it_",
        first="ping <@123456789012345678> and @here and <@&234567890123456789> ~~gone~~ `code`",
        questions=("Is `x` > y? @everyone",),
    )
    text = "\n".join(e.description or "" for m in render_digest(week((sneaky,)), NOTHING) for e in m)
    assert "@everyone" not in text and "@here" not in text
    assert "<@123456789012345678>" not in text and "<@&234567890123456789>" not in text
    assert "[Click](https://evil.example)" not in text
    assert "\\[Click\\](https://evil.example) \\*bold\\* \\_it\\_" in text  # shown as typed, no stray backslash
    assert "\\~\\~gone\\~\\~" in text


# A huge week: split into as many messages as it takes, every item accounted for


def huge_week() -> tuple[DigestData, Picked]:
    long_title = "A Very Long Title " * 20  # 360 characters
    notes = tuple(
        note(
            i,
            f"Member {i % 30} " + "x" * (i % 3) * 40,
            1000 + i % 30,
            title=long_title if i % 7 == 0 else None,
            first=("word " * 2400) if i % 5 == 0 else f"First line of note {i}",
            questions=tuple(f"Question {q} of note {i}?" + " why" * (i % 4) * 30 for q in range(i % 4)),
            tags=tuple(f"tag-{t}" for t in range(i % 12)),
        )
        for i in range(1, 501)
    )
    troubles = tuple(
        FeedTrouble(
            i, f"https://feeds.example.org/{'long/' * 30}{i}.xml", 900 + i, i % 2 == 0, "paused " * 60, "e" * 900, i
        )
        for i in range(100)
    )
    categories = ("cs.LG", "cs.CL", "cs.AI", "stat.ML", "quant-ph", "math.OC", "cs.CV")
    chosen = [
        (feed_paper(i, categories[i % len(categories)], title=long_title if i % 9 == 0 else None), "x" * 150)
        for i in range(2000)
    ]
    return week(notes, troubles), Picked(chosen=chosen, rest=3000)


@pytest.mark.parametrize("explain", [False, True])
def test_a_huge_week_fits_discord_and_accounts_for_everything(explain: bool) -> None:
    data, picked = huge_week()
    messages = render_digest(data, picked, explain=explain)
    assert_valid(messages)
    assert len(messages) <= 20  # capped lists keep it readable
    text = sections(messages)

    notes = text["Notes this week"]
    listed = set(re.findall(r"\(https://discord\.com/channels/1/2/(\d+)\)", notes))
    assert len(listed) == MAX_NOTES
    assert len(listed) + more(notes, "notes?") == 500
    assert "`/notes since:2025-02-24`" in notes

    asked = sum(len(n.questions) for n in data.notes)
    questions = text["Open questions"]
    assert len(re.findall(r"^• Question", questions, re.MULTILINE)) == MAX_QUESTIONS
    assert MAX_QUESTIONS + more(questions, "questions?") == asked

    papers = text["From the feeds · matching the group's interests"]
    shown = len(re.findall(r"^• ", papers, re.MULTILINE))
    assert shown == MAX_PAPERS
    per_category = sum(int(n.replace(",", "")) for n in re.findall(r"…and ([\d,]+) more in ", papers))
    assert shown + per_category == 2000
    assert f"…{2000 - MAX_PAPERS:,} matching papers not listed here: `/digest preview`" in papers
    assert "and 3,000 more papers from the group's feeds this week" in papers

    troubles = text["Feeds needing attention"]
    assert len(re.findall(r"^• ", troubles, re.MULTILINE)) == MAX_TROUBLES
    assert MAX_TROUBLES + more(troubles, "feeds?") == 100


def test_every_note_is_listed_in_an_ordinary_week() -> None:
    notes = tuple(note(i, f"Member {i % 6}", i % 6, questions=("Q?",)) for i in range(1, 25))
    text = sections(render_digest(week(notes), NOTHING))
    assert len(set(re.findall(r"channels/1/2/(\d+)", text["Notes this week"]))) == 24
    assert "more note" not in text["Notes this week"]
    assert text["Open questions"].count("• Q? —") == 24


def test_a_member_with_many_notes_is_capped_with_a_pointer() -> None:
    notes = tuple(note(i) for i in range(1, 13))
    text = sections(render_digest(week(notes), NOTHING))["Notes this week"]
    assert "…and 7 more notes by Ann: `/notes since:2025-02-24`" in text


# The reading queue


def queued(rank: int, votes: int, *, name: str = "Ann", title: str | None = None) -> QueueItem:
    paper = PaperView(
        id=rank,
        key=f"arxiv:2502.{rank:05d}",
        version=None,
        title=title or f"Queued paper {rank}",
        authors=(),
        abstract=None,
        categories=(),
        published=None,
        metadata_status="ok",
    )
    return QueueItem(
        id=rank,
        guild_id=1,
        paper=paper,
        proposed_by=rank,
        proposer_name=name,
        why=None,
        source="command",
        channel_id=None,
        message_id=None,
        created_at=START,
        votes=votes,
    )


def test_the_top_of_the_reading_queue_is_listed_even_in_a_quiet_week() -> None:
    top = (queued(1, 4), queued(2, 1, name="**Bob** @everyone", title="[Click](https://evil.example)"), queued(3, 0))
    busy = sections(render_digest(dataclasses.replace(week((note(1),)), queue=top), NOTHING))[
        "Reading queue · top three"
    ]
    assert busy.splitlines() == [
        "1. [Queued paper 1](https://arxiv.org/abs/2502.00001) · 4 votes · proposed by Ann",
        "2. [\\[Click\\](https://evil.example)](https://arxiv.org/abs/2502.00002) · 1 vote · proposed by "
        "\\*\\*Bob\\*\\* @\u200beveryone",
        "3. [Queued paper 3](https://arxiv.org/abs/2502.00003) · 0 votes · proposed by Ann",
        "Vote on the cards, or see the whole queue with `/queue list`.",
    ]
    quiet = sections(render_digest(dataclasses.replace(week(), queue=top[:1]), NOTHING))
    assert "Queued paper 1" in quiet["Reading queue · top three"]
    assert "Reading queue · top three" not in sections(render_digest(week((note(1),)), NOTHING))
