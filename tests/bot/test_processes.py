"""Two real bot processes, each running one of two shards, on one PostgreSQL and the loopback Discord: each
answers its own servers, feed papers are posted once (one process polls at a time), and when the polling
process is killed the other takes over."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from schedules.jobs import POLL_LEASE
from storage.db import make_engine, make_sessions
from storage.models import Lease
from tests.arxiv_standin import FakeArxiv
from tests.bot.conftest import MANAGE_GUILD
from tests.fakediscord import DEFAULT_PERMISSIONS, FakeDiscord, running_fake
from tests.feed_listings import listing_papers, render_listing
from tests.loopback import serving

ROOT = Path(__file__).resolve().parents[2]
SHARDS = 2
# Discord puts a guild on shard (id >> 22) % shard count: one server on each shard.
GUILDS = {0: (1 << 40) + (0 << 22), 1: (1 << 40) + (1 << 22)}
CHANNELS = {0: 900_000_000_000_000_010, 1: 900_000_000_000_000_011}
OWNER, MOD = 700_000_000_000_000_099, 700_000_000_000_000_098


class Listing:
    """A loopback rss.arxiv.org listing for cs.LG, replaced as the days go by."""

    def __init__(self) -> None:
        self.body = render_listing(listing_papers(5, seed=1))

    async def handle(self, request: web.Request) -> web.Response:
        return web.Response(body=self.body, content_type="application/rss+xml")


@asynccontextmanager
async def bot_process(fake: FakeDiscord, env: dict[str, str], shard: int, folder: Path) -> AsyncIterator[Any]:
    """``python -m bot`` running one shard, its output kept in a file."""
    log = (folder / f"shard{shard}.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=folder, env={**env, "SHARD_IDS": str(shard)}, stdout=log, stderr=log
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        log.close()


def feed_cards(fake: FakeDiscord, channel: int) -> list[str]:
    return [
        embed["url"]
        for message in fake.channel_messages(channel)
        for embed in message.embeds
        if (embed.get("footer") or {}).get("text", "").endswith("via /feed")
    ]


async def wait_for_cards(fake: FakeDiscord, count: int, timeout: float) -> None:  # noqa: ASYNC109
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while any(len(feed_cards(fake, c)) < count for c in CHANNELS.values()):
        if loop.time() > deadline:
            raise AssertionError(
                f"expected {count} cards in each channel: {[feed_cards(fake, c) for c in CHANNELS.values()]}"
            )
        await asyncio.sleep(0.1)


async def test_two_processes_share_one_database_without_doubling_a_post(
    db_url: str, fake_arxiv: FakeArxiv, tmp_path: Path
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("several processes share PostgreSQL: this runs in the --db postgresql pass")
    listing = Listing()
    async with running_fake(token="Mfake.shared.token") as fake, serving(listing.handle) as feeds:
        for shard, guild in GUILDS.items():
            fake.add_guild(guild, owner_id=OWNER)
            fake.add_channel(guild, CHANNELS[shard], name="papers")
            fake.add_member(guild, MOD, name="mod", permissions=DEFAULT_PERMISSIONS | MANAGE_GUILD)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "DATABASE_", "DEV_GUILD"))},
            "PYTHONPATH": str(ROOT),
            "DISCORD_TOKEN": fake.token,
            "DISCORD_API_BASE": fake.api_base,
            "DATABASE_URL": db_url,
            "ARXIV_API_BASE": fake_arxiv.url,
            "ARXIV_RSS_BASE": str(feeds.make_url("/rss")),
            "ARXIV_MIN_INTERVAL": "0.01",
            "FEED_POLL_INTERVAL": "5",
            "FEED_POST_PAUSE": "0",
            "METADATA_RETRY_INTERVAL": "0",
            "SHARD_COUNT": str(SHARDS),
            "LINK_CARDS": "off",
        }
        async with bot_process(fake, env, 0, tmp_path) as first, bot_process(fake, env, 1, tmp_path) as second:
            await fake.shards_ready(SHARDS, timeout=60)
            for shard, guild in GUILDS.items():  # each moderator's command is answered by their shard's process
                inter = await fake.slash(
                    "feed add", guild_id=guild, channel_id=CHANNELS[shard], user_id=MOD, options={"source": "cs.LG"}
                )
                await inter.wait_done()
                assert "Following" in inter.text(), inter.text()

            listing.body = render_listing([p for p in listing_papers(8, start_id=200, seed=2)])
            new = [p for p in listing_papers(8, start_id=200, seed=2) if p.announce_type in ("new", "cross")]
            await wait_for_cards(fake, len(new), timeout=40)
            await asyncio.sleep(6)  # another poll tick or two: nothing more may come
            for channel in CHANNELS.values():
                cards = feed_cards(fake, channel)
                assert len(cards) == len(set(cards)) == len(new), cards

            # The process holding the polling lease dies; the other takes over once the lease runs out.
            engine = make_engine(db_url)
            async with make_sessions(engine)() as session:
                polling = select(Lease).where(Lease.name == POLL_LEASE)  # type: ignore[arg-type]
                lease = (await session.exec(polling)).scalars().one()  # type: ignore[call-overload]
            await engine.dispose()
            holder_pid = int(lease.holder.split(":")[1])
            dead, alive = (first, second) if holder_pid == first.pid else (second, first)
            assert holder_pid in (first.pid, second.pid)
            dead.kill()
            await dead.wait()
            more = listing_papers(6, start_id=400, seed=3)
            listing.body = render_listing(more)
            more_new = [p for p in more if p.announce_type in ("new", "cross")]
            await wait_for_cards(fake, len(new) + len(more_new), timeout=60)
            for channel in CHANNELS.values():
                cards = feed_cards(fake, channel)
                assert len(cards) == len(set(cards)) == len(new) + len(more_new), cards
            assert alive.returncode is None
