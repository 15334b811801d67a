"""/search at scale: 100,000 notes and 200,000 papers, on SQLite and on PostgreSQL.

Builds the SQLite file once (cached under the system temp folder; ``--rebuild`` makes it again) and, for
``--db postgresql``, a PostgreSQL database with the same rows. Then runs a fixed set of 200 queries through the
service's search as a member's first page is asked for, and checks each query's top 10 against the exact
ranking: every one of the group's matches scored the same way and sorted in full (see :class:`Exact`).
Prints p50/p95/p99 of both and the recall@10. Budget (PRODUCT.md): top 10 exact (recall@10 >= 0.99),
p95 <= 50 ms. Each run first applies any migration the database lacks (on PostgreSQL with the rum extension,
0009 builds the RUM indexes: about a minute, once) and says whether PostgreSQL ranked inside them.

    .venv/bin/python -m bench.search [--db sqlite|postgresql|both] [--rebuild]
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
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.loop import LoopWatch
from storage.db import create_schema, make_engine, make_sessions
from storage.search import (
    NOTE_SCORE,
    PAPER_SCORE,
    SearchPage,
    SearchQueryError,
    SearchService,
    fts_query,
    pg_distance,
    pg_query,
    pg_ranks_in_index,
)

NOTES = 100_000
PAPERS = 200_000
NOTED_PAPERS = 60_000  # the notes are about this many distinct papers
KNOWN_PAPERS = PAPERS  # one group per instance: it knows every stored paper (noted, or brought by its feeds)
GUILD = 1
MEMBERS = 40
QUERIES = 200
RECALL_AT = 10
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


PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PG_DATABASE = f"paperclub_bench_search_{NOTES}_{PAPERS}_v2"
PG_URL = f"postgresql://postgres@127.0.0.1:5432/{PG_DATABASE}"
COPIED = {
    "papers": (
        "id",
        "key",
        "title",
        "authors",
        "abstract",
        "categories",
        "metadata_status",
        "metadata_attempts",
        "created_at",
    ),
    "guild_papers": ("guild_id", "paper_id", "source", "first_seen"),
    "notes": ("id", "guild_id", "paper_id", "author_id", "author_name", "body", "revision", "created_at", "updated_at"),
}


async def build_postgres(source: Path) -> None:
    """The same rows as the SQLite file, in a PostgreSQL database of their own (made again from scratch)."""
    import asyncpg

    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}"')
    await admin.execute(f'CREATE DATABASE "{PG_DATABASE}"')
    await admin.close()
    engine = make_engine(PG_URL)
    await create_schema(engine)
    await engine.dispose()
    started = time.perf_counter()
    lite = sqlite3.connect(source)
    pg = await asyncpg.connect(PG_URL)
    try:
        for table, columns in COPIED.items():
            types = {row[1]: row[2] for row in lite.execute(f"PRAGMA table_info({table})")}
            cursor = lite.execute(f"SELECT {', '.join(columns)} FROM {table}")
            while batch := cursor.fetchmany(20_000):
                await pg.copy_records_to_table(
                    table, columns=columns, records=[_pg_row(row, columns, types) for row in batch]
                )
            print(f"{table}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
        for table in ("papers", "notes"):
            await pg.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        await pg.execute("VACUUM ANALYZE")
    finally:
        await pg.close()
        lite.close()
    print(f"built {PG_DATABASE} in {time.perf_counter() - started:.0f} s", file=sys.stderr)


async def postgres_built() -> bool:
    """Whether the PostgreSQL copy exists and holds every note."""
    import asyncpg

    try:
        pg = await asyncpg.connect(PG_URL)
    except asyncpg.InvalidCatalogNameError:
        return False
    try:
        return bool(await pg.fetchval("SELECT count(*) FROM notes") == NOTES)
    finally:
        await pg.close()


def _pg_row(row: tuple[object, ...], columns: tuple[str, ...], types: dict[str, str]) -> tuple[object, ...]:
    """A SQLite row as asyncpg's COPY takes it: times as aware datetimes."""
    out: list[object] = []
    for column, value in zip(columns, row, strict=True):
        if types[column] == "DATETIME" and isinstance(value, str):
            value = datetime.fromisoformat(value).replace(tzinfo=UTC)
        out.append(value)
    return tuple(out)


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


Found = tuple[str, int]  # ("note", note id) or ("paper", paper id)


class Exact:
    """The reference: every one of the group's matches scored, sorted in full, the group's notes before papers.

    The same score the bot ranks by (SQLite: FTS5's bm25 with the bot's column weights; PostgreSQL: RUM's score
    where the database has the RUM indexes, else ts_rank_cd with the bot's weights and normalisation: see
    ``pg_distance``), ties newest first, no filters: what ranking over all matches gives, computed the slow,
    obvious way (every match's score from its row, never from an index's order).
    """

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.postgres = conn.dialect.name == "postgresql"

    async def top(self, match: str, k: int) -> list[Found]:
        """The first ``k`` results a member should see for ``match``."""
        notes = await self._best("note", match, k)
        papers = await self._best("paper", match, k - len(notes)) if len(notes) < k else []
        return notes + papers

    async def _best(self, kind: str, match: str, k: int) -> list[Found]:
        params: dict[str, object] = {"guild": GUILD}
        if self.postgres:
            return [(kind, ident) for ident in await self._pg_best(kind, match, k)]
        params["match"] = match
        if kind == "note":
            sql = f"""SELECT n.id, {NOTE_SCORE} FROM notes_fts CROSS JOIN notes AS n ON n.id = notes_fts.rowid
                WHERE notes_fts MATCH :match AND n.guild_id = :guild"""
        else:
            sql = f"""SELECT papers_fts.rowid, {PAPER_SCORE} FROM papers_fts CROSS JOIN guild_papers AS gp
                ON gp.paper_id = papers_fts.rowid WHERE papers_fts MATCH :match AND gp.guild_id = :guild"""
        rows = (await self.conn.execute(text(sql), params)).all()
        return [(kind, -negative) for _, negative in sorted((float(score), -ident) for ident, score in rows)[:k]]

    async def _pg_best(self, kind: str, match: str, k: int) -> list[int]:
        """Every match scored from its row; for a query with prefixes, the prefix's words joined as RUM's index
        joins them, which costs an unnest of the row, so only for the rows that could still make the top: joining
        only ever makes a row's distance longer (a word said again counts less), so once a row's plain distance is
        past the k-th joined one, no later row can come in."""
        query = await pg_query(self.conn, match)
        if query is None:
            return []
        in_index = await pg_ranks_in_index(self.conn)
        paper = kind == "paper"
        table, source = ("p", "papers") if paper else ("n", "notes")
        group = (
            "EXISTS (SELECT 1 FROM guild_papers AS gp WHERE gp.paper_id = p.id AND gp.guild_id = :guild)"
            if paper
            else "n.guild_id = :guild"
        )
        params: dict[str, object] = {"guild": GUILD, **query.params()}

        async def scored(joined: bool, where: str, **extra: object) -> list[tuple[float, int]]:
            distance = pg_distance(f"{table}.search_vector", in_index=in_index, paper=paper, joined=joined)
            sql = f"SELECT {table}.id, {distance} FROM {source} AS {table} WHERE {where}"
            return [(float(d), -ident) for ident, d in await self.conn.execute(text(sql), {**params, **extra})]

        plain = sorted(await scored(False, f"{group} AND {table}.search_vector @@ CAST(:query AS tsquery)"))
        if not (in_index and query.prefixes):
            return [-negative for _, negative in plain[:k]]
        best: list[tuple[float, int]] = []
        for start in range(0, len(plain), 100):
            batch = plain[start : start + 100]
            if len(best) == k and batch[0][0] > best[-1][0]:
                break
            ids = [-negative for _, negative in batch]
            best = sorted(best + await scored(True, f"{table}.id = ANY(CAST(:ids AS bigint[]))", ids=ids))[:k]
        return [-negative for _, negative in best]


def found(page: SearchPage) -> list[Found]:
    return [("note", hit.note_id) if hit.note_id is not None else ("paper", hit.paper_id) for hit in page.hits]


async def run(url: str, label: str) -> None:
    """Time every query as a member's first page, check the top 10 against the exact ranking, print the figures."""
    engine = make_engine(url)
    await create_schema(engine)  # the indexes of any migration newer than the database
    search = SearchService(make_sessions(engine))
    qs = []
    for q in queries(random.Random(SEED + 1)):
        try:
            qs.append((q, fts_query(q)))
        except SearchQueryError:
            continue
    for q, _ in qs[:20]:  # warm the caches
        await search.search(guild_id=GUILD, query=q)
    gc.freeze()
    service_times, exact_times, recalls, shown = [], [], [], 0
    async with engine.connect() as conn:
        exact = Exact(conn)
        in_index = exact.postgres and await pg_ranks_in_index(conn)
        for q, match in qs:
            start = time.perf_counter()
            page = await search.search(guild_id=GUILD, query=q)
            service_times.append(time.perf_counter() - start)
            shown += len(page.hits)
            top = found(await search.search(guild_id=GUILD, query=q, limit=RECALL_AT))
            start = time.perf_counter()
            wanted = await exact.top(match, RECALL_AT)
            exact_times.append(time.perf_counter() - start)
            if wanted:
                recalls.append((len(set(top) & set(wanted)) / len(wanted), q))
    with LoopWatch() as watch:  # a second pass with only the service
        for q, _ in qs:
            await search.search(guild_id=GUILD, query=q)
    await engine.dispose()
    s50, s95, s99 = percentiles(service_times)
    e50, e95, e99 = percentiles(exact_times)
    mean = statistics.fmean(r for r, _ in recalls)
    missed = sorted((r, q) for r, q in recalls if r < 1)
    print(f"{label}: {len(service_times)} queries over {NOTES:,} notes and {PAPERS:,} papers ({shown} results shown)")
    print(f"service /search, first page: p50 {s50:.1f} ms  p95 {s95:.1f} ms  p99 {s99:.1f} ms   (budget: p95 <= 50 ms)")
    print(f"exact ranking of all matches: p50 {e50:.1f} ms  p95 {e95:.1f} ms  p99 {e99:.1f} ms")
    print(
        f"recall@{RECALL_AT} against the exact ranking: mean {mean:.3f} over {len(recalls)} queries with results, "
        f"{len(missed)} below 1 {[(round(r, 2), q) for r, q in missed[:5]]}   (budget: >= 0.99)"
    )
    print(f"event loop while searching: {watch.report()}")
    if label == "PostgreSQL":
        print(f"ranked inside the RUM indexes (migration 0009): {'yes' if in_index else 'no, ts_rank_cd over all'}")


def main() -> None:
    """Build if needed, then measure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rebuild", action="store_true", help="build the database(s) again")
    parser.add_argument(
        "--db", choices=("sqlite", "postgresql", "both"), default="sqlite", help="which database to measure"
    )
    args = parser.parse_args()
    if args.rebuild or not DB.exists():
        build(DB)
    if args.db in ("sqlite", "both"):
        asyncio.run(run(f"sqlite:///{DB}", "SQLite"))
    if args.db in ("postgresql", "both"):
        if args.rebuild or not asyncio.run(postgres_built()):
            asyncio.run(build_postgres(DB))
        asyncio.run(run(PG_URL, "PostgreSQL"))


if __name__ == "__main__":
    main()
