"""The CPU each command's reading of the database costs, in this process: what the bot's services do for
``/note show``, ``/notes``, ``/paper`` (the paper by its arXiv id, then its card's five notes) and ``/search``, on
bench/burst.py's group (200 notes on 100 papers), without Discord.

Prints, for each command, the process's CPU time (every thread: the event loop's and SQLite's) per call,
the best of three rounds of 300 calls after 50 to warm up. bench/burst.py measures the whole bot.

    .venv/bin/python -m bench.reads
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.burst import GUILD, NOTES, PAPERS, WORDS, paper_key, seed
from bench.notes import InstantArxiv

CALLS, ROUNDS, WARM = 300, 3, 50


async def main() -> None:
    from storage.db import make_engine, make_sessions
    from storage.notes import NoteService
    from storage.papers import Ambiguous, PaperService
    from storage.search import SearchService

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "paperclub.db"
        await seed(db)
        engine = make_engine(f"sqlite+aiosqlite:///{db}")
        sessions = make_sessions(engine)
        notes, papers, search = NoteService(sessions), PaperService(sessions, InstantArxiv()), SearchService(sessions)

        async def note_show(i: int) -> None:
            await notes.get(guild_id=GUILD, note_id=1 + (i * 7) % NOTES)

        async def notes_page(i: int) -> None:
            await notes.page(guild_id=GUILD, limit=8)

        async def paper(i: int) -> None:
            found = await papers.resolve(guild_id=GUILD, text=paper_key((i * 3) % PAPERS))
            assert not isinstance(found, Ambiguous)
            await notes.page(guild_id=GUILD, paper_id=found.id, limit=5)

        async def search_words(i: int) -> None:
            await search.search(guild_id=GUILD, query=WORDS[i % len(WORDS)])

        commands: dict[str, Callable[[int], Awaitable[None]]] = {
            "/note show": note_show,
            "/notes": notes_page,
            "/paper": paper,
            "/search": search_words,
        }
        print(f"CPU per command's database reads, best of {ROUNDS} rounds of {CALLS} calls")
        for name, call in commands.items():
            for i in range(WARM):
                await call(i)
            rounds = []
            for _ in range(ROUNDS):
                start = time.process_time()
                for i in range(CALLS):
                    await call(i)
                rounds.append((time.process_time() - start) / CALLS)
            print(f"  {name:<11} {min(rounds) * 1000:.2f} ms")
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
