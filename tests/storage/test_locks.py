"""One lock per key in this process: work on one key takes turns, and a key nobody holds or waits on is forgotten."""

from __future__ import annotations

import asyncio
import gc

from storage.locks import KeyedLocks


async def test_many_keys_used_one_after_another_leave_nothing_behind() -> None:
    locks: KeyedLocks[int] = KeyedLocks()
    for channel in range(10_000):
        async with locks[channel]:
            assert len(locks) == 1  # the one held now
    gc.collect()
    assert len(locks) == 0


async def test_work_on_one_key_takes_turns_while_other_keys_go_on() -> None:
    locks: KeyedLocks[str] = KeyedLocks()
    inside: dict[str, int] = {"a": 0, "b": 0}  # key -> tasks working on it now
    most = 0
    first_in, let_go = asyncio.Event(), asyncio.Event()

    async def work(key: str, *, hold: bool = False) -> None:
        nonlocal most
        async with locks[key]:
            inside[key] += 1
            most = max(most, inside[key])
            if hold:
                first_in.set()
                await let_go.wait()
            await asyncio.sleep(0)  # a turn for any other task that could get in
            inside[key] -= 1

    holder = asyncio.create_task(work("a", hold=True))
    await first_in.wait()
    waiters = [asyncio.create_task(work("a")) for _ in range(4)]
    for _ in range(5):
        await asyncio.sleep(0)  # the waiters reach the lock and wait there
    assert inside == {"a": 1, "b": 0} and not any(w.done() for w in waiters)
    await work("b")  # another key does not wait for "a"
    gc.collect()
    assert len(locks) == 1  # "a" is held and waited on: kept; "b" is forgotten
    let_go.set()
    await asyncio.gather(holder, *waiters)
    assert most == 1 and inside == {"a": 0, "b": 0}
    gc.collect()
    assert len(locks) == 0


async def test_a_key_whose_holder_let_go_to_a_waiter_is_still_one_lock_for_newcomers() -> None:
    """The holder's lock is handed to the waiter, not forgotten: a third arrival waits for that waiter."""
    locks: KeyedLocks[int] = KeyedLocks()
    order: list[str] = []
    first_in, second_in, let_first_go, let_second_go = (asyncio.Event() for _ in range(4))

    async def turn(name: str, inside: asyncio.Event | None = None, let_go: asyncio.Event | None = None) -> None:
        async with locks[7]:
            order.append(f"{name} in")
            if inside and let_go:
                inside.set()
                await let_go.wait()
                order.append(f"{name} out")

    one = asyncio.create_task(turn("first", first_in, let_first_go))
    await first_in.wait()
    two = asyncio.create_task(turn("second", second_in, let_second_go))
    for _ in range(5):
        await asyncio.sleep(0)  # the second waits on the first's lock
    let_first_go.set()
    await second_in.wait()
    gc.collect()
    three = asyncio.create_task(turn("third"))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not three.done()  # the second holds the key's one lock
    let_second_go.set()
    await asyncio.gather(one, two, three)
    assert order == ["first in", "first out", "second in", "second out", "third in"]
