"""Subscriptions: who follows which feed, in which channel, and how each feed is doing."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import Sessions, insert_ignoring_duplicates
from storage.errors import LimitReachedError, NotFoundError, ValidationError
from storage.feeds.listed_papers import Listed, store_listed
from storage.locks import hold_guild
from storage.models import Feed, FeedEntry, Subscription, utcnow
from storage.tables import FEEDS

log = logging.getLogger(__name__)

MODES = ("post", "digest")
MAX_FILTER_CHARS = 500
STALE_AFTER = timedelta(days=4)  # a listing unchanged this long (weekends included) is no longer being updated
MAX_SUBSCRIPTIONS = 50  # subscriptions one server may have, over all its channels (the operator's default)
MAX_FEEDS = 20  # distinct feeds one server may follow (the operator's default)


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
    seen_entry_id: int = 0


def with_feed() -> Any:
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


def subscription_view(sub: Subscription, feed: Feed) -> SubscriptionView:
    """A subscription with its feed's health, detached from the session."""
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
        seen_entry_id=sub.seen_entry_id,
    )


@dataclass(frozen=True, slots=True)
class FirstFetch:
    """The fetch that validated a new subscription's source: it counts as the feed's first success."""

    at: datetime
    next_fetch_at: datetime
    fingerprint: str | None = None
    etag: str | None = None
    last_modified: str | None = None


class SubscriptionService:
    """Subscribing, listing, pausing and removing; each method is one transaction.

    A server has at most ``max_subscriptions`` subscriptions and follows at most ``max_feeds`` distinct feeds.
    """

    def __init__(
        self, sessions: Sessions, *, max_subscriptions: int = MAX_SUBSCRIPTIONS, max_feeds: int = MAX_FEEDS
    ) -> None:
        self.sessions = sessions
        self.max_subscriptions = max_subscriptions
        self.max_feeds = max_feeds

    async def check_room(self, *, guild_id: int, url: str) -> None:
        """Refuse now, before the source is fetched, a subscription the server has no room for.

        Only a first look: :meth:`subscribe` checks again in the transaction that writes.
        """
        async with self.sessions() as session:
            await self._check_room(session, guild_id=guild_id, url=url)

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
        first_fetch: FirstFetch | None = None,
    ) -> SubscriptionView:
        """Follow a feed in a channel, starting from now.

        What the feed lists at this moment is stored (the digest may show it) but never posted: the
        subscription's cursor starts past it. Other subscriptions to the same feed still get those papers.
        For a feed nobody followed yet, ``first_fetch`` is recorded as its first fetch, so the next poll waits its
        turn and asks conditionally.
        """
        if mode not in MODES:
            raise ValidationError(
                f"The mode is `post` (each new paper) or `digest` (for the weekly digest), not `{mode}`."
            )
        for name, value in (("keywords", keywords), ("exclude", exclude)):
            if value and len(value) > MAX_FILTER_CHARS:
                raise ValidationError(f"`{name}` is too long: at most {MAX_FILTER_CHARS} characters.")
        async with self.sessions() as session:
            await hold_guild(session, guild_id=guild_id, purpose="subscriptions")
            await self._check_room(session, guild_id=guild_id, url=url)
            feed = (await session.exec(select(Feed).where(Feed.url == url))).first()
            if feed is None:
                feed = Feed(url=url, kind=kind)
                if first_fetch is not None:
                    feed.last_fetch_at = feed.last_success_at = feed.fingerprint_since = first_fetch.at
                    feed.next_fetch_at, feed.fingerprint = first_fetch.next_fetch_at, first_fetch.fingerprint
                    feed.etag, feed.last_modified = first_fetch.etag, first_fetch.last_modified
                # Another server may be adding the same new feed at this moment: whichever commits first makes it.
                conn = await session.connection()
                await conn.execute(
                    insert_ignoring_duplicates(conn.dialect.name, FEEDS), [feed.model_dump(exclude={"id"})]
                )
                feed = (await session.exec(select(Feed).where(Feed.url == url))).one()
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
            ids = await store_listed(session, feed_id=feed.id, kind=feed.kind, items=current)
            newest = (await session.exec(select(func.max(FeedEntry.id)).where(FeedEntry.feed_id == feed.id))).one()
            sub.seen_entry_id = newest or 0
            try:
                await session.commit()
            except IntegrityError:  # the same subscription, twice at once
                await session.rollback()
                raise ValidationError("This channel already follows that feed.") from None
            log.info(  # the feed by id: its address may carry a password
                "guild=%s subscription=%s to feed=%s in channel %s (%d current papers held back)",
                guild_id,
                sub.id,
                feed.id,
                channel_id,
                len(ids),
            )
            return subscription_view(sub, feed)

    async def list(self, *, guild_id: int) -> list[SubscriptionView]:
        """The group's subscriptions, oldest first, with their feeds' health."""
        async with self.sessions() as session:
            rows = (
                await session.exec(with_feed().where(Subscription.guild_id == guild_id).order_by(col(Subscription.id)))
            ).all()
            return [subscription_view(sub, feed) for sub, feed in rows]

    async def set_paused(
        self, *, guild_id: int, subscription_id: int, paused: bool, reason: str | None = None
    ) -> SubscriptionView:
        """Pause or resume one subscription."""
        async with self.sessions() as session:
            sub, feed = await self._get(session, guild_id=guild_id, subscription_id=subscription_id)
            sub.paused = paused
            sub.pause_reason = (reason or "paused by a moderator") if paused else None
            await session.commit()
            return subscription_view(sub, feed)

    async def remove(self, *, guild_id: int, subscription_id: int) -> SubscriptionView:
        """Stop following; the feed itself goes when nobody follows it any more."""
        async with self.sessions() as session:
            sub, feed = await self._get(session, guild_id=guild_id, subscription_id=subscription_id)
            view = subscription_view(sub, feed)
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

    async def _check_room(self, session: AsyncSession, *, guild_id: int, url: str) -> None:
        """Raise when one more subscription to ``url`` would pass the server's caps.

        A feed the server already follows takes a subscription, not another feed.
        """
        urls = (
            await session.exec(
                select(Feed.url)
                .join(Subscription, col(Subscription.feed_id) == col(Feed.id))
                .where(Subscription.guild_id == guild_id)
            )
        ).all()
        if len(urls) >= self.max_subscriptions:
            raise LimitReachedError(
                f"This server has {len(urls)} feed subscriptions, and this bot allows {self.max_subscriptions}. "
                "Remove one with `/feed remove` first."
            )
        feeds = set(urls)
        if url not in feeds and len(feeds) >= self.max_feeds:
            raise LimitReachedError(
                f"This server follows {len(feeds)} different feeds, and this bot allows {self.max_feeds}. "
                "Remove one with `/feed remove` first, or post a feed the server already follows to this channel."
            )

    async def _get(self, session: AsyncSession, *, guild_id: int, subscription_id: int) -> tuple[Subscription, Feed]:
        row = (
            await session.exec(with_feed().where(Subscription.id == subscription_id, Subscription.guild_id == guild_id))
        ).first()
        if row is None:
            raise NotFoundError(f"There is no subscription #{subscription_id} in this server. See `/feed list`.")
        return row
