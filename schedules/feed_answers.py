"""What a feed's fetch brought back, and the listing read from it, off the event loop.

:class:`FetchResult` is one conditional GET's answer; :func:`listing_from` reads it as a listing or as the error a
member is told; :func:`read_listing` does that in a worker thread for a small body, and in a process of its own
for a large one (``python -m schedules.feed_answers``). So that the process starts quickly, this module loads no
HTTP and no database code, only the feed formats.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import sys
from dataclasses import dataclass

from schedules.arxiv_answers import is_rate_exceeded
from schedules.feed_formats import API_MARK, FeedError, Listing, parse_listing

__all__ = ["IN_PROCESS_FROM", "FetchResult", "listing_from", "read_listing"]

# Bodies from this size on are parsed in a worker process: feedparser reads about 3 MB a second in pure Python,
# and in a thread it would share the interpreter with the event loop for that long (an arXiv listing of 2,000
# papers, 4 MB, takes 1.5 s). A smaller body (a blog's feed) takes tens of milliseconds: a thread is enough.
IN_PROCESS_FROM = 256 * 1024
_TRANSIENT_STATUS = frozenset({408, 425, 429})
# Where the process finds this package, however the bot was started (os.path: pathlib is one import more).
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one conditional GET of a feed brought back."""

    status: int
    body: bytes | None
    etag: str | None
    last_modified: str | None
    retry_after: float | None  # seconds the server asked us to wait (429/503), else None
    not_modified: bool  # 304: the feed is as it was at the last fetch
    from_arxiv: bool = False  # arXiv or the operator's own endpoint answered: its error text may be quoted


def listing_from(result: FetchResult) -> Listing | None:
    """The listing a fetch brought, None when unchanged (304); :class:`FeedError` for an HTTP error or a non-feed.

    Blocking like :func:`parse_listing`. Whether an error is worth retrying is decided from the status first:
    408/425/429 and 5xx are, other 4xx are not; at 2xx, the body decides.
    """
    if result.not_modified:
        return None
    status = result.status
    body = result.body or b""
    if 200 <= status < 300:
        try:
            return parse_listing(body, quote=result.from_arxiv)
        except FeedError as exc:
            exc.status = status
            exc.retry_after = exc.retry_after if exc.retry_after is not None else result.retry_after
            raise
    transient = status in _TRANSIENT_STATUS or status >= 500 or (status == 400 and is_rate_exceeded(body))
    reason = f"The feed answered HTTP {status}."
    if status == 400 and API_MARK in body[:8192] and result.from_arxiv:
        try:
            parse_listing(body, quote=True)
        except FeedError as exc:
            reason = exc.message
    elif body and is_rate_exceeded(body):
        reason = f"The feed answered HTTP {status}: Rate exceeded."
    if result.retry_after is not None:
        reason += f" It asked to wait {result.retry_after:.0f} s."
    raise FeedError(reason, retryable=transient, retry_after=result.retry_after, status=status)


async def read_listing(result: FetchResult) -> Listing | None:
    """:func:`listing_from` off the event loop: a small body in a worker thread, a large one in a process of its
    own (``python -m schedules.feed_answers``, at a lower CPU priority than the bot's), which exits once it has
    answered: nothing is kept between polls. A fresh interpreter costs about a tenth of a second of imports
    (this module loads no HTTP and no database code), spent on another core or while the bot leaves the CPU
    idle."""
    import asyncio  # here: the bot has it loaded already, and the listing's own process never needs it

    if result.body is None or len(result.body) < IN_PROCESS_FROM:
        return await asyncio.to_thread(listing_from, result)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        __name__,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (_ROOT, os.environ.get("PYTHONPATH"))))},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await proc.communicate(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    except BaseException:  # cancelled: the poll stops, and so does its parse
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"parsing the listing failed: {err.decode(errors='replace').strip()[-2000:]}")
    answer: Listing | FeedError | None = await asyncio.to_thread(pickle.loads, out)  # megabytes: not on the loop
    if isinstance(answer, FeedError):
        raise answer
    return answer


def _parse_piped() -> None:
    """``python -m schedules.feed_answers``: a pickled :class:`FetchResult` in on stdin, the listing (or the
    :class:`FeedError`) out on stdout, pickled, at a lower CPU priority: members' commands go first."""
    os.nice(10)
    result = pickle.load(sys.stdin.buffer)
    try:
        answer: Listing | FeedError | None = listing_from(result)
    except FeedError as exc:
        answer = exc
    pickle.dump(answer, sys.stdout.buffer, protocol=pickle.HIGHEST_PROTOCOL)


if __name__ == "__main__":
    _parse_piped()
