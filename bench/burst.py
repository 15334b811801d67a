"""Bursts of slash commands at the real bot process: how soon is each acknowledged, and answered?

The bot runs as its own process (``python -m bench.burst bot``: the bot as ``python -m bot`` runs it, with
bench/loop.py's watcher on its event loop) against the loopback Discord, in a server whose group has 200
notes on 100 papers the bot already knows (so arXiv is never asked). Bursts of 50, 200 and 500 commands,
the same mix of ``/note show``, ``/notes``, ``/paper`` and ``/search`` from 100 members, arrive at once:
alone; while a feed poll of a 2,000-item listing for 20 channels is being stored and handed out; and during
that poll and another group's weekly digest build at once. That group's week is bench/digest.py's (500 notes,
5,000 feed papers, seeded the same way; its feeds are not due); its digest job is the bot's own scheduler job,
moved to fire as the burst starts (SIGUSR1 to the bot process), and reads, picks, renders and posts the digest
as it would on the hour. Each run starts a fresh bot on a fresh copy of the database. Prints, from the moment
Discord sends each interaction: the first acknowledgement's p50/p95/p99, the answer's (the reply itself, or
after a defer the message that replaces "thinking…"), when the last answer arrived, the bot's longest
event-loop stall during the burst, and what the background work did (the poll's first post, the digest's
state and parts).
Budget (issue 14): acknowledgements p99 <= 100 ms and answers p99 <= 1 s at 200 commands, during a feed poll
and a digest build.

    .venv/bin/python -m bench.burst                 # or: bench.burst 200 --during digest
    BURST_PROFILE=/tmp/bot.prof .venv/bin/python -m bench.burst 200 --during alone   # the bot's CPU profile
    BURST_LOG=/tmp/bot.log BURST_LOG_LEVEL=INFO .venv/bin/python -m bench.burst 50   # the last bot's log, kept
    BURST_SPY=/tmp/spy.txt .venv/bin/python -m bench.burst 200 --during digest   # py-spy's samples of the bot
        # and its child processes over the burst's first BURST_SPY_SECONDS (2), every thread (pip install py-spy)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from aiohttp import web

from bench.loop import LoopWatch
from bench.notes import InstantArxiv, note_body

if TYPE_CHECKING:
    from storage.digests.content import DigestData
    from tests.fakediscord import FakeDiscord
    from tests.fakediscord.models import Interaction

ROOT = Path(__file__).resolve().parents[1]
GUILD, CHANNEL = 4_242, 5_000
FEED_CHANNELS = range(5_001, 5_021)  # 20 channels following one listing
MEMBERS = range(1_000, 1_100)
NOTES, PAPERS, AUTHORS = 200, 100, 20
LISTING = 2_000
BURSTS = (50, 200, 500)
WORDS = ("merging", "model", "loss", "propose", "results", "data", "alpha", "summary")
ANSWER_WAIT = 60.0  # seconds a burst may take to be answered before the run gives up
SETTLE = 4.0  # seconds from the commands' sync to the burst
POLL_QUIET = 2.0  # seconds without a new feed post after which the poll is taken as done
DIGEST_CHANNEL = 6_000  # where the other group's digest is posted
BACKGROUNDS = {"alone": (False, False), "poll": (True, False), "digest": (True, True)}  # (poll?, digest?)


def paper_key(n: int) -> str:
    """The arXiv id of the group's ``n``th paper."""
    return f"24{n % 12 + 1:02d}.{10_000 + n}"


async def seed(path: Path, week: DigestData | None = None) -> None:
    """A group with 200 notes on 100 papers, through the bot's migrations and services; with ``week``, first
    another group's week as bench.digest stores it, and that group's digest schedule (see :func:`digest_week`)."""
    from sqlalchemy import update

    from bench.digest import store_week
    from storage import migrations
    from storage.db import make_engine, make_sessions
    from storage.digests.schedule import DigestSchedules
    from storage.models import Feed
    from storage.notes import NoteService
    from storage.papers import Ambiguous, PaperService

    url = f"sqlite+aiosqlite:///{path}"
    await migrations.upgrade(url)
    engine = make_engine(url)
    sessions = make_sessions(engine)
    if week is not None:
        await store_week(engine, week)  # its rows numbered from 1: before the burst's group's
        async with engine.begin() as conn:  # its feeds were just fetched: not due during the burst
            await conn.execute(update(Feed).values(next_fetch_at=datetime.now(UTC) + timedelta(days=1)))
        local = week.end.astimezone(ZoneInfo(week.timezone))
        await DigestSchedules(sessions).set_schedule(
            guild_id=week.guild_id,
            channel_id=DIGEST_CHANNEL,
            weekday=local.weekday(),
            hour=local.hour,
            minute=local.minute,
            timezone=week.timezone,
            updated_by=MEMBERS[0],
        )
    papers, notes = PaperService(sessions, InstantArxiv()), NoteService(sessions)
    rng = random.Random(14)
    paper_ids = []
    for n in range(PAPERS):
        found = await papers.resolve(guild_id=GUILD, text=paper_key(n))
        assert not isinstance(found, Ambiguous)
        paper_ids.append(found.id)
    for i in range(NOTES):
        author = MEMBERS[i // (NOTES // AUTHORS)]
        await notes.add(
            guild_id=GUILD,
            paper_id=paper_ids[i % PAPERS],
            author_id=author,
            author_name=f"member{author}",
            body=note_body(rng),
            tags=["llms", f"topic{i % 7}"],
        )
    await engine.dispose()


async def subscribe(path: Path, url: str) -> None:
    """20 channels of the group follow the listing at ``url`` (half of them with keywords)."""
    from storage.db import make_engine, make_sessions
    from storage.feeds.kinds import FeedKind
    from storage.feeds.subscriptions import SubscriptionService

    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    feeds = SubscriptionService(make_sessions(engine))
    for channel in FEED_CHANNELS:
        await feeds.subscribe(
            guild_id=GUILD,
            channel_id=channel,
            created_by=MEMBERS[0],
            url=url,
            kind=FeedKind.ARXIV_LISTING,
            source="cs.LG",
            keywords="learning, model" if channel % 2 else None,
        )
    await engine.dispose()


def digest_week() -> DigestData:
    """bench.digest's busy week for another group, ending at this week's digest time, an hour ago: set just now,
    the schedule has no missed digest to catch up on at start-up, and its job, fired, posts this week."""
    from bench.digest import make_week

    end = (datetime.now(UTC) - timedelta(hours=1)).replace(second=0, microsecond=0)
    return make_week(start=end - timedelta(days=7))


def command(i: int) -> tuple[str, dict[str, str]]:
    """The ``i``th command of a burst: the mix cycles through /note show, /notes, /paper and /search."""
    kind = i % 4
    if kind == 0:
        return "note show", {"note": str(1 + (i * 7) % NOTES)}
    if kind == 1:
        return "notes", {}
    if kind == 2:
        return "paper", {"query": paper_key((i * 3) % PAPERS)}
    return "search", {"query": WORDS[(i // 4) % len(WORDS)]}


def percentiles(values: list[float]) -> tuple[float, float, float]:
    """p50, p95 and p99 of ``values``."""
    if len(values) < 2:
        return (values[0],) * 3 if values else (float("nan"),) * 3
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


@dataclass
class Result:
    """One burst: acknowledgement and answer times (s, from Discord's sending), the last answer (s, from the
    first command sent), the bot's longest loop stall in that window (s), unanswered commands, refused
    requests, (during a poll) seconds from the listing's sending to the poll's first post, and errors the bot
    logged, how long the loopback Discord itself took to send the whole burst (s), the CPU seconds the bot
    process (every thread, and its child processes) and the loopback Discord spent until the last answer, and
    (during a digest build) how the digest's run ended: its state, the parts it posted of how many, and seconds
    from the job firing to its last part."""

    acks: list[float]
    answers: list[float]
    last: float
    stall: float | None
    missing: int
    rejected: int
    first_post: float | None
    errors: int
    sending: float
    bot_cpu: float
    fake_cpu: float
    loop_cpu: float = float("nan")
    digest: tuple[str, int, int, float] | None = None


async def wait_answered(inters: list[Interaction]) -> None:
    for _ in range(int(ANSWER_WAIT / 0.02)):
        if all(i.answered_at is not None for i in inters):
            return
        await asyncio.sleep(0.02)


async def wait_posted(fake: FakeDiscord, released: float, *, digest: bool) -> float | None:
    """Once the burst is answered, wait for the poll's posts (and the digest's) to stop coming (a poll or digest
    cut short by stopping the bot would not be one); seconds from the listing's sending to the first feed post,
    None if none came."""
    first, count, still_since = None, -1, time.monotonic()
    deadline = time.monotonic() + ANSWER_WAIT
    while time.monotonic() < deadline and time.monotonic() - still_since < POLL_QUIET:
        posted = sum(len(fake.channel_messages(c)) for c in FEED_CHANNELS)
        now = posted + (len(fake.channel_messages(DIGEST_CHANNEL)) if digest else 0)
        if posted and first is None:
            first = time.monotonic() - released
        if now != count or not now:
            count, still_since = now, time.monotonic()
        await asyncio.sleep(0.05)
    return first


async def digest_run(path: Path, guild_id: int) -> tuple[str, int, int, float] | None:
    """The group's digest run, once the bot stopped: state, parts posted, parts, seconds from start to finish."""
    from sqlmodel import col, select

    from storage.db import make_engine
    from storage.models import DigestRun

    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.connect() as conn:
            row = (await conn.execute(select(DigestRun).where(col(DigestRun.guild_id) == guild_id))).first()
    finally:
        await engine.dispose()
    if row is None:
        return None
    took = (row.finished_at - row.created_at).total_seconds() if row.finished_at else float("nan")
    return row.state, len(row.message_ids), row.parts, took


async def run(size: int, template: Path, *, poll: bool, digest: DigestData | None = None, bare: bool = False) -> Result:
    """A fresh bot on a copy of ``template``; one burst of ``size`` commands, during a feed poll if ``poll``, and
    during ``digest``'s group's digest build if given (``template`` holds its week and schedule). With ``bare``,
    a bare discord.py client answering ``/ping`` at once stands in for the bot."""
    from schedules.digests import job_id
    from tests.fakediscord import running_fake
    from tests.feed_listings import generate_listing
    from tests.loopback import serving

    listing = generate_listing(LISTING, seed=11) if poll else b""
    release = asyncio.Event()  # the listing is sent as the burst starts: the poll stores it during the burst
    asked = asyncio.Event()  # the bot, ready, asked for the listing

    async def feed(request: web.Request) -> web.Response:
        asked.set()
        await release.wait()
        return web.Response(body=listing, content_type="application/rss+xml")

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "paperclub.db"
        shutil.copy(template, db)
        stalls = Path(tmp) / "stalls.json"
        async with serving(feed) as feed_server, running_fake() as fake:
            rss_base = str(feed_server.make_url("/rss"))
            if poll:
                await subscribe(db, f"{rss_base}/cs.LG")
            fake.add_guild(GUILD, owner_id=MEMBERS[0])
            fake.add_channel(GUILD, CHANNEL, name="papers")
            for channel in FEED_CHANNELS:
                fake.add_channel(GUILD, channel, name=f"feed-{channel}")
            for member in MEMBERS:
                fake.add_member(GUILD, member, name=f"member{member}")
            if digest is not None:
                fake.add_guild(digest.guild_id, owner_id=MEMBERS[0])
                fake.add_channel(digest.guild_id, DIGEST_CHANNEL, name="digest")
            env = {
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "DISCORD_TOKEN": fake.token,
                "DISCORD_API_BASE": fake.api_base,
                "DATABASE_URL": f"sqlite+aiosqlite:///{db}",
                "DEV_GUILD_ID": str(GUILD),
                "ARXIV_API_BASE": "http://127.0.0.1:9/api/query",  # never asked: every paper is known
                "ARXIV_RSS_BASE": rss_base,
                "HEARTBEAT_FILE": str(Path(tmp) / "heartbeat"),
                "LOG_LEVEL": os.environ.get("BURST_LOG_LEVEL", "WARNING"),
            }
            if digest is not None:
                env["BURST_DIGEST_JOB"] = job_id(digest.guild_id)
            log = (Path(tmp) / "bot.log").open("wb")
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.burst",
                "bare" if bare else "bot",
                str(stalls),
                cwd=tmp,
                env=env,
                stdout=log,
                stderr=log,
            )
            try:
                await asyncio.wait_for(fake.ready.wait(), 60)
                for _ in range(600):  # the bot syncs its commands to the server
                    if len(fake.commands.get(GUILD, [])) >= (1 if bare else 10):
                        break
                    await asyncio.sleep(0.05)
                # Settled: discord.py announces ready 2 s after the last server arrived, then the start-up jobs
                # (the first poll, which waits for the listing; the digests' jobs planned) run.
                await asyncio.sleep(SETTLE)
                if poll:
                    await asyncio.wait_for(asked.wait(), ANSWER_WAIT)
                release.set()
                released = time.monotonic()
                if digest is not None:
                    proc.send_signal(signal.SIGUSR1)  # the digest job fires now
                bot_cpu, own_cpu = cpu_seconds(proc.pid), time.process_time()
                loop_cpu = thread_cpu(proc.pid, proc.pid)
                if os.environ.get("BURST_SPY"):
                    await asyncio.create_subprocess_exec(  # it stops by itself
                        str(Path(sys.executable).with_name("py-spy")),
                        "record",
                        "-p",
                        str(proc.pid),
                        "-r",
                        "500",
                        "-d",
                        os.environ.get("BURST_SPY_SECONDS", "2"),
                        "--threads",
                        "--nonblocking",
                        "-s",
                        "-f",
                        "raw",
                        "-o",
                        os.environ["BURST_SPY"],
                        stdout=asyncio.subprocess.DEVNULL,
                        stderr=asyncio.subprocess.DEVNULL,
                    )
                inters = await asyncio.gather(
                    *(
                        fake.slash(name, guild_id=GUILD, channel_id=CHANNEL, user_id=MEMBERS[i % 100], options=opts)
                        for i, (name, opts) in enumerate(("ping", {}) if bare else command(i) for i in range(size))
                    )
                )
                await wait_answered(inters)
                bot_cpu, own_cpu = cpu_seconds(proc.pid) - bot_cpu, time.process_time() - own_cpu
                loop_cpu = thread_cpu(proc.pid, proc.pid) - loop_cpu
                first_post = await wait_posted(fake, released, digest=digest is not None) if poll else None
            finally:
                proc.send_signal(signal.SIGTERM)
                await proc.wait()
                log.close()
            if os.environ.get("BURST_LOG"):
                shutil.copy(Path(tmp) / "bot.log", os.environ["BURST_LOG"])
            errors = (Path(tmp) / "bot.log").read_text().count(" ERROR ")
            result = measure(fake, inters, stalls, first_post, errors, (bot_cpu, own_cpu))
            result.loop_cpu = loop_cpu
            if digest is not None:
                result.digest = await digest_run(db, digest.guild_id)
            return result


def measure(
    fake: FakeDiscord,
    inters: list[Interaction],
    stalls: Path,
    first_post: float | None,
    errors: int,
    cpu: tuple[float, float],
) -> Result:
    start = min(i.created for i in inters)
    acks = [i.acknowledged_at - i.created for i in inters if i.acknowledged_at is not None]
    answers = [i.answered_at - i.created for i in inters if i.answered_at is not None]
    end = max((i.answered_at for i in inters if i.answered_at is not None), default=start)
    sending = max(i.sent_at or start for i in inters) - start
    stall = None
    if stalls.exists():
        woke, lags = json.loads(stalls.read_text())
        during = [lag for at, lag in zip(woke, lags, strict=True) if start <= at <= end + 0.01]
        stall = max(during, default=0.0)
    unanswered = len(inters) - len(answers)
    return Result(acks, answers, end - start, stall, unanswered, len(fake.rejected), first_post, errors, sending, *cpu)


def ticks(stat: Path, fields: slice) -> float:
    """Seconds of CPU time in these fields of a /proc stat file."""
    values = stat.read_text().rsplit(")", 1)[1].split()[fields]
    return sum(int(v) for v in values) / os.sysconf("SC_CLK_TCK")


def thread_cpu(pid: int, tid: int) -> float:
    """CPU time (user + system) one thread of a process has used so far (the main thread: ``tid`` = ``pid``)."""
    return ticks(Path(f"/proc/{pid}/task/{tid}/stat"), slice(11, 13))


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, every thread) a process and its child processes (a feed's parse) have used so
    far, in seconds."""
    seconds = ticks(Path(f"/proc/{pid}/stat"), slice(11, 15))  # its own, then its children's that ended
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in children.read_text().split():
            with contextlib.suppress(OSError):  # ended meanwhile: counted by the next look
                seconds += cpu_seconds(int(child))
    return seconds


def ms(values: tuple[float, float, float]) -> str:
    return " / ".join(f"{v * 1000:,.0f}" for v in values)


async def main(sizes: tuple[int, ...], backgrounds: tuple[str, ...], *, bare: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "template.db"
        await seed(template)
        week = None
        if "digest" in backgrounds:
            week, with_week = digest_week(), Path(tmp) / "with-week.db"
            await seed(with_week, week)
        print(f"{NOTES} notes on {PAPERS} papers; mix: /note show, /notes, /paper, /search from {len(MEMBERS)} members")
        if week is not None:
            print(
                f"digest: another group's week of {len(week.notes)} notes and {len(week.papers):,} feed papers "
                "(bench.digest's), its scheduler job fired as the burst starts"
            )
        print("times from Discord sending each command; ack and answer as p50 / p95 / p99 in ms")
        for size in sizes if bare else ():
            r = await run(size, template, poll=False, bare=True)
            print(
                f"{size:>4} /ping to a bare discord.py client answering at once: ack {ms(percentiles(r.acks))}",
                flush=True,
            )
        for background in backgrounds:
            poll, digest = BACKGROUNDS[background]
            for size in sizes:
                r = await run(size, with_week if digest else template, poll=poll, digest=week if digest else None)
                when = "alone"
                if poll:
                    posted = f"first post {r.first_post:.1f} s" if r.first_post is not None else "no post"
                    when = f"in a poll (listing sent with the burst, {posted})"
                if digest:
                    if r.digest is None:
                        when += " and a digest build that did not run"
                    else:
                        state, sent, parts, took = r.digest
                        when += f" and a digest build ({state}: {sent} of {parts} parts, {took:.1f} s)"
                stall = f"{r.stall * 1000:,.0f} ms" if r.stall is not None else "n/a"
                extra = f"; {r.missing} unanswered" if r.missing else ""
                extra += f"; {r.rejected} requests refused" if r.rejected else ""
                extra += f"; {r.errors} errors logged by the bot" if r.errors else ""
                print(
                    f"{size:>4} {when}: ack {ms(percentiles(r.acks))}  answer {ms(percentiles(r.answers))}  "
                    f"last answer {r.last:.2f} s  longest loop stall {stall}{extra}",
                    flush=True,
                )
                print(
                    f"      bot CPU {r.bot_cpu / size * 1000:.1f} ms a command, of which its event loop's thread "
                    f"{r.loop_cpu / size * 1000:.1f}; the loopback Discord sent the burst "
                    f"over {r.sending * 1000:,.0f} ms and used {r.fake_cpu / size * 1000:.1f} ms of CPU a command",
                    flush=True,
                )
    print("budget (issue 14): at 200 commands, ack p99 <= 100 ms and answer p99 <= 1,000 ms")


def bare_bot() -> None:
    """A bare discord.py client whose one command, ``/ping``, answers at once: the floor for acknowledgements."""
    import discord

    from bench.idle_memory import bare_client

    def with_ping(bot: discord.Client) -> None:
        tree = bot.tree  # type: ignore[attr-defined]
        guild = discord.Object(int(os.environ["DEV_GUILD_ID"]))

        @tree.command(name="ping", description="Answers at once", guild=guild)
        async def ping(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("pong", ephemeral=True)

        async def sync() -> None:
            await tree.sync(guild=guild)

        bot.setup_hook = sync  # type: ignore[method-assign]

    asyncio.run(bare_client(prepare=with_ping))  # stopped by SIGTERM: no loop figures from it


def watched_bot(stalls: str) -> None:
    """The bot as ``python -m bot`` runs it, with the loop watcher on; its wake-ups and lags written at exit.

    With BURST_PROFILE set to a file name, the process's CPU profile (cProfile) is written there at exit. With
    BURST_DIGEST_JOB set to a digest job's id, SIGUSR1 makes the bot's scheduler fire that job now.
    """
    from bot.cli.base import load_settings
    from bot.cli.run import run_bot

    settings = load_settings(require_token=True)
    settings.configure_logging()

    watch = LoopWatch()
    digest_job = os.environ.get("BURST_DIGEST_JOB")
    if digest_job:
        fire_on_signal(digest_job)

    async def watched() -> None:
        with watch:
            await run_bot(settings)

    profile = os.environ.get("BURST_PROFILE")
    profiler = cProfile.Profile() if profile else None
    try:
        if profiler is not None:
            profiler.runcall(asyncio.run, watched())
        else:
            asyncio.run(watched())
    finally:
        Path(stalls).write_text(json.dumps([watch.woke, watch.lags]))
        if profiler is not None and profile:
            profiler.dump_stats(profile)


def fire_on_signal(job: str) -> None:
    """On SIGUSR1, the bot's scheduler runs ``job`` now, as it would at its time (the bot is caught as it is made)."""
    import bot.app
    from bot.app import PaperClub
    from bot.settings import Settings

    made: list[PaperClub] = []
    make_bot = bot.app.make_bot

    def making(settings: Settings) -> PaperClub:
        made.append(make_bot(settings))
        loop = asyncio.get_running_loop()
        scheduler = made[0].services.scheduler
        loop.add_signal_handler(signal.SIGUSR1, lambda: scheduler.modify_job(job, next_run_time=datetime.now(UTC)))
        return made[0]

    bot.app.make_bot = making


if __name__ == "__main__":
    if sys.argv[1:2] == ["bot"]:
        watched_bot(sys.argv[2])
    elif sys.argv[1:2] == ["bare"]:
        bare_bot()
    else:
        parser = argparse.ArgumentParser(description="Bursts of slash commands at the real bot process.")
        parser.add_argument("sizes", nargs="*", type=int, default=BURSTS, help="burst sizes (default: 50 200 500)")
        parser.add_argument(
            "--during",
            choices=("all", *BACKGROUNDS),
            default="all",
            help="the bursts alone, during a feed poll, or during a poll and a digest build (default: each in turn)",
        )
        parser.add_argument(
            "--poll", choices=("both", "alone", "during"), help="as before: alone and in a poll, alone, or in a poll"
        )
        parser.add_argument("--bare", action="store_true", help="first, a bare discord.py client's floor")
        args = parser.parse_args()
        backgrounds = tuple(BACKGROUNDS) if args.during == "all" else (args.during,)
        if args.poll:
            backgrounds = {"both": ("alone", "poll"), "alone": ("alone",), "during": ("poll",)}[args.poll]
        asyncio.run(main(tuple(args.sizes), backgrounds, bare=args.bare))
