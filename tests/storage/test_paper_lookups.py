"""A member's lookup tells its caller right before it asks arXiv, and only then: a paper stored with its
details costs nothing, and a caller that refuses (the member is over their rate) stops the request."""

from __future__ import annotations

import pytest

from storage.db import Sessions
from storage.errors import NotFoundError
from storage.identity import PaperKey
from storage.metadata import PaperMetadata
from storage.papers import PaperService

GUILD = 1001
ATTENTION = "arxiv:1706.03762"


class Recorder:
    """arXiv as a list of what was asked, sharing the list with the caller's callback to show the order."""

    def __init__(self, events: list[str], *, failing: bool = False) -> None:
        self.events = events
        self.failing = failing

    async def fetch(self, keys: list[str]) -> dict[str, PaperMetadata | None]:
        self.events.append(f"fetch {','.join(keys)}")
        if self.failing:
            raise ConnectionError("arXiv is down")
        return {k: PaperMetadata(key=k, title="Attention Is All You Need") if k == ATTENTION else None for k in keys}

    async def search_title(self, text: str, *, limit: int = 5) -> list[PaperMetadata]:
        self.events.append(f"search {text}")
        return [PaperMetadata(key=ATTENTION, title="Attention Is All You Need")]


class Refused(Exception):
    """What the caller raises when the member may not ask arXiv now."""


async def test_the_callback_runs_right_before_arxiv_is_asked_and_not_for_a_stored_paper(sessions: Sessions) -> None:
    events: list[str] = []
    papers = PaperService(sessions, Recorder(events))

    def before() -> None:
        events.append("before")

    found = await papers.resolve(guild_id=GUILD, text="1706.03762", before_remote=before)
    assert found.title == "Attention Is All You Need"  # type: ignore[union-attr]
    assert events == ["before", f"fetch {ATTENTION}"]
    await papers.resolve(guild_id=GUILD, text="arxiv.org/abs/1706.03762v3", before_remote=before)
    await papers.ensure(PaperKey(ATTENTION), before_remote=before)
    assert events == ["before", f"fetch {ATTENTION}"]  # stored with its details: nothing asked, nothing counted
    await papers.resolve(guild_id=GUILD, text="attention is all you need", before_remote=before)
    assert events[2:] == ["before", "search attention is all you need"]


async def test_a_refusing_callback_stops_the_request(sessions: Sessions) -> None:
    events: list[str] = []
    papers = PaperService(sessions, Recorder(events))

    def refuse() -> None:
        raise Refused

    with pytest.raises(Refused):
        await papers.resolve(guild_id=GUILD, text="1706.03762", before_remote=refuse)
    with pytest.raises(Refused):
        await papers.resolve(guild_id=GUILD, text="attention is all you need", before_remote=refuse)
    assert events == []
    with pytest.raises(NotFoundError):
        await papers.get_by_key(ATTENTION)  # nothing stored either


async def test_a_paper_still_pending_asks_again_and_counts(sessions: Sessions) -> None:
    events: list[str] = []
    source = Recorder(events, failing=True)
    papers = PaperService(sessions, source)
    pending = await papers.resolve(guild_id=GUILD, text="1706.03762")
    assert pending.pending  # type: ignore[union-attr]
    source.failing = False
    calls: list[str] = []
    done = await papers.resolve(guild_id=GUILD, text="1706.03762", before_remote=lambda: calls.append("before"))
    assert calls == ["before"] and not done.pending  # type: ignore[union-attr]
