"""Subscriptions on a real SQLite file: one feed per URL, starting from now, kept to their group."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from storage.db import Sessions
from storage.errors import NotFoundError, ValidationError
from storage.feeds.kinds import FeedKind
from storage.feeds.polls import PollRecords
from storage.feeds.subscriptions import SubscriptionService
from storage.metadata import PaperMetadata

G, OTHER = 1, 2
URL = "https://rss.arxiv.org/rss/cs.LG"


def listed(n: int, start: int = 0) -> list[tuple[PaperMetadata, str | None]]:
    return [
        (PaperMetadata(key=f"arxiv:2504.{10000 + i}", title=f"Paper {i}", version=1, abstract="a"), "new")
        for i in range(start, start + n)
    ]


async def rows(sessions: Sessions, sql: str) -> list[tuple]:
    async with sessions() as session:
        return list((await session.exec(text(sql))).all())  # type: ignore[call-overload]


async def test_a_new_subscription_holds_back_the_current_listing(sessions: Sessions) -> None:
    feeds = SubscriptionService(sessions)
    sub = await feeds.subscribe(
        guild_id=G, channel_id=10, created_by=5, url=URL, kind=FeedKind.ARXIV_LISTING, source="cs.LG", current=listed(3)
    )
    assert (sub.mode, sub.paused, sub.delivered) == ("post", False, 0)
    assert await rows(sessions, "SELECT count(*) FROM deliveries") == [(0,)]
    assert await rows(sessions, "SELECT count(*) FROM feed_entries") == [(3,)]  # stored, for the digest
    assert await rows(sessions, "SELECT max(id) FROM feed_entries") == [(sub.seen_entry_id,)]  # starts past them
    assert (await PollRecords(sessions).find_undecided(feed_id=1)).entries == []
    titles = await rows(sessions, "SELECT title, metadata_status FROM papers ORDER BY id")
    assert titles[0] == ("Paper 0", "ok")


async def test_one_feed_per_url_however_many_subscriptions(sessions: Sessions) -> None:
    feeds = SubscriptionService(sessions)
    await feeds.subscribe(guild_id=G, channel_id=10, created_by=5, url=URL, kind=FeedKind.ARXIV_LISTING, source="cs.LG")
    await feeds.subscribe(guild_id=G, channel_id=11, created_by=5, url=URL, kind=FeedKind.ARXIV_LISTING, source="cs.LG")
    await feeds.subscribe(
        guild_id=OTHER,
        channel_id=20,
        created_by=6,
        url=URL,
        kind=FeedKind.ARXIV_LISTING,
        source="cs.LG",
        current=listed(2),
    )
    assert await rows(sessions, "SELECT count(*) FROM feeds") == [(1,)]
    assert await rows(sessions, "SELECT count(*) FROM subscriptions") == [(3,)]
    with pytest.raises(ValidationError, match="already follows"):
        await feeds.subscribe(
            guild_id=G, channel_id=10, created_by=5, url=URL, kind=FeedKind.ARXIV_LISTING, source="cs.lg"
        )


async def test_bad_mode_and_filters_are_refused_and_nothing_is_stored(sessions: Sessions) -> None:
    feeds = SubscriptionService(sessions)
    with pytest.raises(ValidationError, match="mode"):
        await feeds.subscribe(guild_id=G, channel_id=10, created_by=5, url=URL, kind="x", source="s", mode="loud")
    with pytest.raises(ValidationError, match="too long"):
        await feeds.subscribe(
            guild_id=G, channel_id=10, created_by=5, url=URL, kind="x", source="s", keywords="k" * 501
        )
    assert await rows(sessions, "SELECT count(*) FROM feeds") == [(0,)]


async def test_pause_resume_remove_stay_within_the_group(sessions: Sessions) -> None:
    feeds = SubscriptionService(sessions)
    mine = await feeds.subscribe(guild_id=G, channel_id=10, created_by=5, url=URL, kind="arxiv-listing", source="s")
    theirs = await feeds.subscribe(
        guild_id=OTHER, channel_id=20, created_by=6, url=URL, kind="arxiv-listing", source="s"
    )
    for call in (
        feeds.set_paused(guild_id=OTHER, subscription_id=mine.id, paused=True),
        feeds.remove(guild_id=OTHER, subscription_id=mine.id),
    ):
        with pytest.raises(NotFoundError):
            await call
    paused = await feeds.set_paused(guild_id=G, subscription_id=mine.id, paused=True)
    assert paused.paused and paused.pause_reason == "paused by a moderator"
    assert not (await feeds.set_paused(guild_id=G, subscription_id=mine.id, paused=False)).paused
    await feeds.remove(guild_id=G, subscription_id=mine.id)
    assert [s.id for s in await feeds.list(guild_id=G)] == []
    assert [s.id for s in await feeds.list(guild_id=OTHER)] == [theirs.id]
    assert await rows(sessions, "SELECT count(*) FROM feeds") == [(1,)]  # still followed by the other group
    await feeds.remove(guild_id=OTHER, subscription_id=theirs.id)
    assert await rows(sessions, "SELECT count(*) FROM feeds") == [(0,)]


async def test_a_lost_channel_pauses_only_its_own_subscriptions(sessions: Sessions) -> None:
    feeds = SubscriptionService(sessions)
    gone = await feeds.subscribe(guild_id=G, channel_id=10, created_by=5, url=URL, kind="arxiv-listing", source="s")
    kept = await feeds.subscribe(guild_id=G, channel_id=11, created_by=5, url=URL, kind="arxiv-listing", source="s")
    assert await feeds.pause_channel(guild_id=G, channel_id=10, reason="the channel was deleted") == 1
    by_id = {s.id: s for s in await feeds.list(guild_id=G)}
    assert by_id[gone.id].paused and by_id[gone.id].pause_reason == "the channel was deleted"
    assert not by_id[kept.id].paused


async def test_poller_records_each_decision_once_and_tracks_delivery(sessions: Sessions) -> None:
    from datetime import UTC, datetime, timedelta

    from storage.feeds.plans import Plan

    feeds, runs = SubscriptionService(sessions), PollRecords(sessions)
    now = datetime(2025, 4, 28, 5, 0, tzinfo=UTC)
    a = await feeds.subscribe(guild_id=G, channel_id=10, created_by=5, url=URL, kind="arxiv-listing", source="cs.LG")
    b = await feeds.subscribe(
        guild_id=G, channel_id=10, created_by=5, url=URL + "+cs.CL", kind="arxiv-listing", source="cs.LG+cs.CL"
    )
    due = await runs.due_feeds(now=now)
    assert [d.url for d in due] == [URL, URL + "+cs.CL"]  # each distinct URL once
    ids = await runs.record_fetch(
        feed_id=due[0].id,
        now=now,
        next_fetch_at=now + timedelta(hours=1),
        items=listed(3),
        fingerprint="f1",
        etag='"v1"',
    )
    assert await runs.due_feeds(now=now) == [d for d in due if d.id != due[0].id]  # not due again before its time
    work = await runs.find_undecided(feed_id=due[0].id)
    assert [s.id for s in work.subscriptions] == [a.id]
    assert [e.paper_id for e in work.entries] == list(ids.values())  # in listing order
    plan = Plan(a.id, G, 10, post=list(ids.values()), seen_entry_id=work.entries[-1].entry_id)
    planned = await runs.record_decisions([plan])
    assert [p.paper_id for p in planned] == list(ids.values())
    assert await runs.record_decisions([plan]) == []  # a restart or a second process records nothing twice
    assert (await runs.find_undecided(feed_id=due[0].id)).entries == []  # the cursor moved past them
    # the same papers listed by the other feed: already on their way to that channel
    await runs.record_fetch(feed_id=due[1].id, now=now, next_fetch_at=now, items=listed(4))
    other = await runs.find_undecided(feed_id=due[1].id)
    assert [s.id for s in other.subscriptions] == [b.id] and len(other.entries) == 4
    assert other.handled == {(10, pid) for pid in ids.values()}
    assert await rows(sessions, "SELECT count(*) FROM guild_papers") == [(3,)]  # posted papers: known to the group
    assert {p.id for p in await runs.pending_deliveries()} == {
        p.id for p in planned
    }  # a crash now leaves these to resolve
    await runs.mark_sent(delivery_ids=[p.id for p in planned[:2]], message_id=777, now=now)
    await runs.mark_sent(
        delivery_ids=[p.id for p in planned[:2]], message_id=778, now=now
    )  # recorded twice: counted once
    await runs.mark_undeliverable(
        delivery_ids=[p.id for p in planned], reason="channel gone"
    )  # only the unsent one fails
    assert await runs.pending_deliveries() == []
    sub = next(s for s in await feeds.list(guild_id=G) if s.id == a.id)
    assert (sub.delivered, sub.last_delivered_at) == (2, now)
    assert await rows(
        sessions, "SELECT state, count(*), min(message_id) FROM deliveries GROUP BY state ORDER BY state"
    ) == [
        ("failed", 1, None),
        ("sent", 2, 777),
    ]


async def test_fetch_outcomes_keep_feed_health(sessions: Sessions) -> None:
    from datetime import UTC, datetime, timedelta

    from storage.feeds.polls import PollRecords

    feeds, runs = SubscriptionService(sessions), PollRecords(sessions)
    t0 = datetime(2025, 4, 28, 5, 0, tzinfo=UTC)
    await feeds.subscribe(guild_id=G, channel_id=10, created_by=5, url=URL, kind="arxiv-listing", source="cs.LG")
    feed = (await runs.due_feeds(now=t0))[0]
    assert await runs.record_failure(feed_id=feed.id, now=t0, error="HTTP 503", next_fetch_at=t0) == 1
    assert await runs.record_failure(feed_id=feed.id, now=t0, error="HTTP 503", next_fetch_at=t0) == 2
    health = (await feeds.list(guild_id=G))[0].feed
    assert (health.failures, health.last_error, health.last_success_at) == (2, "HTTP 503", None)
    await runs.record_fetch(feed_id=feed.id, now=t0, next_fetch_at=t0, items=listed(2), fingerprint="same")
    for day in range(1, 6):  # the same listing, day after day
        await runs.record_fetch(
            feed_id=feed.id, now=t0 + timedelta(days=day), next_fetch_at=t0, items=listed(2), fingerprint="same"
        )
    health = (await feeds.list(guild_id=G))[0].feed
    assert health.failures == 0 and health.last_error is None
    assert health.stale  # judged against the real clock: the listing has not changed since t0
    await runs.record_fetch(
        feed_id=feed.id, now=datetime.now(UTC), next_fetch_at=t0, items=listed(2, start=5), fingerprint="new"
    )
    assert not (await feeds.list(guild_id=G))[0].feed.stale
