"""Shared by the benchmarks: a watcher that measures how long the event loop is kept from running."""

from __future__ import annotations

import asyncio
import statistics
import time


class LoopWatch:
    """Wakes every ``tick`` seconds and records how late each wake-up was: the loop's stalls."""

    def __init__(self, tick: float = 0.002) -> None:
        self.tick = tick
        self.lags: list[float] = []
        self.woke: list[float] = []  # time.monotonic() of each wake-up, beside its lag: stalls within a window
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(self.tick)
            self.lags.append(time.perf_counter() - start - self.tick)
            self.woke.append(time.monotonic())

    def __enter__(self) -> LoopWatch:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()

    def report(self) -> str:
        """Longest stall and the 99th percentile, in milliseconds."""
        if not self.lags:
            return "no samples"
        p99 = statistics.quantiles(self.lags, n=100)[98] if len(self.lags) >= 100 else max(self.lags)
        return f"longest stall {max(self.lags) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms over {len(self.lags)} samples"
