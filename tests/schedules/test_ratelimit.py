"""The shared arXiv limiter: spacing, one request at a time, pauses, and which hosts it covers."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from schedules.ratelimit import DEFAULT_MIN_INTERVAL, ArxivLimiter, default_limiter, is_arxiv_url


class FakeClock:
    """A monotonic clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        """The current reading."""
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Move the clock on instead of waiting."""
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def test_default_interval_is_three_seconds() -> None:
    assert DEFAULT_MIN_INTERVAL == 3.0
    assert ArxivLimiter().min_interval == 3.0
    assert default_limiter() is default_limiter()
    assert default_limiter().min_interval == 3.0


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_rejects_bad_interval(bad: float) -> None:
    with pytest.raises(ValueError):
        ArxivLimiter(bad)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://export.arxiv.org/api/query?id_list=1", True),
        ("http://arxiv.org/abs/2403.17887", True),
        ("https://rss.arxiv.org/rss/cs.LG", True),
        ("https://ARXIV.ORG./list/cs/new", True),
        ("https://browse.arxiv.org:443/x", True),
        ("https://evilarxiv.org/", False),
        ("https://arxiv.org.example.com/", False),
        ("https://example.com/?u=https://arxiv.org", False),
        ("https://doi.org/10.48550/arXiv.2403.17887", False),
        ("not a url", False),
        ("http://[::1", False),
        ("", False),
    ],
)
def test_is_arxiv_url(url: str, expected: bool) -> None:
    assert is_arxiv_url(url) is expected


async def test_spacing_with_fake_clock() -> None:
    clock = FakeClock()
    limiter = ArxivLimiter(3.0, clock=clock, sleep=clock.sleep)
    starts: list[float] = []

    async def request() -> None:
        async with limiter.slot():
            starts.append(clock())

    await asyncio.gather(*(request() for _ in range(4)))
    assert starts == [1000.0, 1003.0, 1006.0, 1009.0]
    assert limiter.last_start == 1009.0


async def test_no_wait_once_interval_has_passed() -> None:
    clock = FakeClock()
    limiter = ArxivLimiter(3.0, clock=clock, sleep=clock.sleep)
    async with limiter.slot():
        pass
    clock.now += 10
    async with limiter.slot():
        pass
    assert clock.sleeps == []


async def test_spacing_and_one_at_a_time_in_real_time() -> None:
    limiter = ArxivLimiter(0.05)
    starts: list[float] = []
    active = 0
    most = 0

    async def request() -> None:
        nonlocal active, most
        async with limiter.slot():
            starts.append(limiter.last_start or 0.0)
            active += 1
            most = max(most, active)
            await asyncio.sleep(0.01)
            active -= 1

    await asyncio.gather(*(request() for _ in range(5)))
    assert most == 1
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(gap >= 0.05 for gap in gaps), gaps


async def test_slow_request_holds_the_slot() -> None:
    """The interval counts from starts, but a request longer than the interval still blocks the next one."""
    limiter = ArxivLimiter(0.01)
    spans: list[tuple[float, float]] = []

    async def request() -> None:
        async with limiter.slot():
            began = time.monotonic()
            await asyncio.sleep(0.05)
            spans.append((began, time.monotonic()))

    await asyncio.gather(request(), request(), request())
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end


async def test_pause_holds_every_request() -> None:
    clock = FakeClock()
    limiter = ArxivLimiter(1.0, clock=clock, sleep=clock.sleep)
    limiter.pause(30)
    assert limiter.paused_for() == 30
    async with limiter.slot():
        assert clock() == 1030.0
    assert limiter.paused_for() == 0


async def test_pause_never_shortens() -> None:
    clock = FakeClock()
    limiter = ArxivLimiter(0.0, clock=clock, sleep=clock.sleep)
    limiter.pause(20)
    limiter.pause(5)
    limiter.pause_until(clock() + 1)
    assert limiter.paused_until == 1020.0
    limiter.pause_until(1025.0)
    assert limiter.paused_until == 1025.0


async def test_pause_set_while_waiting_is_honoured() -> None:
    """A pause set by the request in the slot delays requests already queued behind it."""
    limiter = ArxivLimiter(0.02)
    starts: list[float] = []

    async def first() -> None:
        async with limiter.slot():
            starts.append(limiter.last_start or 0.0)
            await asyncio.sleep(0.01)
            limiter.pause(0.2)

    async def later() -> None:
        async with limiter.slot():
            starts.append(limiter.last_start or 0.0)

    await asyncio.gather(first(), later(), later())
    assert starts[1] - starts[0] >= 0.2
    assert starts[2] - starts[1] >= 0.02


async def test_pause_extended_during_sleep() -> None:
    """Someone sleeping out the interval re-checks: a pause set meanwhile still applies."""
    limiter = ArxivLimiter(0.1)
    async with limiter.slot():
        pass
    first = limiter.last_start or 0.0

    async def pause_soon() -> None:
        await asyncio.sleep(0.02)
        limiter.pause(0.3)

    pauser = asyncio.create_task(pause_soon())
    async with limiter.slot():
        second = limiter.last_start or 0.0
    await pauser
    assert second - first >= 0.3


async def test_cancelled_waiter_frees_the_queue() -> None:
    limiter = ArxivLimiter(0.05)
    async with limiter.slot():
        pass
    waiter = asyncio.create_task(limiter.slot().__aenter__())
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not limiter.busy
    async with asyncio.timeout(1):
        async with limiter.slot():
            pass
