"""How long one server waits for arXiv while another server bursts: ``python -m bench.fairness [N]``.

Server A asks N (30) title lookups at once, then server B asks one; the bot's feed polls queue behind them.
Then A asks for 500 papers by id, and B for one while A's first 100 are with arXiv. The real arXiv client
talks to the loopback arXiv stand-in through a limiter at arXiv's own pace (one request every 3 s) on a clock
that moves only when the limiter waits, so the seconds below are what the spacing costs at arXiv's pace,
without waiting for it (the time arXiv takes to answer is left out). Each figure is given as the bot shares
turns now and as it would be first come, first served (every request in one queue, as before turns were
shared).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from schedules.arxiv import ArxivClient
from schedules.ratelimit import DEFAULT_MIN_INTERVAL, ArxivLimiter, asking_as
from tests.arxiv_standin import Catalog, FakeArxiv, Reply
from tests.loopback import serving

A, B = 1001, 1002  # two servers
POLLS = 3
IDS = 500


@dataclass
class Wait:
    """One request's wait: requests arXiv had before it, and clock seconds from asking to being sent."""

    slots: int
    seconds: float


class Clock:
    """A monotonic clock that moves only when the limiter sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


class Run:
    """A fresh client, limiter and clock around the stand-in, noting when each request reached arXiv."""

    def __init__(self, fake: FakeArxiv) -> None:
        self.clock = Clock()
        self.limiter = ArxivLimiter(DEFAULT_MIN_INTERVAL, clock=self.clock, sleep=self.clock.sleep)
        self.client = ArxivClient(api_base=fake.url, limiter=self.limiter, max_attempts=1)
        self.arrivals: list[tuple[dict[str, str], float]] = []
        self.on_arrival: Callable[[], object] = lambda: None
        self._fake = fake
        fake.respond = self.respond  # type: ignore[method-assign]

    def respond(self, query: dict[str, str]) -> Reply:
        """Note the request, then answer it: polls with one paper, searches by title, ids from the catalog."""
        self.arrivals.append((query, self.clock()))
        self.on_arrival()
        search_query = query.get("search_query", "")
        if search_query.startswith("poll:"):
            return Reply(body=self._fake.catalog.feed(self._fake.catalog.ids(1)))
        return self._fake.title_search(query) if search_query else FakeArxiv.respond(self._fake, query)

    def wait_of(self, asked_at: float, is_it: Callable[[dict[str, str]], bool]) -> Wait:
        """How long the first request ``is_it`` picks out waited after ``asked_at``."""
        index = next(n for n, (query, _) in enumerate(self.arrivals) if is_it(query))
        return Wait(slots=index, seconds=self.arrivals[index][1] - asked_at)

    async def queued(self, count: int) -> None:
        """Let the requests reach the limiter until ``count`` of them wait."""
        while self.limiter.waiting < count:  # noqa: ASYNC110 - the limiter's queue has no event to wait on
            await asyncio.sleep(0.001)


async def search(client: ArxivClient, who: Hashable | None, title: str) -> None:
    """One title lookup, as ``who``."""
    with asking_as(who):
        assert await client.search_title(title, limit=1)


async def poll(client: ArxivClient, n: int, *, who: Hashable | None) -> None:
    """A feed poll: one arXiv request as the bot."""
    with asking_as(who):
        await client.query(f"poll:{n}", max_results=1)


def _asks_poll(n: int) -> Callable[[dict[str, str]], bool]:
    """Picks out the request of poll ``n``."""
    return lambda query: query.get("search_query") == f"poll:{n}"


async def burst_then_one(fake: FakeArxiv, titles: list[str], lone: str, *, fair: bool) -> tuple[Wait, list[Wait]]:
    """A's burst of title lookups, then B's one and the bot's polls: B's wait and each poll's.

    A's first lookup is with arXiv when the others queue, B asks and the polls come due. First come, first
    served is every request in one queue: B and the polls asking as A does."""
    run = Run(fake)
    sent = asyncio.Event()

    async def first_of_burst() -> None:
        with asking_as(A):
            async with run.limiter.slot():
                await sent.wait()

    async with run.client:
        tasks = [asyncio.create_task(first_of_burst())]
        await asyncio.sleep(0)
        tasks += [asyncio.create_task(search(run.client, A, title)) for title in titles[1:]]
        await run.queued(len(titles) - 1)
        asked_at = run.clock()
        tasks.append(asyncio.create_task(search(run.client, B if fair else A, lone)))
        await run.queued(len(titles))
        tasks += [asyncio.create_task(poll(run.client, n, who=None if fair else A)) for n in range(POLLS)]
        await run.queued(len(titles) + POLLS)
        sent.set()
        await asyncio.gather(*tasks)
    lone_wait = run.wait_of(asked_at, lambda query: lone in query.get("search_query", ""))
    poll_waits = [run.wait_of(asked_at, _asks_poll(n)) for n in range(POLLS)]
    return lone_wait, poll_waits


async def ids_then_one(fake: FakeArxiv, *, fair: bool) -> tuple[int, int, float]:
    """A asks for 500 papers by id, and while the first 100 are with arXiv, B asks for one: the request B's
    paper went in, how many requests there were, and the clock seconds from B's asking to its request."""
    run = Run(fake)
    many = [f"arxiv:2407.{n:05d}" for n in range(1, IDS + 1)]
    lone = fake.catalog.ids(1)[0]
    asked: list[asyncio.Task[object]] = []

    def b_asks() -> None:
        if not asked:
            with asking_as(B if fair else A):
                asked.append(asyncio.create_task(run.client.fetch_one(f"arxiv:{lone}")))

    run.on_arrival = b_asks
    async with run.client:
        with asking_as(A):
            await run.client.fetch(many)
        await asked[0]
    batch = next(n for n, (query, _) in enumerate(run.arrivals) if lone in query.get("id_list", "").split(","))
    return batch + 1, len(run.arrivals), run.arrivals[batch][1] - run.arrivals[0][1]


def describe(wait: Wait) -> str:
    return f"{wait.slots} request{'' if wait.slots == 1 else 's'} ahead, {wait.seconds:.0f} s"


async def main(count: int) -> None:
    fake = FakeArxiv(Catalog())
    titles = [f"Wombat Burrow Study Number {n}" for n in range(count)]
    lone = "Platypus Venom Kinetics"
    for n, title in enumerate([*titles, lone]):
        fake.add_paper(f"2406.{n + 1:05d}", title, authors=["Ann Author"], published="2024-06-01T00:00:00Z")
    async with serving(fake.handle, "/api/query") as server:
        fake.server = server
        print(f"arXiv's pace: one request every {DEFAULT_MIN_INTERVAL:g} s")
        print(f"server A asks {count} title lookups at once, then server B asks one; {POLLS} feed polls queue last")
        for fair, label in ((True, "turns shared (now)"), (False, "first come, first served")):
            lone_wait, poll_waits = await burst_then_one(fake, titles, lone, fair=fair)
            polls = "; ".join(describe(w) for w in poll_waits)
            print(f"  {label:25} B's lookup: {describe(lone_wait)}. Feed polls: {polls}")
        print(f"server A asks for {IDS} papers by id (100 a request), server B for one while A's first 100 are sent")
        for fair, label in ((True, "turns shared (now)"), (False, "first come, first served")):
            batch, total, seconds = await ids_then_one(fake, fair=fair)
            print(f"  {label:25} B's paper went in request {batch} of {total}, {seconds:.0f} s after B asked")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 30))
