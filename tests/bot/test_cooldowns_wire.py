"""Per-member cooldowns on what costs arXiv requests or heavy queries, through the real discord.py client: over
the rate a member is told, only to them, how many seconds to wait, and nothing is asked of arXiv or the feed;
other members and other servers carry on."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web
from discord import app_commands

from bot.cogs.feeds import FEED_TESTS_PER_MINUTE
from bot.cogs.links import CARD_MESSAGES_PER_MINUTE
from bot.cogs.lookup import SEARCHES_PER_MINUTE, SIMILAR_PER_MINUTE
from bot.errors import describe
from bot.interactions import MemberCooldown
from bot.paper_choice import ARXIV_LOOKUPS_PER_MINUTE
from tests.arxiv_standin import FakeArxiv
from tests.bot.conftest import ANN, BOB, GUILD, MOD, OTHER_CHANNEL, OTHER_GUILD, OWNER, Club, running_club
from tests.bot.test_links_wire import card_reply, post, replies_to
from tests.feed_listings import generate_listing
from tests.loopback import serving

WAIT = re.compile(r"Slow down a little: try again in (\d+) s\.")


def refused(inter: Any) -> int:
    """The seconds a refused member was told to wait; the refusal is theirs alone."""
    assert inter.ephemeral, f"{inter.label} answered in public"
    match = WAIT.search(inter.error or "")
    assert match, inter.text()
    return int(match[1])


def asked(club: Club) -> list[str]:
    """Every arXiv id the stand-in was asked about, and every title search, in order."""
    return [i for seen in club.arxiv.seen for i in seen.ids] + [
        seen.query["search_query"] for seen in club.arxiv.title_searches()
    ]


@pytest.fixture
async def quick(club: Club) -> AsyncIterator[Club]:
    club.discord.quiet_period = 0.15  # every answer here is one callback, or a deferral and one followup
    yield club


# --- the counter itself ---------------------------------------------------------------------------------------


def member(guild: int, user: int) -> Any:
    return SimpleNamespace(guild_id=guild, user=SimpleNamespace(id=user))


def test_the_wait_is_the_whole_seconds_until_a_use_is_free_and_never_zero() -> None:
    now = [1000.0]
    cooldown = MemberCooldown(2, 60.0, clock=lambda: now[0])
    assert cooldown.spend(GUILD, ANN) == 0
    now[0] = 1010.0
    cooldown.check(member(GUILD, ANN))
    now[0] = 1030.25
    assert cooldown.wait(GUILD, ANN) == pytest.approx(29.75)
    with pytest.raises(app_commands.CommandOnCooldown) as over:
        cooldown.check(member(GUILD, ANN))
    assert describe(over.value) == "Slow down a little: try again in 30 s."
    assert cooldown.spend(GUILD, BOB) == 0 and cooldown.spend(OTHER_GUILD, ANN) == 0  # theirs are their own
    now[0] = 1059.6  # 0.4 s left: rounded up, not down to "0 s"
    with pytest.raises(app_commands.CommandOnCooldown) as almost:
        cooldown.check_free(member(GUILD, ANN))
    assert describe(almost.value) == "Slow down a little: try again in 1 s."
    now[0] = 1060.5
    assert cooldown.spend(GUILD, ANN) == 0  # the refusals spent nothing and the minute has passed


def test_checking_without_spending_and_spending_once_per_command() -> None:
    now = [1000.0]
    cooldown = MemberCooldown(2, 60.0, clock=lambda: now[0])
    for _ in range(5):
        cooldown.check_free(member(GUILD, ANN))  # looking costs nothing
    asking = cooldown.spend_once(member(GUILD, ANN))
    asking()
    asking()  # one command asking arXiv twice is one use
    assert cooldown.wait(GUILD, ANN) == 0
    cooldown.spend_once(member(GUILD, ANN))()
    with pytest.raises(app_commands.CommandOnCooldown):
        cooldown.check_free(member(GUILD, ANN))


# --- /search and /similar -------------------------------------------------------------------------------------


async def test_search_over_the_rate_is_refused_to_that_member_alone(quick: Club) -> None:
    club = quick
    for _ in range(SEARCHES_PER_MINUTE):
        assert not (await club.run("search", query="wombat")).ephemeral
    assert 1 <= refused(await club.run("search", query="wombat")) <= 60
    assert not (await club.run("search", query="wombat", user=BOB)).ephemeral
    assert not (await club.run("search", query="wombat", guild=OTHER_GUILD)).ephemeral
    assert 1 <= refused(await club.run("search", query="wombat")) <= 60


async def test_each_page_of_search_results_spends_a_search(quick: Club) -> None:
    """Paging runs the search again: Next and Previous count against the same rate, and over it the page stays."""
    club = quick
    for i, ident in enumerate(club.arxiv.catalog.ids(7)):
        await club.run("note add", paper=ident, text=f"The wombat result number {i}", user=BOB)
    first = await club.run("search", query="wombat")
    assert "Results 1–5" in first.original.text()
    for turn in range(SEARCHES_PER_MINUTE - 1):
        page = await club.click(first, "page:next" if turn % 2 == 0 else "page:previous")
        assert not page.ephemeral and ("Results 6–7" if turn % 2 == 0 else "Results 1–5") in page.text()
    assert "Results 6–7" in first.original.text()
    assert 1 <= refused(await club.click(first, "page:previous")) <= 60
    assert "Results 6–7" in first.original.text()  # the page stays as it was
    assert 1 <= refused(await club.run("search", query="wombat")) <= 60  # the pages spent the searches
    assert not (await club.run("search", query="wombat", user=BOB)).ephemeral


async def test_similar_over_the_rate_is_refused_to_that_member_alone(quick: Club) -> None:
    club = quick
    known = club.arxiv.catalog.ids(1)[0]
    await club.run("note add", paper=known, text="the group knows this one", user=BOB)
    for _ in range(SIMILAR_PER_MINUTE):
        assert not (await club.run("similar", paper=known)).ephemeral
    assert 1 <= refused(await club.run("similar", paper=known)) <= 60
    assert not (await club.run("similar", paper=known, user=BOB)).ephemeral
    assert not (await club.run("similar", paper=known, guild=OTHER_GUILD)).ephemeral


# --- /paper: only asking arXiv counts ---------------------------------------------------------------------------


async def test_paper_counts_only_lookups_that_ask_arxiv(quick: Club) -> None:
    club = quick
    ids = club.arxiv.catalog.ids(ARXIV_LOOKUPS_PER_MINUTE + 5)
    known, fresh, spare = ids[0], ids[1 : ARXIV_LOOKUPS_PER_MINUTE + 1], ids[ARXIV_LOOKUPS_PER_MINUTE + 1 :]
    assert not (await club.run("paper", query=known, user=BOB)).ephemeral  # now stored with arXiv's details
    for _ in range(ARXIV_LOOKUPS_PER_MINUTE + 2):
        assert not (await club.run("paper", query=known)).ephemeral  # costs Ann nothing
    for ident in fresh:
        inter = await club.run("paper", query=ident)
        assert not inter.ephemeral and inter.messages[-1].embeds, inter.text()
    before = asked(club)
    assert 1 <= refused(await club.run("paper", query=spare[0])) <= 60
    assert 1 <= refused(await club.run("paper", query="Fishing for Magikarp")) <= 60  # a title search asks too
    assert 1 <= refused(await club.run("similar", paper=spare[0])) <= 60  # /similar finds papers the same way
    assert asked(club) == before  # nothing was sent to arXiv for the refused lookups
    assert not (await club.run("paper", query=known)).ephemeral  # a paper the bot has is still shown
    assert not (await club.run("paper", query=spare[1], user=BOB)).ephemeral
    assert not (await club.run("paper", query=spare[2], guild=OTHER_GUILD)).ephemeral
    assert {spare[1], spare[2]} <= set(asked(club)) and spare[0] not in asked(club)


# --- /feed test -------------------------------------------------------------------------------------------------


async def test_feed_test_over_the_rate_fetches_nothing(fake_arxiv: FakeArxiv, tmp_path: Path) -> None:
    hits: list[str] = []

    async def listing(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(body=generate_listing(5, seed=3), content_type="application/rss+xml")

    async with serving(listing) as server:
        rss = str(server.make_url("/rss"))
        async with running_club(fake_arxiv, tmp_path, ARXIV_RSS_BASE=rss) as club:
            club.discord.quiet_period = 0.15
            for _ in range(FEED_TESTS_PER_MINUTE):
                assert "Nothing was saved" in (await club.run("feed test", source="cs.LG", user=MOD)).text()
            assert len(hits) == FEED_TESTS_PER_MINUTE
            assert 1 <= refused(await club.run("feed test", source="cs.LG", user=MOD)) <= 60
            assert len(hits) == FEED_TESTS_PER_MINUTE  # refused before the feed was asked
            assert "Nothing was saved" in (await club.run("feed test", source="cs.LG", user=OWNER)).text()
            assert (
                "Nothing was saved" in (await club.run("feed test", source="cs.LG", user=MOD, guild=OTHER_GUILD)).text()
            )
            assert len(hits) == FEED_TESTS_PER_MINUTE + 2


# --- link cards -------------------------------------------------------------------------------------------------


async def test_link_cards_over_the_rate_get_no_reply_and_ask_arxiv_nothing(
    quick: Club, caplog: pytest.LogCaptureFixture
) -> None:
    club = quick
    caplog.set_level(logging.DEBUG, logger="bot.cogs.links")
    known, over, bobs, elsewhere = club.arxiv.catalog.ids(4)
    for _ in range(CARD_MESSAGES_PER_MINUTE):
        await card_reply(club, await post(club, f"https://arxiv.org/abs/{known}"))
    silenced = await post(club, f"also https://arxiv.org/abs/{over}")
    await card_reply(club, await post(club, f"https://arxiv.org/abs/{bobs}", user=BOB))
    there = await post(club, f"https://arxiv.org/abs/{elsewhere}", channel=OTHER_CHANNEL)
    await card_reply(club, there, OTHER_CHANNEL)
    await club.discord.settle()
    assert replies_to(club, silenced) == []
    assert over not in asked(club) and {bobs, elsewhere} <= set(asked(club))
    assert any("no link card for member" in r.getMessage() and r.levelno == logging.DEBUG for r in caplog.records)
