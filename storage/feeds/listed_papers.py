"""What a feed lists, stored: each paper once, and which feed listed it.

Papers are shared by every group, so what a feed may write into a paper row depends on whose word it is. arXiv's
own listings and API searches are arXiv's word about arXiv papers. Any other feed (a blog, a lab's page, a
stranger's server) may make an arXiv paper known, but only by its id: the row starts pending and arXiv's
metadata fills it in; what the feed said never reaches the shared row, and a paper already stored is left as it
is. For papers that are not on arXiv (``url:`` and other keys) the feed is the paper's own source.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, update
from sqlalchemy import select as sa_select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import chunked, insert_ignoring_duplicates
from storage.feeds.caps import within_caps
from storage.feeds.kinds import FeedKind
from storage.metadata import PaperMetadata
from storage.models import MetadataStatus, utcnow
from storage.tables import FEED_ENTRIES, PAPERS
from storage.versions import VersionChange, record_new_versions

Listed = tuple[PaperMetadata, str | None]  # a paper and how the feed announced it (new, cross, replace, ...)

ARXIV_FEEDS = frozenset({FeedKind.ARXIV_LISTING, FeedKind.ARXIV_QUERY})


# Metadata from a listing replaces what was stored when that was pending or an older version.
_REFRESH = (
    update(PAPERS)
    .where(PAPERS.c.id == bindparam("b_id"))
    .values(
        title=func.coalesce(bindparam("b_title"), PAPERS.c.title),
        version=bindparam("b_version"),
        authors=bindparam("b_authors", type_=PAPERS.c.authors.type),
        abstract=bindparam("b_abstract"),
        categories=bindparam("b_categories", type_=PAPERS.c.categories.type),
        published=bindparam("b_published", type_=PAPERS.c.published.type),
        updated=bindparam("b_updated", type_=PAPERS.c.updated.type),
        doi=bindparam("b_doi"),
        journal_ref=bindparam("b_journal_ref"),
        comment=bindparam("b_comment"),
        metadata_status=MetadataStatus.OK,
        metadata_checked_at=bindparam("b_checked", type_=PAPERS.c.metadata_checked_at.type),
    )
)


def speaks_for(kind: str, key: str) -> bool:
    """Whether a feed of this kind may write this paper's shared metadata: arXiv's feeds for arXiv papers,
    any feed for papers that are not on arXiv."""
    return kind in ARXIV_FEEDS or not key.startswith("arxiv:")


def _paper_row(meta: PaperMetadata, now: datetime) -> dict[str, Any]:
    meta = within_caps(meta)
    return {
        "key": meta.key,
        "version": meta.version,
        "title": meta.title or None,
        "authors": list(meta.authors),
        "abstract": meta.abstract or None,
        "categories": list(meta.categories),
        "published": meta.published,
        "updated": meta.updated,
        "doi": meta.doi,
        "journal_ref": meta.journal_ref,
        "comment": meta.comment,
        "metadata_status": MetadataStatus.OK,
        "metadata_attempts": 0,
        "metadata_checked_at": now,
        "created_at": now,
        "searchable": False,
    }


def _pending_row(key: str, now: datetime) -> dict[str, Any]:
    """An arXiv paper known only by its id, for the pending-metadata job to ask arXiv about at once."""
    return _paper_row(PaperMetadata(key=key, title=""), now) | {
        "metadata_status": MetadataStatus.PENDING,
        "metadata_checked_at": None,
    }


async def store_listed(session: AsyncSession, *, feed_id: int, kind: str, items: Sequence[Listed]) -> dict[str, int]:
    """Store each listed paper once and record that the feed listed it; key -> paper id.

    Metadata is written only where the feed speaks for the paper (:func:`speaks_for`). In bulk, a few hundred
    rows a statement: a daily arXiv listing has thousands of papers, and the event loop must keep answering
    members meanwhile. A paper listed with a newer version than stored (a replacement) has its notices recorded
    for the groups with notes on it (:mod:`storage.versions`), in the same transaction.
    """
    listed: dict[str, Listed] = {}
    for meta, announce in items:
        listed.setdefault(meta.key, (meta, announce))
    if not listed:
        return {}
    conn = await session.connection()
    insert_papers = insert_ignoring_duplicates(conn.dialect.name, PAPERS)
    now = utcnow()
    stored: dict[str, tuple[int, int | None, str]] = {}
    for keys in chunked(list(listed)):
        query = sa_select(PAPERS.c.id, PAPERS.c.key, PAPERS.c.version, PAPERS.c.metadata_status)
        for pid, key, version, status in await conn.execute(query.where(PAPERS.c.key.in_(keys))):
            stored[key] = (pid, version, status)
    fresh = [
        _paper_row(meta, now) if speaks_for(kind, key) else _pending_row(key, now)
        for key, (meta, _) in listed.items()
        if key not in stored
    ]
    for rows in chunked(fresh):
        await conn.execute(insert_papers, rows)
    refresh = []
    changes: list[VersionChange] = []
    for key, (pid, version, status) in stored.items():
        meta = listed[key][0]
        if not speaks_for(kind, key):
            continue
        if status != MetadataStatus.OK or (meta.version or 0) > (version or 0):
            row = _paper_row(meta, now)
            refresh.append(
                {f"b_{name}": row[name] for name in ("title", "authors", "abstract", "categories", "published")}
                | {f"b_{name}": row[name] for name in ("updated", "doi", "journal_ref", "comment")}
                | {"b_id": pid, "b_version": max(filter(None, (version, meta.version)), default=None), "b_checked": now}
            )
            # A version stored from arXiv's word before, now newer: the groups with notes on it are told.
            changes.append((pid, version if status == MetadataStatus.OK else None, meta.version))
    for rows in chunked(refresh):
        await conn.execute(_REFRESH, rows)
    await record_new_versions(session, changes=changes)
    ids = {key: pid for key, (pid, _, _) in stored.items()}
    for keys in chunked([row["key"] for row in fresh]):
        for pid, key in await conn.execute(sa_select(PAPERS.c.id, PAPERS.c.key).where(PAPERS.c.key.in_(keys))):
            ids[key] = pid
    entries = [
        {
            "feed_id": feed_id,
            "paper_id": ids[key],
            "announce_type": announce,
            "version": meta.version,
            "first_seen": now,
        }
        for key, (meta, announce) in listed.items()
    ]
    insert_entries = insert_ignoring_duplicates(conn.dialect.name, FEED_ENTRIES)
    for rows in chunked(entries):
        await conn.execute(insert_entries, rows)
    return ids
