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
from storage.models import Delivery, DeliveryState, DigestRun, DigestRunState, Paper
from storage.notes import NoteService
from tests.faults.world import CHANNELS, GUILD, World

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


SECTION = "Summary\n{lead}\n\nMethod\n{body}\n\nQuestions\n- {question}"


async def add_notes(world: World, count: int) -> None:
    """Notes by members of the server, written straight into the database the bot runs on."""
    engine = make_engine(world.database_url)
    try:
        sessions = make_sessions(engine)
        notes = NoteService(sessions)
        for i in range(count):
            async with sessions() as session:
                paper = Paper(key=f"arxiv:2504.{90_000 + i:05d}", title=f"A paper the group read, number {i}")
                session.add(paper)
                await session.commit()
                assert paper.id is not None
                paper_id = paper.id
            body = SECTION.format(
                lead=f"Note {i}: what the paper shows, in a few sentences. " * 4,
                body="How it works, step by step, with the details that matter. " * 12,
                question=f"What would change at scale {i}?",
            )
            await notes.add(
                guild_id=GUILD, paper_id=paper_id, author_id=1_000 + i, author_name=f"member{i}", body=body, tags=[]
            )
    finally:
        await engine.dispose()


async def digest_run(world: World) -> DigestRun | None:
    """The server's digest run, as the database has it."""
    engine = make_engine(world.database_url)
    try:
        async with make_sessions(engine)() as session:
            found = await session.exec(select(DigestRun).where(col(DigestRun.guild_id) == GUILD))  # type: ignore[call-overload]
            return found.scalars().first()
    finally:
        await engine.dispose()


async def digest_under_kills(world: World, *, notes: int, rounds: int) -> Outcome:
    """A moderator posts a digest of many messages; the bot is killed right after Discord takes one of them, again
    and again while it resumes; in the end every part is in the channel once, in order, and the run complete."""
    bot = await world.start()
    await add_notes(world, notes)
    channel = CHANNELS[0]
    asked = asyncio.create_task(world.slash("digest now", channel=channel))
    for _ in range(rounds):
        nth = world.rng.randint(1, 2)
        world.log(f"to be killed at its digest message #{nth} from now")
        killed = world.kill_on_bot_message(bot, nth)
        while not killed.is_set():
            run = await digest_run(world)
            if run is not None and run.state == DigestRunState.SENT:
                break
            await asyncio.sleep(0.1)
        world.fake.on_message = None
        if not killed.is_set():
            break  # the digest is complete: nothing left to interrupt
        await bot.proc.wait()
        bot = await world.start()
    asked.cancel()
    for _ in range(300):
        run = await digest_run(world)
        if run is not None and run.state == DigestRunState.SENT:
            break
        await asyncio.sleep(0.1)
    await world.fake.settle(quiet=1.0, timeout=30)
    code = await bot.stop()
    problems = [] if code == 0 else [f"the last bot exited with {code}:\n{bot.tail()}"]
    run = await digest_run(world)
    if run is None or run.state != DigestRunState.SENT or run.rendered is None:
        problems.append(f"the digest run is {run.state if run else 'missing'}")
        return Outcome(world.seed, world.kills, world.starts, 0, problems)
    posted = [m for m in world.fake.channel_messages(channel) if m.author_id == world.fake.bot_user_id]
    shown = [[(e.get("title"), e.get("description")) for e in m.embeds] for m in posted]
    wanted = [[(e.get("title"), e.get("description")) for e in part] for part in run.rendered]
    if shown != wanted:
        doubled = len(shown) - len({repr(p) for p in shown})
        problems.append(f"{len(wanted)} parts rendered, {len(shown)} messages in the channel ({doubled} doubled)")
    if list(run.message_ids) != [m.id for m in posted]:
        problems.append("the run's recorded messages are not the channel's")
    return Outcome(world.seed, world.kills, world.starts, len(wanted), problems)
