"""Servers share arXiv's pace fairly, through the real client: one server's burst of /paper title lookups does
not leave another server's /paper last, and the scheduler's jobs ask arXiv as the bot, not as a server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from schedules.ratelimit import asking_as, requester
from tests.arxiv_standin import Reply
from tests.bot.conftest import ANN, BOB, CHANNEL, GUILD, MOD, OTHER_CHANNEL, OTHER_GUILD, OWNER, Club

BURST = {ANN: "Wombat Burrow Acoustics", BOB: "Wombat Cube Droppings", MOD: "Wombat Sleep Cycles", OWNER: "Wombat Diet"}
LONE = "Platypus Venom Kinetics"


async def until(condition: Callable[[], bool]) -> None:
    """Let the bot work until ``condition`` holds (a guard, not a measure of time)."""
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110 - the limiter's queue has no event to wait on
            await asyncio.sleep(0.005)


async def test_one_servers_burst_of_title_lookups_does_not_keep_another_servers_paper_last(club: Club) -> None:
    club.arxiv.search_reply = club.arxiv.title_search
    for n, title in enumerate([*BURST.values(), LONE]):
        club.arxiv.add_paper(f"2406.0000{n}", title, authors=["Ann Author"], published="2024-06-01T00:00:00Z")
    limiter = club.bot.services.limiter
    gate = asyncio.Event()

    async def hold() -> None:  # arXiv is busy with the bot's own request while members ask
        async with limiter.slot():
            await gate.wait()

    holder = asyncio.create_task(hold())
    await until(lambda: limiter.busy)
    burst = []
    for user, title in BURST.items():
        burst.append(
            await club.discord.slash(
                "paper", guild_id=GUILD, channel_id=CHANNEL, user_id=user, options={"query": title}
            )
        )
    await until(lambda: limiter.waiting == len(BURST))
    lone = await club.discord.slash(
        "paper", guild_id=OTHER_GUILD, channel_id=OTHER_CHANNEL, user_id=ANN, options={"query": LONE}
    )
    await until(lambda: limiter.waiting == len(BURST) + 1)
    gate.set()
    await holder
    for inter in [*burst, lone]:
        await inter.wait_done()
    asked = [seen.query["search_query"] for seen in club.arxiv.title_searches()]
    assert len(asked) == len(BURST) + 1
    assert any(LONE in query for query in asked[:2]), asked  # first come, first served would have asked it last
    assert LONE in lone.text()
    assert all(title in inter.text() for inter, title in zip(burst, BURST.values(), strict=True))


async def test_the_schedulers_jobs_ask_arxiv_as_the_bot_after_a_server_moved_a_job(club: Club) -> None:
    scheduler = club.bot.services.scheduler
    seen: list[object] = []
    ran = asyncio.Event()

    async def probe() -> None:
        seen.append(requester.get())
        ran.set()

    with asking_as(GUILD):  # as a member's /digest schedule does: it moves the group's job at once
        scheduler.add_job(probe, "date", run_date=datetime.now(UTC) + timedelta(milliseconds=50), id="probe")
    async with asyncio.timeout(10):
        await ran.wait()
    assert seen == [None]


async def test_a_link_cards_lookup_takes_its_servers_turn_not_a_place_behind_the_bots_queue(club: Club) -> None:
    wanted = club.arxiv.catalog.ids(1)[0]
    limiter = club.bot.services.limiter
    gate = asyncio.Event()
    polls_done: list[int] = []
    answer = club.arxiv.respond
    asked_after: list[int] = []

    def respond(query: dict[str, str]) -> Reply:
        asked_after.append(len(polls_done))
        return answer(query)

    async def hold() -> None:  # arXiv is busy with the bot's own request
        async with limiter.slot():
            await gate.wait()

    async def poll(n: int) -> None:  # the bot's own work queued behind it: feed polls
        async with limiter.slot():
            polls_done.append(n)

    club.arxiv.respond = respond  # type: ignore[method-assign]
    holder = asyncio.create_task(hold())
    await until(lambda: limiter.busy)
    polls = [asyncio.create_task(poll(n)) for n in range(4)]
    await until(lambda: limiter.waiting == 4)
    message = await club.discord.post_message(OTHER_CHANNEL, user_id=ANN, content=f"https://arxiv.org/abs/{wanted}")
    await until(lambda: limiter.waiting == 5)
    gate.set()
    await asyncio.gather(holder, *polls)
    await club.discord.wait_for_message(OTHER_CHANNEL, after=message, check=lambda m: bool(m.embeds))
    assert asked_after == [0]  # the member's card went first, not after the four polls
