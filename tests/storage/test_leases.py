"""Leases on the run's database (SQLite, or PostgreSQL with --db postgresql): one holder at a time, renewed by
its holder, taken over once expired, given back on shutdown."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from storage.db import Sessions
from storage.leases import LeaseService

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
TTL = timedelta(seconds=60)


async def test_one_holder_at_a_time_and_a_takeover_after_it_expires(sessions: Sessions) -> None:
    first, second = LeaseService(sessions, holder="a"), LeaseService(sessions, holder="b")
    assert await first.hold("feeds", ttl=TTL, now=T0)
    assert not await second.hold("feeds", ttl=TTL, now=T0 + timedelta(seconds=30))
    assert await first.hold("feeds", ttl=TTL, now=T0 + timedelta(seconds=50))  # renewed: now good until +110 s
    assert not await second.hold("feeds", ttl=TTL, now=T0 + timedelta(seconds=100))
    # The first process dies and renews no more: once the lease runs out, the second takes over.
    assert await second.hold("feeds", ttl=TTL, now=T0 + timedelta(seconds=111))
    assert not await first.hold("feeds", ttl=TTL, now=T0 + timedelta(seconds=112))
    assert await first.hold("other", ttl=TTL, now=T0 + timedelta(seconds=112))  # leases are independent


async def test_a_released_lease_is_free_at_once(sessions: Sessions) -> None:
    first, second = LeaseService(sessions, holder="a"), LeaseService(sessions, holder="b")
    assert await first.hold("feeds", ttl=TTL)
    await first.release("feeds")
    assert await second.hold("feeds", ttl=TTL)


async def test_racing_processes_never_both_hold_it(sessions: Sessions) -> None:
    contenders = [LeaseService(sessions, holder=f"p{i}") for i in range(8)]
    results = await asyncio.gather(*(c.hold("feeds", ttl=TTL, now=T0) for c in contenders))
    assert sum(results) == 1


async def test_a_holder_that_died_on_this_host_is_taken_over_at_once(sessions: Sessions) -> None:
    """A bot restarted after a crash, or killed, need not wait out its earlier self's lease."""
    import os
    import socket
    import sys

    host = socket.gethostname()
    ended = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await ended.wait()
    dead_pid = ended.pid  # a process that has ended
    me = LeaseService(sessions, holder=f"{host}:{os.getpid()}:new")
    for name, holder in {
        "ended": f"{host}:{dead_pid}:old",
        "earlier-self": f"{host}:{os.getpid()}:old",  # in a container the bot is pid 1 on every start
    }.items():
        assert await LeaseService(sessions, holder=holder).hold(name, ttl=TTL)
        assert await me.hold(name, ttl=TTL), name

    for name, holder in {
        "alive": f"{host}:{os.getppid()}:x",  # a live process on this host
        "elsewhere": f"another-host:{dead_pid}:x",  # a process on another host can't be looked at
        "unnamed": "b",
    }.items():
        assert await LeaseService(sessions, holder=holder).hold(name, ttl=TTL)
        assert not await me.hold(name, ttl=TTL), name
