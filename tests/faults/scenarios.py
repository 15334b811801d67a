"""What the fault suite does to a bot, and what it checks after: each scenario runs a bot process, kills it with
SIGKILL at moments chosen by a seeded random source, restarts it, and so on; then lets the last one finish and
reads Discord's messages and the database for anything lost or doubled."""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, text
from sqlmodel import col

from storage.db import make_engine, make_sessions
from storage.migrations import status, upgrade
from storage.migrations.run import migrate_engine
from storage.models import Delivery, DeliveryState, DigestRun, DigestRunState, Paper
from storage.notes import NoteService
from tests.fakediscord import DEFAULT_PERMISSIONS
from tests.faults.world import CHANNELS, GUILD, MANAGE_GUILD, MOD, OWNER, BotProcess, World

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
    await pending_deliveries(world, within=90)  # the last bot has settled what the one before left
    await world.fake.settle(quiet=1.0, timeout=30)
    problems = world.check_feed_cards(expected)
    code = await bot.stop()
    if code != 0:
        problems.append(f"the last bot exited with {code}:\n{bot.tail()}")
    problems += await database_problems(world)
    return Outcome(world.seed, world.kills, world.starts, sum(map(len, expected.values())), problems)


async def pending_deliveries(world: World, *, within: float = 0) -> int:
    """How many deliveries are recorded as about to be sent; with ``within``, waits up to that many seconds for
    the running bot to settle them (the cards a killed bot posted but never recorded are found by its
    successor's first poll, which may come after every card is in the channel)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    engine = make_engine(world.database_url)
    try:
        while True:
            async with make_sessions(engine)() as session:
                pending: int = (
                    await session.exec(  # type: ignore[call-overload]
                        select(func.count()).select_from(Delivery).where(col(Delivery.state) == DeliveryState.PENDING)
                    )
                ).scalar_one()
            if not pending or loop.time() > deadline:
                return pending
            await asyncio.sleep(0.2)
    finally:
        await engine.dispose()


async def database_problems(world: World) -> list[str]:
    """What the database says is unsettled: a revision other than the newest, deliveries left pending."""
    problems = []
    migrated = await status(world.database_url)
    if not migrated.up_to_date:
        problems.append(f"the database is at revision {migrated.current}, not {migrated.head}")
    pending = await pending_deliveries(world)
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


async def old_database(url: str, *, runs: int) -> dict[str, int]:
    """A database at the first revision with a row in every table and ``runs`` digest runs (a table a later
    revision rebuilds on SQLite, so that its migration takes a while); returns the row count of each table."""
    from tests.storage.test_migrations import FIRST, ROWS, table_of

    engine = make_engine(url)
    try:
        await migrate_engine(engine, FIRST)
        async with engine.begin() as conn:
            for name, rows in ROWS.items():
                await conn.execute(insert(table_of(name, rows[0])), rows)
            run = dict(ROWS["digest_runs"][0])
            many = [
                {**run, "id": i, "guild_id": 10_000 + i, "period_start": run["period_start"] + timedelta(weeks=i)}
                for i in range(2, runs + 2)
            ]
            await conn.execute(insert(table_of("digest_runs", run)), many)
    finally:
        await engine.dispose()
    return {name: len(rows) + (runs if name == "digest_runs" else 0) for name, rows in ROWS.items()}


async def row_counts(url: str, tables: list[str]) -> dict[str, int]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return {name: (await conn.execute(text(f"SELECT count(*) FROM {name}"))).scalar_one() for name in tables}
    finally:
        await engine.dispose()


async def migration_under_kills(world: World, rounds: int, *, runs: int = 150_000) -> Outcome:
    """A bot is killed at a random moment of its migrations: on a new database's first start (its tables
    created), and on a database from the first revision (rows kept through every later revision). The database
    is then as it was or at the newest revision, never between, with every row; the next start goes on from
    there, and the last one runs to the end and connects."""
    from tests.storage.test_migrations import FIRST

    template = world.folder / "first-revision.db"
    counts = await old_database(f"sqlite:///{template}", runs=runs)
    database = Path(world.database_url.removeprefix("sqlite:///"))
    database.parent.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    loop = asyncio.get_running_loop()

    def prepare(old: bool) -> None:
        for leftover in database.parent.glob(f"{database.name}*"):
            leftover.unlink()
        if old:
            shutil.copyfile(template, database)

    async def migrating(bot: BotProcess, old: bool) -> float:
        """Wait until the start begins migrating (a new database's file appears; an old one is written to)."""
        marker = database if not old else database.with_name(database.name + "-wal")
        while not marker.exists() and bot.running:  # noqa: ASYNC110 - another process writes the file
            await asyncio.sleep(0.002)
        return loop.time()

    # How long the migrations of each kind of start take here: the kills are spread over that.
    took: dict[bool, float] = {}
    for old in (False, True):
        prepare(old)
        bot = await world.start(wait_ready=False)
        began = await migrating(bot, old)
        while not (await status(world.database_url)).up_to_date:  # noqa: ASYNC110 - another process migrates
            await asyncio.sleep(0.002)
        took[old] = loop.time() - began
        world.kill(bot)
        await bot.proc.wait()
        world.log(f"{'an old' if old else 'a new'} database migrates in {took[old]:.3f} s")

    for round_ in range(rounds):
        old = round_ % 2 == 1
        before = FIRST if old else None
        prepare(old)
        bot = await world.start(wait_ready=False)
        await migrating(bot, old)
        await asyncio.sleep(world.rng.uniform(0, took[old]))
        world.kill(bot)
        await bot.proc.wait()
        found = await status(world.database_url)
        world.log(f"killed at revision {found.current}")
        if found.current not in (before, found.head):
            problems.append(f"killed at revision {found.current}")
        if (await upgrade(world.database_url)).current != found.head:  # what the next start does first
            problems.append("the next start could not finish the migrations")
        if old and (await row_counts(world.database_url, list(counts))) != counts:
            problems.append("rows were lost")

    prepare(True)
    bot = await world.start()  # one more start on a first-revision database: it migrates and connects
    code = await bot.stop()
    if code != 0:
        problems.append(f"the last bot exited with {code}:\n{bot.tail()}")
    if (
        not (await status(world.database_url)).up_to_date
        or (await row_counts(world.database_url, list(counts))) != counts
    ):
        problems.append("the last start did not leave every row at the newest revision")
    return Outcome(world.seed, world.kills, world.starts, rounds, problems)


SHARDS = 2
SECOND_GUILD = (1 << 40) + (1 << 22)  # on shard 1 of 2; GUILD is on shard 0
SECOND_CHANNEL = 900_000_000_000_000_031


async def lease_holder_pid(world: World) -> int | None:
    """The process polling the feeds now, by the lease row (``host:pid:random``)."""
    engine = make_engine(world.database_url)
    try:
        async with engine.connect() as conn:
            holder = (await conn.execute(text("SELECT holder FROM leases WHERE name = 'feeds'"))).scalar()
    finally:
        await engine.dispose()
    return int(holder.split(":")[1]) if holder else None


async def two_processes_under_kills(world: World, rounds: int) -> Outcome:
    """Two processes on one PostgreSQL, each running one of two shards with a server on each; one of them is
    killed at random (often the one polling, right after Discord took one of its cards) while the other runs on,
    then started again. Every listed paper is in each server's channel once."""
    world.fake.add_guild(SECOND_GUILD, owner_id=OWNER)
    world.fake.add_channel(SECOND_GUILD, SECOND_CHANNEL, name="papers")
    world.fake.add_member(SECOND_GUILD, MOD, name="mod", permissions=DEFAULT_PERMISSIONS | MANAGE_GUILD)
    channels = {GUILD: CHANNELS[0], SECOND_GUILD: SECOND_CHANNEL}

    async def start(shard: int) -> BotProcess:
        bot = await world.start(wait_ready=False, SHARD_COUNT=str(SHARDS), SHARD_IDS=str(shard))
        await world.fake.shards_ready(SHARDS, shard_ids=[shard], timeout=60)
        return bot

    bots = {shard: await start(shard) for shard in range(SHARDS)}
    await world.fake.shards_ready(SHARDS, timeout=60)
    for guild, channel in channels.items():
        inter = await world.fake.slash(
            "feed add", guild_id=guild, channel_id=channel, user_id=MOD, options={"source": "cs.LG"}
        )
        await inter.wait_done()
        assert "Following" in inter.text(), inter.text()

    def expected() -> dict[int, set[str]]:
        return {channel: world.listing.posted_after(0) for channel in channels.values()}

    for _ in range(rounds):
        await world.wait_for_cards(expected(), timeout=60)
        world.listing.next_day()
        world.log(f"day {len(world.listing.days) - 1} listed")
        holder = await lease_holder_pid(world)
        polling = next((s for s, b in bots.items() if b.proc.pid == holder), None)
        if polling is not None and world.rng.random() < 0.6:
            victim = polling
            killed = world.kill_on_bot_message(bots[victim], world.rng.randint(1, 4))
            try:
                await asyncio.wait_for(killed.wait(), KILL_WAIT)
            except TimeoutError:
                world.fake.on_message = None
        else:
            victim = world.rng.randrange(SHARDS)
            await asyncio.sleep(world.rng.uniform(0.1, 6.0))
        world.kill(bots[victim])
        await bots[victim].proc.wait()
        world.log(f"shard {victim}'s process killed; the other runs on")
        bots[victim] = await start(victim)

    await world.wait_for_cards(expected(), timeout=90)
    await pending_deliveries(world, within=90)  # the polling process has settled what a killed one left
    await world.fake.settle(quiet=1.0, timeout=30)
    problems = world.check_feed_cards(expected())
    for shard, bot in bots.items():
        code = await bot.stop()
        if code != 0:
            problems.append(f"shard {shard}'s last process exited with {code}:\n{bot.tail()}")
    problems += await database_problems(world)
    return Outcome(world.seed, world.kills, world.starts, sum(map(len, expected().values())), problems)


async def import_rows(world: World) -> list[tuple[int, str, int, int]]:
    """Each import: id, state, notes it says it created, notes that carry its id."""
    engine = make_engine(world.database_url)
    try:
        async with engine.connect() as conn:
            found = await conn.execute(
                text(
                    "SELECT i.id, i.state, i.counts, (SELECT count(*) FROM notes n WHERE n.import_id = i.id) "
                    "FROM imports i ORDER BY i.id"
                )
            )
            rows = []
            for import_id, state, counts, notes in found.all():
                made = (json.loads(counts) if isinstance(counts, str) else counts or {}).get("notes_created", 0)
                rows.append((import_id, state, made, notes))
            return rows
    finally:
        await engine.dispose()


async def imports_under_kills(world: World, rounds: int, *, posts: int = 300) -> Outcome:
    """A moderator imports a channel's daily posts for a member; the bot is killed at a random moment while it
    writes them, then started again. Every import is whole (all its notes) or absent (none, and its message says
    to run it again); one that was not killed is whole."""
    from bench.imports import channel as daily_posts

    bot = await world.start()
    problems: list[str] = []
    loop = asyncio.get_running_loop()
    took = 0.0
    sent_notes: list[str] = []
    asked_notes: list[asyncio.Task[object]] = []
    for round_ in range(rounds + 1):
        member = 710_000_000_000_000_000 + round_  # each import is a member's own notes: none is "already here"
        world.fake.add_member(GUILD, member, name=f"reader{round_}")
        document = daily_posts(posts, size=500, seed=world.seed + round_).encode()
        attachment = world.fake.host_file(f"reading-{round_}.md", document, content_type="text/markdown")
        begun = world.on_bot_message(1)  # the import's own message, posted before it writes
        asked = asyncio.create_task(
            world.fake.slash(
                "import",
                guild_id=GUILD,
                channel_id=CHANNELS[0],
                user_id=MOD,
                options={"member": member, "dry_run": False},
                attachments={"file": attachment},
            )
        )
        await asyncio.wait_for(begun.wait(), KILL_WAIT)
        started = loop.time()
        if round_ == 0:  # the first one runs to its end: how long writing takes here
            while not (rows := await import_rows(world)) or rows[-1][1] == "applying":  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            took = loop.time() - started
            world.log(f"an import of {posts} posts takes {took:.2f} s")
            asked.cancel()
            continue
        wrote = world.rng.uniform(0, took)
        for number in range(3):  # members post notes meanwhile; the kill may come in the middle of one
            text_ = f"Round {round_}, note {number}: " + "what the paper shows, and why it matters. " * 40
            sent_notes.append(text_)
            world.fake.add_member(GUILD, member + 1_000 + number, name=f"member{round_}{number}")
            asked_notes.append(
                asyncio.create_task(
                    world.fake.slash(
                        "note add",
                        guild_id=GUILD,
                        channel_id=CHANNELS[1],
                        user_id=member + 1_000 + number,
                        options={"paper": f"https://papers.example.org/{round_}-{number}", "text": text_},
                    )
                )
            )
        await asyncio.sleep(wrote)
        world.kill(bot)
        await bot.proc.wait()
        asked.cancel()
        bot = await world.start()
        for _ in range(300):  # the restarted bot rolls back what the killed one left half-written
            rows = await import_rows(world)
            if rows and rows[-1][1] != "applying":
                break
            await asyncio.sleep(0.1)
        world.log(f"import {rows[-1][0]} is {rows[-1][1]} after the kill")
    await world.fake.settle(quiet=1.0, timeout=30)
    code = await bot.stop()
    if code != 0:
        problems.append(f"the last bot exited with {code}:\n{bot.tail()}")
    for task in asked_notes:
        task.cancel()
    rows = await import_rows(world)
    for import_id, state, made, notes in rows:
        whole = state in ("done", "resolving") and notes == made > 0
        absent = state == "stopped" and notes == 0
        if not (whole or absent):
            problems.append(f"import {import_id} is {state} with {notes} of its {made} notes")
    problems += await note_problems(world, sent_notes)
    return Outcome(world.seed, world.kills, world.starts, sum(r[3] for r in rows), problems)


async def note_problems(world: World, sent: list[str]) -> list[str]:
    """Notes members posted while the bot was killed: each stored whole (exactly as written) or not at all, and
    every message a note says it was posted as is in the channel."""
    engine = make_engine(world.database_url)
    try:
        async with engine.connect() as conn:
            found = (await conn.execute(text("SELECT id, body, message_ids FROM notes WHERE import_id IS NULL"))).all()
    finally:
        await engine.dispose()
    in_channel = {m.id for m in world.fake.channel_messages(CHANNELS[1])}
    problems = []
    for note_id, body, message_ids in found:
        if body not in {text_.strip() for text_ in sent}:  # as written, its trailing space trimmed
            problems.append(f"note {note_id} is not what its member wrote")
        ids = json.loads(message_ids) if isinstance(message_ids, str) else message_ids or []
        if not set(ids) <= in_channel:
            problems.append(f"note {note_id} names messages the channel does not have")
    world.log(f"{len(found)} of {len(sent)} notes posted during kills were stored")
    return problems
