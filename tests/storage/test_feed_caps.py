"""Per-server caps on feeds: how many subscriptions a server has, and how many distinct feeds it follows."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from storage.db import Sessions
from storage.errors import LimitReachedError
from storage.feeds.kinds import FeedKind
from storage.feeds.subscriptions import MAX_FEEDS, MAX_SUBSCRIPTIONS, SubscriptionService, SubscriptionView
from storage.metadata import PaperMetadata

G, OTHER = 1, 2
PAIRS = 8


def url(name: str) -> str:
    return f"https://lab.example.org/{name}.xml"


def listed(name: str) -> list[tuple[PaperMetadata, str | None]]:
    return [(PaperMetadata(key=f"url:https://lab.example.org/{name}/{i}", title=f"Post {i}"), None) for i in range(3)]


async def count(sessions: Sessions, sql: str) -> int:
    async with sessions() as session:
        return int((await session.exec(text(sql))).one()[0])  # type: ignore[call-overload]


async def follow(feeds: SubscriptionService, name: str, channel: int, *, guild: int = G) -> SubscriptionView:
    return await feeds.subscribe(
        guild_id=guild,
        channel_id=channel,
        created_by=5,
        url=url(name),
        kind=FeedKind.WEB,
        source=url(name),
        current=listed(name),
    )


def test_the_defaults() -> None:
    assert (MAX_SUBSCRIPTIONS, MAX_FEEDS) == (50, 20)
    feeds = SubscriptionService(None)  # type: ignore[arg-type]
    assert (feeds.max_subscriptions, feeds.max_feeds) == (MAX_SUBSCRIPTIONS, MAX_FEEDS)


async def test_subscriptions_stop_at_the_cap_and_a_refused_one_leaves_nothing(sessions: Sessions) -> None:
    feeds = SubscriptionService(sessions, max_subscriptions=3, max_feeds=10)
    for channel, name in ((10, "a"), (11, "a"), (12, "b")):
        await follow(feeds, name, channel)
    for name in ("a", "c"):  # a feed the server follows, and a new one
        with pytest.raises(LimitReachedError) as refused:
            await follow(feeds, name, 13)
        assert refused.value.message == (
            "This server has 3 feed subscriptions, and this bot allows 3. Remove one with `/feed remove` first."
        )
        with pytest.raises(LimitReachedError):  # the look before fetching says the same
            await feeds.check_room(guild_id=G, url=url(name))
    assert await count(sessions, "SELECT count(*) FROM subscriptions") == 3
    assert await count(sessions, "SELECT count(*) FROM feeds") == 2
    assert await count(sessions, "SELECT count(*) FROM feed_entries") == 6
    assert await count(sessions, "SELECT count(*) FROM papers") == 6  # the refused feed's listing is not stored

    removed = (await feeds.list(guild_id=G))[0]
    await feeds.remove(guild_id=G, subscription_id=removed.id)
    await feeds.check_room(guild_id=G, url=url("c"))
    await follow(feeds, "c", 13)


async def test_a_feed_the_server_follows_counts_only_as_a_subscription(sessions: Sessions) -> None:
    feeds = SubscriptionService(sessions, max_subscriptions=10, max_feeds=2)
    await follow(feeds, "a", 10)
    await follow(feeds, "b", 11)
    with pytest.raises(LimitReachedError) as refused:
        await follow(feeds, "c", 12)
    assert refused.value.message == (
        "This server follows 2 different feeds, and this bot allows 2. Remove one with `/feed remove` first, "
        "or post a feed the server already follows to this channel."
    )
    with pytest.raises(LimitReachedError):
        await feeds.check_room(guild_id=G, url=url("c"))
    assert await count(sessions, "SELECT count(*) FROM feeds") == 2
    await feeds.check_room(guild_id=G, url=url("a"))
    await follow(feeds, "a", 12)  # another channel, a feed already followed here
    await follow(feeds, "b", 13)
    assert await count(sessions, "SELECT count(*) FROM subscriptions") == 4


async def test_another_server_keeps_its_own_count(sessions: Sessions) -> None:
    feeds = SubscriptionService(sessions, max_subscriptions=2, max_feeds=1)
    await follow(feeds, "a", 10)
    with pytest.raises(LimitReachedError):
        await follow(feeds, "b", 11)
    await follow(feeds, "a", 11)
    with pytest.raises(LimitReachedError):
        await follow(feeds, "a", 12)
    await follow(feeds, "b", 20, guild=OTHER)  # the feed the first server could not add
    await follow(feeds, "b", 21, guild=OTHER)
    assert await count(sessions, "SELECT count(*) FROM subscriptions") == 4


@pytest.mark.parametrize("cap", ["subscriptions", "feeds"])
async def test_two_subscriptions_at_once_with_one_place_left_exactly_one_is_saved(sessions: Sessions, cap: str) -> None:
    feeds = (
        SubscriptionService(sessions, max_subscriptions=2, max_feeds=10)
        if cap == "subscriptions"
        else SubscriptionService(sessions, max_subscriptions=10, max_feeds=2)
    )
    guilds = range(100, 100 + PAIRS)
    for guild in guilds:
        await follow(feeds, f"{guild}-first", 10, guild=guild)
    # A pair at once in each server, all of them together: no order may let both of a pair in.
    results = await asyncio.gather(
        *(follow(feeds, f"{guild}-{n}", 10 + n, guild=guild) for guild in guilds for n in (1, 2)),
        return_exceptions=True,
    )
    for guild, pair in zip(guilds, zip(results[::2], results[1::2], strict=True), strict=True):
        assert sorted(type(r).__name__ for r in pair) == ["LimitReachedError", "SubscriptionView"], (guild, pair)
    assert await count(sessions, "SELECT count(*) FROM subscriptions") == 2 * PAIRS
    assert await count(sessions, "SELECT count(*) FROM feeds") == 2 * PAIRS


async def test_servers_adding_the_same_new_feed_at_once_all_follow_it(sessions: Sessions) -> None:
    feeds = SubscriptionService(sessions)
    guilds = range(100, 100 + PAIRS)  # each server takes its own turn: on PostgreSQL they really run together
    results = await asyncio.gather(
        *(follow(feeds, "shared", 10, guild=guild) for guild in guilds), return_exceptions=True
    )
    assert [type(r).__name__ for r in results] == ["SubscriptionView"] * PAIRS, results
    assert len({r.feed.url for r in results if isinstance(r, SubscriptionView)}) == 1
    assert await count(sessions, "SELECT count(*) FROM feeds") == 1
    assert await count(sessions, "SELECT count(*) FROM subscriptions") == PAIRS
