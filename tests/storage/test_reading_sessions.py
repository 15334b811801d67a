"""Reading sessions on the run's database (SQLite, or PostgreSQL with --db postgresql): the queue's top, the
presenter rotation, and reminder claims that two processes never both win."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from storage.db import Sessions
from storage.errors import NotFoundError, ValidationError
from storage.models import QueueEntry, QueueVote, ReminderState, SessionReminder
from storage.queue import queue_top
from storage.reading_sessions import Presenter, ReadingSessions, SessionView
from tests.storage.stored_papers import add_papers

GUILD, OTHER = 1, 2
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


async def entry(sessions: Sessions, paper_id: int, *, votes: int = 0, age: timedelta = DAY, guild: int = GUILD) -> int:
    async with sessions() as session:
        row = QueueEntry(guild_id=guild, paper_id=paper_id, proposed_by=9, proposer_name="x", created_at=NOW - age)
        session.add(row)
        await session.flush()
        assert row.id is not None
        session.add_all(QueueVote(entry_id=row.id, member_id=100 + n, guild_id=guild) for n in range(votes))
        await session.commit()
        return row.id


async def planned(
    sessions: Sessions, paper_id: int, starts_at: datetime, presenter: Presenter | None = None
) -> SessionView:
    """A session on the paper at that time, scheduled at NOW (no presenter: the rotation's next)."""
    return await ReadingSessions(sessions).schedule(
        guild_id=GUILD,
        paper_id=paper_id,
        starts_at=starts_at,
        timezone="UTC",
        presenter=presenter,
        location=None,
        channel_id=5,
        created_by=9,
        now=NOW,
    )


async def top(sessions: Sessions, now: datetime = NOW, guild: int = GUILD) -> int | None:
    async with sessions() as session:
        found = await queue_top(session, guild_id=guild, now=now)
        return found.paper_id if found else None


async def test_the_queues_top_is_most_votes_then_oldest_and_leaves_out_read_and_removed(sessions: Sessions) -> None:
    reading = ReadingSessions(sessions)
    a, b, c, d = await add_papers(sessions, 4)
    assert await top(sessions) is None
    await entry(sessions, a, votes=1, age=DAY)
    await entry(sessions, b, votes=1, age=2 * DAY)  # as many votes, proposed earlier
    await entry(sessions, c, votes=0, age=5 * DAY)
    await entry(sessions, d, votes=5, guild=OTHER)  # another server's
    assert await top(sessions) == b
    async with sessions() as session:  # b taken off the queue
        found = await session.get(QueueEntry, 2)
        assert found is not None
        found.removed_at = NOW
        await session.commit()
    assert await top(sessions) == a
    held = await planned(sessions, a, NOW + DAY)
    assert await top(sessions) == a  # not read yet: the session is still to come
    assert await top(sessions, now=NOW + 2 * DAY) == c  # read once it started
    await reading.cancel(guild_id=GUILD, session_id=held.id, now=NOW)
    assert await top(sessions, now=NOW + 2 * DAY) == a  # a cancelled session was not held
    assert await top(sessions, guild=OTHER) == d


async def test_the_rotation_turns_and_members_come_and_go(sessions: Sessions) -> None:
    reading = ReadingSessions(sessions)
    (paper,) = await add_papers(sessions, 1)

    async def schedule(days: int, presenter: Presenter | None = None) -> int | None:
        made = await planned(sessions, paper, NOW + days * DAY, presenter)
        return made.presenter.member_id if made.presenter else None

    assert await schedule(1) is None
    assert await reading.volunteer(guild_id=GUILD, member_id=10, name="ann") == (True, 1)
    assert await reading.volunteer(guild_id=GUILD, member_id=11, name="bob") == (True, 2)
    assert await reading.volunteer(guild_id=GUILD, member_id=11, name="Bob B.") == (False, 2)
    assert [await schedule(d) for d in (2, 3, 4)] == [10, 11, 10]
    assert await schedule(5, Presenter(11, "bob")) == 11  # named, in the rotation: that was bob's turn
    assert await schedule(6) == 10
    later = await planned(sessions, paper, NOW + 7 * DAY)  # bob's turn; then it is called off: his turn comes back
    assert later.presenter is not None and later.presenter.member_id == 11
    await reading.cancel(guild_id=GUILD, session_id=later.id, now=NOW)
    assert await schedule(8) == 11
    await reading.leave(guild_id=GUILD, member_id=10)
    with pytest.raises(NotFoundError):
        await reading.leave(guild_id=GUILD, member_id=10)
    assert [p.name for p in await reading.rotation(guild_id=GUILD)] == ["Bob B."]
    assert await reading.rotation(guild_id=OTHER) == []
    with pytest.raises(ValidationError):
        await schedule(-1)


async def test_a_reminder_is_claimed_once_however_many_processes_race(sessions: Sessions) -> None:
    reading = ReadingSessions(sessions)
    (paper,) = await add_papers(sessions, 1)
    made = await planned(sessions, paper, NOW + timedelta(hours=20))
    due = await reading.due_reminders(now=NOW)
    assert [(kind, s.id) for kind, s in due] == [("24h", made.id)]
    racers = [ReadingSessions(sessions) for _ in range(6)]
    claims = await asyncio.gather(*(r.claim(kind="24h", session=made) for r in racers))
    assert sum(c is not None for c in claims) == 1
    assert await reading.due_reminders(now=NOW) == []
    (left,) = await reading.unsettled()
    assert left.kind == "24h" and left.current
    await reading.sent(reminder_id=left.reminder_id, message_id=77)
    assert await reading.unsettled() == []
    moved = await reading.move(guild_id=GUILD, session_id=made.id, starts_at=NOW + timedelta(hours=22), now=NOW)
    assert [kind for kind, _ in await reading.due_reminders(now=NOW)] == ["24h"]  # again, for the new time
    reminder_id = await reading.claim(kind="24h", session=moved, skip=True)
    assert reminder_id is not None and await reading.unsettled() == []  # a skipped one is settled
    async with sessions() as session:
        stored = await session.get(SessionReminder, reminder_id)
        assert stored is not None and stored.state == ReminderState.SKIPPED


async def test_sessions_scheduled_at_once_take_different_turns(sessions: Sessions) -> None:
    reading = ReadingSessions(sessions)
    (paper,) = await add_papers(sessions, 1)
    for member in (10, 11, 12):
        await reading.volunteer(guild_id=GUILD, member_id=member, name=f"m{member}")
    made = await asyncio.gather(*(planned(sessions, paper, NOW + (n + 1) * DAY) for n in range(3)))
    assert sorted(m.presenter.member_id for m in made if m.presenter) == [10, 11, 12]


async def test_a_reminder_read_before_its_session_moved_or_was_cancelled_is_not_claimed(sessions: Sessions) -> None:
    reading = ReadingSessions(sessions)
    (paper,) = await add_papers(sessions, 1)
    made = [await planned(sessions, paper, NOW + timedelta(hours=20 + n)) for n in range(2)]
    due = await reading.due_reminders(now=NOW)  # read, then a moderator moves one and cancels the other
    assert [s.id for _, s in due] == [m.id for m in made]
    await reading.move(guild_id=GUILD, session_id=made[0].id, starts_at=NOW + timedelta(hours=30), now=NOW)
    await reading.cancel(guild_id=GUILD, session_id=made[1].id, now=NOW)
    assert [await reading.claim(kind=kind, session=s) for kind, s in due] == [None, None]  # never for the old time
    assert await reading.unsettled() == []
    assert await reading.due_reminders(now=NOW + timedelta(hours=7)) != []  # the new time's, in its turn


async def test_two_moderators_cancelling_or_moving_at_once_one_wins_the_other_is_told(sessions: Sessions) -> None:
    (paper,) = await add_papers(sessions, 1)
    for round in range(3):
        made = await planned(sessions, paper, NOW + DAY)
        moves = [
            ReadingSessions(sessions).move(guild_id=GUILD, session_id=made.id, starts_at=NOW + 2 * DAY, now=NOW)
            for _ in range(round)
        ]
        cancels = [ReadingSessions(sessions).cancel(guild_id=GUILD, session_id=made.id, now=NOW) for _ in range(2)]
        outcomes = await asyncio.gather(*moves, *cancels, return_exceptions=True)
        refused = [o for o in outcomes if isinstance(o, BaseException)]
        assert all(isinstance(o, NotFoundError) for o in refused), refused  # "not on the calendar any more"
        assert sum(not isinstance(o, BaseException) and o.cancelled for o in outcomes) == 1
