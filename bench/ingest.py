"""Ingest of a 2,000-item arXiv listing: feedparser alone, side by side with parse + dedup + store + fan-out.

A realistic listing in the 2024 RSS format is generated; 100 subscriptions (one feed, 100 channels, half of
them with keywords) receive it through the real poller against a loopback server. The deliverer posts
nothing; the messages it would have sent (each subscription posts at most FEED_MAX_POSTS papers a poll) are
then recorded as sent, timed on their own: on Discord they go out over minutes. Prints both times, the
ratio, the event loop's longest stall, and the process's resident memory just before the poll and at its peak
during it.
Budget (PRODUCT.md): ingest ≤ 1.5× feedparser's parse; no stall over 50 ms.

    .venv/bin/python -m bench.ingest
"""

from __future__ import annotations

import asyncio
import gc
import io
import statistics
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import feedparser
from aiohttp import web

from bench.loop import LoopWatch
from schedules.addresses import AddressGuard
from schedules.poller import Batch, FeedPoller, OnSent
from schedules.ratelimit import ArxivLimiter
from storage.db import create_schema, make_engine, make_sessions
from storage.feeds.kinds import FeedKind
from storage.feeds.polls import PlannedDelivery, PollRecords
from storage.feeds.subscriptions import SubscriptionService
from storage.papers import PaperView
from tests.feed_listings import generate_listing
from tests.loopback import serving

ITEMS = 2_000
SUBSCRIPTIONS = 100


def status_mb(field: str) -> float:
    """A figure of this process's /proc status (VmRSS, VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field}")


class PeakMemory:
    """This process's resident memory when the block starts, and its peak during the block, in MB.

    The peak is the kernel's high-water mark (VmHWM), reset as the block starts; where that reset is not allowed,
    VmRSS is sampled every millisecond instead.
    """

    def __init__(self) -> None:
        self.before = self.peak = 0.0
        self._samples: list[float] = []
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._stop.wait(0.001):
            self._samples.append(status_mb("VmRSS"))

    def __enter__(self) -> PeakMemory:
        self.before = status_mb("VmRSS")
        try:
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current VmRSS
        except OSError:
            self._samples = [self.before]
            self._sampler = threading.Thread(target=self._sample, daemon=True)
            self._sampler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._sampler is None:
            self.peak = status_mb("VmHWM")
        else:
            self._stop.set()
            self._sampler.join()
            self.peak = max(self._samples)


class Run(NamedTuple):
    """One ingest: the poll's seconds, the longest loop stall, papers handed to channels, the seconds recording
    their messages took, the messages, and memory (MB) before the poll and at its peak."""

    poll: float
    stall: float
    papers: int
    recording: float
    messages: int
    rss_before: float
    rss_peak: float


class Counting:
    """A deliverer that posts nothing: it keeps each batch's messages (ten papers each) to record them later."""

    def __init__(self) -> None:
        self.papers = 0
        self.messages: list[tuple[list[int], OnSent]] = []

    async def deliver(self, batch: Batch, on_sent: OnSent) -> None:
        for start in range(0, len(batch.papers), 10):
            chunk = batch.papers[start : start + 10]
            self.papers += len(chunk)
            self.messages.append(([d.id for d, _ in chunk], on_sent))

    async def find_posted(
        self, channel_id: int, since: datetime, papers: Sequence[tuple[PlannedDelivery, PaperView]]
    ) -> dict[int, int]:
        return {}


async def ingest_once(body: bytes) -> Run:
    """One poll of a fresh database, then recording its messages as sent."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'ingest.db'}")
        await create_schema(engine)
        sessions = make_sessions(engine)

        async def handle(request: web.Request) -> web.Response:
            return web.Response(body=body, content_type="application/rss+xml")

        async with serving(handle) as server:
            url = str(server.make_url("/cs.LG"))
            feeds = SubscriptionService(sessions)
            for channel in range(SUBSCRIPTIONS):
                await feeds.subscribe(
                    guild_id=1 + channel % 10,
                    channel_id=1000 + channel,
                    created_by=1,
                    url=url,
                    kind=FeedKind.ARXIV_LISTING,
                    source="cs.LG",
                    keywords="learning, model" if channel % 2 else None,
                )
            counting = Counting()
            poller = FeedPoller(
                polls=PollRecords(sessions),
                feeds=feeds,
                limiter=ArxivLimiter(min_interval=0),
                deliverer=counting,
                interval=1800,
                clock=lambda: datetime(2025, 4, 28, 5, tzinfo=UTC),
                arxiv=False,
                # The loopback server stands for rss.arxiv.org: trusted as the operator's ARXIV_RSS_BASE is.
                guard=AddressGuard(trusted=(str(server.make_url("/")),)),
            )
            gc.collect()
            gc.freeze()  # as the bot does once it is ready (bot/app.py): start-up objects stay out of collections
            with LoopWatch() as watch:
                with PeakMemory() as memory:
                    start = time.perf_counter()
                    await poller.poll_once()
                    elapsed = time.perf_counter() - start
                # On Discord these messages go out over minutes, paced; each is recorded as it is sent.
                start = time.perf_counter()
                for message_id, (delivery_ids, on_sent) in enumerate(counting.messages, start=1):
                    await on_sent(delivery_ids, message_id)
                recording = time.perf_counter() - start
            gc.unfreeze()
        await engine.dispose()
    stall = max(watch.lags, default=0.0)
    return Run(elapsed, stall, counting.papers, recording, len(counting.messages), memory.before, memory.peak)


def main() -> None:
    """Measure and print."""
    body = generate_listing(ITEMS, seed=11)
    parse_times = []
    for _ in range(3):
        start = time.perf_counter()
        feedparser.parse(io.BytesIO(body))
        parse_times.append(time.perf_counter() - start)
    parse = statistics.median(parse_times)
    runs = [asyncio.run(ingest_once(body)) for _ in range(3)]
    ingest = statistics.median(r.poll for r in runs)
    stall = max(r.stall for r in runs)
    recording = statistics.median(r.recording for r in runs)
    posted, messages = runs[0].papers, runs[0].messages
    print(f"{ITEMS} items ({len(body) / 1e6:.1f} MB), {SUBSCRIPTIONS} subscriptions")
    print(f"feedparser alone: {parse * 1000:.0f} ms")
    print(
        f"full ingest (fetch, parse, normalise, dedup, store, fan-out; {posted} deliveries recorded as pending): "
        f"{ingest * 1000:.0f} ms"
    )
    print(f"ratio: {ingest / parse:.2f}x   (budget: <= 1.5x)")
    print(f"then recording the {messages} messages as sent: {recording * 1000:.0f} ms in all")
    print(f"event loop's longest stall during both: {stall * 1000:.1f} ms   (budget: none over 50 ms)")
    first = runs[0]
    print(
        f"resident memory before the first poll: {first.rss_before:.0f} MB; its peak during the poll: "
        f"{first.rss_peak:.0f} MB (+{first.rss_peak - first.rss_before:.0f} MB); "
        f"the highest peak of the {len(runs)} polls: {max(r.rss_peak for r in runs):.0f} MB"
    )


if __name__ == "__main__":
    main()
