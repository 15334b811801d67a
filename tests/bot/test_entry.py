"""``python -m bot`` as an operator runs it: a real process against the loopback Discord."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from tests.bot.conftest import ANN, CHANNEL, GUILD, OWNER
from tests.fakediscord import running_fake

ROOT = Path(__file__).resolve().parents[2]


async def test_python_m_bot_connects_syncs_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    async with running_fake(token="Mfake.token.value") as fake:
        fake.add_guild(GUILD, owner_id=OWNER)
        fake.add_channel(GUILD, CHANNEL)
        fake.add_member(GUILD, ANN, name="ann")
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "DATABASE_", "DEV_GUILD"))},
            "PYTHONPATH": str(ROOT),
            "DISCORD_TOKEN": fake.token,
            "DISCORD_API_BASE": fake.api_base,
            "DEV_GUILD_ID": str(GUILD),
            "LOG_LEVEL": "INFO",
            "ARXIV_API_BASE": "http://127.0.0.1:9/api/query",
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        lines: list[str] = []
        online = asyncio.Event()

        async def read_output() -> None:
            assert proc.stdout is not None
            async for line in proc.stdout:
                lines.append(line.decode())
                if "online as" in lines[-1]:
                    online.set()

        reader = asyncio.create_task(read_output())

        try:
            await asyncio.wait_for(fake.ready.wait(), 30)
            await asyncio.wait_for(online.wait(), 15)
            assert fake.requests[0] == ("GET", "/gateway/bot")  # the gateway URL came from the API base
            assert {c["name"] for c in fake.commands[GUILD]} >= {"note", "notes", "help"}  # instant guild sync
            inter = await fake.slash("help", guild_id=GUILD, channel_id=CHANNEL, user_id=ANN)
            await inter.wait_done()
            assert "/note add" in inter.original.text()
            assert (tmp_path / "data" / "paperclub.db").is_file()  # the default database, created on first run
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(proc.wait(), 10)
            stopped_in = time.monotonic() - started
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        await reader
        output = "".join(lines)
    assert code == 0, output
    assert stopped_in < 5, f"took {stopped_in:.1f} s to stop"
    assert "shutting down" in output and "Traceback" not in output, output
    assert fake.token not in output
