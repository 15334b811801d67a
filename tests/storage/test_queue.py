"""The reading queue's records and queries: one entry per paper, one vote per member, the order, read papers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

import storage.queue
from storage.db import Sessions
from storage.errors import NotFoundError, PermissionDeniedError, ValidationError
from storage.models import QueueVote, ReadingSession, SessionState
from storage.queue import WHY_CHARS, QueueService, queue_top, ranked_entries
from tests.storage.stored_papers import add_papers

GUILD, OTHER_GUILD = 1001, 2002
ANN, BOB, CAT = 11, 22, 33
NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


async def held(sessions: Sessions, *, paper_id: int, at: datetime, state: str = SessionState.SCHEDULED) -> None:
    async with sessions() as session:
        session.add(
            ReadingSession(guild_id=GUILD, paper_id=paper_id, starts_at=at, state=state, channel_id=1, created_by=ANN)
        )
        await session.commit()


@pytest.fixture
def queue(sessions: Sessions) -> QueueService:
    return QueueService(sessions)


async def propose(queue: QueueService, paper_id: int, *, by: int = ANN, at: datetime = NOW, guild: int = GUILD):
    return await queue.propose(guild_id=guild, paper_id=paper_id, member_id=by, member_name=f"m{by}", now=at)


async def test_one_entry_per_paper_however_often_or_at_once_it_is_proposed(
    sessions: Sessions, queue: QueueService
) -> None:
    (paper,) = await add_papers(sessions, 1)
    made = await asyncio.gather(*(propose(queue, paper, by=member) for member in range(100, 120)))
    assert sorted(p.outcome for p in made) == ["added"] + ["queued"] * 19
    assert len({p.item.id for p in made}) == 1
    assert (await queue.page(guild_id=GUILD, now=NOW)).total == 1
    other = await propose(queue, paper, guild=OTHER_GUILD)  # another group's queue is its own
    assert other.outcome == "added" and other.item.id != made[0].item.id


async def test_votes_one_per_member_taken_back_and_never_lost_at_once(sessions: Sessions, queue: QueueService) -> None:
    (paper,) = await add_papers(sessions, 1)
    entry = (await propose(queue, paper)).item.id
    assert await queue.vote(guild_id=GUILD, entry_id=entry, member_id=ANN, now=NOW)
    assert not await queue.vote(guild_id=GUILD, entry_id=entry, member_id=ANN, now=NOW)
    assert (await queue.item(guild_id=GUILD, entry_id=entry, now=NOW)).votes == 1
    assert await queue.unvote(guild_id=GUILD, entry_id=entry, member_id=ANN, now=NOW)
    assert not await queue.unvote(guild_id=GUILD, entry_id=entry, member_id=ANN, now=NOW)
    voted = await asyncio.gather(
        *(queue.vote(guild_id=GUILD, entry_id=entry, member_id=m, now=NOW) for m in range(200, 230)),
        *(queue.vote(guild_id=GUILD, entry_id=entry, member_id=m, now=NOW) for m in range(200, 210)),
    )
    assert sum(voted) == 30
    assert (await queue.item(guild_id=GUILD, entry_id=entry, now=NOW)).votes == 30
    with pytest.raises(NotFoundError):  # another group's entry is not found from here
        await queue.vote(guild_id=OTHER_GUILD, entry_id=entry, member_id=ANN, now=NOW)


async def test_ranked_by_votes_then_age_without_removed_or_read_papers(sessions: Sessions, queue: QueueService) -> None:
    ids = await add_papers(sessions, 5)
    entries = [(await propose(queue, p, at=NOW + timedelta(minutes=n))).item.id for n, p in enumerate(ids)]
    for member in (ANN, BOB):
        await queue.vote(guild_id=GUILD, entry_id=entries[3], member_id=member, now=NOW)
    await queue.vote(guild_id=GUILD, entry_id=entries[1], member_id=ANN, now=NOW)
    await queue.vote(guild_id=GUILD, entry_id=entries[4], member_id=ANN, now=NOW)
    later = NOW + timedelta(hours=1)
    page = await queue.page(guild_id=GUILD, now=later)
    assert [i.id for i in page.items] == [entries[3], entries[1], entries[4], entries[0], entries[2]]
    assert [i.votes for i in page.items] == [2, 1, 1, 0, 0]
    async with sessions() as session:
        top = await queue_top(session, guild_id=GUILD, now=later)
        assert top is not None and top.id == entries[3]
        assert [e.id for e, _ in await ranked_entries(session, guild_id=GUILD, now=later, offset=1, limit=2)] == [
            entries[1],
            entries[4],
        ]
        assert await queue_top(session, guild_id=OTHER_GUILD, now=later) is None

    await held(sessions, paper_id=ids[3], at=later)  # read: its session's time has come
    await held(sessions, paper_id=ids[1], at=later + timedelta(days=1))  # still to come: stays, with its date
    await held(sessions, paper_id=ids[4], at=NOW, state=SessionState.CANCELLED)  # cancelled: not read
    await queue.remove(guild_id=GUILD, text="arxiv:2501.00000", member_id=ANN, moderator=False, now=later)
    page = await queue.page(guild_id=GUILD, now=later)
    assert [i.id for i in page.items] == [entries[1], entries[4], entries[2]]
    assert page.items[0].next_session == later + timedelta(days=1)
    assert [i.paper.title for i in await queue.top_three(guild_id=GUILD, now=later)] == [
        "Paper 1",
        "Paper 4",
        "Paper 2",
    ]
    async with sessions() as session:
        top = await queue_top(session, guild_id=GUILD, now=later)
        assert top is not None and top.id == entries[1]
        assert len((await session.exec(QueueVote.__table__.select())).all()) == 4  # type: ignore[attr-defined, call-overload]

    read = await queue.item(guild_id=GUILD, entry_id=entries[3], now=later)  # its history is kept
    assert read.votes == 2 and read.read_at == later and not read.queued
    with pytest.raises(ValidationError, match="read it"):
        await queue.vote(guild_id=GUILD, entry_id=entries[3], member_id=CAT, now=later)
    with pytest.raises(ValidationError, match="taken off"):
        await queue.vote(guild_id=GUILD, entry_id=entries[0], member_id=CAT, now=later)
    with pytest.raises(ValidationError, match="already read this paper"):
        await propose(queue, ids[3], at=later)


async def test_removed_by_proposer_or_moderator_and_proposed_again(sessions: Sessions, queue: QueueService) -> None:
    (paper,) = await add_papers(sessions, 1)
    entry = (await propose(queue, paper, by=ANN)).item.id
    await queue.vote(guild_id=GUILD, entry_id=entry, member_id=BOB, now=NOW)
    with pytest.raises(PermissionDeniedError, match="only they or a moderator"):
        await queue.remove(guild_id=GUILD, text="2501.00000", member_id=BOB, moderator=False, now=NOW)
    removed = await queue.remove(guild_id=GUILD, text="Paper 0", member_id=MODERATOR, moderator=True, now=NOW)
    assert removed.removed_at == NOW
    with pytest.raises(NotFoundError, match="not on this server's reading queue"):
        await queue.remove(guild_id=GUILD, text="2501.00000", member_id=ANN, moderator=False, now=NOW)
    again = await propose(queue, paper, by=BOB, at=NOW + timedelta(hours=1))
    assert again.outcome == "revived" and again.item.id == entry
    assert again.item.proposed_by == BOB and again.item.votes == 0 and again.item.queued


MODERATOR = 44


def test_a_reason_is_capped() -> None:
    from storage.queue import check_why

    assert check_why("  two\n lines ") == "two lines"
    assert check_why("   ") is None
    assert check_why("x" * WHY_CHARS) == "x" * WHY_CHARS
    with pytest.raises(ValidationError, match=f"{WHY_CHARS + 1} characters"):
        check_why("x" * (WHY_CHARS + 1))


async def test_a_vote_checked_before_a_removal_and_written_after_it_is_refused(
    sessions: Sessions, queue: QueueService, monkeypatch: pytest.MonkeyPatch
) -> None:
    (paper,) = await add_papers(sessions, 1)
    entry = (await propose(queue, paper)).item.id
    checked = storage.queue.read_when

    async def then_removed(session: AsyncSession, **kwargs: Any) -> Any:  # the vote's check, then the removal
        found = await checked(session, **kwargs)
        monkeypatch.setattr(storage.queue, "read_when", checked)
        await queue.remove(guild_id=GUILD, text="arxiv:2501.00000", member_id=ANN, moderator=False, now=NOW)
        return found

    monkeypatch.setattr(storage.queue, "read_when", then_removed)
    with pytest.raises(ValidationError, match="taken off"):
        await queue.vote(guild_id=GUILD, entry_id=entry, member_id=BOB, now=NOW)
    async with sessions() as session:
        assert (await session.exec(select(QueueVote))).all() == []
