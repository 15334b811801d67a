"""One polite pace for every request this bot sends to arXiv.

arXiv asks API clients for no more than one request every three seconds over a single connection, and the
same courtesy applies to its RSS feeds. Every fetch from any ``*.arxiv.org`` host goes through one
:class:`ArxivLimiter` per process (see :func:`default_limiter`): it spaces the start of consecutive requests,
keeps one request in flight at a time, and can pause all arXiv traffic when arXiv asks us to back off.

Turns are shared fairly. Whoever asks is read from :data:`requester` (set per interaction by the bot: the
server's id; left at None for the bot's own work: feed polls, pending details, import titles). Requests wait
in two lanes that take turns whenever both have someone waiting: the background lane (first come, first
served) and the members' lane, where each waiting server gets one turn in rotation, the one served least
recently first. So a server that asks during another server's burst of 20 title searches waits for at most
one of them (and one request of the bot's own, when the bot has work waiting), not for all 20; and feed polls
get at least every other slot however busy members are. The next turn is handed over when the request in the
slot ends; it then waits out the spacing (and any pause) before it starts.

A limiter belongs to the event loop that first waits on it; the bot runs a single loop.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from schedules.arxiv_answers import is_rate_exceeded

__all__ = [
    "DEFAULT_MIN_INTERVAL",
    "ArxivLimiter",
    "asking_as",
    "default_limiter",
    "is_arxiv_url",
    "requester",
]

log = logging.getLogger(__name__)

DEFAULT_MIN_INTERVAL = 3.0

requester: ContextVar[Hashable | None] = ContextVar("arxiv_requester", default=None)
"""Who the arXiv requests made here are for: a server's id (any hashable key), or None for the bot's own work.

A context variable, so it follows the task that set it and the tasks that task starts."""


@contextmanager
def asking_as(who: Hashable | None) -> Iterator[None]:
    """arXiv requests made inside the block wait in ``who``'s turn (None: the bot's own background work)."""
    token = requester.set(who)
    try:
        yield
    finally:
        requester.reset(token)


@dataclass
class _Turns:
    """One requester's requests waiting in the members' lane, and the grant that last served it."""

    waiting: deque[asyncio.Future[None]] = field(default_factory=deque)
    served: int = -1  # number of the grant that last served it; -1: not since it began waiting


def is_arxiv_url(url: str) -> bool:
    """True when ``url`` points at arXiv (``arxiv.org`` or any ``*.arxiv.org`` host)."""
    try:
        host = urlsplit(str(url).strip()).hostname
    except ValueError:
        return False
    if not host:
        return False
    host = host.rstrip(".").lower()
    return host == "arxiv.org" or host.endswith(".arxiv.org")


class ArxivLimiter:
    """Spaces requests to arXiv and keeps one of them in flight at a time.

    ``clock`` must be monotonic; ``clock`` and ``sleep`` can be replaced so tests control time.
    """

    def __init__(
        self,
        min_interval: float = DEFAULT_MIN_INTERVAL,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if not min_interval >= 0 or math.isinf(min_interval):
            raise ValueError(f"min_interval must be a finite number of seconds >= 0, not {min_interval!r}")
        self._min_interval = float(min_interval)
        self._clock = clock
        self._sleep = sleep
        self._held = False
        self._background: deque[asyncio.Future[None]] = deque()
        self._members: dict[Hashable, _Turns] = {}  # only requesters with someone waiting, in order of arrival
        self._grants = 0
        self._holder: Hashable | None = None  # the requester whose request holds the slot (None: background)
        self._last_start: float | None = None
        self._paused_until = -math.inf

    @property
    def min_interval(self) -> float:
        """Least number of seconds between the starts of two requests."""
        return self._min_interval

    @property
    def last_start(self) -> float | None:
        """Clock reading when the latest slot began, or None before the first one."""
        return self._last_start

    @property
    def paused_until(self) -> float:
        """Clock reading before which no slot begins (``-inf`` when never paused)."""
        return self._paused_until

    @property
    def busy(self) -> bool:
        """True while a request holds the slot."""
        return self._held

    @property
    def waiting(self) -> int:
        """How many requests wait for their turn (not counting the one holding the slot)."""
        return len(self._background) + sum(len(turns.waiting) for turns in self._members.values())

    def now(self) -> float:
        """The limiter's clock reading."""
        return self._clock()

    def paused_for(self) -> float:
        """Seconds left in the current pause (0 when not paused)."""
        return max(0.0, self._paused_until - self._clock())

    def ready_at(self) -> float:
        """Earliest clock reading at which the next slot may begin."""
        spaced = -math.inf if self._last_start is None else self._last_start + self._min_interval
        return max(spaced, self._paused_until)

    def pause_until(self, deadline: float) -> None:
        """Hold every arXiv request until the clock reaches ``deadline``; a later pause already set stays."""
        if math.isnan(deadline) or deadline <= self._paused_until:
            return
        self._paused_until = deadline
        log.info("pausing arXiv requests for %.1f s", max(0.0, deadline - self._clock()))

    def pause(self, seconds: float) -> None:
        """Hold every arXiv request for ``seconds`` from now."""
        self.pause_until(self._clock() + max(0.0, seconds))

    def heed(self, status: int, body: bytes, retry_after: float | None, *, default: float) -> float | None:
        """Pause all arXiv traffic when an answer asks for it; the seconds paused, None when it asks for nothing.

        A 429 or 503 with ``Retry-After`` (or ``Rate exceeded.`` with it) pauses for that long; a bare 429 or
        ``Rate exceeded.`` for ``default`` seconds.
        """
        rate_exceeded = is_rate_exceeded(body)
        if retry_after is not None and (status in (429, 503) or rate_exceeded):
            self.pause(retry_after)
            return retry_after
        if status == 429 or rate_exceeded:
            self.pause(default)
            return default
        return None

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for our turn (as :data:`requester`), then hold the only arXiv slot while the request runs."""
        await self._turn(requester.get())
        try:
            # Loop: a pause may be set or extended while we sleep.
            while (delay := self.ready_at() - self._clock()) > 0:
                await self._sleep(delay)
            self._last_start = self._clock()
            yield
        finally:
            self._hand_on()

    async def _turn(self, who: Hashable | None) -> None:
        """Return once the slot is ours."""
        if not self._held:  # a free slot means nobody waits: the one leaving it handed it on or found no one
            self._grant(who)
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if who is None:
            self._background.append(waiter)
        else:
            turns = self._members.setdefault(who, _Turns())
            if who == self._holder and not turns.waiting:
                turns.served = self._grants  # its request in the slot counts as its latest turn
            turns.waiting.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._hand_on()  # given the slot just as the caller gave up: pass it on
            else:
                self._forget(who, waiter)
            raise

    def _grant(self, who: Hashable | None) -> None:
        self._held = True
        self._grants += 1
        self._holder = who

    def _forget(self, who: Hashable | None, waiter: asyncio.Future[None]) -> None:
        """Take a caller who gave up out of its lane (a hand-on may have skipped it already)."""
        if who is None:
            if waiter in self._background:
                self._background.remove(waiter)
            return
        turns = self._members.get(who)
        if turns is not None and waiter in turns.waiting:
            turns.waiting.remove(waiter)
            if not turns.waiting:
                del self._members[who]

    def _next_waiter(self) -> tuple[Hashable | None, asyncio.Future[None]]:
        """Take the next waiting request out of its lane; call only while someone waits."""
        # The lanes alternate while both have someone waiting: background after a member, and the other way.
        if self._background and (not self._members or self._holder is not None):
            return None, self._background.popleft()
        who = min(self._members, key=lambda key: self._members[key].served)  # ties: the earliest to arrive
        turns = self._members[who]
        waiter = turns.waiting.popleft()
        if not turns.waiting:
            del self._members[who]
        elif not waiter.done():
            turns.served = self._grants + 1
        return who, waiter

    def _hand_on(self) -> None:
        """Give the slot to the next waiting request, or leave it free."""
        while self._background or self._members:
            who, waiter = self._next_waiter()
            if not waiter.done():  # a caller cancelled a moment ago is skipped
                self._grant(who)
                waiter.set_result(None)
                return
        self._held = False
        self._holder = None


_default: ArxivLimiter | None = None


def default_limiter() -> ArxivLimiter:
    """The process-wide limiter shared by the API client and the feed poller."""
    global _default
    if _default is None:
        _default = ArxivLimiter()
    return _default
