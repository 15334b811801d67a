"""What the fault suite does to a bot, and what it checks after: each scenario runs a bot process, kills it with
SIGKILL at moments chosen by a seeded random source, restarts it, and so on; then lets the last one finish and
reads Discord's messages and the database for anything lost or doubled."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlmodel import col

from storage.db import make_engine, make_sessions
from storage.migrations import status
from storage.models import Delivery, DeliveryState
from tests.faults.world import CHANNELS, World

KILL_WAIT = 30.0  # seconds to wait for the moment a kill was planned for; then it is killed anyway


@dataclass
class Outcome:
    """What a scenario did and what it found."""

    seed: int
    kills: int
    starts: int
    checked: int  # papers (or parts, notes) checked in the end
    problems: list[str]

    def summary(self) -> str:
        found = "; ".join(self.problems) or "0 lost, 0 doubled"
        return f"seed {self.seed}: {self.kills} kills, {self.starts} starts, {self.checked} checked: {found}"


async def feeds_under_kills(world: World, rounds: int) -> Outcome:
    """Two channels follow cs.LG; day after day of new papers, the bot is killed in the middle of posting them
    (right after Discord took a card, before the bot recorded it) or at any other moment."""
    bot = await world.start()
    for channel in CHANNELS:
        answer = await world.slash("feed add", channel=channel, source="cs.LG")
        assert "Following" in answer, answer
    for _ in range(rounds):
        # The next day once this one is out (the bot that runs now posts what its killed predecessor left):
        # a day the bot never saw is not caught up yet.
        await world.wait_for_cards({channel: world.listing.posted_after(0) for channel in CHANNELS}, timeout=60)
        world.listing.next_day()
        world.log(f"day {len(world.listing.days) - 1} listed")
        if world.rng.random() < 0.6:
            nth = world.rng.randint(1, 4)
            world.log(f"to be killed at its message #{nth} from now")
            killed = world.kill_on_bot_message(bot, nth)
            try:
                await asyncio.wait_for(killed.wait(), KILL_WAIT)
            except TimeoutError:
                world.log("no such message came")
                world.fake.on_message = None
        else:
            await asyncio.sleep(world.rng.uniform(0.1, 4.0))
        world.kill(bot)
        await bot.proc.wait()
        bot = await world.start()

    expected = {channel: world.listing.posted_after(0) for channel in CHANNELS}
    await world.wait_for_cards(expected, timeout=90)
    await world.fake.settle(quiet=1.0, timeout=30)
    problems = world.check_feed_cards(expected)
    code = await bot.stop()
    if code != 0:
        problems.append(f"the last bot exited with {code}:\n{bot.tail()}")
    problems += await database_problems(world)
    return Outcome(world.seed, world.kills, world.starts, sum(map(len, expected.values())), problems)


async def database_problems(world: World) -> list[str]:
    """What the database says is unsettled: a revision other than the newest, deliveries left pending."""
    problems = []
    migrated = await status(world.database_url)
    if not migrated.up_to_date:
        problems.append(f"the database is at revision {migrated.current}, not {migrated.head}")
    engine = make_engine(world.database_url)
    try:
        async with make_sessions(engine)() as session:
            pending = (
                await session.exec(  # type: ignore[call-overload]
                    select(func.count()).select_from(Delivery).where(col(Delivery.state) == DeliveryState.PENDING)
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    if pending:
        problems.append(f"{pending} deliveries still pending")
    return problems
