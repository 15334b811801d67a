"""Weekly digest build for a busy group: 500 notes and 5,000 feed papers in the week.

A week is made in memory: ~30 members writing 500 notes (tags, first lines, Questions sections) on papers of
realistic generated arXiv listings, and 5,000 feed papers from five categories (titles and abstracts of
1,000-1,900 characters with LaTeX, accents and all), five subscriptions with keywords and 30 group tags. The
digest is then built: the feed papers that match the group's interests are picked (storage.digests.picks) and
the messages rendered (bot.digest_render). Prints the median of several runs of each part and of the whole.
Budget (PRODUCT.md): the weekly digest build, 500 notes and 5,000 feed items, ≤ 100 ms; of that, picking the
papers ≤ 40 ms.

    .venv/bin/python -m bench.digest

The database part (reading the week with storage.digests.content.DigestContent.collect) is not timed yet: extend
:func:`build` with it.
"""

from __future__ import annotations

import asyncio
import gc
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import discord
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.loop import LoopWatch
from bot.digest_post import build_digest
from bot.digest_render import render_digest
from storage.db import create_schema, make_engine, make_sessions
from storage.digests import picks as digest_picks
from storage.digests.content import (
    DigestContent,
    DigestData,
    DigestNote,
    DigestPaper,
    DigestStats,
    FeedFilter,
    FeedTrouble,
)
from storage.digests.picks import Picked, choose, pick_papers
from storage.models import DigestPick, Feed, FeedEntry, Note, NoteTag, Paper, Subscription, Tag
from tests.feed_listings import GeneratedPaper, listing_papers

NOTES = 500
MEMBERS = 30
PAPERS = 5_000
RUNS = 15
BUDGET_MS = 100.0
STALLS: list[float] = []
PICK_BUDGET_MS = 40.0

ZONE = ZoneInfo("Europe/Berlin")
START = datetime(2025, 4, 21, 9, tzinfo=ZONE)
END = datetime(2025, 4, 28, 9, tzinfo=ZONE)
CATEGORIES = ("cs.LG", "cs.CL", "cs.AI", "stat.ML", "quant-ph")
FILTERS = (
    ("cs.LG", '"model merging", task arithmetic, weight averaging', "survey"),
    ("cs.CL", "in-context learning, chain-of-thought, prompting", None),
    ("cs.AI", "speculative decoding, mixture of experts", "quantum"),
    ("stat.ML", "optimal transport, variational inference", None),
    ("quant-ph", "error correction, surface code*, logical qubit*", None),
)
TAGS = (
    "llms", "llms/prompting", "llms/reasoning", "model-merging", "rl/rlhf", "interpretability", "sparse-autoencoders",
    "graph-neural-networks", "optimal-transport", "causal-discovery", "program-synthesis", "theory", "misc", "to-read",
    "diffusion/guidance", "vision/segmentation", "agents", "alignment", "safety", "robotics", "speech", "tokenization",
    "scaling-laws", "distillation", "pruning", "quantization", "benchmarks", "datasets", "ssm/mamba", "moe",
)  # fmt: skip
QUESTIONS = (
    "Does this still hold when the models were fine-tuned from different checkpoints?",
    "Why does the bound not depend on the dimension — what assumption hides it?",
    "How sensitive is the method to the step size they picked?",
    "Would the ablation look the same on a non-English benchmark?",
    "Is the $\\mathcal{O}(1/\\sqrt{n})$ rate tight here?",
)


def _paper(generated: GeneratedPaper, index: int, start: datetime) -> DigestPaper:
    return DigestPaper(
        paper_id=index + 1,
        key=generated.key,
        title=generated.title,
        url=f"https://arxiv.org/abs/{generated.arxiv_id}",
        abstract=generated.abstract,
        categories=generated.categories,
        first_seen=start + timedelta(minutes=index),
    )


def feed_papers(n: int = PAPERS, start: datetime = START) -> list[DigestPaper]:
    """The week's feed papers, first seen from ``start`` on: five generated category listings, ids unique across
    them."""
    per = n // len(CATEGORIES)
    generated: list[GeneratedPaper] = []
    for i, category in enumerate(CATEGORIES):
        count = n - per * (len(CATEGORIES) - 1) if i == 0 else per
        generated += listing_papers(count, category=category, start_id=i * 20_000, seed=i)
    return [_paper(paper, index, start) for index, paper in enumerate(generated)]


def week_notes(
    rng: random.Random, papers: list[DigestPaper], n: int = NOTES, start: datetime = START
) -> list[DigestNote]:
    """``n`` notes by ``MEMBERS`` members from ``start`` on, oldest first, some with open questions."""
    firsts = "Ada Wei Priya Lukas Sofia Kenji Amara Mateo Yuki Olga Jonas Chloé Rahul Ingrid Tomás".split()
    lasts = """Chen Kumar Schmidt Müller Sørensen Nakamura García Okafor Rossi Dubois Tanaka Muñoz Nguyen Zhang Haddad
        Ivanova Andersson Kowalski Novak Silva Costa Hughes Walsh Berg Moreau Ito Park Khan Ali Lopez""".split()
    names = [f"{first} {last}" for first, last in zip(firsts * 2, lasts, strict=True)]
    notes: list[DigestNote] = []
    for i in range(n):
        paper = rng.choice(papers)
        member = min(int(rng.expovariate(1 / 8)), MEMBERS - 1)  # a few members write most notes
        sentence = paper.abstract.split(". ")[0]
        asked = tuple(rng.sample(QUESTIONS, rng.choice((0, 0, 1, 1, 2, 3))))
        notes.append(
            DigestNote(
                note_id=i + 1,
                author_id=10_000 + member,
                author_name=names[member],
                paper_title=paper.title,
                paper_url=paper.url,
                tags=tuple(rng.sample(TAGS, rng.choice((0, 1, 2, 3)))),
                first_line=f"TL;DR: {sentence}",
                questions=asked,
                jump_url=f"https://discord.com/channels/1/2/{3_000_000 + i}",
                created_at=start + timedelta(minutes=20 * i),
            )
        )
    return notes


def make_week(seed: int = 0, start: datetime = START) -> DigestData:
    """A busy week for one group, all in memory: the week from ``start``."""
    rng = random.Random(seed)
    papers = feed_papers(start=start)
    notes = week_notes(rng, papers, start=start)
    filters = tuple(
        FeedFilter(i + 1, source, keywords, exclude) for i, (source, keywords, exclude) in enumerate(FILTERS)
    )
    troubles = (
        FeedTrouble(9, "https://blog.example.org/feed.xml", 42, False, None, "HTTP 503 Service Unavailable", 7),
        FeedTrouble(10, "math.OC", 43, True, "The bot can no longer post in this channel.", None, 0),
    )
    members = {note.author_id for note in notes}
    return DigestData(
        guild_id=1,
        start=start,
        end=start + (END - START),
        timezone="Europe/Berlin",
        notes=tuple(notes),
        papers=tuple(papers),
        filters=filters,
        tags=TAGS,
        troubles=troubles,
        stats=DigestStats(notes=len(notes), active_members=len(members), longest_streak=23, streak_holder="Ada Chen"),
    )


def pick(data: DigestData) -> Picked:
    """The selection alone, as a fresh process does it: the group's interests compiled anew (about 4 ms)."""
    digest_picks._interests.cache_clear()  # type: ignore[attr-defined]  # bytes_bounded's declared type hides it
    digest_picks._term.cache_clear()  # type: ignore[attr-defined]
    return pick_papers(data.papers, data.filters, data.tags)


def build(data: DigestData, *, explain: bool = False) -> list[list[discord.Embed]]:
    """The whole digest build the bot does for a week: selection, then rendering.

    The lead extends this with the database read (DigestContent.collect) when timing the complete build.
    """
    return render_digest(data, pick(data), explain=explain)


def median_ms(run: Callable[[], Any], runs: int = RUNS) -> tuple[float, Any]:
    """The median wall time of ``runs`` calls in milliseconds (collector off while timing), and the last result."""
    times: list[float] = []
    result: Any = None
    for _ in range(runs):
        gc.collect()
        gc.disable()
        try:
            started = time.perf_counter()
            result = run()
            times.append((time.perf_counter() - started) * 1000)
        finally:
            gc.enable()
    return statistics.median(times), result


async def stored_week(data: DigestData, folder: Path) -> tuple[DigestContent, Any]:
    """The same week in a real SQLite file, as the bot would have stored it (picks made as ingest makes them)."""
    engine = make_engine(f"sqlite:///{folder / 'digest.db'}")
    await create_schema(engine)
    await store_week(engine, data)
    return DigestContent(make_sessions(engine)), engine


async def store_week(engine: AsyncEngine, data: DigestData) -> None:
    """Write the week into the database behind ``engine`` with its own row ids (papers, feeds, subscriptions,
    tags and notes numbered from 1: a database without them), as the bot would have stored it."""
    papers = data.papers
    note_papers = {note.paper_url: note for note in data.notes}
    kept = pick_papers(papers, data.filters, ())  # what the subscriptions' keywords kept when each was listed
    async with engine.begin() as conn:
        await conn.execute(
            insert(Paper.__table__),  # type: ignore[attr-defined]
            [
                {
                    "id": p.paper_id,
                    "key": p.key,
                    "title": p.title,
                    "abstract": p.abstract,
                    "categories": list(p.categories),
                    "authors": [],
                    "metadata_status": "ok",
                    "created_at": p.first_seen,
                }
                for p in papers
            ],
        )
        await conn.execute(
            insert(Feed.__table__),  # type: ignore[attr-defined]
            [
                {"id": i + 1, "url": f"https://rss.arxiv.org/rss/{c}", "kind": "arxiv-listing"}
                for i, c in enumerate(CATEGORIES)
            ],
        )
        await conn.execute(
            insert(Subscription.__table__),  # type: ignore[attr-defined]
            [
                {
                    "id": f.subscription_id,
                    "guild_id": data.guild_id,
                    "channel_id": 100 + f.subscription_id,
                    "feed_id": 1 + (f.subscription_id - 1) % len(CATEGORIES),
                    "source": f.source,
                    "keywords": f.keywords,
                    "exclude": f.exclude,
                    "created_by": 1,
                }
                for f in data.filters
            ],
        )
        await conn.execute(
            insert(FeedEntry.__table__),  # type: ignore[attr-defined]
            [
                {"feed_id": 1 + i * len(CATEGORIES) // len(papers), "paper_id": p.paper_id, "first_seen": p.first_seen}
                for i, p in enumerate(papers)
            ],
        )
        await conn.execute(
            insert(DigestPick.__table__),  # type: ignore[attr-defined]
            [
                {"guild_id": data.guild_id, "paper_id": p.paper_id, "reason": reason, "picked_at": p.first_seen}
                for p, reason in kept.chosen
            ],
        )
        await conn.execute(
            insert(Tag.__table__),  # type: ignore[attr-defined]
            [{"id": i + 1, "guild_id": data.guild_id, "name": tag} for i, tag in enumerate(data.tags)],
        )
        tag_ids = {tag: i + 1 for i, tag in enumerate(data.tags)}
        by_url = {p.url: p.paper_id for p in papers}
        notes = [n for n in data.notes if n.paper_url in note_papers and note_papers[n.paper_url] is n]
        await conn.execute(
            insert(Note.__table__),  # type: ignore[attr-defined]
            [
                {
                    "id": n.note_id,
                    "guild_id": data.guild_id,
                    "paper_id": by_url[n.paper_url],
                    "author_id": n.author_id,
                    "author_name": n.author_name,
                    "body": n.first_line + "\n\nQuestions\n" + "\n".join(f"- {q}" for q in n.questions),
                    "channel_id": 2,
                    "message_id": 3_000_000 + n.note_id,
                    "created_at": n.created_at,
                    "updated_at": n.created_at,
                }
                for n in notes
            ],
        )
        tagged = [
            {"note_id": n.note_id, "tag_id": tag_ids[t], "guild_id": data.guild_id} for n in notes for t in n.tags
        ]
        if tagged:
            await conn.execute(insert(NoteTag.__table__), tagged)  # type: ignore[attr-defined]


async def timed_builds(data: DigestData, runs: int = RUNS) -> tuple[list[float], list[float], DigestData, Any]:
    """The bot's whole build, read from the database then chosen and rendered: wall times of each run (ms)."""
    with tempfile.TemporaryDirectory() as folder:
        digests, engine = await stored_week(data, Path(folder))
        totals, reads = [], []
        stored: DigestData = data
        messages: Any = None
        try:
            for _ in range(runs):
                gc.collect()
                started = time.perf_counter()
                stored = await digests.collect(
                    guild_id=data.guild_id, start=data.start, end=data.end, timezone=data.timezone
                )
                read = time.perf_counter()
                messages = build_digest(stored, quiet_weeks=True)
                totals.append((time.perf_counter() - started) * 1000)
                reads.append((read - started) * 1000)
            # As the bot does it: the read on the event loop (in steps), the build in a worker thread.
            gc.collect()
            gc.freeze()
            with LoopWatch() as watch:
                for _ in range(3):
                    week = await digests.collect(
                        guild_id=data.guild_id, start=data.start, end=data.end, timezone=data.timezone
                    )
                    await asyncio.to_thread(build_digest, week, quiet_weeks=True)
            gc.unfreeze()
            STALLS.append(max(watch.lags, default=0.0) * 1000)
        finally:
            await engine.dispose()
    return totals, reads, stored, messages


def main() -> None:
    data = make_week()
    chars = sum(len(p.title) + len(p.abstract) for p in data.papers)
    print(
        f"week: {len(data.notes)} notes by {data.stats.active_members} members, "
        f"{sum(len(n.questions) for n in data.notes)} questions; {len(data.papers):,} feed papers "
        f"({chars / len(data.papers):,.0f} characters each on average); "
        f"{len(data.filters)} subscriptions with keywords, {len(data.tags)} tags"
    )
    totals, reads, stored, messages = asyncio.run(timed_builds(data))
    picked = choose(stored)
    choose_ms, _ = median_ms(lambda: choose(stored))
    render_ms, _ = median_ms(lambda: render_digest(stored, picked))
    embeds = sum(len(message) for message in messages)
    print(
        f"read back: {len(stored.notes)} notes, {len(stored.papers):,} feed papers, {len(stored.picked):,} kept by "
        f"keywords at ingest; chosen {len(picked.chosen):,} ({picked.rest:,} not); {len(messages)} messages, "
        f"{embeds} embeds"
    )
    print(f"database read (DigestContent.collect): {statistics.median(reads):7.1f} ms")
    print(f"choosing the papers (tags on titles):  {choose_ms:7.1f} ms")
    print(f"rendering:                             {render_ms:7.1f} ms")
    total = statistics.median(totals)
    verdict = "within" if total <= BUDGET_MS else "OVER"
    print(f"whole build, median of {RUNS}:            {total:7.1f} ms  (budget {BUDGET_MS:.0f} ms: {verdict})")
    print(
        f"event loop's longest stall while building, as the bot does: {STALLS[-1]:.1f} ms   (budget: none over 50 ms)"
    )
    pick_ms, _ = median_ms(lambda: pick(data), runs=5)
    print(f"for comparison, matching every abstract again at digest time: {pick_ms:.0f} ms for the selection alone")


if __name__ == "__main__":
    main()
