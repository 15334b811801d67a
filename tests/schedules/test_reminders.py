"""The reminders' runner on a controllable clock with a stand-in poster: 24 h and 1 h before, once each, late ones
skipped, moved sessions reminded again, cancelled ones never, stopped processes' claims settled, and only the
process owning a guild posting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schedules.poller import ChannelUnavailable
from schedules.reminders import ReminderRunner
from storage.db import Sessions
from storage.models import Paper
from storage.reading_sessions import ReadingSessions, SessionView

START = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)
MINE, THEIRS = 1, 2
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


class Poster:
    """Posts into a list; a message "in the channel" is found again by its reminder."""

    def __init__(self) -> None:
        self.posted: list[tuple[str, int, datetime]] = []  # (kind, session id, session time)
        self.gone: set[int] = set()  # channels that are gone

    async def remind(self, kind: str, session: SessionView) -> int:
        if session.channel_id in self.gone:
            raise ChannelUnavailable("the channel was deleted")
        self.posted.append((kind, session.id, session.starts_at))
        return 1000 + len(self.posted)

    async def find_reminder(self, kind: str, session: SessionView, *, since: datetime) -> int | None:
        key = (kind, session.id, session.starts_at)
        return 1000 + self.posted.index(key) + 1 if key in self.posted else None


async def setup(sessions: Sessions, *guilds: int) -> tuple[ReadingSessions, list[SessionView]]:
    reading = ReadingSessions(sessions)
    async with sessions() as session:
        paper = Paper(key="arxiv:2501.00001", title="A paper")
        session.add(paper)
        await session.commit()
        assert paper.id is not None
    made = [
        await reading.schedule(
            guild_id=guild,
            paper_id=paper.id,
            starts_at=START,
            timezone="UTC",
            presenter=None,
            location=None,
            channel_id=guild * 10,
            created_by=9,
            now=START - timedelta(days=5),
        )
        for guild in guilds
    ]
    return reading, made


def runner(reading: ReadingSessions, poster: Poster, now: list[datetime], **kwargs: object) -> ReminderRunner:
    return ReminderRunner(sessions=reading, poster=poster, clock=lambda: now[0], **kwargs)  # type: ignore[arg-type]


async def test_each_reminder_goes_out_once_at_its_time_by_the_owning_process(sessions: Sessions) -> None:
    reading, (mine, theirs) = await setup(sessions, MINE, THEIRS)
    poster, now = Poster(), [START - timedelta(days=2)]
    ours = runner(reading, poster, now, owns=lambda guild: guild == MINE)
    await ours.tick()
    assert poster.posted == []
    now[0] = START - 24 * HOUR + timedelta(minutes=1)
    await ours.tick()
    await ours.tick()
    assert poster.posted == [("24h", mine.id, START)]  # the other guild's process posts its own
    other = Poster()
    await runner(reading, other, now, owns=lambda guild: guild == THEIRS).tick()
    assert other.posted == [("24h", theirs.id, START)]
    now[0] = START - HOUR
    await ours.tick()
    assert poster.posted[-1] == ("1h", mine.id, START) and len(poster.posted) == 2
    now[0] = START + timedelta(minutes=5)
    await ours.tick()
    assert len(poster.posted) == 2


async def test_late_reminders_are_skipped_moved_sessions_reminded_again_cancelled_never(sessions: Sessions) -> None:
    reading, (mine,) = await setup(sessions, MINE)
    poster, now = Poster(), [START - 24 * HOUR + timedelta(minutes=20)]  # down for 20 minutes past its time
    await runner(reading, poster, now).tick()
    assert poster.posted == []
    moved = await reading.move(guild_id=MINE, session_id=mine.id, starts_at=START + 24 * HOUR, now=now[0])
    now[0] = moved.starts_at - 24 * HOUR
    await runner(reading, poster, now).tick()
    assert poster.posted == [("24h", mine.id, moved.starts_at)]
    await reading.cancel(guild_id=MINE, session_id=mine.id, now=now[0])
    now[0] = moved.starts_at - HOUR
    await runner(reading, poster, now).tick()
    assert len(poster.posted) == 1


async def test_a_stopped_processes_claim_is_settled_from_the_channel(sessions: Sessions) -> None:
    reading, (mine,) = await setup(sessions, MINE)
    poster, now = Poster(), [START - 24 * HOUR]
    # Discord took the reminder; the process stopped before recording it.
    claimed = await reading.claim(kind="24h", session=mine)
    assert claimed is not None
    await poster.remind("24h", mine)
    fresh = runner(reading, poster, now)
    await fresh.tick()  # claimed seconds ago: maybe a live process's send, left be
    assert len(await reading.unsettled()) == 1
    restarted = runner(reading, poster, now, stale=timedelta(0))
    await restarted.tick()
    assert poster.posted == [("24h", mine.id, START)] and await reading.unsettled() == []
    # The 1 h one: claimed, then stopped before Discord took it: sent once on settling.
    now[0] = START - HOUR
    assert await reading.claim(kind="1h", session=mine) is not None
    await restarted.tick()
    await restarted.tick()
    assert poster.posted == [("24h", mine.id, START), ("1h", mine.id, START)]


async def test_a_channel_that_is_gone_skips_the_reminder(sessions: Sessions) -> None:
    reading, (mine,) = await setup(sessions, MINE)
    poster, now = Poster(), [START - 24 * HOUR]
    poster.gone.add(mine.channel_id)
    await runner(reading, poster, now).tick()
    assert poster.posted == [] and await reading.unsettled() == []
    assert await reading.due_reminders(now=now[0]) == []


async def test_a_session_set_less_than_a_day_ahead_gets_only_the_one_hour_reminder(sessions: Sessions) -> None:
    reading, (mine,) = await setup(sessions, MINE)
    poster, now = Poster(), [START - 23 * HOUR]
    soon = await reading.move(guild_id=MINE, session_id=mine.id, starts_at=START + 55 * MINUTE, now=now[0])
    await runner(reading, poster, now).tick()  # "in 24 hours" was due 5 minutes before it was given this time
    assert poster.posted == []
    now[0] = soon.starts_at - HOUR
    await runner(reading, poster, now).tick()
    assert poster.posted == [("1h", mine.id, soon.starts_at)]
    later = await reading.move(guild_id=MINE, session_id=mine.id, starts_at=START + 30 * HOUR, now=now[0])
    now[0] = later.starts_at - 24 * HOUR  # moved more than a day ahead: both reminders again
    await runner(reading, poster, now).tick()
    assert poster.posted[-1] == ("24h", mine.id, later.starts_at)
