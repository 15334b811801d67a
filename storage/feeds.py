"""Feeds and subscriptions: who follows what, where, and how each feed is doing."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import Sessions
from storage.errors import NotFoundError, ValidationError
from storage.metadata import PaperMetadata
from storage.models import Delivery, DeliveryState, Feed, FeedEntry, MetadataStatus, Paper, Subscription, utcnow
from storage.papers import apply_metadata, mark_known

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
                await session.exec(
                    select(Subscription, Feed)
                    .join(Feed, col(Feed.id) == col(Subscription.feed_id))
                    .where(Subscription.guild_id == guild_id)
                    .order_by(col(Subscription.id))
                )
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
                select(Subscription, Feed)
                .join(Feed, col(Feed.id) == col(Subscription.feed_id))
                .where(Subscription.id == subscription_id, Subscription.guild_id == guild_id)
            )
        ).first()
        if row is None:
            raise NotFoundError(f"There is no subscription #{subscription_id} in this server. See `/feed list`.")
        return row
