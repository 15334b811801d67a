"""/feed list fits Discord's limits by construction, whatever the subscriptions hold: long sources, filters,
errors, pause reasons and reasons papers are stuck full of markdown to escape, huge counts, and many
subscriptions; pages adapt to what they hold."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import feed_render
from bot.feed_render import list_embed
from bot.render import DESCRIPTION, EMBED_TITLE, EMBED_TOTAL, embed_size
from storage.feeds.polls import StuckPapers
from storage.feeds.subscriptions import FeedHealth, SubscriptionView

NOW = datetime(2026, 5, 4, tzinfo=UTC)
# Characters that markdown escaping doubles, mentions, links, wide and combining characters, line breaks.
NASTY = st.sampled_from([*"*_~`|\\>#[]()<@:/ \n\tab", "\u0301", "😀", "𝔘", "<@123>", "https://x.org/"])
TEXT = st.lists(NASTY, max_size=1500).map("".join)


@st.composite
def subscriptions(draw: st.DrawFn) -> list[SubscriptionView]:
    count = draw(st.integers(min_value=1, max_value=60))
    views = []
    for number in range(1, count + 1):
        views.append(
            SubscriptionView(
                id=draw(st.sampled_from([number, 10**17 + number])),
                guild_id=1,
                channel_id=draw(st.sampled_from([5, 10**18 + 7])),
                source=draw(st.one_of(TEXT, st.text(max_size=1000))),
                keywords=draw(st.none() | TEXT.map(lambda t: t[:500] or None)),
                exclude=draw(st.none() | TEXT.map(lambda t: t[:500] or None)),
                mode=draw(st.sampled_from(["post", "digest"])),
                paused=draw(st.booleans()),
                pause_reason=draw(st.none() | TEXT),
                delivered=draw(st.integers(min_value=0, max_value=10**12)),
                last_delivered_at=draw(st.none() | st.just(NOW)),
                created_at=NOW,
                feed=FeedHealth(
                    url=draw(TEXT),
                    kind="web",
                    last_fetch_at=draw(st.none() | st.just(NOW)),
                    last_success_at=draw(st.none() | st.just(NOW)),
                    last_error=draw(st.none() | TEXT),
                    failures=draw(st.integers(min_value=0, max_value=10**9)),
                    stale=draw(st.booleans()),
                ),
            )
        )
    return views


STUCK = st.builds(
    StuckPapers,
    count=st.integers(min_value=1, max_value=10**12),
    since=st.just(NOW),
    reason=st.none() | TEXT.map(lambda t: t[:300]),  # stored clipped to 300 characters
    retry_at=st.none() | st.just(NOW),
)


@st.composite
def listed(draw: st.DrawFn) -> tuple[list[SubscriptionView], dict[int, StuckPapers]]:
    """Subscriptions, and papers stuck for some of them."""
    views = draw(subscriptions())
    stuck_ids = draw(st.sets(st.sampled_from([view.id for view in views])))
    return views, {sub_id: draw(STUCK) for sub_id in stuck_ids}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(listed())
def test_every_page_of_feed_list_fits_discord_and_lists_each_subscription_once(
    drawn: tuple[list[SubscriptionView], dict[int, StuckPapers]],
) -> None:
    views, stuck = drawn
    _, _, pages = list_embed(views, 1, stuck)
    shown: list[int] = []
    waiting = 0
    for number in range(1, pages + 1):
        embed, page, total = list_embed(views, number, stuck)
        assert (page, total) == (number, pages)
        assert len(embed.description or "") <= DESCRIPTION
        assert len(embed.title or "") <= EMBED_TITLE and len(embed.footer.text or "") <= 2048
        assert embed_size(embed) <= EMBED_TOTAL
        shown += [int(m) for m in re.findall(r"^\*\*#(\d+)\*\*", embed.description or "", re.MULTILINE)]
        waiting += len(re.findall(r"^⚠️ \d+ papers? waiting to be posted", embed.description or "", re.MULTILINE))
    assert shown == [view.id for view in views]  # each subscription once, in order: none lost to a cut
    assert waiting == len(stuck)  # each subscription with stuck papers says so
    assert pages <= len(views)


def test_a_block_that_outgrows_a_page_is_clipped_rather_than_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feed_render, "subscription_block", lambda view, *_: f"**#{view.id}** " + "x" * 9000)
    views = [
        SubscriptionView(
            1, 1, 5, "s", None, None, "post", False, None, 0, None, NOW, FeedHealth("u", "web", *[None] * 3, 0, False)
        )
        for _ in range(3)
    ]
    for number in range(1, 4):
        embed, _, pages = list_embed(views, number)
        assert pages == 3 and len(embed.description or "") <= DESCRIPTION and embed_size(embed) <= EMBED_TOTAL
