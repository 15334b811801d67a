"""The poller's records: when each feed is due, what its fetches brought, and each paper's delivery from the
decision to post it to the message it went out in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import bindparam, func, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import col, select

from storage.db import Sessions, chunked, insert_ignoring_duplicates
from storage.feeds.listed_papers import Listed, store_listed
from storage.feeds.subscriptions import SubscriptionView, subscription_view, with_feed
from storage.models import Delivery, DeliveryState, Feed, GuildPaper, Paper, Subscription, utcnow
from storage.papers import PaperView, papers_by_id
from storage.tables import DELIVERIES, DIGEST_PICKS, FEED_ENTRIES, GUILD_PAPERS, PAPERS, SUBSCRIPTIONS

RECENT_ENTRIES = 10_000  # a feed's newest entries read for the last day it saw: several days of a busy listing


@dataclass(frozen=True, slots=True)
class DueFeed:
    """A feed to fetch now, with what a conditional request needs."""

    id: int
    url: str
    kind: str
    etag: str | None
    last_modified: str | None
    failures: int


@dataclass(frozen=True, slots=True)
class PlannedDelivery:
    """A paper one subscription should post, recorded as pending before it is sent."""

    id: int
    guild_id: int
    subscription_id: int
    channel_id: int
    paper_id: int
    created_at: datetime | None = None
    attempts: int = 0  # sends that failed so far


@dataclass(frozen=True, slots=True)
class StuckPapers:
    """A subscription's papers whose send failed and waits to be tried again, for /feed list."""

    count: int
    since: datetime  # when the oldest of them was decided
    reason: str | None  # why the latest send failed
    retry_at: datetime | None  # the next try


@dataclass(frozen=True, slots=True)
class ListedEntry:
    """A feed entry some subscription has not decided about yet."""

    entry_id: int
    paper_id: int
    key: str
    announce_type: str | None


@dataclass(frozen=True, slots=True)
class Undecided:
    """What fanning out one feed needs: its active subscriptions, what they have not seen, and what is done."""

    subscriptions: list[SubscriptionView]
    entries: list[ListedEntry]  # in listing order
    handled: set[tuple[int, int]]  # (channel id, paper id) posted or being posted


class PlanRecord(Protocol):
    """One subscription's decisions from a poll (storage.feeds.plans.Plan)."""

    @property
    def subscription_id(self) -> int: ...

    @property
    def guild_id(self) -> int: ...

    @property
    def channel_id(self) -> int: ...

    @property
    def post(self) -> list[int]: ...

    @property
    def seen_entry_id(self) -> int: ...

    @property
    def picks(self) -> list[tuple[int, str]]: ...


class PollRecords:
    """What the poller records: fetch outcomes, listed papers, and deliveries from intent to message."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def due_feeds(self, *, now: datetime) -> list[DueFeed]:
        """Feeds with at least one active subscription whose next fetch time has come (each once)."""
        async with self.sessions() as session:
            active = select(Subscription.feed_id).where(col(Subscription.paused).is_(False))
            query = select(Feed).where(
                col(Feed.id).in_(active),
                (col(Feed.next_fetch_at).is_(None)) | (col(Feed.next_fetch_at) <= now),
            )
            return [
                DueFeed(
                    id=f.id, url=f.url, kind=f.kind, etag=f.etag, last_modified=f.last_modified, failures=f.failures
                )
                for f in (await session.exec(query.order_by(col(Feed.id)))).all()
                if f.id is not None
            ]

    async def record_fetch(
        self,
        *,
        feed_id: int,
        now: datetime,
        next_fetch_at: datetime,
        items: Sequence[Listed] | None,
        fingerprint: str | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> dict[str, int]:
        """A successful fetch (``items`` is None for 304 Not Modified); returns key -> paper id of what it listed."""
        async with self.sessions() as session:
            feed = await session.get(Feed, feed_id)
            if feed is None:
                return {}
            feed.last_fetch_at = feed.last_success_at = now
            feed.last_error, feed.failures, feed.next_fetch_at = None, 0, next_fetch_at
            ids: dict[str, int] = {}
            if items is not None:
                feed.etag, feed.last_modified = etag, last_modified
                if fingerprint != feed.fingerprint:
                    feed.fingerprint, feed.fingerprint_since = fingerprint, now
                ids = await store_listed(session, feed_id=feed_id, kind=feed.kind, items=items)
            await session.commit()
            return ids

    async def record_failure(self, *, feed_id: int, now: datetime, error: str, next_fetch_at: datetime) -> int:
        """A failed fetch; returns how many in a row have failed."""
        async with self.sessions() as session:
            feed = await session.get(Feed, feed_id)
            if feed is None:
                return 0
            feed.last_fetch_at, feed.last_error, feed.next_fetch_at = now, error[:1000], next_fetch_at
            feed.failures += 1
            await session.commit()
            return feed.failures

    async def find_undecided(self, *, feed_id: int) -> Undecided:
        """The feed's active subscriptions and the entries at least one of them has not decided about."""
        async with self.sessions() as session:
            rows = (
                await session.exec(
                    with_feed()
                    .where(Subscription.feed_id == feed_id, col(Subscription.paused).is_(False))
                    .order_by(col(Subscription.id))
                )
            ).all()
            subs = [subscription_view(sub, feed) for sub, feed in rows]
            if not subs:
                return Undecided([], [], set())
            conn = await session.connection()
            query = (
                sa_select(FEED_ENTRIES.c.id, FEED_ENTRIES.c.paper_id, PAPERS.c.key, FEED_ENTRIES.c.announce_type)
                .join(PAPERS, PAPERS.c.id == FEED_ENTRIES.c.paper_id)
                .where(FEED_ENTRIES.c.feed_id == feed_id, FEED_ENTRIES.c.id > min(s.seen_entry_id for s in subs))
                .order_by(FEED_ENTRIES.c.id)
            )
            entries = [ListedEntry(*row) for row in await conn.execute(query)]
            paper_ids = list({e.paper_id for e in entries})
            channels = list({s.channel_id for s in subs})
            handled: set[tuple[int, int]] = set()
            for chunk in chunked(paper_ids):
                posted = sa_select(DELIVERIES.c.channel_id, DELIVERIES.c.paper_id).where(
                    DELIVERIES.c.channel_id.in_(channels),
                    DELIVERIES.c.paper_id.in_(chunk),
                    DELIVERIES.c.state.in_([DeliveryState.PENDING, DeliveryState.SENT]),
                )
                handled.update((channel, paper) for channel, paper in await conn.execute(posted))
            return Undecided(subs, entries, handled)

    async def record_decisions(self, plans: Sequence[PlanRecord]) -> list[PlannedDelivery]:
        """Record a poll's decisions in one transaction; returns the deliveries to send, in order.

        Each subscription's cursor moves past what it decided, and papers to post become pending deliveries and
        known to the group (so /search and /similar find them). A crash before the commit leaves
        everything to decide again; after it, the pending rows say what may not have been sent. The unique
        (subscription, paper) row makes a second delivery impossible, across restarts and processes.
        """
        if not plans:
            return []
        async with self.sessions() as session:
            conn = await session.connection()
            now = utcnow()
            await conn.execute(
                update(SUBSCRIPTIONS)
                .where(SUBSCRIPTIONS.c.id == bindparam("b_id"), SUBSCRIPTIONS.c.seen_entry_id < bindparam("b_seen"))
                .values(seen_entry_id=bindparam("b_seen")),
                [{"b_id": p.subscription_id, "b_seen": p.seen_entry_id} for p in plans],
            )
            deliveries = [
                {
                    "guild_id": p.guild_id,
                    "subscription_id": p.subscription_id,
                    "paper_id": paper_id,
                    "state": DeliveryState.PENDING,
                    "channel_id": p.channel_id,
                    "created_at": now,
                }
                for p in plans
                for paper_id in p.post
            ]
            insert_deliveries = insert_ignoring_duplicates(conn.dialect.name, DELIVERIES).returning(
                DELIVERIES.c.id, DELIVERIES.c.subscription_id, DELIVERIES.c.paper_id
            )
            made: dict[tuple[int, int], int] = {}  # rows this call made; a duplicate (decided before) returns none
            for rows in chunked(deliveries):
                result = await conn.execute(insert_deliveries, rows)
                made.update(((sub_id, pid), row_id) for row_id, sub_id, pid in result)
            known = {(p.guild_id, paper_id) for p in plans for paper_id in p.post}
            insert_known = insert_ignoring_duplicates(conn.dialect.name, GUILD_PAPERS)
            known_rows = [{"guild_id": g, "paper_id": pid, "source": "feed", "first_seen": now} for g, pid in known]
            for rows in chunked(known_rows):
                await conn.execute(insert_known, rows)
            picks: dict[tuple[int, int], str] = {}
            for p in plans:
                for paper_id, reason in p.picks:
                    picks.setdefault((p.guild_id, paper_id), reason[:300])
            insert_picks = insert_ignoring_duplicates(conn.dialect.name, DIGEST_PICKS)
            pick_rows = [
                {"guild_id": g, "paper_id": pid, "reason": r, "picked_at": now} for (g, pid), r in picks.items()
            ]
            for rows in chunked(pick_rows):
                await conn.execute(insert_picks, rows)
            planned = [
                PlannedDelivery(made[(p.subscription_id, pid)], p.guild_id, p.subscription_id, p.channel_id, pid, now)
                for p in plans
                for pid in p.post
                if (p.subscription_id, pid) in made
            ]
            await session.commit()
            return planned

    async def mark_sent(self, *, delivery_ids: Sequence[int], message_id: int, now: datetime) -> None:
        """Deliveries that reached their channel, in this message."""
        async with self.sessions() as session:
            conn = await session.connection()
            counts: dict[int, int] = {}
            for chunk in chunked(list(delivery_ids)):
                query = sa_select(DELIVERIES.c.subscription_id).where(
                    DELIVERIES.c.id.in_(chunk), DELIVERIES.c.state != DeliveryState.SENT
                )
                for (sub_id,) in await conn.execute(query):
                    counts[sub_id] = counts.get(sub_id, 0) + 1
                await conn.execute(
                    update(DELIVERIES)
                    .where(DELIVERIES.c.id.in_(chunk), DELIVERIES.c.state != DeliveryState.SENT)
                    .values(state=DeliveryState.SENT, message_id=message_id, sent_at=now)
                )
            for sub_id, n in counts.items():
                await conn.execute(
                    update(SUBSCRIPTIONS)
                    .where(SUBSCRIPTIONS.c.id == sub_id)
                    .values(delivered=SUBSCRIPTIONS.c.delivered + n, last_delivered_at=now)
                )
            await session.commit()

    async def mark_undeliverable(self, *, delivery_ids: Sequence[int], reason: str) -> None:
        """Deliveries that could not be sent (the channel is gone or forbidden)."""
        await self._update_pending(delivery_ids, state=DeliveryState.FAILED, reason=reason[:300])

    async def retry_later(self, *, delivery_ids: Sequence[int], reason: str, retry_at: datetime) -> None:
        """Deliveries whose send failed for now: those still pending count one more attempt and wait until
        ``retry_at``; ``reason`` is what /feed list shows."""
        await self._update_pending(
            delivery_ids, attempts=DELIVERIES.c.attempts + 1, retry_at=retry_at, reason=reason[:300]
        )

    async def _update_pending(self, delivery_ids: Sequence[int], **values: Any) -> None:
        """Set ``values`` on those of these deliveries still pending (one sent meanwhile stays sent)."""
        async with self.sessions() as session:
            conn = await session.connection()
            for chunk in chunked(list(delivery_ids)):
                await conn.execute(
                    update(DELIVERIES)
                    .where(DELIVERIES.c.id.in_(chunk), DELIVERIES.c.state == DeliveryState.PENDING)
                    .values(**values)
                )
            await session.commit()

    async def pending_deliveries(
        self, *, before: datetime | None = None, due: datetime | None = None
    ) -> list[PlannedDelivery]:
        """Deliveries recorded as about to be sent but never confirmed (recorded before ``before``, if given).

        These are what a stopped process left between recording and sending, and sends that failed. With
        ``due``, a failed send only once its time to try again has come.
        """
        async with self.sessions() as session:
            query = select(Delivery).where(Delivery.state == DeliveryState.PENDING)
            if before is not None:
                query = query.where(col(Delivery.created_at) < before)
            if due is not None:
                query = query.where(or_(col(Delivery.retry_at).is_(None), col(Delivery.retry_at) <= due))
            rows = (await session.exec(query.order_by(col(Delivery.id)))).all()
            return [
                PlannedDelivery(
                    id=r.id,
                    guild_id=r.guild_id,
                    subscription_id=r.subscription_id,
                    channel_id=r.channel_id or 0,
                    paper_id=r.paper_id,
                    created_at=r.created_at,
                    attempts=r.attempts,
                )
                for r in rows
                if r.id is not None
            ]

    async def stuck_papers(self, *, guild_id: int) -> dict[int, StuckPapers]:
        """The group's subscriptions with papers whose send failed and waits to be tried again, by subscription id."""
        failed = (
            DELIVERIES.c.guild_id == guild_id,
            DELIVERIES.c.state == DeliveryState.PENDING,
            DELIVERIES.c.attempts > 0,
        )
        async with self.sessions() as session:
            conn = await session.connection()
            counts = sa_select(
                DELIVERIES.c.subscription_id,
                func.count(),
                func.min(DELIVERIES.c.created_at),
                func.min(DELIVERIES.c.retry_at),
            ).where(*failed)
            rows = (await conn.execute(counts.group_by(DELIVERIES.c.subscription_id))).all()
            latest = sa_select(func.max(DELIVERIES.c.id)).where(*failed).group_by(DELIVERIES.c.subscription_id)
            last_reason = sa_select(DELIVERIES.c.subscription_id, DELIVERIES.c.reason).where(
                DELIVERIES.c.id.in_(latest)  # each subscription's newest paper waiting: its send failed last
            )
            reasons: dict[int, str | None] = {sub_id: reason for sub_id, reason in await conn.execute(last_reason)}
        return {
            sub_id: StuckPapers(count, since, reasons.get(sub_id), retry_at) for sub_id, count, since, retry_at in rows
        }

    async def load_papers(self, *, paper_ids: Sequence[int]) -> dict[int, PaperView]:
        """Stored papers by id, for posting."""
        async with self.sessions() as session:
            found = await papers_by_id(session, paper_ids=paper_ids)
        return {paper_id: PaperView.of(paper) for paper_id, paper in found.items()}

    async def paper_texts(self, *, paper_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
        """(title, abstract) of stored papers, for filtering entries a poll's listing no longer holds."""
        found: dict[int, tuple[str, str]] = {}
        async with self.sessions() as session:
            conn = await session.connection()
            for chunk in chunked(list(paper_ids)):
                query = sa_select(PAPERS.c.id, PAPERS.c.title, PAPERS.c.abstract).where(PAPERS.c.id.in_(chunk))
                for pid, title, abstract in await conn.execute(query):
                    found[pid] = (title or "", abstract or "")
        return found

    async def posted_in_channel(self, *, channel_id: int, keys: Sequence[str]) -> set[str]:
        """Which of these papers (by key) a feed has already posted, or is posting, in this channel."""
        if not keys:
            return set()
        async with self.sessions() as session:
            query = (
                select(Paper.key)
                .join(Delivery, col(Delivery.paper_id) == col(Paper.id))
                .where(
                    Delivery.channel_id == channel_id,
                    col(Delivery.state).in_([DeliveryState.PENDING, DeliveryState.SENT]),
                    col(Paper.key).in_(keys),
                )
            )
            return set((await session.exec(query)).all())

    async def known_keys(self, *, guild_id: int, keys: Sequence[str]) -> set[str]:
        """Which of these papers (by key) the group already knows: noted, or posted by one of its feeds."""
        if not keys:
            return set()
        async with self.sessions() as session:
            query = (
                select(Paper.key)
                .join(GuildPaper, col(GuildPaper.paper_id) == col(Paper.id))
                .where(GuildPaper.guild_id == guild_id, col(Paper.key).in_(keys))
            )
            return set((await session.exec(query)).all())

    async def last_announced(self, *, feed_id: int, before: datetime) -> datetime | None:
        """The date of the newest paper this feed listed as new before ``before``; None when it listed none.

        arXiv's listings date each paper with its announcement day, so this is the last day the feed saw. Only
        the feed's :data:`RECENT_ENTRIES` newest entries are read: they hold its latest days.
        """
        async with self.sessions() as session:
            conn = await session.connection()
            recent = (
                sa_select(FEED_ENTRIES.c.paper_id, FEED_ENTRIES.c.announce_type)
                .where(FEED_ENTRIES.c.feed_id == feed_id)
                .order_by(FEED_ENTRIES.c.id.desc())
                .limit(RECENT_ENTRIES)
                .subquery()
            )
            query = (
                sa_select(func.max(PAPERS.c.published))
                .select_from(recent.join(PAPERS, PAPERS.c.id == recent.c.paper_id))
                .where(recent.c.announce_type == "new", PAPERS.c.published < before)
            )
            newest: datetime | None = (await conn.execute(query)).scalar()
            return newest

    async def listed_keys(self, *, feed_id: int, keys: Sequence[str]) -> set[str]:
        """Which of these papers (by key) this feed has listed before."""
        found: set[str] = set()
        async with self.sessions() as session:
            conn = await session.connection()
            for chunk in chunked(list(keys)):
                query = (
                    sa_select(PAPERS.c.key)
                    .join(FEED_ENTRIES, FEED_ENTRIES.c.paper_id == PAPERS.c.id)
                    .where(FEED_ENTRIES.c.feed_id == feed_id, PAPERS.c.key.in_(chunk))
                )
                found.update(key for (key,) in await conn.execute(query))
        return found

    async def add_listed(self, *, feed_id: int, items: Sequence[Listed]) -> dict[str, int]:
        """Papers the feed would have listed on days it missed, stored as its entries; key -> paper id."""
        async with self.sessions() as session:
            feed = await session.get(Feed, feed_id)
            if feed is None:
                return {}
            ids = await store_listed(session, feed_id=feed_id, kind=feed.kind, items=items)
            await session.commit()
            return ids
