"""The weekly digest as Discord messages: every section within Discord's limits, nothing cut without saying so.

Sections, in order: a header with the week and its stats; the week's notes by member; open questions from the
notes' Questions sections; the top three of the reading queue; the feed papers that match the group's interests,
by primary category; feeds that are paused or failing. Each list has a cap that keeps a digest readable; past it,
a line says how many more there are and which command shows them. Titles and first lines are shortened with an
ellipsis (they are labels); nothing else is dropped. Member text is markdown-escaped and cannot mention anyone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import discord

from bot.render import COLOUR, EMBED_TITLE, clip, md_link, pack, plain, safe_url
from schedules.digest_time import discord_timestamp, period_label
from storage.digests.content import DigestData, DigestNote, DigestPaper, FeedTrouble
from storage.digests.picks import Picked
from storage.time_zones import zone_or_utc

__all__ = [
    "DESCRIPTION",
    "MAX_NOTES",
    "MAX_NOTES_PER_MEMBER",
    "MAX_PAPERS",
    "MAX_PAPERS_PER_CATEGORY",
    "MAX_QUESTIONS",
    "MAX_TROUBLES",
    "render_digest",
    "week_label",
]

DESCRIPTION = 4096  # characters in an embed description
MAX_NOTES = 40  # notes listed in a digest; the rest are counted
MAX_NOTES_PER_MEMBER = 5
MAX_QUESTIONS = 30
MAX_PAPERS = 40
MAX_PAPERS_PER_CATEGORY = 12
MAX_TROUBLES = 20
MAX_SESSIONS = 10
TITLE_CHARS = 200  # a paper title in a list
LINE_CHARS = 200  # a note's first line
QUESTION_CHARS = 300
ERROR_CHARS = 200


# Text


def _plain(text: str) -> str:
    """Member text on one line, markdown escaped (brackets too: no masked links), unable to mention anyone."""
    return plain(" ".join(text.split()))


def _short(text: str, limit: int) -> str:
    """Member text, shortened with an ellipsis before escaping so that no escape is cut in half."""
    return _plain(clip(" ".join(text.split()), limit))


def _code(text: str, limit: int) -> str:
    """Text for inside a code span: on one line, shortened, without backticks (markdown is not read there)."""
    return clip(" ".join(text.split()).replace("`", "'"), limit) or "?"


def _link(title: str, url: str) -> str:
    return md_link(title, url, TITLE_CHARS)


def _count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def week_label(data: DigestData) -> str:
    """The week as local dates in the group's time zone: "24 Feb – 2 Mar 2025"."""
    return period_label(data.start, data.end, zone_or_utc(data.timezone))


def _since(data: DigestData) -> str:
    """The week's first local date, as ``/notes since:`` takes it."""
    start = data.start.astimezone(zone_or_utc(data.timezone))
    return f"{start:%Y-%m-%d}"


# Embeds


@dataclass
class _Section:
    """A titled list of blocks, poured into as many embeds as it takes (a block is never split)."""

    title: str
    blocks: list[str]

    def embeds(self) -> list[discord.Embed]:
        embeds: list[discord.Embed] = []
        text = ""
        for block in self.blocks:
            block = clip(block, DESCRIPTION)  # never needed: every block is built well under the limit
            if text and len(text) + 2 + len(block) > DESCRIPTION:
                embeds.append(self._embed(text, len(embeds)))
                text = ""
            text = f"{text}\n\n{block}" if text else block
        if text or not embeds:
            embeds.append(self._embed(text, len(embeds)))
        return embeds

    def _embed(self, text: str, index: int) -> discord.Embed:
        title = self.title if index == 0 else f"{self.title} (continued)"
        return discord.Embed(title=clip(title, EMBED_TITLE), description=text or None, colour=COLOUR)


def _stats_line(data: DigestData) -> str:
    stats = data.stats
    parts = [f"**{_count(stats.notes, 'note')}**", f"**{_count(stats.active_members, 'active member')}**"]
    if stats.longest_streak > 0:
        holder = f" ({_short(stats.streak_holder, 80)})" if stats.streak_holder else ""
        parts.append(f"longest current streak **{_count(stats.longest_streak, 'week')}**{holder}")
    return " · ".join(parts)


def _header(data: DigestData, picked: Picked, quiet: bool) -> discord.Embed:
    lines = [_stats_line(data)]
    if quiet:
        lines.append(
            "A quiet week: no notes, and nothing from the group's feeds that matched its interests. "
            "Read something good? Share it with `/note add` — even a two-line summary helps the next reader."
        )
    else:
        counts = [_count(len(data.notes), "note")]
        questions = sum(len(note.questions) for note in data.notes)
        if questions:
            counts.append(_count(questions, "open question"))
        if picked.chosen:
            counts.append(_count(len(picked.chosen), "paper") + " from the feeds for you")
        lines.append("This week: " + ", ".join(counts) + ".")
    return discord.Embed(title=f"Weekly digest · {week_label(data)}", description="\n".join(lines), colour=COLOUR)


def _note_block(note: DigestNote) -> str:
    tags = " ".join(f"`{tag}`" for tag in note.tags[:10])
    more_tags = f" +{len(note.tags) - 10}" if len(note.tags) > 10 else ""
    link = safe_url(note.jump_url) if note.jump_url else None
    head = f"• {_link(note.paper_title, note.paper_url)}"
    if tags:
        head += f" {tags}{more_tags}"
    if link:
        head += f" · [note]({link})"
    first = _short(note.first_line, LINE_CHARS)
    return f"{head}\n> {first}" if first else head


def _notes_section(data: DigestData) -> _Section | None:
    if not data.notes:
        return None
    by_member: dict[int, list[DigestNote]] = {}
    for note in data.notes:
        by_member.setdefault(note.author_id, []).append(note)
    members = sorted(by_member.values(), key=lambda notes: (-len(notes), notes[0].author_name.casefold()))
    since = f"`/notes since:{_since(data)}`"
    blocks: list[str] = []
    listed = 0
    unlisted_members = 0
    unlisted_notes = 0
    for notes in members:
        room = min(MAX_NOTES_PER_MEMBER, MAX_NOTES - listed)
        if room <= 0:
            unlisted_members += 1
            unlisted_notes += len(notes)
            continue
        name = _short(notes[0].author_name, 80) or "someone"
        shown = notes[:room]
        heading = f"**{name}** · {_count(len(notes), 'note')}"
        member_blocks = [_note_block(note) for note in shown]
        member_blocks[0] = f"{heading}\n{member_blocks[0]}"
        if len(notes) > len(shown):
            member_blocks[-1] += f"\n…and {_count(len(notes) - len(shown), 'more note')} by {name}: {since}"
        blocks.extend(member_blocks)
        listed += len(shown)
    if unlisted_notes:
        blocks.append(
            f"…and {_count(unlisted_notes, 'more note')} from {_count(unlisted_members, 'more member')}: {since}"
        )
    return _Section(f"Notes this week ({len(data.notes):,})", blocks)


def _questions_section(data: DigestData) -> _Section | None:
    asked = [(question, note) for note in data.notes for question in note.questions if question.strip()]
    if not asked:
        return None
    blocks = [
        f"• {_short(question, QUESTION_CHARS)} — {_short(note.author_name, 80)}, *{_short(note.paper_title, 120)}*"
        for question, note in asked[:MAX_QUESTIONS]
    ]
    if len(asked) > MAX_QUESTIONS:
        blocks.append(f"…and {_count(len(asked) - MAX_QUESTIONS, 'more question')}: `/notes since:{_since(data)}`")
    return _Section(f"Open questions ({len(asked):,})", _lines(blocks))


def _queue_section(data: DigestData) -> _Section | None:
    if not data.queue:
        return None
    lines = []
    for rank, item in enumerate(data.queue, start=1):
        votes = _count(item.votes, "vote")
        who = _short(item.proposer_name, 80) or "someone"
        lines.append(f"{rank}. {_link(item.paper.display_title, item.paper.url)} · {votes} · proposed by {who}")
    lines.append("Vote on the cards, or see the whole queue with `/queue list`.")
    return _Section("Reading queue · top three", _lines(lines))


def _lines(lines: Iterable[str], size: int = 1500) -> list[str]:
    """Lines joined into blocks of about ``size`` characters (a block stays together in one embed)."""
    blocks: list[str] = []
    for line in lines:
        if blocks and len(blocks[-1]) + 1 + len(line) <= size:
            blocks[-1] += "\n" + line
        else:
            blocks.append(line)
    return blocks


def _papers_section(picked: Picked, *, explain: bool) -> _Section | None:
    if not picked.chosen:
        if not picked.rest:
            return None
        text = (
            f"None of the {_count(picked.rest, 'paper')} from the group's feeds this week matched the group's "
            "interests (subscription keywords and tags)."
        )
        return _Section("From the feeds", [text])
    by_category: dict[str, list[tuple[DigestPaper, str]]] = {}
    for paper, reason in picked.chosen:
        category = paper.categories[0] if paper.categories else "Other"
        by_category.setdefault(category, []).append((paper, reason))
    categories = sorted(by_category.items(), key=lambda item: (-len(item[1]), item[0].casefold()))
    per_category = max(MAX_PAPERS_PER_CATEGORY, MAX_PAPERS // len(categories)) if categories else 0
    blocks: list[str] = []
    listed = 0
    unlisted = 0
    for category, papers in categories:
        room = min(per_category, MAX_PAPERS - listed)
        shown = papers[: max(room, 0)]
        lines = [f"**{_plain(clip(category, 80))}** · {_count(len(papers), 'paper')}"]
        for paper, reason in shown:
            line = f"• {_link(paper.title, paper.url)}"
            if explain:
                line += f" — {_plain(clip(reason, 200))}"
            lines.append(line)
        if len(papers) > len(shown):
            lines.append(f"…and {len(papers) - len(shown):,} more in {_plain(clip(category, 80))}")
        unlisted += len(papers) - len(shown)
        listed += len(shown)
        blocks.extend(_lines(lines))
    if unlisted:
        blocks.append(f"…{_count(unlisted, 'matching paper')} not listed here: `/digest preview`")
    if picked.rest:
        blocks.append(f"and {_count(picked.rest, 'more paper')} from the group's feeds this week")
    return _Section(f"From the feeds · matching the group's interests ({len(picked.chosen):,})", blocks)


def _trouble_line(trouble: FeedTrouble) -> str:
    where = f"`{_code(trouble.source, 100)}` in <#{trouble.channel_id}>"
    if trouble.paused:
        why = _short(trouble.reason, ERROR_CHARS) if trouble.reason else "no reason recorded"
        return f"• {where} — paused: {why}"
    failures = f"{_count(trouble.failures, 'failure')} in a row" if trouble.failures else "failing"
    error = f": {_short(trouble.last_error, ERROR_CHARS)}" if trouble.last_error else ""
    return f"• {where} — {failures}{error}"


def _troubles_section(data: DigestData) -> _Section | None:
    if not data.troubles:
        return None
    lines = [_trouble_line(trouble) for trouble in data.troubles[:MAX_TROUBLES]]
    if len(data.troubles) > MAX_TROUBLES:
        lines.append(f"…and {_count(len(data.troubles) - MAX_TROUBLES, 'more feed')}: `/feed list`")
    lines.append("`/feed resume` restarts a paused feed; `/feed list` shows every feed's health.")
    return _Section(f"Feeds needing attention ({len(data.troubles):,})", _lines(lines))


def _sessions_section(data: DigestData) -> _Section | None:
    """The reading sessions of the week and the week ahead, each with its time in the reader's own zone."""
    if not data.sessions:
        return None
    lines = []
    for session in data.sessions[:MAX_SESSIONS]:
        who = f"<@{session.presenter.member_id}>" if session.presenter else "presenter open"
        when = f"{discord_timestamp(session.starts_at, 'F')} ({discord_timestamp(session.starts_at, 'R')})"
        lines.append(f"• {when} — {_link(session.paper.display_title, session.paper.url)} · {who}")
    if len(data.sessions) > MAX_SESSIONS:
        lines.append(f"…and {_count(len(data.sessions) - MAX_SESSIONS, 'more session')}: `/session next`")
    return _Section("Reading sessions", _lines(lines))


def render_digest(
    data: DigestData, picked: Picked, *, quiet_weeks: bool = True, explain: bool = False
) -> list[list[discord.Embed]]:
    """The digest's messages, in order: each at most 10 embeds and 6,000 characters, every embed within limits.

    A week without notes and without matching feed papers gives a short, friendly digest, or none at all
    (``[]``) when ``quiet_weeks`` is False. ``explain`` (for ``/digest preview``) adds why each paper is listed.
    """
    quiet = not data.notes and not picked.chosen
    if quiet and not quiet_weeks and not data.sessions:
        return []
    embeds = [_header(data, picked, quiet)]
    if (sessions := _sessions_section(data)) is not None:
        embeds.extend(sessions.embeds())
    sections = [
        _notes_section(data),
        _questions_section(data),
        _queue_section(data),
        _papers_section(picked, explain=explain),
    ]
    if quiet:
        sections = [_queue_section(data)] + ([_papers_section(picked, explain=explain)] if picked.rest else [])
    sections.append(_troubles_section(data))
    for section in sections:
        if section is not None:
            embeds.extend(section.embeds())
    return pack(embeds)
