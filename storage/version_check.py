"""The daily check of the papers groups have notes on: which to ask arXiv about, and what its answer changes."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta

from sqlalchemy import exists, or_
from sqlmodel import col, select

from storage.db import Sessions
from storage.metadata import PaperMetadata
from storage.models import MetadataStatus, Note, Paper
from storage.papers import apply_metadata
from storage.versions import VersionChange, record_new_versions

CHECK_EVERY = timedelta(days=1)  # a paper asked about is not asked again within this


class VersionCheck:
    """The records of the daily check: papers due, and arXiv's answers stored with their notices."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def due_papers(self, *, now: datetime, limit: int) -> dict[int, str]:
        """arXiv papers some group has notes on, not asked about within :data:`CHECK_EVERY` (id -> key), least
        recently asked first. Papers whose metadata is still pending are left to the pending-metadata job."""
        noted = exists().where(col(Note.paper_id) == col(Paper.id))
        query = (
            select(Paper.id, Paper.key)
            .where(
                col(Paper.key).startswith("arxiv:"),
                Paper.metadata_status == MetadataStatus.OK,
                or_(col(Paper.versions_checked_at).is_(None), col(Paper.versions_checked_at) <= now - CHECK_EVERY),
                noted,
            )
            .order_by(col(Paper.versions_checked_at).asc().nulls_first(), col(Paper.id))
            .limit(limit)
        )
        async with self.sessions() as session:
            return {pid: key for pid, key in (await session.exec(query)).all() if pid is not None}

    async def record(
        self, *, asked: Collection[int], found: Mapping[str, PaperMetadata | None], checked_at: datetime
    ) -> int:
        """What arXiv answered for the papers ``asked`` (by id; ``found`` by key), in one transaction: each marked
        checked, a newer version stored with its metadata and its notices recorded; returns the notices recorded."""
        async with self.sessions.begin() as session:
            papers = (await session.exec(select(Paper).where(col(Paper.id).in_(list(asked))))).all()
            changes: list[VersionChange] = []
            for paper in papers:
                paper.versions_checked_at = checked_at
                meta = found.get(paper.key)
                if meta is None or (meta.version or 0) <= (paper.version or 0):
                    continue
                assert paper.id is not None
                old = paper.version if paper.metadata_status == MetadataStatus.OK else None
                apply_metadata(paper, meta)
                changes.append((paper.id, old, paper.version))
            return await record_new_versions(session, changes=changes)
