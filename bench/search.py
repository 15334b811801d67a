"""/search at scale: 100,000 notes and 200,000 papers in one SQLite file.

Builds the database once (cached under the system temp folder; ``--rebuild`` makes it again), then runs a
fixed set of 200 queries through the service-layer search function and, side by side, a bare FTS5 ``MATCH``
on the same rows (the same match expression, ranked, top results from both indexes). Prints p50/p95/p99 for
both and their ratio. Budget (PRODUCT.md): service p95 ≤ 20 ms and ≤ 2× the bare query.

    .venv/bin/python -m bench.search [--rebuild]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.loop import LoopWatch
from storage.db import create_schema, make_engine, make_sessions
from storage.search import SearchQueryError, SearchService, fts_query

NOTES = 100_000
PAPERS = 200_000
NOTED_PAPERS = 60_000  # the notes are about this many distinct papers
KNOWN_PAPERS = PAPERS  # one group per instance: it knows every stored paper (noted, or brought by its feeds)
GUILD = 1
MEMBERS = 40
QUERIES = 200
SEED = 20240301
DB = Path(tempfile.gettempdir()) / "paperclub-bench" / f"search-{NOTES}-{PAPERS}-v2.db"

TERMS = """model models learning language large neural network training data transformer attention layer
diffusion merging adapter lora fine-tuning pretraining benchmark evaluation reasoning retrieval agent policy
reward reinforcement graph contrastive embedding token tokens prompt prompting instruction alignment safety
robustness adversarial generalization scaling law compute inference quantization distillation pruning sparse
mixture experts routing memory context window long sequence state space recurrent convolution vision image
video speech audio multimodal caption segmentation detection classification regression bayesian variational
posterior gradient descent optimizer adam momentum loss objective likelihood entropy divergence kernel
theorem proof bound convergence regret bandit sample complexity estimator causal intervention counterfactual
fairness privacy federated differential protein molecule chemistry physics quantum simulation climate
forecasting time series anomaly tabular recommendation ranking search query index code program synthesis
math arithmetic chain thought verifier self-consistency hallucination factuality calibration uncertainty""".split()
FILLER = """we the a of and to in is that for on with as by this our are an be it from at which results show
method approach propose proposed paper new using use based than more can also these both each between into
however while where when only such has have been not but its their this further across without""".split()
SYLLABLES = ["ka", "lo", "mi", "ne", "tor", "vex", "quin", "dra", "phe", "zul", "bri", "sto", "gan", "rho", "tek"]


def vocabulary(rng: random.Random) -> tuple[list[str], list[float]]:
    """Real research words, filler, and a long tail of rare made-up words, with Zipf-like weights."""
    rare = {"".join(rng.choices(SYLLABLES, k=rng.randint(2, 4))) for _ in range(30_000)}
    words = FILLER + TERMS + sorted(rare)
    weights = [1.0 / (rank + 8) for rank in range(len(words))]
    cumulative, total = [], 0.0
    for w in weights:
        total += w
        cumulative.append(total)
    return words, cumulative


def text_of(rng: random.Random, words: list[str], cum: list[float], chars: int) -> str:
    """Prose of about ``chars`` characters, with paragraphs and some LaTeX."""
    picked = rng.choices(words, cum_weights=cum, k=max(3, chars // 7))
    for i in range(0, len(picked), 60):
        picked[i] = "\n\n" + picked[i]
    if rng.random() < 0.3:
        picked.append("$\\mathcal{L} = -\\log p(x)$")
    return " ".join(picked)[:chars]


def note_length(rng: random.Random) -> int:
    """1,500 characters on average, a long tail up to 12,000."""
    return max(40, min(12_000, int(rng.lognormvariate(6.95, 0.75))))


def build(path: Path) -> None:
    """Create and fill the benchmark database."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)

    async def schema() -> None:
        engine = make_engine(f"sqlite:///{path}")
        await create_schema(engine)
        await engine.dispose()

    asyncio.run(schema())
    rng = random.Random(SEED)
    words, cum = vocabulary(rng)
    started = time.perf_counter()
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    now = "2025-06-01 12:00:00"
    papers = (
        (
            i + 1,
            f"arxiv:{2400 + i // 100_000:04d}.{i % 100_000:05d}",
            " ".join(rng.choices(words, cum_weights=cum, k=rng.randint(6, 14))).title(),
            json.dumps(
                [
                    f"{rng.choice(SYLLABLES).title()} {rng.choice(SYLLABLES).title()}{rng.choice(SYLLABLES)}"
                    for _ in range(rng.randint(2, 8))
                ]
            ),
            text_of(rng, words, cum, rng.randint(700, 1900)),
            "[]",
            "ok",
            0,
            now,
        )
        for i in range(PAPERS)
    )
    db.executemany(
        "INSERT INTO papers (id, key, title, authors, abstract, categories, metadata_status, metadata_attempts,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        papers,
    )
    db.executemany(
        "INSERT INTO guild_papers (guild_id, paper_id, source, first_seen) VALUES (?, ?, ?, ?)",
        ((GUILD, pid, "note" if pid <= NOTED_PAPERS else "feed", now) for pid in range(1, KNOWN_PAPERS + 1)),
    )
    print(f"papers: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    seen: set[tuple[int, int]] = set()
    rows = []
    for i in range(NOTES):
        while True:
            pair = (rng.randint(1, NOTED_PAPERS), rng.randrange(MEMBERS))
            if pair not in seen:
                seen.add(pair)
                break
        rows.append(
            (
                i + 1,
                GUILD,
                pair[0],
                pair[1] + 1,
                f"member{pair[1]}",
                text_of(rng, words, cum, note_length(rng)),
                1,
                f"2025-{1 + i * 12 // NOTES:02d}-15 10:00:00",
                now,
            )
        )
    db.executemany(
        "INSERT INTO notes (id, guild_id, paper_id, author_id, author_name, body, revision, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    db.commit()
    db.execute("INSERT INTO notes_fts(notes_fts) VALUES ('optimize')")
    db.execute("INSERT INTO papers_fts(papers_fts) VALUES ('optimize')")
    db.commit()
    db.close()
    print(
        f"built {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.0f} s", file=sys.stderr
    )


def queries(rng: random.Random) -> list[str]:
    """200 queries as members type them: common and rare words, pairs, phrases, prefixes, odd characters."""
    words, _ = vocabulary(random.Random(SEED))
    rare = words[len(FILLER) + len(TERMS) :]
    made: list[str] = []
    shapes = [
        lambda: rng.choice(TERMS),
        lambda: f"{rng.choice(TERMS)} {rng.choice(TERMS)}",
        lambda: f"{rng.choice(TERMS)} {rng.choice(rare)}",
        lambda: rng.choice(rare),
        lambda: f'"{rng.choice(TERMS)} {rng.choice(TERMS)}"',
        lambda: rng.choice(TERMS)[:4] + "*",
        lambda: f"{rng.choice(TERMS)}-{rng.choice(TERMS)}",
        lambda: f"{rng.choice(TERMS)} {rng.choice(TERMS)} {rng.choice(TERMS)}",
        lambda: f"{rng.choice(TERMS)}: ({rng.choice(rare)} NEAR",
    ]
    while len(made) < QUERIES:
        made.append(rng.choice(shapes)())
    return made


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    """p50, p95, p99 in milliseconds."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[94] * 1000, cuts[98] * 1000


def bare(db: sqlite3.Connection, match: str, limit: int) -> int:
    """The same match on the same rows, ranked: what FTS5 alone costs."""
    found = db.execute("SELECT rowid FROM notes_fts WHERE notes_fts MATCH ? ORDER BY rank LIMIT ?", (match, limit))
    found2 = db.execute("SELECT rowid FROM papers_fts WHERE papers_fts MATCH ? ORDER BY rank LIMIT ?", (match, limit))
    return len(found.fetchall()) + len(found2.fetchall())


async def run(path: Path) -> None:
    """Time every query both ways and print the figures."""
    engine = make_engine(f"sqlite:///{path}")
    search = SearchService(make_sessions(engine))
    db = sqlite3.connect(path)
    qs = queries(random.Random(SEED + 1))
    for q in qs[:20]:  # warm the page cache for both, equally
        try:
            await search.search(guild_id=GUILD, query=q)
            bare(db, fts_query(q), 6)
        except SearchQueryError:
            pass
    gc.freeze()
    service_times, bare_times, hits = [], [], 0
    for q in qs:
        try:
            match = fts_query(q)
        except SearchQueryError:
            continue
        start = time.perf_counter()
        page = await search.search(guild_id=GUILD, query=q)
        service_times.append(time.perf_counter() - start)
        hits += len(page.hits)
        start = time.perf_counter()
        bare(db, match, 6)
        bare_times.append(time.perf_counter() - start)
    with LoopWatch() as watch:  # a second pass with only the service: the bare queries block the loop by design
        for q in qs:
            try:
                await search.search(guild_id=GUILD, query=q)
            except SearchQueryError:
                pass
    await engine.dispose()
    s50, s95, s99 = percentiles(service_times)
    b50, b95, b99 = percentiles(bare_times)
    print(f"{len(service_times)} queries over {NOTES:,} notes and {PAPERS:,} papers ({hits} results shown)")
    print(f"service /search: p50 {s50:.1f} ms  p95 {s95:.1f} ms  p99 {s99:.1f} ms   (budget: p95 <= 20 ms)")
    print(f"bare FTS5 MATCH: p50 {b50:.1f} ms  p95 {b95:.1f} ms  p99 {b99:.1f} ms")
    print(f"ratio service/bare: p50 {s50 / b50:.2f}x  p95 {s95 / b95:.2f}x  p99 {s99 / b99:.2f}x   (budget: <= 2x)")
    print(f"event loop while searching: {watch.report()}")


def main() -> None:
    """Build if needed, then measure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rebuild", action="store_true", help="build the database again")
    args = parser.parse_args()
    if args.rebuild or not DB.exists():
        build(DB)
    asyncio.run(run(DB))


if __name__ == "__main__":
    main()
