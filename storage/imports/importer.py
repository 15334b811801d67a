"""Importing a document: read and parse it off the event loop into a preview, then apply the plan, notes, papers and
tags written a chunk per transaction, idempotently.

Applying the same document twice creates nothing new: a note is identified by (group, paper, author) and a paper by
its key, or by the alias a resolved title left behind. A paper the document names only by its title becomes the
group's own title-only paper (``title:<guild>/<words>``) with a queued :class:`~storage.models.TitleLookup`, which
the background resolver matches to arXiv later.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from storage.db import Sessions, chunked
from storage.exports import GroupExport
from storage.imports import detect_shape, json_export, parse_document
from storage.imports.plan import ImportPlan, Shape
from storage.imports.writing import Author, ImportOutcome, paper_ids, restore_notes, write_notes
from storage.models import (
    ImportRun,
    ImportState,
    utcnow,
)
from storage.text import decode_text_file

__all__ = ["Author", "ImportOutcome", "ImportPreview", "ImportRecord", "ImportService", "read_document"]

log = logging.getLogger(__name__)

MAX_IMPORT_BYTES = 5_000_000
IMPORT_SUFFIXES = (".md", ".txt", ".json", ".markdown", ".text")
CHUNK = 50  # notes per transaction: the ORM work of one chunk runs on the loop (about 25 ms at 50, 50 ms at 100)


@dataclass(frozen=True, slots=True)
class ImportPreview:
    """A parsed document, not applied yet: what the dry run shows and what confirming applies."""

    file_name: str
    digest: str  # sha256 of the file, to recognise the same document again
    plan: ImportPlan
    export: GroupExport | None = None  # a paperclub JSON export's lossless content


def read_document(file_name: str, data: bytes, *, shape: str | None = None) -> ImportPreview:
    """Decode and parse an uploaded document (CPU work: run it in a worker thread)."""
    text = decode_text_file(file_name, data, suffixes=IMPORT_SUFFIXES, max_bytes=MAX_IMPORT_BYTES, kind="notes")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    export = None
    chosen = shape or detect_shape(text)  # recognised once
    if chosen == Shape.EXPORT:  # read once: the lossless content, and the plan from it
        export = json_export.read_export(text)
        plan = json_export.plan_of(export, text)
    else:
        plan = parse_document(text, shape=chosen)
    return ImportPreview(file_name=file_name, digest=hashlib.sha256(data).hexdigest(), plan=plan, export=export)


@dataclass(frozen=True, slots=True)
class ImportRecord:
    """An applied import, as its summary shows it."""

    file_name: str
    shape: str
    counts: dict[str, int]
    member_id: int
    author_id: int | None


class ImportService:
    """Writes what a document brings into a group; each chunk of notes is one transaction."""

    def __init__(self, sessions: Sessions, *, chunk: int = CHUNK) -> None:
        self.sessions = sessions
        self.chunk = chunk
        self._applying: dict[int, asyncio.Lock] = {}  # one import at a time per group, in this process

    async def preview(self, file_name: str, data: bytes, *, shape: str | None = None) -> ImportPreview:
        """What a document would bring, parsed in a worker thread so the event loop never waits on it."""
        return await asyncio.to_thread(read_document, file_name, data, shape=shape)

    async def apply(
        self,
        preview: ImportPreview,
        *,
        guild_id: int,
        member_id: int,
        author: Author,
        now: datetime | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> ImportOutcome:
        """Bring a previewed document into the group, a chunk of notes per transaction.

        ``progress(done, total)`` is told after each chunk (the command line draws a bar with it).
        """
        lock = self._applying.setdefault(guild_id, asyncio.Lock())
        async with lock:  # two moderators confirming at once: the second finds the first's notes and keeps them
            return await self._apply(
                preview, guild_id=guild_id, member_id=member_id, author=author, now=now, progress=progress
            )

    async def _apply(
        self,
        preview: ImportPreview,
        *,
        guild_id: int,
        member_id: int,
        author: Author,
        now: datetime | None,
        progress: Callable[[int, int], None] | None,
    ) -> ImportOutcome:
        now = now or utcnow()
        plan, export, file_name, digest = preview.plan, preview.export, preview.file_name, preview.digest
        async with self.sessions() as session:
            run = ImportRun(
                guild_id=guild_id,
                member_id=member_id,
                author_id=None if export is not None else author.id,
                file_name=file_name[:200],
                digest=digest,
                shape=plan.shape,
            )
            session.add(run)
            await session.commit()
            assert run.id is not None
        outcome = ImportOutcome(import_id=run.id)
        if export is not None and plan.shape == Shape.EXPORT:
            total = len(export.notes)
            for done, notes in enumerate(chunked(list(export.notes), self.chunk), 1):
                async with self.sessions() as session:
                    await restore_notes(session, export=export, notes=notes, guild_id=guild_id, outcome=outcome)
                    await session.commit()
                if progress:
                    progress(min(done * self.chunk, total), total)
        else:
            total = len(plan.notes) + len(plan.papers)
            for done, planned in enumerate(chunked(plan.notes, self.chunk), 1):
                if progress and done > 1:
                    progress(min((done - 1) * self.chunk, total), total)
                async with self.sessions() as session:
                    await write_notes(
                        session,
                        notes=planned,
                        guild_id=guild_id,
                        author=author,
                        run_id=run.id,
                        outcome=outcome,
                        now=now,
                    )
                    await session.commit()
            for papers in chunked(plan.papers, self.chunk):
                async with self.sessions() as session:
                    await paper_ids(session, papers=papers, guild_id=guild_id, run_id=run.id, outcome=outcome)
                    await session.commit()
            if progress:
                progress(total, total)
        async with self.sessions() as session:
            row = await session.get(ImportRun, run.id)
            assert row is not None
            row.counts = outcome.counts()
            if outcome.titles_queued:
                row.state = ImportState.RESOLVING
            else:
                row.state, row.finished_at = ImportState.DONE, utcnow()
            await session.commit()
        log.info("guild=%s import=%s applied: %s", guild_id, run.id, outcome.counts())
        return outcome

    async def record(self, *, guild_id: int, import_id: int) -> ImportRecord | None:
        """One of the group's imports, as its summary shows it."""
        async with self.sessions() as session:
            row = await session.get(ImportRun, import_id)
            if row is None or row.guild_id != guild_id:
                return None
            return ImportRecord(
                file_name=row.file_name,
                shape=row.shape,
                counts=dict(row.counts),
                member_id=row.member_id,
                author_id=row.author_id,
            )

    async def set_message(self, *, guild_id: int, import_id: int, channel_id: int, message_id: int) -> None:
        """Remember the message that shows an import's progress, for the title resolver to edit."""
        async with self.sessions() as session:
            row = await session.get(ImportRun, import_id)
            if row is None or row.guild_id != guild_id:
                return
            row.channel_id, row.message_id = channel_id, message_id
            await session.commit()
