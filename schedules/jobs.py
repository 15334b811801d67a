"""Background jobs, registered with explicit ids so a restart replaces rather than doubles them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from apscheduler.schedulers.base import BaseScheduler

from schedules.poller import FeedPoller
from schedules.titles import TitleResolver
from schedules.versions import VersionWatch
from storage.imports.importer import ImportService, StoppedImport
from storage.leases import LeaseService
from storage.papers import PaperService

log = logging.getLogger(__name__)

PENDING_METADATA_JOB = "metadata:pending"
POLL_FEEDS_JOB = "feeds:poll"
POLL_LEASE = "feeds"
RESOLVE_TITLES_JOB = "imports:resolve"
ROLL_BACK_IMPORTS_JOB = "imports:roll-back"
ROLL_BACK_TICK = 60.0  # seconds between looks for imports a stopped process left half-applied (claims last 2 min)
TITLES_LEASE = "titles"
TITLE_TICK = 60.0  # seconds between runs of the title resolver; a run sends at most a few requests (MAX_BATCHES)
MIN_LEASE = timedelta(seconds=15)
METADATA_TICK = 30.0  # seconds between looks for pending papers whose retry is due; most looks ask arXiv nothing
FEED_TICK = 60.0  # seconds between looks for due feeds; each feed keeps its own time (arXiv's calendar, backoff)
CHECK_VERSIONS_JOB = "versions:check"
CHECK_VERSIONS_LEASE = "versions:check"
CHECK_VERSIONS_TICK = timedelta(hours=1)  # each run asks about the papers not asked within a day, a few requests
CHECK_VERSIONS_FIRST = timedelta(minutes=10)  # after start: a restart's first minutes are busy enough
CHECK_VERSIONS_HOLD = 2 * CHECK_VERSIONS_TICK  # kept from one run to the next; a stopped holder's runs out
POST_NOTICES_JOB = "versions:post"
NOTICES_LEASE = "versions:post"
NOTICE_TICK = 60.0  # seconds between looks for version notices to post


def every(
    scheduler: BaseScheduler,
    job: Callable[..., Any],
    *,
    seconds: float,
    job_id: str,
    args: Sequence[Any] = (),
    **options: Any,
) -> None:
    """Add (or replace) a job run every ``seconds`` under a fixed id, so a restart replaces rather than doubles it;
    a run still going when the next is due makes the next one skipped, never run twice at once."""
    scheduler.add_job(
        job,
        "interval",
        seconds=seconds,
        args=list(args),
        id=job_id,
        replace_existing=True,
        coalesce=True,
        max_instances=1,
        **options,
    )


class StoppedImports(Protocol):
    """Where members are told an import was rolled back (the bot edits the import's message in the channel)."""

    async def tell_stopped(self, run: StoppedImport) -> None:
        """Say the import stopped before it finished, nothing of it was kept, and it is to be run again."""
        ...


class JobSettings(Protocol):
    """The settings the jobs need."""

    @property
    def metadata_retry_interval(self) -> float: ...

    @property
    def feed_poll_interval(self) -> float: ...


async def fill_pending_metadata(
    papers: PaperService, longest: float, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> None:
    """Fill in metadata arXiv could not give yet: each paper retried 30 s after a failure, doubling up to
    ``longest`` (METADATA_RETRY_INTERVAL), and every pending paper at once when arXiv answers again."""
    try:
        await papers.fill_pending(now=clock(), longest=longest)
    except Exception:
        log.exception("filling in pending metadata failed")


def lease_ttl(tick: float) -> timedelta:
    """How long the polling lease lasts: three ticks of the poll job, so a live holder always renews in time,
    and a dead one's lease is taken over within that (3 minutes with the default interval)."""
    return max(MIN_LEASE, timedelta(seconds=3 * tick))


async def poll_feeds(poller: FeedPoller, leases: LeaseService | None = None, ttl: timedelta = MIN_LEASE) -> None:
    """One poll cycle: deliveries left pending settled, every due feed fetched once, new papers posted; by one
    process at a time.

    With several processes on one database, only the holder of the ``feeds`` lease polls; it renews the lease
    while a long cycle runs, and another process takes over once a dead holder's lease runs out (or at once when
    it gave the lease back on a clean stop). Only the holder settles pending deliveries, all of them: its own are
    from earlier cycles (which never overlap in one process) and a previous holder's are from a process that has
    lost the lease. So a process started beside a live holder sends nothing twice, and a send that failed is
    tried again by a later cycle.
    """
    if leases is not None and not await leases.hold(POLL_LEASE, ttl=ttl):
        return
    renewing = asyncio.create_task(_renew(leases, ttl)) if leases is not None else None
    try:
        await settle_deliveries(poller, before=datetime.now(UTC))
        report = await poller.poll_once()
    except Exception:
        log.exception("polling feeds failed")
        return
    finally:
        if renewing is not None:
            renewing.cancel()
    if report.fetched or report.failed or report.posted:
        log.info(
            "feeds: %d fetched, %d unchanged, %d failed, %d papers posted",
            report.fetched,
            report.not_modified,
            len(report.failed),
            report.posted,
        )


async def _renew(leases: LeaseService | None, ttl: timedelta, name: str = POLL_LEASE) -> None:
    """Keep a lease while its work runs (posting a busy day can take minutes)."""
    while leases is not None:
        await asyncio.sleep(ttl.total_seconds() / 3)
        try:
            await leases.hold(name, ttl=ttl)
        except Exception:
            log.exception("renewing the %s lease failed", name)


async def check_versions(watch: VersionWatch, leases: LeaseService | None = None) -> None:
    """The hourly look at the noted papers' versions: those not asked about within a day, a few requests to arXiv
    a run; by one process at a time. What it finds is posted by the notices job, within a minute."""
    try:
        if leases is not None and not await leases.hold(CHECK_VERSIONS_LEASE, ttl=CHECK_VERSIONS_HOLD):
            return
        await watch.check()
    except Exception:
        log.exception("checking noted papers for new versions failed")


async def post_version_notices(
    watch: VersionWatch, leases: LeaseService | None = None, ttl: timedelta = MIN_LEASE
) -> None:
    """Post the version notices waiting; by one process at a time, which also settles the notices a stopped
    process claimed (only the holder posts, so a notice another live process is sending is never looked at)."""
    if leases is not None and not await leases.hold(NOTICES_LEASE, ttl=ttl):
        return
    renewing = asyncio.create_task(_renew(leases, ttl, NOTICES_LEASE)) if leases is not None else None
    try:
        sent = await watch.post_pending()
    except Exception:
        log.exception("posting version notices failed")
        return
    finally:
        if renewing is not None:
            renewing.cancel()
    if sent:
        log.info("posted %d new-version notices", sent)


async def resolve_titles(
    resolver: TitleResolver, leases: LeaseService | None = None, ttl: timedelta = MIN_LEASE
) -> None:
    """Match a few batches of imported titles to arXiv; by one process at a time, so no title is asked twice."""
    try:
        if leases is not None and not await leases.hold(TITLES_LEASE, ttl=ttl):
            return
        await resolver.run()
    except Exception:
        log.exception("resolving imported titles failed")


async def settle_deliveries(poller: FeedPoller, before: datetime) -> None:
    """Settle what a stopped process, or a failed send, left between recording a delivery and its message."""
    try:
        sent = await poller.recover(before=before)
    except Exception:
        log.exception("settling pending deliveries failed")
        return
    if sent:
        log.info("sent %d papers left pending by a stopped process or a failed send", sent)


def register_jobs(
    scheduler: BaseScheduler,
    *,
    papers: PaperService,
    poller: FeedPoller,
    settings: JobSettings,
    leases: LeaseService | None = None,
    titles: TitleResolver | None = None,
    versions: VersionWatch | None = None,
) -> None:
    """Add (or replace) every background job."""
    if settings.metadata_retry_interval > 0:
        every(
            scheduler,
            fill_pending_metadata,
            seconds=min(settings.metadata_retry_interval, METADATA_TICK),
            job_id=PENDING_METADATA_JOB,
            args=[papers, settings.metadata_retry_interval],
        )
    every(
        scheduler,
        poll_feeds,
        seconds=(tick := min(settings.feed_poll_interval, FEED_TICK)),
        job_id=POLL_FEEDS_JOB,
        args=[poller, leases, lease_ttl(tick)],
    )
    if titles is not None:
        every(
            scheduler,
            resolve_titles,
            seconds=TITLE_TICK,
            job_id=RESOLVE_TITLES_JOB,
            args=[titles, leases, lease_ttl(TITLE_TICK)],
        )
    if versions is not None:
        every(
            scheduler,
            check_versions,
            seconds=CHECK_VERSIONS_TICK.total_seconds(),
            job_id=CHECK_VERSIONS_JOB,
            args=[versions, leases],
            next_run_time=datetime.now(UTC) + CHECK_VERSIONS_FIRST,
        )
        every(
            scheduler,
            post_version_notices,
            seconds=NOTICE_TICK,
            job_id=POST_NOTICES_JOB,
            args=[versions, leases, lease_ttl(NOTICE_TICK)],
        )


async def roll_back_imports(imports: ImportService, told: StoppedImports | None = None) -> None:
    """Roll back the imports a stopped process left half-applied, and tell their members.

    Only imports whose claim is gone are touched (their process stopped: the claim ran out, or its holder ended
    on this host), so every process may run this: an import a live process is applying is left to it.
    """
    try:
        stopped = await imports.roll_back_stopped()
    except Exception:
        log.exception("rolling back stopped imports failed")
        return
    for run in stopped:
        if told is None:
            continue
        try:
            await told.tell_stopped(run)
        except Exception:  # a deleted message or a missing permission must not stop the others
            log.exception("telling the channel that import %s was rolled back failed", run.import_id)


def watch_imports(scheduler: BaseScheduler, *, imports: ImportService, told: StoppedImports | None) -> None:
    """Roll back stopped imports now (at start-up, once their messages can be edited) and every minute after."""
    every(
        scheduler,
        roll_back_imports,
        seconds=ROLL_BACK_TICK,
        job_id=ROLL_BACK_IMPORTS_JOB,
        args=[imports, told],
        next_run_time=datetime.now(UTC),
    )


def post_notices_now(scheduler: BaseScheduler) -> None:
    """Post the waiting version notices now (at start-up, once channels can be read: notices a stopped process
    claimed are settled within seconds, not a tick later)."""
    if scheduler.get_job(POST_NOTICES_JOB) is not None:
        scheduler.modify_job(POST_NOTICES_JOB, next_run_time=datetime.now(UTC))


def poll_feeds_now(scheduler: BaseScheduler) -> None:
    """Run the next poll cycle now (once the bot can read its channels): what a stopped process left pending is
    settled within seconds of a restart, not a poll interval later."""
    if scheduler.get_job(POLL_FEEDS_JOB) is not None:
        scheduler.modify_job(POLL_FEEDS_JOB, next_run_time=datetime.now(UTC))
