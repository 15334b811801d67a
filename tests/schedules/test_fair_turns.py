"""arXiv's pace is shared fairly: each waiting server gets a turn, the bot's own work every other slot, and a
server's ids get into the next batch however many ids another server asked for. Order-based, no clocks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable

from schedules.arxiv import ArxivClient
from schedules.ratelimit import ArxivLimiter, asking_as
from tests.arxiv_standin import Catalog, FakeArxiv, Reply

A, B, C = 1001, 1002, 1003  # three servers


class Turns:
    """A limiter with no spacing whose slot the test holds while requests queue, then lets go."""

    def __init__(self) -> None:
        self.limiter = ArxivLimiter(0)
        self.order: list[str] = []
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._gate = asyncio.Event()
        self._holder: asyncio.Task[None] | None = None

    async def hold(
        self, who: Hashable | None = None, label: str | None = None, *, then: Callable[[], object] = lambda: None
    ) -> None:
        """Take the free slot as ``who`` and keep it until :meth:`release`; call ``then`` on leaving it."""

        async def holding() -> None:
            with asking_as(who):
                async with self.limiter.slot():
                    if label is not None:
                        self.order.append(label)
                    await self._gate.wait()
            then()

        self._holder = asyncio.create_task(holding())
        await until(lambda: self.limiter.busy)

    async def ask(self, who: Hashable | None, *labels: str) -> None:
        """Queue one request per label as ``who`` and wait until they all wait for the slot."""
        for label in labels:
            expected = self.limiter.waiting + 1
            self.tasks[label] = asyncio.create_task(self._request(who, label))
            await until(lambda expected=expected: self.limiter.waiting == expected)

    async def _request(self, who: Hashable | None, label: str) -> None:
        with asking_as(who):
            async with self.limiter.slot():
                self.order.append(label)
                await asyncio.sleep(0)

    async def release(self) -> list[str]:
        """Let go of the slot; the order every queued request got it in."""
        self._gate.set()
        async with asyncio.timeout(5):
            assert self._holder is not None
            await self._holder
            await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        return self.order


async def until(condition: Callable[[], bool]) -> None:
    """Let other tasks run until ``condition`` holds (a guard, not a measure of time)."""
    async with asyncio.timeout(5):
        while not condition():  # noqa: ASYNC110 - the limiter's queue has no event to wait on
            await asyncio.sleep(0)


def labels(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{n}" for n in range(count)]


async def test_a_server_asking_during_another_servers_burst_gets_the_next_turn() -> None:
    turns = Turns()
    await turns.hold(A, "A0")  # A's first of 20 lookups is in the slot
    await turns.ask(A, *labels("A", 20)[1:])
    await turns.ask(B, "B")
    order = await turns.release()
    assert order[:3] == ["A0", "B", "A1"]  # not 19 more of A's first (60 s at arXiv's pace)
    assert order[2:] == labels("A", 20)[1:]


async def test_a_server_asking_while_the_bot_holds_the_slot_waits_at_most_one_turn_of_the_burst() -> None:
    turns = Turns()
    await turns.hold(None)
    await turns.ask(A, *labels("A", 20))
    await turns.ask(B, "B")
    order = await turns.release()
    assert order.index("B") <= 1


async def test_waiting_servers_take_turns() -> None:
    turns = Turns()
    await turns.hold(None)
    await turns.ask(A, *labels("A", 4))
    await turns.ask(B, *labels("B", 3))
    await turns.ask(C, *labels("C", 2))
    order = await turns.release()
    assert order == ["A0", "B0", "C0", "A1", "B1", "C1", "A2", "B2", "A3"]


async def test_the_bots_own_work_gets_every_other_slot_while_members_burst() -> None:
    turns = Turns()
    await turns.hold(None)
    await turns.ask(A, *labels("A", 6))
    await turns.ask(B, *labels("B", 2))
    await turns.ask(None, *labels("poll", 3))  # feed polls, queued last
    order = await turns.release()
    assert order == ["A0", "poll0", "B0", "poll1", "A1", "poll2", "B1", "A2", "A3", "A4", "A5"]


async def test_a_cancelled_waiter_is_skipped_and_its_turn_goes_to_the_next_server() -> None:
    turns = Turns()
    await turns.hold(None)
    await turns.ask(A, *labels("A", 3))
    await turns.ask(C, "C")
    await turns.ask(B, "B")
    turns.tasks["C"].cancel()
    await until(lambda: turns.limiter.waiting == 4)
    order = await turns.release()
    assert order == ["A0", "B", "A1", "A2"]
    assert turns.tasks["C"].cancelled()
    assert not turns.limiter.busy and turns.limiter.waiting == 0


async def test_a_waiter_cancelled_as_its_turn_came_passes_the_slot_on() -> None:
    turns = Turns()
    await turns.hold(None, then=lambda: turns.tasks["A0"].cancel())  # A0 is handed the slot, then gives up
    await turns.ask(A, "A0")
    await turns.ask(B, "B0")
    await turns.ask(None, "poll0")
    order = await turns.release()
    assert turns.tasks["A0"].cancelled()
    assert order == ["poll0", "B0"]
    assert not turns.limiter.busy and turns.limiter.waiting == 0
    async with asyncio.timeout(5), turns.limiter.slot():
        pass


# Id lookups: one dispatcher for everyone, batches filled round-robin over who asked


def client_on(fake: FakeArxiv, limiter: ArxivLimiter, **options: int) -> ArxivClient:
    return ArxivClient(api_base=fake.url, limiter=limiter, timeout=5.0, max_attempts=1, **options)


async def fetch_as(client: ArxivClient, who: Hashable | None, ids: list[str]) -> None:
    with asking_as(who):
        found = await client.fetch([f"arxiv:{i}" for i in ids])
    assert all(found.values())


async def test_a_servers_id_joins_the_next_batch_behind_another_servers_hundreds(
    fake_arxiv: FakeArxiv, catalog: Catalog
) -> None:
    many, one = catalog.ids(8)[:7], catalog.ids(8)[7]
    turns = Turns()
    async with client_on(fake_arxiv, turns.limiter, batch_size=3) as client:
        await turns.hold(None)
        burst = asyncio.create_task(fetch_as(client, A, many))
        await until(lambda: turns.limiter.waiting == 1)  # the dispatcher waits for the slot
        lone = asyncio.create_task(fetch_as(client, B, [one]))
        await asyncio.sleep(0)
        await turns.release()
        await asyncio.gather(burst, lone)
    assert [seen.ids for seen in fake_arxiv.seen] == [[many[0], one, many[1]], many[2:5], many[5:]]


async def test_a_servers_id_lookup_takes_a_members_turn_ahead_of_the_bots_queue(
    fake_arxiv: FakeArxiv, catalog: Catalog
) -> None:
    wanted = catalog.ids(1)
    turns = Turns()
    answer = fake_arxiv.respond
    served_before: list[int] = []

    def respond(query: dict[str, str]) -> Reply:
        served_before.append(len(turns.order))
        return answer(query)

    fake_arxiv.respond = respond  # type: ignore[method-assign]
    async with client_on(fake_arxiv, turns.limiter) as client:
        await turns.hold(None)
        await turns.ask(None, *labels("poll", 4))
        lookup = asyncio.create_task(fetch_as(client, A, wanted))
        await until(lambda: turns.limiter.waiting == 5)
        order = await turns.release()
        await lookup
    assert [seen.ids for seen in fake_arxiv.seen] == [wanted]
    assert served_before == [0]  # the bot had the slot last, so the member's batch went before all four polls
    assert order == labels("poll", 4)


async def test_later_batches_take_their_own_turn_not_that_of_the_server_that_started_them(
    fake_arxiv: FakeArxiv, catalog: Catalog
) -> None:
    first, later = catalog.ids(2)
    turns = Turns()
    answer = fake_arxiv.respond
    asked_after: dict[str, int] = {}
    lone: list[asyncio.Task[None]] = []

    def respond(query: dict[str, str]) -> Reply:
        asked_after[query["id_list"]] = len(turns.order)
        if query["id_list"] == first:  # while A's paper is with arXiv, server B asks for another one
            lone.append(asyncio.create_task(fetch_as(client, B, [later])))
        return answer(query)

    async def first_search() -> None:
        with asking_as(A):
            async with turns.limiter.slot():
                turns.order.append("A0")
                await until(lambda: turns.limiter.waiting == 5)  # A1-A4 and the id lookups, back in line

    fake_arxiv.respond = respond  # type: ignore[method-assign]
    async with client_on(fake_arxiv, turns.limiter) as client:
        await turns.hold(None)
        opener = asyncio.create_task(fetch_as(client, A, [first]))  # A's lookup starts the batches
        await until(lambda: turns.limiter.waiting == 1)
        turns.tasks["A0"] = asyncio.create_task(first_search())
        await until(lambda: turns.limiter.waiting == 2)
        await turns.ask(A, *labels("A", 5)[1:])  # then A searches four more titles
        await turns.release()
        await asyncio.gather(opener, *lone)
    assert [seen.ids for seen in fake_arxiv.seen] == [[first], [later]]
    assert asked_after == {first: 0, later: 1}  # B's paper waited for one of A's searches, not for all five
