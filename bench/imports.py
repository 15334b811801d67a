"""Importing a group's notes: the dry run of a 650 KB channel of 150 daily posts, and applying 1,000 notes.

A channel copy is generated the way a busy daily-paper channel reads: varied series-and-date headers, a title,
about 4,300 characters of markdown prose with LaTeX and a table, and an arXiv link near the end (half the posts;
the rest name their paper by title only). The dry run is what `/import` does before it answers: decode the file,
recognise its shape, parse it (in a worker thread). Applying writes 1,000 notes into a real SQLite file (WAL)
a chunk per transaction, with their papers, tags and title lookups. The event loop is watched throughout.

Then the 500 titles without an id are matched to arXiv as the bot's background job does, against the loopback
arXiv stand-in of the tests (a fifth of the titles are papers it knows), counting the requests.

Budgets (PRODUCT.md): dry run of a 650 KB document ≤ 1 s, applying 1,000 notes ≤ 5 s, no stall over 50 ms;
title resolution ≤ 0.1 arXiv requests per title.

    .venv/bin/python -m bench.imports [--database postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from bench.loop import LoopWatch
from schedules.arxiv import ArxivClient
from schedules.ratelimit import ArxivLimiter
from schedules.titles import TitleResolver
from storage.db import Sessions, create_schema, make_engine, make_sessions
from storage.imports.importer import Author, ImportService, read_document
from storage.titles import TitleService
from tests.arxiv_standin import Catalog, FakeArxiv
from tests.loopback import serving

HEADERS = (
    "**Mike's Daily Paper, {d:%d.%m.%Y}:**",
    "⚡️🚀 Mike's Daily Paper - {d:%d.%m.%y}: ⚡️🚀",
    "Mike's DailyPaper – {d:%d.%m.%y}",
    "Mike’s Daily Paper: {d:%d.%m.%y}",
    "Mike's Daily Article: {d:%d.%m.%y}",
)
WORDS = (
    "attention sparse expert router token budget context window retrieval reward policy gradient distillation "
    "scaling law curriculum benchmark ablation latent diffusion transformer decoder encoder calibration variance "
    "estimator kernel approximation quantisation pruning alignment preference verifier rollout horizon"
).split()
LATEX = (
    r"$\mathcal{L}_{\text{KL}}$",
    r"$O(n \log n)$",
    r"$\alpha = 0.1$",
    r"$$\sum_{i=1}^{n} w_i x_i$$",
    r"$\nabla_\theta$",
)


def sentence(rng: random.Random) -> str:
    words = rng.sample(WORDS, rng.randint(8, 16))
    words[0] = words[0].capitalize()
    if rng.random() < 0.3:
        words.insert(rng.randrange(len(words)), rng.choice(LATEX))
    return " ".join(words) + "."


def post(rng: random.Random, n: int, day: date, *, size: int = 4300) -> str:
    """One daily post: header, title, prose with LaTeX and a table, a link (or none) near the end."""
    title = " ".join(w.capitalize() for w in rng.sample(WORDS, 6)) + f" {n}"
    lines = [HEADERS[n % len(HEADERS)].format(d=day), title, ""]
    body = 0
    while body < size:
        paragraph = " ".join(sentence(rng) for _ in range(rng.randint(3, 6)))
        lines += [paragraph, ""]
        body += len(paragraph)
        if rng.random() < 0.1:
            lines += ["| model | score |", "|---|---|", f"| ours | {rng.random():.3f} |", ""]
    if n % 2 == 0:
        lines.append(f"<https://arxiv.org/abs/24{1 + n % 12:02d}.{10000 + n:05d}>")
    return "\n".join(lines)


def channel(posts: int, *, size: int = 4300, seed: int = 7) -> str:
    """A channel copy of ``posts`` daily posts, a day apart."""
    rng = random.Random(seed)
    start = date(2024, 1, 1)
    return "\n\n".join(post(rng, n, start + timedelta(days=n), size=size) for n in range(posts))


async def dry_run(document: bytes, runs: int) -> tuple[list[float], str, int]:
    """Median-worthy timings of the dry run, the loop watch's report during the last runs, and notes found."""
    service = ImportService(make_sessions(make_engine("sqlite+aiosqlite://")))
    times, notes = [], 0
    with LoopWatch() as watch:
        for _ in range(runs):
            started = time.perf_counter()
            preview = await service.preview("channel.md", document)
            times.append(time.perf_counter() - started)
            notes = len(preview.plan.notes)
    return times, watch.report(), notes


async def apply(document: bytes, url: str | None) -> None:
    """Apply a document's notes to a fresh database, then resolve its titles; print the figures of both."""
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(url or f"sqlite:///{Path(folder) / 'bench.db'}")
        await create_schema(engine)
        try:
            sessions = make_sessions(engine)
            preview = read_document("channel.md", document)
            gc.collect()
            with LoopWatch() as watch:
                started = time.perf_counter()
                outcome = await ImportService(sessions).apply(
                    preview, guild_id=500_000_000_000_000_001, member_id=1, author=Author(id=7, name="mike")
                )
                elapsed = time.perf_counter() - started
            print(f"  {outcome.counts()}")
            print(
                f"  {elapsed * 1000:.0f} ms; event loop: {watch.report()}   (budget: ≤ 5,000 ms, no stall over 50 ms)"
            )
            titles = [note.paper.title or "" for note in preview.plan.notes if note.paper.key is None]
            await resolve(sessions, titles)
        finally:
            await engine.dispose()


async def resolve(sessions: Sessions, titles: list[str]) -> None:
    """Match the queued titles to the loopback arXiv, as the background job does; count the requests."""
    fake = FakeArxiv(Catalog())
    fake.search_reply = fake.title_search
    for n, title in enumerate(titles[::5]):
        fake.add_paper(f"2501.{20000 + n:05d}", title, authors=["Mike Erlihson"], published="2024-03-01T00:00:00Z")
    async with serving(fake.handle, "/api/query") as server:
        fake.server = server
        client = ArxivClient(api_base=fake.url, limiter=ArxivLimiter(min_interval=0.0))
        resolver = TitleResolver(TitleService(sessions), client, max_batches=10_000)
        try:
            with LoopWatch() as watch:
                started = time.perf_counter()
                report = await resolver.run()
                elapsed = time.perf_counter() - started
        finally:
            await client.close()
    requests = len(fake.title_searches())
    print(f"title resolution: {len(titles)} titles, {requests} arXiv requests = {requests / len(titles):.3f} per title")
    print(f"  {report.resolved} found, {report.unresolved} kept as title-only; {elapsed * 1000:.0f} ms without arXiv's")
    print(f"  3 s pacing; event loop: {watch.report()}   (budget: ≤ 0.1 requests per title)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="an empty database to apply to, instead of a fresh SQLite file")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    small = channel(150).encode()
    print(f"dry run: {len(small) / 1000:.0f} KB, 150 posts")
    times, stalls, notes = await dry_run(small, args.runs)
    print(f"  {notes} notes found; median {statistics.median(times) * 1000:.0f} ms, best {min(times) * 1000:.0f} ms")
    print(f"  event loop: {stalls}   (budget: ≤ 1,000 ms, no stall over 50 ms)")

    big = channel(1000, size=1200).encode()
    print(f"apply: {len(big) / 1000:.0f} KB, 1,000 posts (half with an arXiv link, half by title only)")
    await apply(big, args.database)


if __name__ == "__main__":
    asyncio.run(main())
