"""Importing a document: read and parse it off the event loop into a preview, then apply the plan, notes, papers and
tags written a chunk per transaction, idempotently.

An import is whole or absent. The process applying it holds a claim on it (a lease, renewed after each chunk); an
import whose claim is gone (its process stopped mid-way: the lease ran out, or its holder ended on this host) is
rolled back by :meth:`ImportService.roll_back_stopped`, and importing the file again brings it in whole.

Applying the same document twice creates nothing new: a note is identified by (group, paper, author) and a paper by
its key, or by the alias a resolved title left behind. A paper the document names only by its title becomes the
group's own title-only paper (``title:<guild>/<words>``) with a queued :class:`~storage.models.TitleLookup`, which
the background resolver matches to arXiv later.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import Sessions, chunked
from storage.errors import UserFacingError
from storage.exports import GroupExport
from storage.imports import detect_shape, parse_document
from storage.imports.plan import ImportPlan, Shape
from storage.imports.rollback import (
    StoppedImport,
    claim,
    claim_name,
    claimed_applying,
    keep_claim,
    roll_back,
)
from storage.imports.writing import Author, ImportOutcome, paper_ids, restore_notes, write_notes
from storage.leases import LeaseService
from storage.locks import KeyedLocks
from storage.models import (
    ImportRun,
    ImportState,
    utcnow,
)
from storage.note_text import decode_text_file

__all__ = [
    "Author",
    "ImportOutcome",
    "ImportPreview",
    "ImportRecord",
    "ImportService",
    "ImportStopped",
    "StoppedImport",
    "read_document",
]

log = logging.getLogger(__name__)

MAX_IMPORT_BYTES = 5_000_000
IMPORT_SUFFIXES = (".md", ".txt", ".json", ".markdown", ".text")
CHUNK = 50  # notes per transaction: the ORM work of one chunk runs on the loop (about 25 ms at 50, 50 ms at 100)
CLAIM_TTL = timedelta(minutes=2)  # renewed after every chunk; a stopped process's claim runs out within this


class ImportStopped(UserFacingError):
    """The import was rolled back while this process was applying it (it stalled past its claim)."""

    def __init__(self) -> None:
        super().__init__(
            "This import was stopped before it finished, so nothing of it was kept: import the same file again."
        )


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
        from storage.imports import json_export  # loaded on first use, not held from start (bench/idle_memory.py)

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
    """Writes what a document brings into a group; each chunk of notes is one transaction.

    ``leases`` claims each import while this process applies it, and takes over the claims of stopped processes
    to roll their imports back.
    """

    def __init__(self, sessions: Sessions, *, leases: LeaseService | None = None, chunk: int = CHUNK) -> None:
        self.sessions = sessions
        self.leases = leases or LeaseService(sessions)
        self.chunk = chunk
        self._applying: KeyedLocks[int] = KeyedLocks()  # one import at a time per group, in this process
        self._running: set[int] = set()  # imports this process is applying: claimed by it, never rolled back by it

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
        message: tuple[int, int] | None = None,
    ) -> ImportOutcome:
        """Bring a previewed document into the group, a chunk of notes per transaction.

        ``progress(done, total)`` is told after each chunk (the command line draws a bar with it). ``message`` is
        the (channel, message) that shows the import: it is edited if the import has to be rolled back.
        """
        # two moderators confirming at once: the second finds the first's notes and keeps them
        async with self._applying[guild_id]:
            return await self._apply(
                preview,
                guild_id=guild_id,
                member_id=member_id,
                author=author,
                now=now,
                progress=progress,
                message=message,
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
        message: tuple[int, int] | None,
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
                channel_id=message[0] if message else None,
                message_id=message[1] if message else None,
            )
            session.add(run)
            await session.flush()
            assert run.id is not None
            self._running.add(run.id)
            try:
                await claim(session, import_id=run.id, holder=self.leases.holder, until=utcnow() + CLAIM_TTL)
                await session.commit()
            except BaseException:
                self._running.discard(run.id)
                raise
        try:
            outcome = await self._write(
                preview, run_id=run.id, guild_id=guild_id, author=author, now=now, progress=progress
            )
        except BaseException:  # given back at once: the roll-back need not wait for the claim to run out
            self._running.discard(run.id)
            await self._unclaim(run.id)
            raise
        self._running.discard(run.id)
        log.info("guild=%s import=%s applied: %s", guild_id, run.id, outcome.counts())
        return outcome

    async def _write(
        self,
        preview: ImportPreview,
        *,
        run_id: int,
        guild_id: int,
        author: Author,
        now: datetime,
        progress: Callable[[int, int], None] | None,
    ) -> ImportOutcome:
        """Write the import a chunk per transaction, renewing its claim with each; mark it applied at the end."""
        plan, export = preview.plan, preview.export
        outcome = ImportOutcome(import_id=run_id)
        if export is not None and plan.shape == Shape.EXPORT:
            total = len(export.notes)
            for done, notes in enumerate(chunked(list(export.notes), self.chunk), 1):
                async with self._chunk(run_id) as session:
                    await restore_notes(session, export=export, notes=notes, guild_id=guild_id, outcome=outcome)
                if progress:
                    progress(min(done * self.chunk, total), total)
        else:
            total = len(plan.notes) + len(plan.papers)
            for done, planned in enumerate(chunked(plan.notes, self.chunk), 1):
                if progress and done > 1:
                    progress(min((done - 1) * self.chunk, total), total)
                async with self._chunk(run_id) as session:
                    await write_notes(
                        session,
                        notes=planned,
                        guild_id=guild_id,
                        author=author,
                        run_id=run_id,
                        outcome=outcome,
                        now=now,
                    )
            for papers in chunked(plan.papers, self.chunk):
                async with self._chunk(run_id) as session:
                    await paper_ids(session, papers=papers, guild_id=guild_id, run_id=run_id, outcome=outcome)
            if progress:
                progress(total, total)
        async with self._chunk(run_id, claim_until=utcnow() - timedelta(seconds=1)) as session:  # and given back
            row = await session.get(ImportRun, run_id)
            assert row is not None
            row.counts = outcome.counts()
            if outcome.titles_queued:
                row.state = ImportState.RESOLVING
            else:
                row.state, row.finished_at = ImportState.DONE, utcnow()
        return outcome

    @asynccontextmanager
    async def _chunk(self, run_id: int, *, claim_until: datetime | None = None) -> AsyncIterator[AsyncSession]:
        """One chunk's transaction, written only while this process holds the import's claim, which the same
        transaction renews (to ``claim_until``, or another CLAIM_TTL): an import another process took over (to roll
        it back) gets nothing more from this one."""
        async with self.sessions() as session:
            yield session
            until = claim_until or utcnow() + CLAIM_TTL
            if not await keep_claim(session, import_id=run_id, holder=self.leases.holder, until=until):
                raise ImportStopped  # another process took the claim over: this one stalled past it
            await session.commit()

    async def _unclaim(self, run_id: int) -> None:
        try:
            await self.leases.release(claim_name(run_id))
        except Exception:
            log.warning("import=%s could not give back its claim; it runs out by itself", run_id, exc_info=True)

    async def roll_back_stopped(self, *, now: datetime | None = None) -> list[StoppedImport]:
        """Roll back every import that a stopped process left half-applied: imports still being applied whose claim
        is gone (it ran out, or the process holding it ended on this host). An import another live process is
        applying is left alone, and so is one this process is applying. Each roll-back is one transaction.
        """
        async with self.sessions() as session:
            applying = await claimed_applying(session)
        stopped: list[StoppedImport] = []
        for import_id in applying:
            if import_id in self._running or not await self.leases.hold(claim_name(import_id), ttl=CLAIM_TTL, now=now):
                continue
            try:
                async with self.sessions() as session:
                    found = await roll_back(
                        session, import_id=import_id, counts=ImportOutcome(import_id).counts(), now=utcnow()
                    )
                    await session.commit()
            finally:
                await self._unclaim(import_id)
            if found is not None:
                log.warning(
                    "guild=%s import=%s of %s was stopped before it finished: rolled back",
                    found.guild_id,
                    import_id,
                    found.file_name,
                )
                stopped.append(found)
        return stopped

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
