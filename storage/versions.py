"""A paper's new arXiv versions, told to the groups that have notes on it: one notice per (group, paper, version).

A notice is recorded in the transaction that stores the paper's new version (a feed's replacement, the daily
check), for every group with notes on the paper, so it is never lost or doubled: the row's key is (group, paper,
version). A version the bot did not know before (a paper whose version was unknown, or not arXiv's word) is where
counting starts, not news. Several versions at once (v1 to v3) make one notice, for the newest; an older notice
still waiting when a newer one comes is skipped.

Posting goes in two steps, like a feed delivery: a notice is claimed (its place chosen and written) before it is
sent and marked sent with its message after, so a notice found claimed but unsent at the next run may have been
posted by a stopped process: the poster looks in its place before sending it again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, update
from sqlalchemy import select as core_select
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import Sessions, chunked, insert_ignoring_duplicates
from storage.identity import PaperKey
from storage.models import DeliveryState, Note, Paper, VersionNotice, utcnow
from storage.paper_threads import discussion_place, paper_thread
from storage.tables import VERSION_NOTICES

GIVE_UP_AFTER = timedelta(days=1)  # a notice that could not be posted for this long is recorded failed

# (paper id, the version stored before, the version stored now)
VersionChange = tuple[int, int | None, int | None]


def is_news(old: int | None, new: int | None) -> bool:
    """Whether going from version ``old`` to ``new`` is a new version to tell (an unknown ``old`` is not)."""
    return old is not None and new is not None and new > old


async def record_new_versions(session: AsyncSession, *, changes: Iterable[VersionChange]) -> int:
    """Record a pending notice for every group with notes on each paper whose version advanced; returns how many
    were new. Call it in the transaction that stores the versions: the notices are kept exactly when they are."""
    news: dict[int, int] = {}
    for paper_id, old, new in changes:
        if is_news(old, new):
            assert new is not None
            news[paper_id] = max(new, news.get(paper_id, 0))
    if not news:
        return 0
    conn = await session.connection()
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for ids in chunked(sorted(news)):
        query = core_select(col(Note.guild_id), col(Note.paper_id)).where(col(Note.paper_id).in_(ids)).distinct()
        for guild_id, paper_id in await conn.execute(query):
            rows.append(
                {
                    "guild_id": guild_id,
                    "paper_id": paper_id,
                    "version": news[paper_id],
                    "state": DeliveryState.PENDING,
                    "created_at": now,
                }
            )
    added = 0
    for chunk in chunked(rows):
        result = await conn.execute(insert_ignoring_duplicates(conn.dialect.name, VERSION_NOTICES), list(chunk))
        added += max(result.rowcount or 0, 0)
    return added


@dataclass(frozen=True, slots=True)
class Notice:
    """One group's notice of a paper's new version, with what it shows and where it goes."""

    guild_id: int
    paper_id: int
    version: int
    key: str
    title: str | None
    comment: str | None
    channel_id: int  # the paper's thread in the group, or the channel of the group's latest note on it
    created_at: datetime
    claimed_before: bool  # claimed by an earlier run: it may be in its place already

    @property
    def url(self) -> str:
        """The version's own page on arXiv."""
        return f"{PaperKey(self.key).abs_url}v{self.version}"

    @property
    def display_title(self) -> str:
        """The paper's title, or its id when arXiv gave none."""
        return self.title or self.key.removeprefix("arxiv:")


class VersionNotices:
    """The records behind posting notices: claimed, then sent or failed."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def claim(self) -> list[Notice]:
        """The notices to post now, each with its place, in one transaction.

        An older notice waiting beside a newer one for the same paper is skipped; a notice with nowhere to go
        (no thread, no note posted in a channel) is skipped; a new one is claimed by writing its place. Notices
        claimed earlier come back marked :attr:`Notice.claimed_before`.
        """
        newer = aliased(VersionNotice)
        superseded = exists().where(
            and_(
                col(newer.guild_id) == col(VersionNotice.guild_id),
                col(newer.paper_id) == col(VersionNotice.paper_id),
                col(newer.version) > col(VersionNotice.version),
            )
        )
        pending = col(VersionNotice.state) == DeliveryState.PENDING
        async with self.sessions() as session:  # most minutes nothing waits: no write at all then
            if (await session.exec(select(VersionNotice.paper_id).where(pending).limit(1))).first() is None:
                return []
        async with self.sessions.begin() as session:
            await session.exec(
                update(VersionNotice)  # type: ignore[call-overload]
                .where(pending, superseded)
                .values(state=DeliveryState.SKIPPED)
            )
            query = (
                select(VersionNotice, Paper.key, Paper.title, Paper.comment)
                .join(Paper, col(Paper.id) == col(VersionNotice.paper_id))
                .where(pending)
                .order_by(col(VersionNotice.created_at), col(VersionNotice.guild_id), col(VersionNotice.paper_id))
            )
            notices: list[Notice] = []
            for row, key, title, comment in (await session.exec(query)).all():
                claimed_before = row.channel_id is not None
                if row.channel_id is None:
                    found = await discussion_place(session, guild_id=row.guild_id, paper_id=row.paper_id)
                    place = None if found is None else found[1] or found[0]  # the thread, else the channel
                    if place is None:
                        row.state = DeliveryState.SKIPPED
                        continue
                    row.channel_id = place
                assert row.channel_id is not None
                notices.append(
                    Notice(
                        guild_id=row.guild_id,
                        paper_id=row.paper_id,
                        version=row.version,
                        key=key,
                        title=title,
                        comment=comment,
                        channel_id=row.channel_id,
                        created_at=row.created_at,
                        claimed_before=claimed_before,
                    )
                )
            return notices

    async def out_of_thread(self, notice: Notice) -> Notice | None:
        """A notice whose place, the paper's thread, was deleted or closed since: moved (claimed anew) to the
        channel the thread hung off, where the group's notes on the paper started. None when its place was not
        the paper's thread, or the notice was settled meanwhile."""
        async with self.sessions.begin() as session:
            thread = await paper_thread(session, guild_id=notice.guild_id, paper_id=notice.paper_id)
            if thread is None or thread.thread_id != notice.channel_id or thread.channel_id == notice.channel_id:
                return None
            moved = await session.exec(
                update(VersionNotice)  # type: ignore[call-overload]
                .where(*_key(notice), col(VersionNotice.channel_id) == notice.channel_id)
                .values(channel_id=thread.channel_id)
            )
            if moved.rowcount != 1:
                return None
            return replace(notice, channel_id=thread.channel_id, claimed_before=False)

    async def mark_sent(self, notice: Notice, *, message_id: int, now: datetime) -> None:
        """The notice is in its place as ``message_id``."""
        await self._settle(notice, state=DeliveryState.SENT, message_id=message_id, sent_at=now)

    async def mark_failed(self, notice: Notice) -> None:
        """The notice cannot be posted (its place is gone or forbidden, or it failed for too long)."""
        await self._settle(notice, state=DeliveryState.FAILED)

    async def _settle(self, notice: Notice, **values: Any) -> None:
        async with self.sessions.begin() as session:
            await session.exec(
                update(VersionNotice)  # type: ignore[call-overload]
                .where(*_key(notice))
                .values(**values)
            )

    async def notices(self, *, guild_id: int) -> list[VersionNotice]:
        """The group's notices, oldest first (for tests and operators)."""
        async with self.sessions() as session:
            query = (
                select(VersionNotice)
                .where(VersionNotice.guild_id == guild_id)
                .order_by(col(VersionNotice.created_at), col(VersionNotice.paper_id), col(VersionNotice.version))
            )
            return list((await session.exec(query)).all())


def _key(notice: Notice) -> tuple[Any, ...]:
    """The notice's row, while it is still pending."""
    return (
        col(VersionNotice.guild_id) == notice.guild_id,
        col(VersionNotice.paper_id) == notice.paper_id,
        col(VersionNotice.version) == notice.version,
        col(VersionNotice.state) == DeliveryState.PENDING,
    )


def overdue(notice: Notice, *, now: datetime) -> bool:
    """Whether a notice has waited too long to be worth posting still."""
    return now - notice.created_at > GIVE_UP_AFTER
