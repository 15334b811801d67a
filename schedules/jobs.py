"""Background jobs, registered with explicit ids so a restart replaces rather than doubles them."""

from __future__ import annotations

import logging
from typing import Protocol

from apscheduler.schedulers.base import BaseScheduler

from storage.papers import PaperService

log = logging.getLogger(__name__)

PENDING_METADATA_JOB = "metadata:pending"


class JobSettings(Protocol):
    """The settings the jobs need."""

    metadata_retry_interval: float


async def fill_pending_metadata(papers: PaperService) -> None:
    """Fill in metadata that arXiv could not give when the note was saved."""
    try:
        await papers.fill_pending()
    except Exception:
        log.exception("filling in pending metadata failed")


def register_jobs(scheduler: BaseScheduler, *, papers: PaperService, settings: JobSettings) -> None:
    """Add (or replace) every background job."""
    if settings.metadata_retry_interval > 0:
        scheduler.add_job(
            fill_pending_metadata,
            "interval",
            seconds=settings.metadata_retry_interval,
            args=[papers],
            id=PENDING_METADATA_JOB,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
        )
