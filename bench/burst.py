"""Bursts of slash commands at the real bot process: how soon is each acknowledged, and answered?

The bot runs as its own process (``python -m bench.burst bot``: the bot as ``python -m bot`` runs it, with
bench/loop.py's watcher on its event loop) against the loopback Discord, in a server whose group has 200
notes on 100 papers the bot already knows (so arXiv is never asked). Bursts of 50, 200 and 500 commands,
the same mix of ``/note show``, ``/notes``, ``/paper`` and ``/search`` from 100 members, arrive at once:
alone, and while a feed poll of a 2,000-item listing for 20 channels is being stored and handed out. Each
run starts a fresh bot on a fresh copy of the database. Prints, from the moment Discord sends each
interaction: the first acknowledgement's p50/p95/p99, the answer's (the reply itself, or after a defer the
message that replaces "thinking…"), when the last answer arrived, and the bot's longest event-loop stall
during the burst.
Budget (issue 14): acknowledgements p99 <= 100 ms and answers p99 <= 1 s at 200 commands.

    .venv/bin/python -m bench.burst                 # or: bench.burst 200 --poll alone
    BURST_PROFILE=/tmp/bot.prof .venv/bin/python -m bench.burst 200 --poll alone   # the bot's CPU profile
"""

from __future__ import annotations

import argparse
import asyncio
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
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from bench.loop import LoopWatch
from bench.notes import InstantArxiv, note_body

if TYPE_CHECKING:
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
POLL_QUIET = 2.0  # seconds without a new feed post after which the poll is taken as done


def paper_key(n: int) -> str:
    """The arXiv id of the group's ``n``th paper."""
    return f"24{n % 12 + 1:02d}.{10_000 + n}"


async def seed(path: Path) -> None:
    """A group with 200 notes on 100 papers, through the bot's migrations and services."""
    from storage import migrations
    from storage.db import make_engine, make_sessions
    from storage.notes import NoteService
    from storage.papers import Ambiguous, PaperService

    url = f"sqlite+aiosqlite:///{path}"
    await migrations.upgrade(url)
    engine = make_engine(url)
    sessions = make_sessions(engine)
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
    from storage.feeds.subscriptions import SubscriptionService
    from storage.models import FeedKind

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
    logged, how long the loopback Discord itself took to send the whole burst (s), and the CPU seconds the bot
    process (every thread) and the loopback Discord spent until the last answer."""

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


async def wait_answered(inters: list[Interaction]) -> None:
    for _ in range(int(ANSWER_WAIT / 0.02)):
        if all(i.answered_at is not None for i in inters):
            return
        await asyncio.sleep(0.02)


async def wait_polled(fake: FakeDiscord, released: float) -> float | None:
    """Once the burst is answered, wait for the poll's posts to stop coming (a poll cut short by stopping the bot
    would not be a poll); seconds from the listing's sending to the first feed post, None if none came."""
    first, count, still_since = None, -1, time.monotonic()
    deadline = time.monotonic() + ANSWER_WAIT
    while time.monotonic() < deadline and time.monotonic() - still_since < POLL_QUIET:
        now = sum(len(fake.channel_messages(c)) for c in FEED_CHANNELS)
        if now and first is None:
            first = time.monotonic() - released
        if now != count or not now:
            count, still_since = now, time.monotonic()
        await asyncio.sleep(0.05)
    return first


async def run(size: int, template: Path, *, poll: bool, bare: bool = False) -> Result:
    """A fresh bot on a copy of ``template``; one burst of ``size`` commands, during a feed poll if ``poll``.
    With ``bare``, a bare discord.py client answering ``/ping`` at once stands in for the bot."""
    from tests.fakediscord import running_fake
    from tests.feed_listings import generate_listing
    from tests.loopback import serving

    listing = generate_listing(LISTING, seed=11) if poll else b""
    release = asyncio.Event()  # the listing is sent as the burst starts: the poll stores it during the burst

    async def feed(request: web.Request) -> web.Response:
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
                "LOG_LEVEL": "WARNING",
            }
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
                await asyncio.sleep(2.0)  # settled: start-up jobs done
                release.set()
                released = time.monotonic()
                bot_cpu, own_cpu = cpu_seconds(proc.pid), time.process_time()
                inters = await asyncio.gather(
                    *(
                        fake.slash(name, guild_id=GUILD, channel_id=CHANNEL, user_id=MEMBERS[i % 100], options=opts)
                        for i, (name, opts) in enumerate(("ping", {}) if bare else command(i) for i in range(size))
                    )
                )
                await wait_answered(inters)
                bot_cpu, own_cpu = cpu_seconds(proc.pid) - bot_cpu, time.process_time() - own_cpu
                first_post = await wait_polled(fake, released) if poll else None
            finally:
                proc.send_signal(signal.SIGTERM)
                await proc.wait()
                log.close()
            errors = (Path(tmp) / "bot.log").read_text().count(" ERROR ")
            return measure(fake, inters, stalls, first_post, errors, (bot_cpu, own_cpu))


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


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, every thread) a process has used so far, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ms(values: tuple[float, float, float]) -> str:
    return " / ".join(f"{v * 1000:,.0f}" for v in values)


async def main(sizes: tuple[int, ...], polls: tuple[bool, ...], *, bare: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "template.db"
        await seed(template)
        print(f"{NOTES} notes on {PAPERS} papers; mix: /note show, /notes, /paper, /search from {len(MEMBERS)} members")
        print("times from Discord sending each command; ack and answer as p50 / p95 / p99 in ms")
        for size in sizes if bare else ():
            r = await run(size, template, poll=False, bare=True)
            print(
                f"{size:>4} /ping to a bare discord.py client answering at once: ack {ms(percentiles(r.acks))}",
                flush=True,
            )
        for poll in polls:
            for size in sizes:
                r = await run(size, template, poll=poll)
                when = "alone"
                if poll:
                    posted = f"first post {r.first_post:.1f} s" if r.first_post is not None else "no post"
                    when = f"in a poll (listing sent with the burst, {posted})"
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
                    f"      bot CPU {r.bot_cpu / size * 1000:.1f} ms a command; the loopback Discord sent the burst "
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

    With BURST_PROFILE set to a file name, the process's CPU profile (cProfile) is written there at exit.
    """
    from bot.cli.base import load_settings
    from bot.cli.run import run_bot

    settings = load_settings(require_token=True)
    settings.configure_logging()

    watch = LoopWatch()

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


if __name__ == "__main__":
    if sys.argv[1:2] == ["bot"]:
        watched_bot(sys.argv[2])
    elif sys.argv[1:2] == ["bare"]:
        bare_bot()
    else:
        parser = argparse.ArgumentParser(description="Bursts of slash commands at the real bot process.")
        parser.add_argument("sizes", nargs="*", type=int, default=BURSTS, help="burst sizes (default: 50 200 500)")
        parser.add_argument("--poll", choices=("both", "alone", "during"), default="both", help="with a feed poll?")
        parser.add_argument("--bare", action="store_true", help="first, a bare discord.py client's floor")
        args = parser.parse_args()
        polls = {"both": (False, True), "alone": (False,), "during": (True,)}[args.poll]
        asyncio.run(main(tuple(args.sizes), polls, bare=args.bare))
