"""One polite pace for every request this bot sends to arXiv.

arXiv asks API clients for no more than one request every three seconds over a single connection, and the
same courtesy applies to its RSS feeds. Every fetch from any ``*.arxiv.org`` host goes through one
:class:`ArxivLimiter` per process (see :func:`default_limiter`): it spaces the start of consecutive requests,
keeps one request in flight at a time, and can pause all arXiv traffic when arXiv asks us to back off.

A limiter belongs to the event loop that first waits on it; the bot runs a single loop.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

__all__ = ["DEFAULT_MIN_INTERVAL", "ArxivLimiter", "default_limiter", "is_arxiv_url"]

log = logging.getLogger(__name__)

DEFAULT_MIN_INTERVAL = 3.0


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
        self._lock = asyncio.Lock()
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
        return self._lock.locked()

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

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for our turn, then hold the only arXiv slot while the request runs."""
        async with self._lock:
            # Loop: a pause may be set or extended while we sleep.
            while (delay := self.ready_at() - self._clock()) > 0:
                await self._sleep(delay)
            self._last_start = self._clock()
            yield


_default: ArxivLimiter | None = None


def default_limiter() -> ArxivLimiter:
    """The process-wide limiter shared by the API client and the feed poller."""
    global _default
    if _default is None:
        _default = ArxivLimiter()
    return _default
