"""Two bot processes on one SQLite file would both poll the feeds and both post digests: the second stops at
start with a clear message, and the file is free again the moment the first one ends."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from tests.fakediscord import running_fake

ROOT = Path(__file__).resolve().parents[2]
GUILD, CHANNEL, OWNER = 800_000_000_000_000_001, 800_000_000_000_000_002, 800_000_000_000_000_003


async def start(env: dict[str, str], folder: Path, name: str) -> asyncio.subprocess.Process:
    log = (folder / f"{name}.log").open("wb")
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=folder, env=env, stdout=log, stderr=log
        )
    finally:
        log.close()


async def stop(proc: asyncio.subprocess.Process, sig: int = signal.SIGTERM) -> None:
    if proc.returncode is None:
        proc.send_signal(sig)
        await asyncio.wait_for(proc.wait(), 20)


async def test_a_second_bot_on_the_same_sqlite_file_stops_at_start(db_url: str, tmp_path: Path) -> None:
    if db_url.startswith("postgresql"):
        pytest.skip("a claim on a SQLite file: the SQLite pass runs this")
    async with running_fake() as fake:
        fake.add_guild(GUILD, owner_id=OWNER)
        fake.add_channel(GUILD, CHANNEL, name="papers")
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "DATABASE_", "DEV_GUILD"))},
            "PYTHONPATH": str(ROOT),
            "DISCORD_TOKEN": fake.token,
            "DISCORD_API_BASE": fake.api_base,
            "DATABASE_URL": f"sqlite:///{tmp_path}/data/paperclub.db",
            "ARXIV_API_BASE": "http://127.0.0.1:9/api/query",  # nothing in this test asks arXiv
            "ARXIV_RSS_BASE": "http://127.0.0.1:9/rss",
            "LINK_CARDS": "off",
        }
        first = await start(env, tmp_path, "first")
        second = None
        try:
            await asyncio.wait_for(fake.ready.wait(), 60)
            second = await start(env, tmp_path, "second")
            assert await asyncio.wait_for(second.wait(), 60) == 1
            said = (tmp_path / "second.log").read_text()
            assert "another paperclub process is already running on" in said and "PostgreSQL" in said, said
            assert first.returncode is None  # the first one runs on, undisturbed

            await stop(first, signal.SIGKILL)  # however the first one ends, the file is free again
            fake.ready.clear()
            third = await start(env, tmp_path, "third")
            try:
                await asyncio.wait_for(fake.ready.wait(), 60)
                assert third.returncode is None
            finally:
                await stop(third)
            assert third.returncode == 0, (tmp_path / "third.log").read_text()
        finally:
            await stop(first, signal.SIGKILL)
            if second is not None:  # still running when the test failed: it never stopped at start
                await stop(second, signal.SIGKILL)
