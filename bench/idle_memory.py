"""Idle memory of the bot process: ``python -m bot`` connected to the loopback Discord, doing nothing.

Budget (PRODUCT.md): at most 120 MB RSS.

    .venv/bin/python -m bench.idle_memory
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

from tests.fakediscord import running_fake

ROOT = Path(__file__).resolve().parents[1]
GUILDS = 25


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def main() -> None:
    async with running_fake() as fake:
        for g in range(GUILDS):
            fake.add_guild(10_000 + g, owner_id=1)
            fake.add_channel(10_000 + g, 20_000 + g)
        with tempfile.TemporaryDirectory() as tmp:
            env = {
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "DISCORD_TOKEN": fake.token,
                "DISCORD_API_BASE": fake.api_base,
                "LOG_LEVEL": "WARNING",
            }
            proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", cwd=tmp, env=env)
            try:
                await asyncio.wait_for(fake.ready.wait(), 30)
                await asyncio.sleep(5)  # settle: guilds cached, jobs scheduled
                print(f"idle RSS of python -m bot in {GUILDS} servers: {rss_mb(proc.pid):.1f} MB (budget: 120 MB)")
            finally:
                proc.terminate()
                await proc.wait()


if __name__ == "__main__":
    asyncio.run(main())
