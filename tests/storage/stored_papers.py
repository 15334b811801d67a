"""Papers stored for storage tests that only need some to hang notes, proposals or sessions on."""

from __future__ import annotations

from storage.db import Sessions
from storage.models import Paper


async def add_papers(sessions: Sessions, count: int) -> list[int]:
    """``count`` papers (``arxiv:2501.00000``, ``arxiv:2501.00001``, …, titled "Paper n"); their ids, in order."""
    async with sessions() as session:
        made = [Paper(key=f"arxiv:2501.{n:05d}", title=f"Paper {n}") for n in range(count)]
        session.add_all(made)
        await session.commit()
        return [p.id for p in made if p.id is not None]
