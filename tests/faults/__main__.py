"""The fault suite, long: ``python -m tests.faults --kills 200 [--seed N]`` kills bots that many times in all, over
the scenarios of tests/faults/test_kills.py (feed papers, a digest, imports, migrations; with ``--db postgresql://...``
also two processes on PostgreSQL), then prints what was checked and what was found. A failing seed replays
with ``--seed``."""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

from tests.faults.scenarios import (
    Outcome,
    digest_under_kills,
    feeds_under_kills,
    imports_under_kills,
    migration_under_kills,
    two_processes_under_kills,
)
from tests.faults.world import world


async def main(kills: int, seed: int, database_url: str | None) -> int:
    started = time.monotonic()
    outcomes: list[tuple[str, Outcome]] = []
    with tempfile.TemporaryDirectory(prefix="paperclub-faults-") as folder:
        print(f"seed {seed}: about {kills} kills; logs in {folder} while it runs", flush=True)
        plan = [
            ("migrations", lambda w: migration_under_kills(w, rounds=max(2, kills // 10))),
            ("digest", lambda w: digest_under_kills(w, notes=40, rounds=4)),
            ("imports", lambda w: imports_under_kills(w, rounds=max(2, kills // 10))),
            ("feeds", lambda w: feeds_under_kills(w, rounds=max(2, kills - 2 * (kills // 10) - 3))),
        ]
        if database_url:
            plan.append(("two processes", lambda w: two_processes_under_kills(w, rounds=max(2, kills // 10))))
        for number, (name, run) in enumerate(plan):
            place = Path(folder) / name.replace(" ", "-")
            place.mkdir()
            url = database_url if name == "two processes" else None
            async with world(place, database_url=url, seed=seed + number) as w:
                outcome = await run(w)
            outcomes.append((name, outcome))
            print(f"{name}: {outcome.summary()}", flush=True)
    total = sum(o.kills for _, o in outcomes)
    problems = sum(len(o.problems) for _, o in outcomes)
    print(
        f"in all: {total} kills, {sum(o.starts for _, o in outcomes)} starts, "
        f"{sum(o.checked for _, o in outcomes)} papers, parts and migrations checked, "
        f"{problems} problems, {time.monotonic() - started:.0f} s"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m tests.faults", description=__doc__)
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=random.randrange(1 << 32))
    parser.add_argument("--db", help="a PostgreSQL URL for the two-process scenario (its tables are made there)")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.kills, args.seed, args.db)))
