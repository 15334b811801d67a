"""Fetching a feed politely: one conditional GET with its redirects checked hop by hop, the body read up to a cap,
arXiv's requests in their turn, and what came back read as a listing or as the error a member is told.

:func:`fetch_feed` makes one HTTP request and reports what came back; the poller decides what to do about it
(back off, try later, pause a feed).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from schedules.addresses import AddressGuard, AddressNotAllowed
from schedules.arxiv import DEFAULT_USER_AGENT, parse_retry_after
from schedules.feed_answers import FetchResult
from schedules.feed_formats import FeedError
from schedules.ratelimit import ArxivLimiter, is_arxiv_url
from storage.feeds.sources import shown_url

__all__ = [
    "MAX_REDIRECTS",
    "MAX_WAIT",
    "RATE_LIMIT_PAUSE",
    "fetch_feed",
]

log = logging.getLogger(__name__)

RATE_LIMIT_PAUSE = 10.0  # seconds to hold arXiv traffic after a 429 or "Rate exceeded." that names no delay
MAX_WAIT = 300.0  # seconds fetch_feed will wait out an arXiv pause before giving up on this cycle

_ACCEPT = "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, application/xml;q=0.9, */*;q=0.5"
_CHUNK = 64 * 1024


async def _read_capped(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """The response body, refusing to hold more than ``max_bytes`` of it."""
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        raise FeedError(f"The feed is larger than {max_bytes:,} bytes ({declared:,} declared).", retryable=False)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise FeedError(f"The feed is larger than {max_bytes:,} bytes; stopped reading.", retryable=False)
        chunks.append(chunk)
    return b"".join(chunks)


_REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
_STRICT = AddressGuard()  # no trusted prefix, no private address: what a caller that names no guard gets


def _unreachable(exc: aiohttp.ClientError) -> str:
    """What failed, in a few words, without the library's text (which names addresses and credentials)."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "its host name could not be looked up"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return "its TLS certificate or connection was not accepted"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "the connection was refused or failed"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the answer was cut off"
    return exc.__class__.__name__


async def _get(
    session: aiohttp.ClientSession,
    url: str,
    *,
    guard: AddressGuard,
    headers: dict[str, str],
    seconds: float,
    max_bytes: int,
    etag: str | None,
    last_modified: str | None,
    limiter: ArxivLimiter | None,
) -> FetchResult:
    """One GET, following at most :data:`MAX_REDIRECTS` redirects itself so that every hop is checked."""
    async with contextlib.AsyncExitStack() as stack:
        guarded: aiohttp.ClientSession | None = None
        for _ in range(MAX_REDIRECTS + 1):
            _check_scheme(url)
            try:
                guard.check(url)
            except AddressNotAllowed as exc:
                raise FeedError(exc.message, retryable=False) from None
            http = session
            if guard.needs_guard(url):
                if guarded is None:
                    guarded = await stack.enter_async_context(guard.session())
                http = guarded
            result = await _get_one(
                http, url, headers=headers, seconds=seconds, max_bytes=max_bytes, etag=etag, last_modified=last_modified
            )
            if isinstance(result, str):
                url = result
                continue
            return _noted(result, url=url, limiter=limiter, trusted=guard.trusts(url) or is_arxiv_url(url))
    raise FeedError(f"The feed redirected more than {MAX_REDIRECTS} times.", retryable=False)


def _check_scheme(url: str) -> None:
    if urlsplit(url.strip()).scheme.lower() not in ("http", "https"):
        raise FeedError(f"`{shown_url(url)[:200]}` is not a web address (http or https).", retryable=False)


async def _get_one(
    http: aiohttp.ClientSession,
    url: str,
    *,
    headers: dict[str, str],
    seconds: float,
    max_bytes: int,
    etag: str | None,
    last_modified: str | None,
) -> FetchResult | str:
    """One request: its result, or the next URL when it redirects."""
    timeout = aiohttp.ClientTimeout(total=seconds)
    try:
        async with http.get(url, headers=headers, timeout=timeout, allow_redirects=False) as response:
            status = response.status
            location = response.headers.get("Location")
            if status in _REDIRECTS and location:
                try:
                    return str(response.url.join(URL(location)))
                except (ValueError, TypeError):
                    raise FeedError("The feed redirected to an address I can't read.", retryable=False) from None
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            new_etag = response.headers.get("ETag")
            new_modified = response.headers.get("Last-Modified")
            if status == 304:
                return FetchResult(304, None, new_etag or etag, new_modified or last_modified, retry_after, True)
            try:
                body = await _read_capped(response, max_bytes)
            except FeedError:
                response.close()  # drop the connection rather than drain the rest of the body
                raise
    except TimeoutError as exc:
        raise FeedError(f"The feed did not answer within {seconds:g} s.", retryable=True) from exc
    except AddressNotAllowed as exc:  # a host name that resolved into a private network: nothing was sent
        raise FeedError(exc.message, retryable=False) from None
    except aiohttp.InvalidURL as exc:
        raise FeedError(f"`{shown_url(url)[:200]}` is not a web address I can fetch.", retryable=False) from exc
    except aiohttp.ClientError as exc:
        raise FeedError(f"Could not reach the feed: {_unreachable(exc)}.", retryable=True) from exc
    return FetchResult(status, body, new_etag, new_modified, retry_after, False)


def _noted(result: FetchResult, *, url: str, limiter: ArxivLimiter | None, trusted: bool) -> FetchResult:
    """The result with arXiv's pause applied to the limiter and whether its text may be quoted."""
    status, body, retry_after = result.status, result.body or b"", result.retry_after
    if limiter is not None and not result.not_modified:
        paused = limiter.heed(status, body, retry_after, default=RATE_LIMIT_PAUSE)
        retry_after = paused if paused is not None else retry_after
    log.debug("GET %s -> %d (%d bytes)", shown_url(url), status, len(body))
    return dataclasses.replace(result, retry_after=retry_after, from_arxiv=trusted)


async def fetch_feed(
    session: aiohttp.ClientSession,
    url: str,
    *,
    etag: str | None,
    last_modified: str | None,
    limiter: ArxivLimiter,
    timeout: float = 30,  # noqa: ASYNC109 - bounds the HTTP request only, not the wait for arXiv's turn
    max_bytes: int = 20_000_000,
    user_agent: str = DEFAULT_USER_AGENT,
    arxiv: bool | None = None,
    max_wait: float = MAX_WAIT,
    guard: AddressGuard = _STRICT,
) -> FetchResult:
    """One conditional GET of a feed, without retrying; every arXiv request waits its turn on ``limiter``.

    ``arxiv`` overrides whether the URL counts as arXiv (by default: an ``arxiv.org`` host, or a URL under the
    guard's trusted prefixes, which are the operator's arXiv endpoints). For arXiv, a
    429/503 with ``Retry-After`` (or a bare 429 or ``Rate exceeded.``) pauses all arXiv traffic on the limiter;
    the delay comes back in ``retry_after``. HTTP error statuses are returned, not raised: see
    :func:`listing_from`. Raises :class:`FeedError` on a timeout or a connection failure (retryable), a body
    over ``max_bytes`` (not read further, not retryable), an address ``guard`` refuses on any redirect hop
    (nothing sent there; not retryable), or when arXiv has asked for a pause longer than ``max_wait`` seconds
    (retryable, nothing sent). ``session`` serves the URLs ``guard`` trusts; every other hop goes through a
    guarded session of its own.
    """
    _check_scheme(url)
    headers = {"User-Agent": user_agent, "Accept": _ACCEPT}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    options: dict[str, Any] = {
        "guard": guard,
        "headers": headers,
        "seconds": timeout,
        "max_bytes": max_bytes,
        "etag": etag,
        "last_modified": last_modified,
    }
    if arxiv is None:  # arXiv's hosts, and the operator's arXiv mirror or proxy (ARXIV_API_BASE, ARXIV_RSS_BASE)
        arxiv = is_arxiv_url(url) or guard.trusts(url)
    if not arxiv:
        return await _get(session, url, limiter=None, **options)
    waiting = limiter.paused_for()
    if waiting > max_wait:
        raise FeedError(f"arXiv asked us to wait {waiting:.0f} s.", retryable=True, retry_after=waiting)
    async with limiter.slot():
        return await _get(session, url, limiter=limiter, **options)
