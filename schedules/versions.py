"""New versions of the papers groups have notes on: the daily check on arXiv, and the notices posted.

Each noted paper is asked about once a day: the check runs every hour (``schedules/jobs.py``) and asks about the
papers not asked within a day, a few requests a run, so a thousand noted papers are a handful of hourly runs'
work, never a burst.

A feed's replacement records a paper's new version as it is listed (:mod:`storage.feeds.listed_papers`); the
daily check asks arXiv about the noted papers no feed brought news of, a batch of ids a request, a few requests a
run, through the shared pace (:class:`~schedules.ratelimit.ArxivLimiter`, inside the client). Either way the
notices are recorded with the version (:mod:`storage.versions`); posting them belongs to the Discord side,
which passes a :class:`NoticePoster` in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from schedules.poller import ChannelUnavailable, failure_reason
from storage.metadata import MetadataSource
from storage.version_check import VersionCheck
from storage.versions import Notice, VersionNotices, overdue

log = logging.getLogger(__name__)

BATCH = 100  # ids a request: the arXiv client's own batch, so each batch is one request
MAX_REQUESTS = 3  # requests one run sends at most; papers left over are asked first by the next run, an hour on


class NoticePoster(Protocol):
    """Posts version notices in their places: the Discord side of the notices."""

    async def post(self, notice: Notice) -> int:
        """Post the notice in its place; returns the message's id.

        Raises :class:`~schedules.poller.ChannelUnavailable` when the place is gone or forbidden; any other
        error means it failed for now.
        """
        ...

    async def find_posted(self, notice: Notice) -> int | None:
        """The notice's message in its place, if a stopped process posted it without recording it; raises like
        :meth:`post`."""
        ...


class VersionWatch:
    """Checks each noted paper's version once a day, and posts the notices waiting."""

    def __init__(
        self,
        *,
        check: VersionCheck,
        notices: VersionNotices,
        source: MetadataSource,
        poster: NoticePoster | None,
        batch: int = BATCH,
        max_requests: int = MAX_REQUESTS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.records, self.notices, self.source, self.poster = check, notices, source, poster
        self.batch, self.max_requests, self.clock = batch, max_requests, clock

    async def check(self) -> int:
        """Ask arXiv about the noted papers not asked within a day, ``batch`` ids a request and at most
        ``max_requests`` requests; returns the notices recorded. arXiv failing ends the run (asked again later)."""
        now = self.clock()
        recorded = 0
        for _ in range(self.max_requests):
            due = await self.records.due_papers(now=now, limit=self.batch)
            if not due:
                break
            try:
                found = await self.source.fetch(list(due.values()))
            except Exception as exc:  # any failure of the outside world: these papers wait for the next run
                log.warning("checking %d papers for new versions failed: %s", len(due), exc or type(exc).__name__)
                break
            recorded += await self.records.record(asked=list(due), found=found, checked_at=now)
            if len(due) < self.batch:
                break
        if recorded:
            log.info("new versions: %d notices recorded", recorded)
        return recorded

    async def post_pending(self) -> int:
        """Post the notices waiting, each in its place; returns how many were sent now.

        A notice an earlier run claimed may already be in its place (a process stopped between sending and
        recording): it is looked for first and recorded if found, never sent blind. A paper's thread that is gone
        or closed passes the notice to the channel the thread hung off; a channel that is gone or forbidden fails
        the notice; other failures leave it for the next run, until a day has passed.
        """
        if self.poster is None:
            return 0
        sent = 0
        for notice in await self.notices.claim():
            try:
                try:
                    placed = await self._place(notice)
                except ChannelUnavailable as exc:
                    moved = await self.notices.out_of_thread(notice)
                    if moved is None:
                        raise
                    log.info("version notice %s v%d: the paper's thread is gone (%s)", notice.key, notice.version, exc)
                    notice = moved
                    placed = await self._place(notice)
            except ChannelUnavailable as exc:
                log.info("version notice %s v%d not posted: %s", notice.key, notice.version, exc)
                await self.notices.mark_failed(notice)
                continue
            except Exception as exc:  # for now: looked for, then tried again, by the next run
                log.warning(
                    "version notice %s v%d not posted for now (%s)",
                    notice.key,
                    notice.version,
                    failure_reason(exc),
                    exc_info=True,
                )
                continue
            if placed is None:
                continue
            message_id, fresh = placed
            sent += fresh
            await self.notices.mark_sent(notice, message_id=message_id, now=self.clock())
        return sent

    async def _place(self, notice: Notice) -> tuple[int, bool] | None:
        """The notice in its place: (its message, whether it was sent now rather than found there); None when it
        was given up (claimed a day ago, never found posted)."""
        assert self.poster is not None
        if notice.claimed_before:
            found = await self.poster.find_posted(notice)
            if found is not None:
                return found, False
            if overdue(notice, now=self.clock()):
                log.warning("version notice %s v%d: not posted for a day, given up", notice.key, notice.version)
                await self.notices.mark_failed(notice)
                return None
        return await self.poster.post(notice), True
