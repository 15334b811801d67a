"""How an import looks in Discord: the dry run's preview, its report file, and the one summary an import posts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import discord

from bot.render import COLOUR, EMBED_TITLE, FIELD_VALUE, clip
from storage.identity import PaperKey
from storage.imports.plan import ImportPlan, Shape

SHOWN_LEFTOVERS = 5
SHOWN_TAGS = 12
REPORT_NAME = "import-report.txt"


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 note``, ``2 notes``."""
    return f"{count:,} {word if count == 1 else many or word + 's'}"


def day(when: date) -> str:
    """``21 Sep 2025``."""
    return f"{when.day} {when:%b %Y}"


def safe(text: str, limit: int = 200) -> str:
    """A line of the document shown literally (no markdown, no mention syntax), clipped."""
    flat = " ".join(text.split())
    return discord.utils.escape_mentions(discord.utils.escape_markdown(clip(flat, limit)))


@dataclass(frozen=True, slots=True)
class PlanCounts:
    """What a plan holds, counted the way the dry run shows it."""

    notes: int
    undated: int
    papers: int
    with_id: int
    title_only: int
    tags: int
    merged: int
    unfinished: int

    @classmethod
    def of(cls, plan: ImportPlan) -> PlanCounts:
        """Count a plan."""
        papers = plan.all_papers
        with_id = sum(1 for paper in papers if paper.key and PaperKey(paper.key).scheme != "title")
        return cls(
            notes=len(plan.notes),
            undated=sum(1 for note in plan.notes if note.written_on is None),
            papers=len(papers),
            with_id=with_id,
            title_only=len(papers) - with_id,
            tags=len(plan.tags),
            merged=plan.duplicates_merged,
            unfinished=plan.wip,
        )


def preview_embed(plan: ImportPlan, *, file_name: str, author: str) -> discord.Embed:
    """The dry run: what the document would bring, what to check, what was not understood."""
    counts = PlanCounts.of(plan)
    label = Shape.LABELS.get(plan.shape, plan.shape)
    embed = discord.Embed(title=clip(f"Import preview · {label} · {file_name}", EMBED_TITLE), colour=COLOUR)
    lines = []
    if counts.notes:
        dated = ""
        if (span := plan.date_range) is not None:
            dated = f", dated {day(span[0])} – {day(span[1])}"
        if counts.undated:
            dated += f", {counts.undated:,} undated"
        lines.append(f"**{plural(counts.notes, 'note')}** by {safe(author, 80)}{dated}")
    papers = f"**{plural(counts.papers, 'paper')}**: {counts.with_id:,} with an arXiv id or link"
    if counts.title_only:
        papers += f", {counts.title_only:,} by title only (looked up on arXiv after the import)"
    lines.append(papers)
    if plan.shape == Shape.PAPER_LIST:
        lines.append("They become papers the group knows, without notes: `/paper`, `/search` and `/similar` find them.")
    if counts.tags:
        shown = ", ".join(f"`{tag}`" for tag in plan.tags[:SHOWN_TAGS])
        more = f" and {counts.tags - SHOWN_TAGS:,} more" if counts.tags > SHOWN_TAGS else ""
        lines.append(f"**{plural(counts.tags, 'tag')}**: {shown}{more}")
    extras = []
    if counts.merged:
        extras.append(f"{plural(counts.merged, 'duplicate')} merged")
    if counts.unfinished:
        extras.append(f"{plural(counts.unfinished, 'WIP stub or partial note', 'WIP stubs or partial notes')}")
    if extras:
        lines.append(" · ".join(extras))
    embed.description = "\n".join(lines)
    if plan.flagged:
        rows = [
            f"line {f.line}: {safe(f.text, 40)} read as {day(f.read_as)}; its neighbours suggest {day(f.proposed)}"
            for f in plan.flagged[:SHOWN_LEFTOVERS]
        ]
        if len(plan.flagged) > SHOWN_LEFTOVERS:
            rows.append(f"…and {len(plan.flagged) - SHOWN_LEFTOVERS:,} more in the attached report")
        embed.add_field(name=f"Dates to check ({len(plan.flagged):,})", value=clip("\n".join(rows), FIELD_VALUE))
    if plan.leftovers:
        rows = [f"line {lo.line}: {safe(lo.text, 90)}" for lo in plan.leftovers[:SHOWN_LEFTOVERS]]
        rows.append(f"All {len(plan.leftovers):,} are in the attached report.")
        embed.add_field(
            name=f"Not understood ({plural(len(plan.leftovers), 'line')})", value=clip("\n".join(rows), FIELD_VALUE)
        )
    embed.set_footer(text="Nothing has been changed yet. Importing the same file again creates nothing new.")
    return embed


def report_text(plan: ImportPlan, *, file_name: str) -> str | None:
    """Every flagged date and every line not understood, as a text file; None when there are none."""
    if not plan.flagged and not plan.leftovers:
        return None
    out = [f"Import report for {file_name} ({Shape.LABELS.get(plan.shape, plan.shape)})", ""]
    if plan.flagged:
        out.append(f"Dates to check ({len(plan.flagged)}): kept as read unless you correct them in the document")
        out += [
            f"  line {f.line}: {f.text!r} read as {f.read_as.isoformat()}, proposed {f.proposed.isoformat()}: {f.why}"
            for f in plan.flagged
        ]
        out.append("")
    if plan.leftovers:
        out.append(f"Lines not understood ({len(plan.leftovers)})")
        out += [f"  line {lo.line}: {lo.text}" + (f"  [{lo.why}]" if lo.why else "") for lo in plan.leftovers]
    return "\n".join(out) + "\n"


@dataclass(frozen=True, slots=True)
class TitleProgress:
    """How an import's title lookups stand."""

    resolved: int
    unresolved: int
    pending: int


def summary_embed(
    *,
    file_name: str,
    shape: str,
    counts: dict[str, int],
    by_id: int,
    author_id: int | None,
    titles: TitleProgress | None = None,
) -> discord.Embed:
    """The one message an import posts in the channel, edited as its titles are looked up.

    Members are named by mention: in an embed that shows their name and never pings.
    """
    label = Shape.LABELS.get(shape, shape)
    embed = discord.Embed(title=clip(f"Imported {file_name}", EMBED_TITLE), colour=COLOUR)
    created, kept = counts.get("notes_created", 0), counts.get("notes_kept", 0)
    lines = [f"<@{by_id}> imported a {label}."]
    if created or kept or shape != Shape.PAPER_LIST:
        whose = f" by <@{author_id}>" if author_id is not None else " by their original authors"
        line = f"**{plural(created, 'new note')}**{whose}"
        if kept:
            line += f" · {plural(kept, 'note')} already here, left as they were"
        lines.append(line)
    lines.append(f"**{plural(counts.get('papers_known', 0), 'paper')}** new to the group")
    if refused := counts.get("notes_refused", 0):
        lines.append(f"{plural(refused, 'note')} could not be saved (see the importer's reply)")
    if titles is not None and (total := titles.resolved + titles.unresolved + titles.pending):
        done = titles.resolved + titles.unresolved
        state = "done" if not titles.pending else "in progress"
        lines.append(
            f"Titles looked up on arXiv ({state}): {done:,} of {total:,} · {titles.resolved:,} found · "
            f"{titles.unresolved:,} kept as title-only papers"
        )
    embed.description = "\n".join(lines)
    embed.set_footer(text="Imported notes keep their document's dates: /notes lists them; the digest does not.")
    return embed
