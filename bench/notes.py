"""50 members using note commands at once, on a SQLite file: how long does the event loop stall?

Runs the service calls and the embed rendering a command does (resolve the paper, save, render, list,
autocomplete) with realistic note lengths, and prints the wall time and the loop's longest stall.
Budget (PRODUCT.md): no stall over 50 ms.

    .venv/bin/python -m bench.notes
"""

from __future__ import annotations

import asyncio
import gc
import random
import tempfile
import time
from pathlib import Path

from bench.loop import LoopWatch
from bot.render import note_embeds
from storage.db import create_schema, make_engine, make_sessions
from storage.metadata import PaperMetadata
from storage.notes import NoteService
from storage.papers import Ambiguous, PaperService

MEMBERS = 50
ROUNDS = 4


class InstantArxiv:
    """Metadata without a network, so the figures are the bot's own."""

    async def fetch(self, keys: list[str]) -> dict[str, PaperMetadata | None]:
        return {k: PaperMetadata(key=k, title=f"Paper {k}", authors=("A. Author", "B. Author")) for k in keys}

    async def search_title(self, text: str, *, limit: int = 5) -> list[PaperMetadata]:
        return []


def note_body(rng: random.Random) -> str:
    """A note of realistic length: 1,500 characters on average, a long tail to 12,000."""
    length = min(12_000, int(rng.lognormvariate(7.0, 0.7)))
    words, size = [], 0
    while size < length:
        word = rng.choice(["model", "merging", "$\\alpha$", "loss", "we", "propose", "results", "data"])
        words.append(word)
        size += len(word) + 1
    return "## Summary\n" + " ".join(words)


async def member(i: int, papers: PaperService, notes: NoteService, bodies: list[str]) -> None:
    for r in range(ROUNDS):
        paper = await papers.resolve(guild_id=1, text=f"24{(i % 12) + 1:02d}.{10000 + i * ROUNDS + r}")
        assert not isinstance(paper, Ambiguous)
        note = await notes.add(
            guild_id=1, paper_id=paper.id, author_id=i, author_name=f"m{i}", body=bodies[r], tags=["llms", f"t{i % 7}"]
        )
        note_embeds(note)
        await notes.page(guild_id=1, author_id=i)
        await notes.autocomplete(guild_id=1, author_id=i, text="paper")


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        await create_schema(engine)
        sessions = make_sessions(engine)
        papers, notes = PaperService(sessions, InstantArxiv()), NoteService(sessions)
        rng = random.Random(7)
        bodies = [[note_body(rng) for _ in range(ROUNDS)] for _ in range(MEMBERS)]
        gc.freeze()  # as the bot does once started: long-lived objects leave the collector's scans
        with LoopWatch() as watch:
            start = time.perf_counter()
            await asyncio.gather(*(member(i, papers, notes, bodies[i]) for i in range(MEMBERS)))
            elapsed = time.perf_counter() - start
        await engine.dispose()
    commands = MEMBERS * ROUNDS * 4
    print(
        f"{MEMBERS} members x {ROUNDS} rounds = {commands} note commands in {elapsed:.2f} s "
        f"({commands / elapsed:.0f} commands/s)"
    )
    print(f"event loop: {watch.report()} (budget: none over 50 ms)")


if __name__ == "__main__":
    asyncio.run(main())
