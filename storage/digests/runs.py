"""The record of every week's digest run: written before the first message, completed with the message ids after.

The unique (group, week) row is what makes a digest exactly-once across restarts, crashes and processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import Sessions
from storage.errors import NotFoundError
from storage.models import DigestRun, DigestRunState, as_utc, utcnow


@dataclass(frozen=True, slots=True)
class RunView:
    """One week's digest run."""

    id: int
    guild_id: int
    period_start: datetime
    period_end: datetime
    channel_id: int
    state: str
    parts: int
    message_ids: tuple[int, ...]
    reason: str | None
    trigger: str
    created_at: datetime
    finished_at: datetime | None
    rendered: tuple[Any, ...] | None = None  # the parts as rendered before the first was sent (None: not yet)


def run_view(row: DigestRun) -> RunView:
    """A stored run, detached from the session."""
    assert row.id is not None
    return RunView(
        id=row.id,
        guild_id=row.guild_id,
        period_start=as_utc(row.period_start),
        period_end=as_utc(row.period_end),
        channel_id=row.channel_id,
        state=row.state,
        parts=row.parts,
        message_ids=tuple(row.message_ids or ()),
        reason=row.reason,
        trigger=row.trigger,
        created_at=as_utc(row.created_at),
        finished_at=as_utc(row.finished_at) if row.finished_at else None,
        rendered=tuple(row.rendered) if row.rendered is not None else None,
    )


class DigestRuns:
    """Beginning, skipping, posting and finishing each week's run; each method is one transaction."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def begin(
        self, *, guild_id: int, period_start: datetime, period_end: datetime, channel_id: int, trigger: str
    ) -> tuple[RunView, bool]:
        """The week's run, recorded now if there is none; returns it and whether this call created it.

        The unique (group, week) row is what makes a digest exactly-once: a second caller, after a restart or
        in another process, finds the first one's run and leaves it be (or resumes it, if it is unfinished).
        """
        async with self.sessions() as session:
            found = await self._run(session, guild_id=guild_id, period_start=period_start)
            if found is not None:
                return run_view(found), False
            row = DigestRun(
                guild_id=guild_id,
                period_start=period_start,
                period_end=period_end,
                channel_id=channel_id,
                state=DigestRunState.POSTING,
                trigger=trigger,
            )
            session.add(row)
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()
                found = await self._run(session, guild_id=guild_id, period_start=period_start)
                assert found is not None
                return run_view(found), False
            return run_view(row), True

    async def skip(
        self, *, guild_id: int, period_start: datetime, period_end: datetime, channel_id: int, reason: str
    ) -> bool:
        """Record that a week's digest was skipped (the bot was down past the grace period); False if it had one."""
        async with self.sessions() as session:
            if await self._run(session, guild_id=guild_id, period_start=period_start) is not None:
                return False
            session.add(
                DigestRun(
                    guild_id=guild_id,
                    period_start=period_start,
                    period_end=period_end,
                    channel_id=channel_id,
                    state=DigestRunState.SKIPPED,
                    reason=reason[:500],
                    trigger="catch-up",
                    finished_at=utcnow(),
                )
            )
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()
                return False
            return True

    async def set_parts(self, *, run_id: int, parts: Sequence[Any]) -> tuple[Any, ...]:
        """Keep the digest's parts as rendered (plain JSON), before the first is sent; returns the parts kept.

        The first rendering kept is the run's for good: a resume posts it, never a new one, so no part changes
        between a stop and the restart. A run that has its parts already keeps them, and those are returned.
        """
        async with self.sessions() as session:
            row = await session.get(DigestRun, run_id)
            if row is None:
                raise NotFoundError("That digest run is gone.")
            if row.rendered is None:
                row.rendered, row.parts = list(parts), len(parts)
                await session.commit()
            return tuple(row.rendered)

    async def part_sent(self, *, run_id: int, message_id: int) -> RunView:
        """One more part is in the channel."""
        async with self.sessions() as session:
            row = await session.get(DigestRun, run_id)
            if row is None:
                raise NotFoundError("That digest run is gone.")
            row.message_ids = [*(row.message_ids or []), message_id]
            if row.parts and len(row.message_ids) >= row.parts:
                row.state, row.finished_at = DigestRunState.SENT, utcnow()
            await session.commit()
            return run_view(row)

    async def finish(self, *, run_id: int) -> None:
        """Every part is in the channel."""
        async with self.sessions() as session:
            row = await session.get(DigestRun, run_id)
            if row is not None and row.state == DigestRunState.POSTING:
                row.state, row.finished_at = DigestRunState.SENT, utcnow()
                await session.commit()

    async def fail(self, *, run_id: int, reason: str) -> None:
        """The digest could not be posted (the channel is gone or forbidden): the reason is kept for preview."""
        async with self.sessions() as session:
            row = await session.get(DigestRun, run_id)
            if row is not None:
                row.state, row.reason, row.finished_at = DigestRunState.FAILED, reason[:500], utcnow()
                await session.commit()

    async def unfinished(self) -> list[RunView]:
        """Runs a stopped process left in the middle of posting."""
        async with self.sessions() as session:
            query = select(DigestRun).where(DigestRun.state == DigestRunState.POSTING).order_by(col(DigestRun.id))
            return [run_view(row) for row in (await session.exec(query)).all()]

    async def get_run(self, *, run_id: int) -> RunView | None:
        """One run by id."""
        async with self.sessions() as session:
            row = await session.get(DigestRun, run_id)
            return run_view(row) if row else None

    async def retry(self, *, run_id: int, channel_id: int) -> RunView:
        """Post a failed week again (a moderator fixed the channel), whole and as the week stands now."""
        async with self.sessions() as session:
            row = await session.get(DigestRun, run_id)
            if row is None:
                raise NotFoundError("That digest run is gone.")
            if row.state == DigestRunState.FAILED:
                row.state, row.reason, row.finished_at, row.channel_id = DigestRunState.POSTING, None, None, channel_id
                row.message_ids, row.rendered, row.parts = [], None, 0
                await session.commit()
            return run_view(row)

    async def covered_until(self, *, guild_id: int, before: datetime) -> datetime | None:
        """Where the group's latest digest ending before ``before`` ended: posted, being posted or skipped (a
        failed one covers nothing: a moderator may post it again)."""
        async with self.sessions() as session:
            query = select(func.max(DigestRun.period_end)).where(
                DigestRun.guild_id == guild_id,
                col(DigestRun.period_end) < as_utc(before),
                col(DigestRun.state) != DigestRunState.FAILED,
            )
            found = (await session.exec(query)).one()
            return as_utc(found) if found is not None else None

    async def latest_run(self, *, guild_id: int) -> RunView | None:
        """The group's most recent run."""
        async with self.sessions() as session:
            query = (
                select(DigestRun)
                .where(DigestRun.guild_id == guild_id)
                .order_by(col(DigestRun.period_start).desc(), col(DigestRun.id).desc())
            )
            row = (await session.exec(query)).first()
            return run_view(row) if row else None

    async def _run(self, session: AsyncSession, *, guild_id: int, period_start: datetime) -> DigestRun | None:
        query = select(DigestRun).where(DigestRun.guild_id == guild_id, DigestRun.period_start == period_start)
        return (await session.exec(query)).first()
