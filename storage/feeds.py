"""Feeds and subscriptions: who follows what, where, and how each feed is doing."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import Sessions
from storage.errors import NotFoundError, ValidationError
from storage.metadata import PaperMetadata
from storage.models import (
    Delivery,
    DeliveryState,
    Feed,
    FeedEntry,
    GuildPaper,
    MetadataStatus,
    Paper,
    Subscription,
    utcnow,
)
from storage.papers import PaperView, apply_metadata, mark_known

log = logging.getLogger(__name__)

MODES = ("post", "digest")
MAX_FILTER_CHARS = 500
STALE_AFTER = timedelta(days=4)  # a listing unchanged this long (weekends included) is no longer being updated
Listed = tuple[PaperMetadata, str | None]  # a paper and how the feed announced it (new, cross, replace, ...)


@dataclass(frozen=True, slots=True)
class FeedHealth:
    """How a feed is doing, for /feed list."""

    url: str
    kind: str
    last_fetch_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    failures: int
    stale: bool


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    """A channel's subscription with its feed's health, detached from any session."""

    id: int
    guild_id: int
    channel_id: int
    source: str
    keywords: str | None
    exclude: str | None
    mode: str
    paused: bool
    pause_reason: str | None
    delivered: int
    last_delivered_at: datetime | None
    created_at: datetime
    feed: FeedHealth


def _with_feed() -> Any:
    """Subscriptions joined with their feeds."""
    return select(Subscription, Feed).join(Feed, col(Feed.id) == col(Subscription.feed_id))


def _health(feed: Feed, *, now: datetime | None = None) -> FeedHealth:
    now = now or utcnow()
    stale = bool(feed.fingerprint_since and now - feed.fingerprint_since > STALE_AFTER)
    return FeedHealth(
        url=feed.url,
        kind=feed.kind,
        last_fetch_at=feed.last_fetch_at,
        last_success_at=feed.last_success_at,
        last_error=feed.last_error,
        failures=feed.failures,
        stale=stale,
    )


def _view(sub: Subscription, feed: Feed) -> SubscriptionView:
    assert sub.id is not None
    return SubscriptionView(
        id=sub.id,
        guild_id=sub.guild_id,
        channel_id=sub.channel_id,
        source=sub.source,
        keywords=sub.keywords,
        exclude=sub.exclude,
        mode=sub.mode,
        paused=sub.paused,
        pause_reason=sub.pause_reason,
        delivered=sub.delivered,
        last_delivered_at=sub.last_delivered_at,
        created_at=sub.created_at,
        feed=_health(feed),
    )


async def store_listed(session: AsyncSession, *, feed_id: int, items: Sequence[Listed]) -> dict[str, int]:
    """Store each listed paper once (metadata filled in) and record that the feed listed it; key -> paper id."""
    keys = [meta.key for meta, _ in items]
    papers = {p.key: p for p in (await session.exec(select(Paper).where(col(Paper.key).in_(keys)))).all()}
    for meta, _ in items:
        paper = papers.get(meta.key)
        if paper is None:
            paper = Paper(key=meta.key, version=meta.version)
            session.add(paper)
            papers[meta.key] = paper
        if paper.metadata_status != MetadataStatus.OK or (meta.version or 0) > (paper.version or 0):
            apply_metadata(paper, meta)
    await session.flush()
    ids = {key: paper.id for key, paper in papers.items() if paper.id is not None}
    seen = set(
        (
            await session.exec(
                select(FeedEntry.paper_id).where(
                    FeedEntry.feed_id == feed_id, col(FeedEntry.paper_id).in_(ids.values())
                )
            )
        ).all()
    )
    for meta, announce in items:
        pid = ids[meta.key]
        if pid not in seen:
            session.add(FeedEntry(feed_id=feed_id, paper_id=pid, announce_type=announce, version=meta.version))
            seen.add(pid)
    return ids


class FeedService:
    """Subscribing, listing, pausing and removing; each method is one transaction."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def subscribe(
        self,
        *,
        guild_id: int,
        channel_id: int,
        created_by: int,
        url: str,
        kind: str,
        source: str,
        keywords: str | None = None,
        exclude: str | None = None,
        mode: str = "post",
        current: Sequence[Listed] = (),
    ) -> SubscriptionView:
        """Follow a feed in a channel, starting from now.

        What the feed lists at this moment is stored (the digest may show it) but never posted: each of those
        papers gets a skipped delivery for this subscription.
        """
        if mode not in MODES:
            raise ValidationError(
                f"The mode is `post` (each new paper) or `digest` (for the weekly digest), not `{mode}`."
            )
        for name, value in (("keywords", keywords), ("exclude", exclude)):
            if value and len(value) > MAX_FILTER_CHARS:
                raise ValidationError(f"`{name}` is too long: at most {MAX_FILTER_CHARS} characters.")
        async with self.sessions() as session:
            feed = (await session.exec(select(Feed).where(Feed.url == url))).first()
            if feed is None:
                feed = Feed(url=url, kind=kind)
                session.add(feed)
                await session.flush()
            assert feed.id is not None
            existing = (
                await session.exec(
                    select(Subscription).where(
                        Subscription.guild_id == guild_id,
                        Subscription.channel_id == channel_id,
                        Subscription.feed_id == feed.id,
                    )
                )
            ).first()
            if existing is not None:
                raise ValidationError(
                    f"This channel already follows that feed (subscription #{existing.id}). "
                    "Change it with `/feed remove` and add it again."
                )
            sub = Subscription(
                guild_id=guild_id,
                channel_id=channel_id,
                feed_id=feed.id,
                source=source[:2000],
                keywords=keywords or None,
                exclude=exclude or None,
                mode=mode,
                created_by=created_by,
            )
            session.add(sub)
            await session.flush()
            assert sub.id is not None
            ids = await store_listed(session, feed_id=feed.id, items=current)
            for paper_id in ids.values():
                await mark_known(session, guild_id=guild_id, paper_id=paper_id, source="feed")
                session.add(
                    Delivery(
                        guild_id=guild_id,
                        subscription_id=sub.id,
                        paper_id=paper_id,
                        state=DeliveryState.SKIPPED,
                        reason="listed before the subscription began",
                    )
                )
            try:
                await session.commit()
            except IntegrityError:  # the same subscription, twice at once
                await session.rollback()
                raise ValidationError("This channel already follows that feed.") from None
            log.info(
                "guild=%s subscription=%s to %s in channel %s (%d current papers held back)",
                guild_id,
                sub.id,
                url,
                channel_id,
                len(ids),
            )
            return _view(sub, feed)

    async def list(self, *, guild_id: int) -> list[SubscriptionView]:
        """The group's subscriptions, oldest first, with their feeds' health."""
        async with self.sessions() as session:
            rows = (
                await session.exec(_with_feed().where(Subscription.guild_id == guild_id).order_by(col(Subscription.id)))
            ).all()
            return [_view(sub, feed) for sub, feed in rows]

    async def set_paused(
        self, *, guild_id: int, subscription_id: int, paused: bool, reason: str | None = None
    ) -> SubscriptionView:
        """Pause or resume one subscription."""
        async with self.sessions() as session:
            sub, feed = await self._get(session, guild_id=guild_id, subscription_id=subscription_id)
            sub.paused = paused
            sub.pause_reason = (reason or "paused by a moderator") if paused else None
            await session.commit()
            return _view(sub, feed)

    async def remove(self, *, guild_id: int, subscription_id: int) -> SubscriptionView:
        """Stop following; the feed itself goes when nobody follows it any more."""
        async with self.sessions() as session:
            sub, feed = await self._get(session, guild_id=guild_id, subscription_id=subscription_id)
            view = _view(sub, feed)
            await session.delete(sub)
            await session.flush()
            others = (await session.exec(select(Subscription.id).where(Subscription.feed_id == feed.id))).first()
            if others is None:
                await session.delete(feed)
            await session.commit()
            return view

    async def pause_channel(self, *, guild_id: int, channel_id: int, reason: str) -> int:
        """Pause every subscription posting to a channel the bot can no longer use; returns how many."""
        async with self.sessions() as session:
            subs = (
                await session.exec(
                    select(Subscription).where(
                        Subscription.guild_id == guild_id,
                        Subscription.channel_id == channel_id,
                        col(Subscription.paused).is_(False),
                    )
                )
            ).all()
            for sub in subs:
                sub.paused, sub.pause_reason = True, reason
            await session.commit()
            if subs:
                log.warning(
                    "guild=%s paused %d subscriptions in channel %s: %s", guild_id, len(subs), channel_id, reason
                )
            return len(subs)

    async def _get(self, session: AsyncSession, *, guild_id: int, subscription_id: int) -> tuple[Subscription, Feed]:
        row = (
            await session.exec(
                _with_feed().where(Subscription.id == subscription_id, Subscription.guild_id == guild_id)
            )
        ).first()
        if row is None:
            raise NotFoundError(f"There is no subscription #{subscription_id} in this server. See `/feed list`.")
        return row


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


class FeedRuns:
    """What the poller records: fetch outcomes, listed papers, and deliveries from intent to message."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def due(self, *, now: datetime) -> list[DueFeed]:
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

    async def fetched(
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
                ids = await store_listed(session, feed_id=feed_id, items=items)
            await session.commit()
            return ids

    async def failed(self, *, feed_id: int, now: datetime, error: str, next_fetch_at: datetime) -> int:
        """A failed fetch; returns how many in a row have failed."""
        async with self.sessions() as session:
            feed = await session.get(Feed, feed_id)
            if feed is None:
                return 0
            feed.last_fetch_at, feed.last_error, feed.next_fetch_at = now, error[:1000], next_fetch_at
            feed.failures += 1
            await session.commit()
            return feed.failures

    async def subscriptions(self, *, feed_id: int) -> list[SubscriptionView]:
        """The active subscriptions to a feed."""
        async with self.sessions() as session:
            rows = (
                await session.exec(
                    _with_feed()
                    .where(Subscription.feed_id == feed_id, col(Subscription.paused).is_(False))
                    .order_by(col(Subscription.id))
                )
            ).all()
            return [_view(sub, feed) for sub, feed in rows]

    async def already_handled(self, *, subscription_id: int, channel_id: int, paper_ids: Sequence[int]) -> set[int]:
        """Papers this subscription has already decided about, or that its channel has already been sent."""
        async with self.sessions() as session:
            own = select(Delivery.paper_id).where(
                Delivery.subscription_id == subscription_id, col(Delivery.paper_id).in_(paper_ids)
            )
            same_channel = (
                select(Delivery.paper_id)
                .join(Subscription, col(Subscription.id) == col(Delivery.subscription_id))
                .where(
                    Subscription.channel_id == channel_id,
                    col(Delivery.paper_id).in_(paper_ids),
                    col(Delivery.state).in_([DeliveryState.PENDING, DeliveryState.SENT]),
                )
            )
            return set((await session.exec(own)).all()) | set((await session.exec(same_channel)).all())

    async def plan(
        self, *, subscription: SubscriptionView, decisions: Sequence[tuple[int, str, str | None]]
    ) -> list[PlannedDelivery]:
        """Record a decision per paper (pending, or skipped with a reason); returns the pending ones to send.

        Written in bulk: a daily listing of thousands of papers meets every subscription. The unique
        (subscription, paper) row makes a second decision impossible, across restarts and processes.
        """
        wanted: dict[int, tuple[str, str | None]] = {}
        for paper_id, state, reason in decisions:  # in the listing's order, the first decision for a paper counts
            wanted.setdefault(paper_id, (state, reason))
        for _attempt in range(2):
            async with self.sessions() as session:
                taken = set(
                    (
                        await session.exec(
                            select(Delivery.paper_id).where(
                                Delivery.subscription_id == subscription.id, col(Delivery.paper_id).in_(wanted)
                            )
                        )
                    ).all()
                )
                fresh = [pid for pid in wanted if pid not in taken]  # the rest were decided before a restart
                if not fresh:
                    return []
                now = utcnow()
                conn = await session.connection()
                await conn.execute(
                    insert(Delivery.__table__),  # type: ignore[attr-defined]
                    [
                        {
                            "guild_id": subscription.guild_id,
                            "subscription_id": subscription.id,
                            "paper_id": pid,
                            "state": wanted[pid][0],
                            "reason": wanted[pid][1],
                            "channel_id": subscription.channel_id,
                            "created_at": now,
                        }
                        for pid in fresh
                    ],
                )
                known = set(
                    (
                        await session.exec(
                            select(GuildPaper.paper_id).where(
                                GuildPaper.guild_id == subscription.guild_id, col(GuildPaper.paper_id).in_(fresh)
                            )
                        )
                    ).all()
                )
                if new := [pid for pid in fresh if pid not in known]:
                    await conn.execute(
                        insert(GuildPaper.__table__),  # type: ignore[attr-defined]
                        [
                            {"guild_id": subscription.guild_id, "paper_id": pid, "source": "feed", "first_seen": now}
                            for pid in new
                        ],
                    )
                pending = [pid for pid in fresh if wanted[pid][0] == DeliveryState.PENDING]
                rows = (
                    (
                        await session.exec(
                            select(Delivery.id, Delivery.paper_id).where(
                                Delivery.subscription_id == subscription.id, col(Delivery.paper_id).in_(pending)
                            )
                        )
                    ).all()
                    if pending
                    else []
                )
                try:
                    await session.commit()
                except IntegrityError:  # another process decided some of these a moment ago: look again
                    await session.rollback()
                    continue
                order = {pid: i for i, pid in enumerate(pending)}
                return sorted(
                    (
                        PlannedDelivery(
                            id=row_id,
                            guild_id=subscription.guild_id,
                            subscription_id=subscription.id,
                            channel_id=subscription.channel_id,
                            paper_id=pid,
                        )
                        for row_id, pid in rows
                        if row_id is not None
                    ),
                    key=lambda planned: order[planned.paper_id],
                )
        raise RuntimeError("deliveries could not be recorded: the database kept refusing them")

    async def sent(self, *, delivery_ids: Sequence[int], message_id: int, now: datetime) -> None:
        """Deliveries that reached their channel, in this message."""
        async with self.sessions() as session:
            rows = (await session.exec(select(Delivery).where(col(Delivery.id).in_(delivery_ids)))).all()
            counts: dict[int, int] = {}
            for row in rows:
                if row.state != DeliveryState.SENT:
                    row.state, row.message_id, row.sent_at = DeliveryState.SENT, message_id, now
                    counts[row.subscription_id] = counts.get(row.subscription_id, 0) + 1
            for sub_id, n in counts.items():
                sub = await session.get(Subscription, sub_id)
                if sub is not None:
                    sub.delivered += n
                    sub.last_delivered_at = now
            await session.commit()

    async def undelivered(self, *, delivery_ids: Sequence[int], reason: str) -> None:
        """Deliveries that could not be sent (the channel is gone or forbidden)."""
        async with self.sessions() as session:
            for row in (await session.exec(select(Delivery).where(col(Delivery.id).in_(delivery_ids)))).all():
                row.state, row.reason = DeliveryState.FAILED, reason[:300]
            await session.commit()

    async def pending(self) -> list[PlannedDelivery]:
        """Deliveries recorded as about to be sent but never confirmed: a crash came between the two."""
        async with self.sessions() as session:
            rows = (
                await session.exec(
                    select(Delivery).where(Delivery.state == DeliveryState.PENDING).order_by(col(Delivery.id))
                )
            ).all()
            return [
                PlannedDelivery(
                    id=r.id,
                    guild_id=r.guild_id,
                    subscription_id=r.subscription_id,
                    channel_id=r.channel_id or 0,
                    paper_id=r.paper_id,
                )
                for r in rows
                if r.id is not None
            ]

    async def known(self, *, guild_id: int, paper_ids: Sequence[int]) -> set[int]:
        """Which of these papers the group knew before (noted, or listed by one of its feeds)."""
        async with self.sessions() as session:
            query = select(GuildPaper.paper_id).where(
                GuildPaper.guild_id == guild_id, col(GuildPaper.paper_id).in_(paper_ids)
            )
            return set((await session.exec(query)).all())

    async def papers(self, *, paper_ids: Sequence[int]) -> dict[int, PaperView]:
        """Stored papers by id, for posting."""
        async with self.sessions() as session:
            found = (await session.exec(select(Paper).where(col(Paper.id).in_(paper_ids)))).all()
            return {p.id: PaperView.of(p) for p in found if p.id is not None}

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
