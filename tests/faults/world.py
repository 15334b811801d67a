"""The world a bot process lives in for the fault suite: the loopback Discord, arXiv's API and its cs.LG listing,
and one database. Bot processes (``python -m bot``, as an operator runs it) are started in it and killed with
SIGKILL, and what they leave behind is read back from Discord's messages and the database."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from tests.arxiv_standin import Catalog, FakeArxiv
from tests.fakediscord import DEFAULT_PERMISSIONS, FakeDiscord, running_fake
from tests.fakediscord.models import Message
from tests.feed_listings import GeneratedPaper, listing_papers, render_listing
from tests.loopback import serving

ROOT = Path(__file__).resolve().parents[2]
GUILD = (1 << 40) | 1
CHANNELS = (900_000_000_000_000_021, 900_000_000_000_000_022)
OWNER, MOD = 700_000_000_000_000_091, 700_000_000_000_000_092
MANAGE_GUILD = 1 << 5
FEED_MARK = "via /feed"  # the footer every feed card ends with
READY_WITHIN = 60.0  # seconds a bot process gets to connect (a migration of a large database included)


def feed_cards(fake: FakeDiscord, channel: int) -> list[str]:
    """The arXiv ids of the feed cards the bot posted in a channel, one entry per card, in order."""
    return [
        embed["url"].rstrip("/").rsplit("/", 1)[-1]
        for message in fake.channel_messages(channel)
        for embed in message.embeds
        if (embed.get("footer") or {}).get("text", "").endswith(FEED_MARK) and embed.get("url")
    ]


class Listing:
    """arXiv's cs.LG listing, one announcement day after another; counts the fetches of each day."""

    def __init__(self, per_day: int, seed: int) -> None:
        self.per_day, self.seed = per_day, seed
        self.days: list[list[GeneratedPaper]] = []
        self.fetches = 0  # of the current day
        self.next_day()

    def next_day(self) -> None:
        """The next day's listing replaces the current one (papers with new ids)."""
        day = len(self.days)
        self.days.append(listing_papers(self.per_day, start_id=1_000 + day * 100, seed=self.seed + day))
        self.body = render_listing(self.days[-1])
        self.fetches = 0

    def posted_after(self, first_day: int) -> set[str]:
        """The ids a subscription made on ``first_day`` posts: the new and cross-listed papers of later days."""
        return {p.arxiv_id for day in self.days[first_day + 1 :] for p in day if p.announce_type in ("new", "cross")}

    async def handle(self, request: web.Request) -> web.Response:
        self.fetches += 1
        return web.Response(body=self.body, content_type="application/rss+xml")


@dataclass
class BotProcess:
    """One ``python -m bot``; its output goes to a log file the failure messages quote."""

    proc: asyncio.subprocess.Process
    log: Path
    killed: bool = False

    @property
    def running(self) -> bool:
        return self.proc.returncode is None and not self.killed

    def kill(self) -> None:
        """SIGKILL, now: no clean-up of any kind runs."""
        if self.running:
            self.killed = True
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    async def stop(self) -> int:
        """SIGTERM, and the exit code once it has shut down cleanly."""
        if self.running:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), 30)
        except TimeoutError:
            self.kill()
            await self.proc.wait()
            raise AssertionError(f"the bot did not stop on SIGTERM:\n{self.tail()}") from None

    def tail(self, lines: int = 40) -> str:
        """The end of the process's output."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class World:
    """The loopback Discord, arXiv and listing, a database, and a seeded source of chance."""

    fake: FakeDiscord
    arxiv: FakeArxiv
    listing: Listing
    listing_url: str
    folder: Path
    database_url: str
    seed: int
    rng: random.Random = field(init=False)
    starts: int = 0
    kills: int = 0
    bots: list[BotProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a bot process: everything it talks to is on this machine's loopback."""
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "DATABASE_", "DEV_GUILD"))}
        return {
            **inherited,
            "PYTHONPATH": str(ROOT),
            "DISCORD_TOKEN": self.fake.token,
            "DISCORD_API_BASE": self.fake.api_base,
            "DATABASE_URL": self.database_url,
            "ARXIV_API_BASE": self.arxiv.url,
            "ARXIV_RSS_BASE": self.listing_url,
            "ARXIV_MIN_INTERVAL": "0.01",
            "FEED_POLL_INTERVAL": "5",
            "FEED_POST_PAUSE": "0",
            "METADATA_RETRY_INTERVAL": "0",
            "LINK_CARDS": "off",
            **extra,
        }

    async def start(self, *, wait_ready: bool = True, **extra: str) -> BotProcess:
        """Start a bot process and (by default) wait until it is connected and has its servers."""
        self.starts += 1
        self.fake.ready.clear()
        log = self.folder / f"bot-{self.starts:03d}.log"
        with log.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", cwd=self.folder, env=self.env(**extra), stdout=out, stderr=out
            )
        bot = BotProcess(proc, log)
        self.bots.append(bot)
        self.log(f"started bot #{len(self.bots)}")
        if wait_ready:
            ready = asyncio.create_task(self.fake.ready.wait())
            ended = asyncio.create_task(proc.wait())
            await asyncio.wait({ready, ended}, timeout=READY_WITHIN, return_when=asyncio.FIRST_COMPLETED)
            ready.cancel()
            ended.cancel()
            if not self.fake.ready.is_set():
                bot.kill()
                raise AssertionError(f"seed {self.seed}: bot #{self.starts} never became ready:\n{bot.tail()}")
            self.log(f"bot #{len(self.bots)} is ready")
        return bot

    def kill(self, bot: BotProcess) -> None:
        """SIGKILL a bot process, counted."""
        if bot.running:
            bot.kill()
            self.kills += 1
            self.log(f"killed bot #{self.bots.index(bot) + 1}")

    def log(self, text: str) -> None:
        """A line in the run's own log (``run.log``), for reading a failure back."""
        loop = asyncio.get_running_loop()
        with (self.folder / "run.log").open("a") as out:
            out.write(f"{loop.time():10.2f} {text}\n")

    def kill_on_bot_message(self, bot: BotProcess, nth: int) -> asyncio.Event:
        """Kill ``bot`` the moment Discord takes its ``nth`` channel message from now, before the bot hears back
        (so it never records it); the event is set once it was killed."""
        return self.on_bot_message(nth, then=lambda: self.kill(bot))

    def on_bot_message(self, nth: int, *, then: Callable[[], None] | None = None) -> asyncio.Event:
        """An event set when Discord takes the bot's ``nth`` channel message from now; ``then`` runs right then,
        inside Discord's handling of the message."""
        taken = asyncio.Event()
        seen = 0

        def hook(message: Message) -> None:
            nonlocal seen
            if message.author_id != self.fake.bot_user_id or message.ephemeral:
                return
            seen += 1
            if seen == nth:
                self.fake.on_message = None
                if then is not None:
                    then()
                taken.set()

        self.fake.on_message = hook
        return taken

    async def slash(self, command: str, *, user: int = MOD, channel: int = CHANNELS[0], **options: object) -> str:
        """A member's slash command; the text of the answer."""
        inter = await self.fake.slash(command, guild_id=GUILD, channel_id=channel, user_id=user, options=options)
        await inter.wait_done()
        return inter.text()

    def check_feed_cards(self, expected: dict[int, set[str]]) -> list[str]:
        """What is wrong with the feed cards: per channel, every expected paper exactly once and nothing else."""
        problems = []
        for channel, wanted in expected.items():
            counts = Counter(feed_cards(self.fake, channel))
            missing = sorted(wanted - set(counts))
            doubled = sorted(k for k, n in counts.items() if n > 1)
            unexpected = sorted(set(counts) - wanted)
            if missing or doubled or unexpected:
                problems.append(f"channel {channel}: missing {missing}, doubled {doubled}, unexpected {unexpected}")
        return problems

    async def wait_for_cards(self, expected: dict[int, set[str]], timeout: float) -> None:  # noqa: ASYNC109
        """Wait until every expected card is in its channel (more may come: the checks say)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while any(not wanted <= set(feed_cards(self.fake, c)) for c, wanted in expected.items()):
            if loop.time() > deadline:
                return
            await asyncio.sleep(0.2)


@asynccontextmanager
async def world(folder: Path, *, database_url: str | None = None, seed: int, per_day: int = 30) -> AsyncIterator[World]:
    """A world with one server, two channels and a moderator; nothing running in it yet."""
    async with AsyncExitStack() as stack:
        fake = await stack.enter_async_context(running_fake(token="Mfault.suite.token"))
        fake.add_guild(GUILD, owner_id=OWNER)
        for channel in CHANNELS:
            fake.add_channel(GUILD, channel, name=f"papers-{channel % 100}")
        fake.add_member(GUILD, OWNER, name="owner")
        fake.add_member(GUILD, MOD, name="mod", permissions=DEFAULT_PERMISSIONS | MANAGE_GUILD)
        arxiv = FakeArxiv(Catalog())
        arxiv.server = await stack.enter_async_context(serving(arxiv.handle, "/api/query"))
        listing = Listing(per_day, seed)
        feeds = await stack.enter_async_context(serving(listing.handle))
        made = World(
            fake=fake,
            arxiv=arxiv,
            listing=listing,
            listing_url=str(feeds.make_url("/rss")),
            folder=folder,
            database_url=database_url or f"sqlite:///{folder}/data/paperclub.db",
            seed=seed,
        )
        try:
            yield made
        finally:
            for bot in made.bots:
                bot.kill()
                await bot.proc.wait()
