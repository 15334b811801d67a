"""Reading sessions: scheduling, moving and cancelling a group's meetings on a paper, the presenter rotation, and
the records that make each reminder go out once.

A session is a row in ``reading_sessions``; held is not a state (a scheduled session whose time has come was
held). The presenter rotation is ``presenter_rotation``: the next presenter is the member who presented longest
ago (never first), then who joined first. A reminder is claimed by inserting its ``session_reminders`` row
(unique per session, kind and session time) before it is sent, and completed with its message after: two
processes never both send one, a stopped process's claim is settled by looking in the channel, and a moved
session gets new rows for its new time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, delete, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import Sessions, insert_ignoring_duplicates
from storage.errors import NotFoundError, ValidationError
from storage.locks import hold_guild
from storage.models import (
    Paper,
    PresenterTurn,
    ReadingSession,
    ReminderState,
    SessionReminder,
    SessionState,
    as_utc,
    utcnow,
)
from storage.paper_threads import linked_thread, paper_thread
from storage.papers import PaperView
from storage.queue import queue_top

SESSION_GONE = "That session is not on the calendar any more. Pick an upcoming one from the list."
EMPTY_QUEUE = (
    "The reading queue is empty, so there is no paper to default to: name one with `paper:`, "
    "or propose one with `/queue propose`."
)
NOT_IN_ROTATION = "You are not in the presenter rotation. `/session volunteer` joins it."
TURNS = "presenter turns"  # what scheduling, moving and cancelling take turns on
UPCOMING = 10  # sessions /session next and the autocomplete show

# The reminders a session gets, and how long before it each goes out.
REMINDERS: dict[str, timedelta] = {"24h": timedelta(hours=24), "1h": timedelta(hours=1)}


@dataclass(frozen=True, slots=True)
class Presenter:
    """A member who presents, as the group knows them."""

    member_id: int
    name: str


@dataclass(frozen=True, slots=True)
class SessionView:
    """A reading session with its paper, detached from any session."""

    id: int
    guild_id: int
    paper: PaperView
    starts_at: datetime  # aware, UTC
    timezone: str
    presenter: Presenter | None
    location: str | None
    state: str
    channel_id: int
    message_id: int | None
    event_id: int | None
    thread_id: int | None = None  # the paper's discussion thread in the group, when it has one
    scheduled_at: datetime | None = None  # when the session was given its current time (scheduled, or last moved)

    @property
    def cancelled(self) -> bool:
        """Called off: stays in the records, never reminded."""
        return self.state == SessionState.CANCELLED


@dataclass(frozen=True, slots=True)
class DueReminder:
    """A reminder to send (or settle): its kind, for which session time, and the session as it is now."""

    reminder_id: int
    kind: str  # a key of REMINDERS
    starts_at: datetime  # the session time it is for: the session may have moved since (or been cancelled)
    session: SessionView  # as it is now
    claimed_at: datetime  # when it was claimed, by the real clock

    @property
    def current(self) -> bool:
        """The session is still on, at the time the reminder was for."""
        return not self.session.cancelled and self.session.starts_at == self.starts_at


async def _view(session: AsyncSession, row: ReadingSession) -> SessionView:
    paper = await session.get(Paper, row.paper_id)
    assert paper is not None and row.id is not None
    thread = await paper_thread(session, guild_id=row.guild_id, paper_id=row.paper_id)
    presenter = Presenter(row.presenter_id, row.presenter_name or "a member") if row.presenter_id is not None else None
    return SessionView(
        id=row.id,
        guild_id=row.guild_id,
        paper=PaperView.of(paper),
        starts_at=as_utc(row.starts_at),
        timezone=row.timezone,
        presenter=presenter,
        location=row.location,
        state=row.state,
        channel_id=row.channel_id,
        message_id=row.message_id,
        event_id=row.event_id,
        thread_id=linked_thread(thread),
        scheduled_at=as_utc(row.updated_at),
    )


async def _run(session: AsyncSession, statement: Any) -> CursorResult[Any]:
    """An UPDATE or DELETE, in the session's transaction (Core: no ORM objects loaded)."""
    conn = await session.connection()
    return await conn.execute(statement)


async def recount_turn(session: AsyncSession, *, guild_id: int, member_id: int | None) -> None:
    """Set a presenter's last turn to their latest scheduled session (none: never presented), after one of their
    sessions moved or was cancelled; a member outside the rotation is left be."""
    if member_id is None:
        return
    await session.flush()
    latest = (
        select(func.max(col(ReadingSession.starts_at)))
        .where(
            col(ReadingSession.guild_id) == guild_id,
            col(ReadingSession.presenter_id) == member_id,
            col(ReadingSession.state) == SessionState.SCHEDULED,
        )
        .scalar_subquery()
    )
    await _run(
        session,
        update(PresenterTurn)
        .where(col(PresenterTurn.guild_id) == guild_id, col(PresenterTurn.member_id) == member_id)
        .values(last_presented_at=latest),
    )


async def rotation(session: AsyncSession, *, guild_id: int, limit: int | None = None) -> list[PresenterTurn]:
    """The rotation in turn order: never presented first, then longest ago, then who joined first."""
    query = (
        select(PresenterTurn)
        .where(PresenterTurn.guild_id == guild_id)
        .order_by(
            col(PresenterTurn.last_presented_at).is_not(None),
            col(PresenterTurn.last_presented_at),
            col(PresenterTurn.joined_at),
            col(PresenterTurn.member_id),
        )
        .limit(limit)
    )
    return list((await session.exec(query)).all())


async def sessions_between(
    session: AsyncSession, *, guild_id: int, start: datetime, end: datetime
) -> list[SessionView]:
    """The group's scheduled (not cancelled) sessions starting in [start, end), soonest first."""
    query = (
        select(ReadingSession)
        .where(
            ReadingSession.guild_id == guild_id,
            ReadingSession.state == SessionState.SCHEDULED,
            col(ReadingSession.starts_at) >= start,
            col(ReadingSession.starts_at) < end,
        )
        .order_by(col(ReadingSession.starts_at), col(ReadingSession.id))
    )
    return [await _view(session, row) for row in (await session.exec(query)).all()]


class ReadingSessions:
    """A group's reading sessions and presenter rotation; each method is one transaction."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    # --- sessions -------------------------------------------------------------------------------------------

    async def default_paper(self, *, guild_id: int, now: datetime) -> PaperView:
        """The paper a session is on when none is named: the queue's top; NotFoundError when the queue is empty."""
        async with self.sessions() as session:
            top = await queue_top(session, guild_id=guild_id, now=now)
            paper = await session.get(Paper, top.paper_id) if top is not None else None
            if paper is None:
                raise NotFoundError(EMPTY_QUEUE)
            return PaperView.of(paper)

    async def schedule(
        self,
        *,
        guild_id: int,
        paper_id: int,
        starts_at: datetime,
        timezone: str,
        presenter: Presenter | None,
        location: str | None,
        channel_id: int,
        created_by: int,
        now: datetime,
    ) -> SessionView:
        """Put a session on the calendar. No presenter given: the rotation's next member, whose turn it then was
        (an empty rotation leaves the session without one). A named presenter in the rotation has had their turn."""
        if starts_at <= now:
            raise ValidationError("That time is in the past: give a time that is still ahead.")
        async with self.sessions.begin() as session:
            await hold_guild(session, guild_id=guild_id, purpose=TURNS)  # two at once: two turns
            if presenter is None:
                for turn in await rotation(session, guild_id=guild_id, limit=1):
                    presenter = Presenter(turn.member_id, turn.member_name)
            if presenter is not None:
                await _run(
                    session,
                    update(PresenterTurn)
                    .where(col(PresenterTurn.guild_id) == guild_id, col(PresenterTurn.member_id) == presenter.member_id)
                    .values(last_presented_at=starts_at),
                )
            row = ReadingSession(
                guild_id=guild_id,
                paper_id=paper_id,
                starts_at=starts_at,
                timezone=timezone,
                presenter_id=presenter.member_id if presenter else None,
                presenter_name=presenter.name[:100] if presenter else None,
                location=location[:200] if location else None,
                channel_id=channel_id,
                created_by=created_by,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            await session.flush()
            return await _view(session, row)

    async def _upcoming_row(self, session: AsyncSession, *, guild_id: int, session_id: int) -> ReadingSession:
        # Two moderators at once: the second reads the session as the first left it (SQLite reads without a lock
        # otherwise), and a move or cancellation recounts turns after any scheduling under way.
        await hold_guild(session, guild_id=guild_id, purpose=TURNS)
        row = await session.get(ReadingSession, session_id, with_for_update=True)
        if row is None or row.guild_id != guild_id or row.state != SessionState.SCHEDULED:
            raise NotFoundError(SESSION_GONE)
        return row

    async def move(self, *, guild_id: int, session_id: int, starts_at: datetime, now: datetime) -> SessionView:
        """Move a session that has not started to a new time; its reminders go out again for the new time."""
        if starts_at <= now:
            raise ValidationError("That time is in the past: give a time that is still ahead.")
        async with self.sessions.begin() as session:
            row = await self._upcoming_row(session, guild_id=guild_id, session_id=session_id)
            if as_utc(row.starts_at) <= now:
                raise ValidationError("That session has already started; schedule a new one instead.")
            row.starts_at, row.updated_at = starts_at, now
            await recount_turn(session, guild_id=guild_id, member_id=row.presenter_id)
            return await _view(session, row)

    async def cancel(self, *, guild_id: int, session_id: int, now: datetime) -> SessionView:
        """Call a session off: it stays in the records, and is never reminded."""
        async with self.sessions.begin() as session:
            row = await self._upcoming_row(session, guild_id=guild_id, session_id=session_id)
            if as_utc(row.starts_at) <= now:
                raise ValidationError("That session has already started, so it can't be cancelled.")
            row.state, row.updated_at = SessionState.CANCELLED, utcnow()
            await recount_turn(session, guild_id=guild_id, member_id=row.presenter_id)  # the turn is theirs again
            return await _view(session, row)

    async def set_posts(
        self, *, guild_id: int, session_id: int, message_id: int | None = None, event_id: int | None = None
    ) -> None:
        """Record the session's announcement and its Discord event, once made (None leaves a value as it is)."""
        values = {
            name: value for name, value in (("message_id", message_id), ("event_id", event_id)) if value is not None
        }
        if not values:
            return
        async with self.sessions.begin() as session:
            await _run(
                session,
                update(ReadingSession)
                .where(col(ReadingSession.id) == session_id, col(ReadingSession.guild_id) == guild_id)
                .values(**values),
            )

    async def forget_event(self, *, guild_id: int, session_id: int) -> None:
        """The session's Discord event is gone (deleted on Discord, or with the session)."""
        async with self.sessions.begin() as session:
            await _run(
                session,
                update(ReadingSession)
                .where(col(ReadingSession.id) == session_id, col(ReadingSession.guild_id) == guild_id)
                .values(event_id=None),
            )

    async def upcoming(self, *, guild_id: int, now: datetime, limit: int = UPCOMING) -> list[SessionView]:
        """The group's next sessions that have not started, soonest first."""
        async with self.sessions() as session:
            query = (
                select(ReadingSession)
                .where(
                    ReadingSession.guild_id == guild_id,
                    ReadingSession.state == SessionState.SCHEDULED,
                    col(ReadingSession.starts_at) > now,
                )
                .order_by(col(ReadingSession.starts_at), col(ReadingSession.id))
                .limit(limit)
            )
            return [await _view(session, row) for row in (await session.exec(query)).all()]

    async def between(self, *, guild_id: int, start: datetime, end: datetime) -> list[SessionView]:
        """The group's scheduled sessions starting in [start, end)."""
        async with self.sessions() as session:
            return await sessions_between(session, guild_id=guild_id, start=start, end=end)

    # --- the presenter rotation ----------------------------------------------------------------------------

    async def volunteer(self, *, guild_id: int, member_id: int, name: str) -> tuple[bool, int]:
        """Join the rotation (or stay in it, with the name brought up to date): (joined now, place in turn)."""
        async with self.sessions.begin() as session:
            conn = await session.connection()
            table = PresenterTurn.__table__  # type: ignore[attr-defined]
            result = await conn.execute(
                insert_ignoring_duplicates(conn.dialect.name, table),
                [{"guild_id": guild_id, "member_id": member_id, "member_name": name[:100], "joined_at": utcnow()}],
            )
            joined = bool(result.rowcount)
            if not joined:
                await _run(
                    session,
                    update(PresenterTurn)
                    .where(col(PresenterTurn.guild_id) == guild_id, col(PresenterTurn.member_id) == member_id)
                    .values(member_name=name[:100]),
                )
            order = [turn.member_id for turn in await rotation(session, guild_id=guild_id)]
            return joined, order.index(member_id) + 1

    async def leave(self, *, guild_id: int, member_id: int) -> None:
        """Leave the rotation; NotFoundError when not in it."""
        async with self.sessions.begin() as session:
            result = await _run(
                session,
                delete(PresenterTurn).where(
                    col(PresenterTurn.guild_id) == guild_id, col(PresenterTurn.member_id) == member_id
                ),
            )
            if not result.rowcount:
                raise NotFoundError(NOT_IN_ROTATION)

    async def rotation(self, *, guild_id: int) -> list[Presenter]:
        """The rotation in turn order: who presents next first."""
        async with self.sessions() as session:
            return [Presenter(t.member_id, t.member_name) for t in await rotation(session, guild_id=guild_id)]

    # --- reminders ------------------------------------------------------------------------------------------

    async def due_reminders(self, *, now: datetime) -> list[tuple[str, SessionView]]:
        """(kind, session) of every reminder whose time has come for a session that has not started, and that
        nobody claimed or skipped for the session's current time."""
        longest = max(REMINDERS.values())
        async with self.sessions() as session:
            query = select(ReadingSession).where(
                ReadingSession.state == SessionState.SCHEDULED,
                col(ReadingSession.starts_at) > now,
                col(ReadingSession.starts_at) <= now + longest,
            )
            rows = list((await session.exec(query)).all())
            if not rows:
                return []
            done = await session.exec(
                select(SessionReminder.session_id, SessionReminder.kind, SessionReminder.starts_at).where(
                    col(SessionReminder.session_id).in_([row.id for row in rows])
                )
            )
            taken = {(sid, kind, as_utc(at)) for sid, kind, at in done.all()}
            due = []
            for row in rows:
                for kind, before in REMINDERS.items():
                    starts = as_utc(row.starts_at)
                    if starts - before <= now and (row.id, kind, starts) not in taken:
                        due.append((kind, await _view(session, row)))
            return due

    async def claim(self, *, kind: str, session: SessionView, skip: bool = False) -> int | None:
        """Claim one reminder for the session's current time before sending it (or record it skipped): its id,
        or None when another process or an earlier run has it already, or when the session moved or was cancelled
        since it was read (never a reminder for a time the session no longer has)."""
        async with self.sessions.begin() as db:
            conn = await db.connection()
            table = SessionReminder.__table__  # type: ignore[attr-defined]
            result = await conn.execute(
                insert_ignoring_duplicates(conn.dialect.name, table),
                [
                    {
                        "guild_id": session.guild_id,
                        "session_id": session.id,
                        "kind": kind,
                        "starts_at": session.starts_at,
                        "state": ReminderState.SKIPPED if skip else ReminderState.SENDING,
                        "channel_id": session.channel_id,
                        "claimed_at": utcnow(),
                    }
                ],
            )
            if not result.rowcount:
                return None
            # After the insert (SQLite: this transaction writes, so it reads the latest), locking the row a move or
            # a cancellation locks (PostgreSQL: one under way commits first, and is seen).
            row = await db.get(ReadingSession, session.id, with_for_update=True, populate_existing=True)
            if row is None or row.state != SessionState.SCHEDULED or as_utc(row.starts_at) != session.starts_at:
                await db.rollback()
                return None
            found = await db.exec(
                select(SessionReminder.id).where(
                    SessionReminder.session_id == session.id,
                    SessionReminder.kind == kind,
                    SessionReminder.starts_at == session.starts_at,
                )
            )
            return found.one()

    async def sent(self, *, reminder_id: int, message_id: int) -> None:
        """The reminder is in the channel."""
        await self._settle(reminder_id, ReminderState.SENT, message_id)

    async def skipped(self, *, reminder_id: int) -> None:
        """The reminder will not go out (too late, the session moved or was cancelled, the channel is gone)."""
        await self._settle(reminder_id, ReminderState.SKIPPED, None)

    async def _settle(self, reminder_id: int, state: str, message_id: int | None) -> None:
        async with self.sessions.begin() as session:
            await _run(
                session,
                update(SessionReminder)
                .where(col(SessionReminder.id) == reminder_id)
                .values(state=state, message_id=message_id, sent_at=utcnow() if message_id else None),
            )

    async def unsettled(self, *, claimed_before: datetime | None = None) -> list[DueReminder]:
        """Reminders claimed but never completed (their process stopped, or the send failed), with their sessions;
        only those claimed before ``claimed_before`` when given (real time)."""
        async with self.sessions() as session:
            query = select(SessionReminder, ReadingSession).join(
                ReadingSession, col(ReadingSession.id) == col(SessionReminder.session_id)
            )
            query = query.where(SessionReminder.state == ReminderState.SENDING)
            if claimed_before is not None:
                query = query.where(col(SessionReminder.claimed_at) < claimed_before)
            found: list[DueReminder] = []
            for reminder, row in (await session.exec(query.order_by(col(SessionReminder.id)))).all():
                assert reminder.id is not None
                view = await _view(session, row)
                claimed = as_utc(reminder.claimed_at)
                found.append(DueReminder(reminder.id, reminder.kind, as_utc(reminder.starts_at), view, claimed))
            return found


def reminder_due(kind: str, starts_at: datetime) -> datetime:
    """When a reminder of this kind is due for a session at ``starts_at``."""
    return starts_at - REMINDERS[kind]
