"""The fault suite, long: ``python -m tests.faults --kills 200 [--seed N]`` kills a bot that many times while it
posts feed papers, then prints what it checked and what it found. A failing seed replays with ``--seed``."""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

from tests.faults.scenarios import feeds_under_kills
from tests.faults.world import world


async def main(kills: int, seed: int) -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="paperclub-faults-") as folder:
        print(f"seed {seed}: {kills} kills, logs in {folder} while it runs", flush=True)
        async with world(Path(folder), seed=seed) as w:
            outcome = await feeds_under_kills(w, rounds=kills)
    print(outcome.summary())
    print(f"{time.monotonic() - started:.0f} s")
    return 1 if outcome.problems else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m tests.faults", description=__doc__)
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=random.randrange(1 << 32))
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.kills, args.seed)))
