"""arXiv API client: paper metadata by id, title search and raw API queries.

All requests go through the shared :class:`~schedules.ratelimit.ArxivLimiter`, so the bot never sends arXiv
more than one request every few seconds, however many members look papers up at once. Lookups that arrive
while a request waits for its turn are gathered into a single ``id_list`` request.

Searches wait in the turn of whoever asks (:data:`~schedules.ratelimit.requester`). Id lookups are gathered
by one dispatcher for everyone, so it takes turns of its own: while any server's id waits, its batch asks in
the members' lane as one more requester, otherwise (only the bot's own ids) in the background lane. A batch
is filled round-robin over the askers of the waiting ids (the first asker of each id counts), so one server's
500 ids cannot push another server's id past the next batch.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import math
import unicodedata
from collections.abc import Callable, Hashable, Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Self, TypeAlias
from urllib.parse import quote, urlencode

import aiohttp
import yarl

from schedules.arxiv_answers import (
    ArxivError,
    ArxivQueryError,
    ArxivUnavailable,
    body_snippet,
    is_rate_exceeded,
    parse_api_feed,
)
from schedules.ratelimit import ArxivLimiter, default_limiter, requester
from storage.errors import PaperInputError
from storage.identity import paper_key
from storage.metadata import PaperMetadata

if TYPE_CHECKING:
    from tenacity import RetryCallState
    from tenacity.wait import wait_base

__all__ = [
    "DEFAULT_API_BASE",
    "DEFAULT_USER_AGENT",
    "MAX_QUERY_RESULTS",
    "ArxivClient",
    "parse_retry_after",
    "title_search_queries",
]

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://export.arxiv.org/api/query"
DEFAULT_USER_AGENT = "paperclub/0.1 (+self-hosted reading-group bot)"
MAX_QUERY_RESULTS = 2000  # arXiv's own cap on one page of results
MAX_TITLE_RESULTS = 50
SORT_BY = frozenset({"relevance", "lastUpdatedDate", "submittedDate"})
SORT_ORDER = frozenset({"ascending", "descending"})

_MAX_TITLE_WORDS = 20
_OPERATORS = frozenset({"AND", "OR", "NOT", "ANDNOT"})
_STOPWORDS = frozenset(
    "a an and andnot are as at be by for from in into is it its not of on or the to via vs with".split()
)
_TRANSIENT_STATUS = frozenset({408, 425, 429})

_Lookup: TypeAlias = "asyncio.Future[PaperMetadata | None]"


class _Transient(ArxivError):
    """One failed attempt that is worth repeating."""

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay in seconds or an HTTP date), or None."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _query_char(char: str) -> str:
    # Letters, digits, combining marks and hyphens are plain text to arXiv; anything else may be query syntax.
    return char if char.isalnum() or char == "-" or unicodedata.category(char).startswith("M") else " "


def _title_words(text: str) -> list[str]:
    text = "".join(map(_query_char, unicodedata.normalize("NFKC", text)))
    words = (word.strip("-") for word in text.split())
    # arXiv reads AND / OR / ANDNOT as operators; in lower case they are plain words.
    return [word.lower() if word.upper() in _OPERATORS else word for word in words if word][:_MAX_TITLE_WORDS]


def title_search_queries(text: str) -> list[str]:
    """arXiv ``search_query`` strings for a title: the exact phrase, then (if it differs) all words ANDed."""
    words = _title_words(text)
    if not words:
        return []
    queries = [f'ti:"{" ".join(words)}"']
    parts = [part for word in words for part in word.split("-") if part]
    terms = [
        part for part in dict.fromkeys(parts) if part.lower() not in _STOPWORDS and (len(part) > 1 or part.isdigit())
    ]
    if len(terms) > 1 or (terms and len(words) > 1):
        queries.append(" AND ".join(f"ti:{term}" for term in terms))
    return queries


def _arxiv_id(key: str) -> str | None:
    """The bare arXiv id for an ``arxiv:`` key, or None for other keys and ids that cannot exist."""
    if key[:6].lower() != "arxiv:":
        return None
    try:
        return paper_key(key).arxiv_id
    except PaperInputError:
        log.info("not asking arXiv about %r: not a valid arXiv id", key)
        return None


def _settle(future: asyncio.Future[Any], *, result: Any = None, error: BaseException | None = None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)
        future.exception()  # mark as seen: callers who gave up must not cause "never retrieved" warnings


class ArxivClient:
    """Reads paper metadata from the arXiv API; satisfies :class:`storage.metadata.MetadataSource`."""

    def __init__(
        self,
        *,
        api_base: str = DEFAULT_API_BASE,
        limiter: ArxivLimiter | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 30.0,
        max_attempts: int = 4,
        batch_size: int = 100,
        user_agent: str = DEFAULT_USER_AGENT,
        backoff: float = 2.0,
        max_backoff: float = 60.0,
        rate_exceeded_pause: float = 10.0,
        max_retry_after: float = 300.0,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 1 <= batch_size <= MAX_QUERY_RESULTS:
            raise ValueError(f"batch_size must be between 1 and {MAX_QUERY_RESULTS}")
        self._api_base = api_base
        self._limiter = limiter if limiter is not None else default_limiter()
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_attempts = max_attempts
        self._batch_size = batch_size
        self._headers = {"User-Agent": user_agent}
        self._backoff_base, self._max_backoff = backoff, max_backoff
        self._rate_exceeded_pause = rate_exceeded_pause
        self._max_retry_after = max_retry_after
        self._pending: dict[str, _Lookup] = {}
        self._askers: dict[str, Hashable | None] = {}  # who first asked for each pending id (None: the bot)
        self._in_flight: dict[str, _Lookup] = {}
        self._batches_turn: Hashable = object()  # the id batches' own turn in the limiter's members' lane
        self._dispatcher: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def limiter(self) -> ArxivLimiter:
        """The limiter every request of this client waits on."""
        return self._limiter

    async def start(self) -> None:
        """Open the HTTP session (one connection) unless one was given; safe to call again."""
        if self._closed:
            raise RuntimeError("this arXiv client is closed")
        if self._session is None:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1), headers=self._headers)

    async def close(self) -> None:
        """Stop the dispatcher, fail lookups still waiting, and close the session if this client opened it."""
        self._closed = True
        if self._dispatcher is not None and not self._dispatcher.done():
            self._dispatcher.cancel()
            try:
                await self._dispatcher
            except asyncio.CancelledError:
                pass
        self._dispatcher = None
        closed = ArxivUnavailable("the arXiv client was closed")
        for future in itertools.chain(self._pending.values(), self._in_flight.values()):
            _settle(future, error=closed)
        self._pending.clear()
        self._askers.clear()
        self._in_flight.clear()
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Self:
        """Start the client."""
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close the client."""
        await self.close()

    # Lookups by id

    async def fetch(self, keys: list[str]) -> dict[str, PaperMetadata | None]:
        """Metadata for each ``arxiv:`` key (latest version); None for unknown papers and non-arXiv keys."""
        if self._closed:
            raise RuntimeError("this arXiv client is closed")
        futures: dict[str, _Lookup] = {}
        for key in keys:
            if key not in futures and (arxiv_id := _arxiv_id(key)) is not None:
                futures[key] = self._future_for(arxiv_id)
        if futures:
            self._ensure_dispatcher()
            # asyncio.wait, not gather: a caller that is cancelled must not cancel futures shared with others.
            await asyncio.wait(set(futures.values()))
        return {key: futures[key].result() if key in futures else None for key in keys}

    async def fetch_one(self, key: str) -> PaperMetadata | None:
        """Metadata for one ``arxiv:`` key, or None when arXiv has no such paper."""
        return (await self.fetch([key]))[key]

    def _future_for(self, arxiv_id: str) -> _Lookup:
        future = self._pending.get(arxiv_id) or self._in_flight.get(arxiv_id)
        if future is None or future.done():
            future = asyncio.get_running_loop().create_future()
            self._pending[arxiv_id] = future
            self._askers[arxiv_id] = requester.get()
        return future

    def _ensure_dispatcher(self) -> None:
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.create_task(self._dispatch(), name="arxiv-id-lookups")

    async def _dispatch(self) -> None:
        while self._pending:
            # This task's own context: the turn it asks in never leaks to the callers.
            members_waiting = any(asker is not None for asker in self._askers.values())
            requester.set(self._batches_turn if members_waiting else None)
            await self._run_batch()

    def _next_batch(self) -> list[str]:
        """Pending ids for the next request: one from each asker in turn, in the order they asked."""
        by_asker: dict[Hashable | None, list[str]] = {}
        for arxiv_id in self._pending:
            by_asker.setdefault(self._askers.get(arxiv_id), []).append(arxiv_id)
        rounds = itertools.zip_longest(*by_asker.values())
        return list(itertools.islice((i for i in itertools.chain.from_iterable(rounds) if i), self._batch_size))

    async def _run_batch(self) -> None:
        batch: dict[str, _Lookup] = {}

        def take() -> dict[str, str]:
            # Called once we hold the limiter slot, so everything asked for while we waited joins in.
            for arxiv_id in self._next_batch():
                batch[arxiv_id] = self._pending.pop(arxiv_id)
                self._askers.pop(arxiv_id, None)
            self._in_flight.update(batch)
            return _id_params(batch)

        try:
            try:
                papers = await self._request(take)
            except ArxivQueryError as exc:
                await self._split(batch, exc)
            except Exception as exc:
                if not batch:
                    take()  # failed before our first slot: those waiting get the error, not an endless retry
                self._fail(batch, exc)
            else:
                self._resolve(batch, papers)
        except BaseException:
            # Cancelled (the client is closing): nobody must be left waiting on this batch.
            self._fail(batch, ArxivUnavailable("the arXiv lookup was interrupted"))
            raise
        finally:
            for arxiv_id in batch:
                self._in_flight.pop(arxiv_id, None)

    async def _split(self, batch: dict[str, _Lookup], error: ArxivQueryError) -> None:
        """arXiv refused a whole batch over a bad id: drop the id it names (or halve the batch) and ask again."""
        if len(batch) == 1 or error.bad_id in batch:
            bad_id = error.bad_id if error.bad_id in batch else next(iter(batch))
            log.warning("arXiv refused id %s (%s); treating it as an unknown paper", bad_id, error)
            _settle(batch[bad_id], result=None)
            rest = {arxiv_id: future for arxiv_id, future in batch.items() if arxiv_id != bad_id}
            parts = [rest] if rest else []
        else:
            items = list(batch.items())
            parts = [dict(items[: len(items) // 2]), dict(items[len(items) // 2 :])]
        for part in parts:
            try:
                papers = await self._request(functools.partial(_id_params, part))
            except ArxivQueryError as exc:
                await self._split(part, exc)
            except Exception as exc:
                self._fail(part, exc)
            else:
                self._resolve(part, papers)

    def _resolve(self, batch: Mapping[str, _Lookup], papers: Iterable[PaperMetadata]) -> None:
        found: dict[str, PaperMetadata] = {}
        for paper in papers:
            found.setdefault(paper.key.removeprefix("arxiv:"), paper)
        for arxiv_id, future in batch.items():
            _settle(future, result=found.get(arxiv_id))

    @staticmethod
    def _fail(batch: Mapping[str, _Lookup], error: BaseException) -> None:
        for future in batch.values():
            _settle(future, error=error)

    # Searches

    async def search_title(self, text: str, *, limit: int = 5) -> list[PaperMetadata]:
        """Papers whose titles match ``text``, best match first as arXiv ranks them."""
        limit = max(1, min(limit, MAX_TITLE_RESULTS))
        papers: list[PaperMetadata] = []
        for search_query in title_search_queries(text):
            papers = await self.query(search_query, max_results=limit, sort_by="relevance")
            if papers:
                break
        return papers[:limit]

    async def query(
        self,
        search_query: str,
        *,
        start: int = 0,
        max_results: int = 100,
        sort_by: str = "submittedDate",
        sort_order: str = "descending",
    ) -> list[PaperMetadata]:
        """One page of an arXiv API ``search_query`` (at most 2000 results)."""
        if sort_by not in SORT_BY:
            raise ValueError(f"sort_by must be one of {sorted(SORT_BY)}, not {sort_by!r}")
        if sort_order not in SORT_ORDER:
            raise ValueError(f"sort_order must be one of {sorted(SORT_ORDER)}, not {sort_order!r}")
        if start < 0:
            raise ValueError("start must be >= 0")
        max_results = min(max_results, MAX_QUERY_RESULTS)
        if max_results < 1 or not search_query.strip():
            return []
        params = {
            "search_query": search_query,
            "start": str(start),
            "max_results": str(max_results),
            "sortBy": sort_by,
            "sortOrder": sort_order,
        }
        return await self._request(lambda: params)

    # HTTP

    async def _request(self, make_params: Callable[[], Mapping[str, str]]) -> list[PaperMetadata]:
        """GET the API, retrying transient failures; ``make_params`` runs once, when the first slot is ours."""
        await self.start()
        chosen: Mapping[str, str] | None = None

        def build() -> Mapping[str, str]:
            nonlocal chosen
            if chosen is None:
                chosen = make_params()
            return chosen

        from tenacity import AsyncRetrying, retry_if_exception_type  # loaded on first use (bench/idle_memory.py)

        retrying = AsyncRetrying(
            stop=self._should_stop,
            wait=self._wait,
            retry=retry_if_exception_type(_Transient),
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    status, body = await self._get(build)
                    return await self._parse(status, body)
        except _Transient as exc:
            retry_after = max(exc.retry_after or 0.0, self._limiter.paused_for()) or None
            attempts = retrying.statistics.get("attempt_number", self._max_attempts)
            raise ArxivUnavailable(
                f"arXiv is not answering ({attempts} attempts): {exc}",
                retry_after=retry_after,
                status=exc.status,
            ) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    async def _get(self, build: Callable[[], Mapping[str, str]]) -> tuple[int, bytes]:
        """One request under the limiter; raises :class:`_Transient` for failures worth repeating."""
        waiting = self._limiter.paused_for()
        if waiting > self._max_retry_after:
            raise ArxivUnavailable(f"arXiv asked us to wait {waiting:.0f} s", retry_after=waiting)
        assert self._session is not None
        async with self._limiter.slot():
            url = yarl.URL(f"{self._api_base}?{urlencode(build(), quote_via=quote, safe=',:/')}", encoded=True)
            log.debug("GET %s", url)
            try:
                async with self._session.get(url, headers=self._headers, timeout=self._timeout) as response:
                    body = await response.read()
                    status = response.status
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
            except TimeoutError as exc:
                raise _Transient(f"no answer within {self._timeout.total:g} s") from exc
            except aiohttp.ClientError as exc:
                raise _Transient(f"connection failed: {exc.__class__.__name__}: {exc}") from exc
            self._check_status(status, body, retry_after)
        return status, body

    def _check_status(self, status: int, body: bytes, retry_after: float | None) -> None:
        """Pause all arXiv traffic when arXiv asks for it, and sort failures into transient or not."""
        retry_after = self._limiter.heed(status, body, retry_after, default=self._rate_exceeded_pause)
        if is_rate_exceeded(body):
            raise _Transient("arXiv says: Rate exceeded.", retry_after=retry_after, status=status)
        if status in _TRANSIENT_STATUS or status >= 500:
            raise _Transient(f"HTTP {status}", retry_after=retry_after, status=status)
        if status not in (200, 400):
            raise ArxivUnavailable(f"arXiv answered HTTP {status}", status=status)

    async def _parse(self, status: int, body: bytes) -> list[PaperMetadata]:
        try:
            papers = await asyncio.to_thread(parse_api_feed, body)
        except ArxivUnavailable as exc:
            if status == 400:
                raise ArxivQueryError(f"arXiv rejected the query (HTTP 400): {body_snippet(body)}") from exc
            raise _Transient(str(exc), status=status) from exc
        if status == 400:
            raise ArxivQueryError("arXiv rejected the query (HTTP 400)")
        return papers

    def _should_stop(self, state: RetryCallState) -> bool:
        if state.attempt_number >= self._max_attempts:
            return True
        error = state.outcome.exception() if state.outcome is not None else None
        retry_after = getattr(error, "retry_after", None)
        return retry_after is not None and retry_after > self._max_retry_after

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        if getattr(error, "retry_after", None) is not None:
            return 0.0  # the limiter is already paused for as long as arXiv asked
        return self._backoff(state)

    @functools.cached_property
    def _backoff(self) -> wait_base:
        from tenacity import wait_exponential, wait_random

        return wait_exponential(multiplier=self._backoff_base, max=self._max_backoff) + wait_random(
            0, self._backoff_base
        )

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        delay = max(state.upcoming_sleep, self._limiter.paused_for())
        log.warning(
            "arXiv request failed (%s); attempt %d of %d, trying again in %.1f s",
            error,
            state.attempt_number,
            self._max_attempts,
            delay,
        )


def _id_params(batch: Mapping[str, object]) -> dict[str, str]:
    return {"id_list": ",".join(batch), "start": "0", "max_results": str(len(batch))}
