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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import Sessions, chunked, insert_ignoring_duplicates
from storage.errors import UserFacingError
from storage.exports import ExportedNote, ExportedRevision, GroupExport
from storage.identity import PaperKey, title_key
from storage.imports import parse_document
from storage.imports.plan import ImportPlan, PlannedNote, PlannedPaper, Shape, normalise_title
from storage.models import (
    GuildPaper,
    ImportRun,
    ImportState,
    MetadataStatus,
    Note,
    NoteOrigin,
    NoteRevision,
    NoteTag,
    Paper,
    PaperAlias,
    Tag,
    TitleLookup,
    utcnow,
)
from storage.text import clean_body, decode_text_file, parse_tags

log = logging.getLogger(__name__)

MAX_IMPORT_BYTES = 5_000_000
IMPORT_SUFFIXES = (".md", ".txt", ".json", ".markdown", ".text")
CHUNK = 50  # notes per transaction: the ORM work of one chunk runs on the loop (about 25 ms at 50, 50 ms at 100)
NOON = time(12, 0, tzinfo=UTC)  # a document's day, stored at noon UTC: the same calendar day in nearly every zone

_PAPERS = Paper.__table__  # type: ignore[attr-defined]
_GUILD_PAPERS = GuildPaper.__table__  # type: ignore[attr-defined]
_LOOKUPS = TitleLookup.__table__  # type: ignore[attr-defined]
_TAGS = Tag.__table__  # type: ignore[attr-defined]


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
    plan = parse_document(text.replace("\r\n", "\n").replace("\r", "\n"), shape=shape)
    export = None
    if plan.shape == Shape.EXPORT:
        from storage.imports.json_export import read_export

        export = read_export(text)
    return ImportPreview(file_name=file_name, digest=hashlib.sha256(data).hexdigest(), plan=plan, export=export)


@dataclass(slots=True)
class ImportOutcome:
    """What applying a plan did."""

    import_id: int
    notes_created: int = 0
    notes_kept: int = 0  # already in the group (an earlier import of the same document, or posted on Discord)
    notes_refused: list[str] = field(default_factory=list)  # "line 12: the note is empty…"
    papers_known: int = 0  # papers the group did not know before
    titles_queued: int = 0  # title-only papers waiting for their arXiv match

    def counts(self) -> dict[str, int]:
        """The figures, as stored on the import's row."""
        return {
            "notes_created": self.notes_created,
            "notes_kept": self.notes_kept,
            "notes_refused": len(self.notes_refused),
            "papers_known": self.papers_known,
            "titles_queued": self.titles_queued,
        }


@dataclass(frozen=True, slots=True)
class ImportRecord:
    """An applied import, as its summary shows it."""

    file_name: str
    shape: str
    counts: dict[str, int]
    member_id: int
    author_id: int | None


@dataclass(frozen=True, slots=True)
class Author:
    """Whom imported notes are attributed to."""

    id: int
    name: str


def note_time(day: date | None, *, now: datetime) -> datetime:
    """When an imported note was written: its document's day at noon UTC; an undated note gets ``now``."""
    return datetime.combine(day, NOON) if day is not None else now


def _valid_tags(names: Sequence[str]) -> list[str]:
    """The tags of a planned note that a note may carry (lower case, at most ten)."""
    kept: list[str] = []
    for name in names:
        try:
            kept.extend(tag for tag in parse_tags(name) if tag not in kept)
        except UserFacingError:
            continue
    return kept[:10]


async def _papers_by_key(session: AsyncSession, *, keys: Sequence[str]) -> dict[str, int]:
    """Stored paper ids by key, a resolved title's alias included."""
    found: dict[str, int] = {}
    for part in chunked(list(keys)):
        aliases = select(PaperAlias.key, PaperAlias.paper_id).where(col(PaperAlias.key).in_(part))
        found.update({alias: paper_id for alias, paper_id in (await session.exec(aliases)).all()})
        for key, stored_id in (await session.exec(select(Paper.key, Paper.id).where(col(Paper.key).in_(part)))).all():
            assert stored_id is not None
            found.setdefault(key, stored_id)
    return found


async def _tag_ids(session: AsyncSession, *, guild_id: int, names: Sequence[str]) -> dict[str, int]:
    """The group's tag ids by name, creating the tags it lacks."""
    if not names:
        return {}
    conn = await session.connection()
    insert = insert_ignoring_duplicates(conn.dialect.name, _TAGS)
    for part in chunked(list(names)):
        await conn.execute(insert, [{"guild_id": guild_id, "name": name} for name in part])
    ids: dict[str, int] = {}
    for part in chunked(list(names)):
        query = sa_select(_TAGS.c.name, _TAGS.c.id).where(_TAGS.c.guild_id == guild_id, _TAGS.c.name.in_(part))
        ids.update({name: tag_id for name, tag_id in await conn.execute(query)})
    return ids


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
                    await self._restore(session, export=export, notes=notes, guild_id=guild_id, outcome=outcome)
                    await session.commit()
                if progress:
                    progress(min(done * self.chunk, total), total)
        else:
            total = len(plan.notes) + len(plan.papers)
            for done, planned in enumerate(chunked(plan.notes, self.chunk), 1):
                if progress and done > 1:
                    progress(min((done - 1) * self.chunk, total), total)
                async with self.sessions() as session:
                    await self._write_notes(
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
                    await self._paper_ids(session, papers=papers, guild_id=guild_id, run_id=run.id, outcome=outcome)
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

    # --- documents --------------------------------------------------------------------------------------------

    async def _paper_ids(
        self,
        session: AsyncSession,
        *,
        papers: Sequence[PlannedPaper],
        guild_id: int,
        run_id: int,
        outcome: ImportOutcome,
    ) -> dict[str, int]:
        """Paper ids by planned identity, making the papers (and title lookups) that are new, and making them
        known to the group."""
        keys = {paper.identity: self._key(paper, guild_id) for paper in papers}
        stored = await _papers_by_key(session, keys=sorted(set(keys.values())))
        fresh: dict[str, Paper] = {}
        lookups: list[dict[str, object]] = []
        for paper in papers:
            key = keys[paper.identity]
            if key in stored or key in fresh:
                continue
            scheme = PaperKey(key).scheme
            if scheme == "title":
                row = Paper(key=key, title=paper.title, abstract=paper.abstract, metadata_status=MetadataStatus.MISSING)
                lookups.append(
                    {
                        "guild_id": guild_id,
                        "title_key": key,
                        "import_id": run_id,
                        "title": paper.title or "",
                        "surnames": list(paper.surnames),
                        "year": paper.year,
                        "state": "pending",
                        "attempts": 0,
                        "created_at": utcnow(),
                    }
                )
            else:
                # Shared metadata comes only from the paper's own source: arXiv fills it in later (the pending
                # job, in batches); a DOI or link keeps no title a member's document gave it.
                pending = MetadataStatus.PENDING if scheme == "arxiv" else MetadataStatus.MISSING
                row = Paper(key=key, version=paper.version, metadata_status=pending)
            fresh[key] = row
        session.add_all(fresh.values())
        await session.flush()
        for key, row in fresh.items():
            assert row.id is not None
            stored[key] = row.id
        conn = await session.connection()
        if lookups:
            await conn.execute(insert_ignoring_duplicates(conn.dialect.name, _LOOKUPS), lookups)
            outcome.titles_queued += len(lookups)
        ids = {identity: stored[key] for identity, key in keys.items()}
        known = set(
            (
                await session.exec(
                    select(GuildPaper.paper_id).where(
                        GuildPaper.guild_id == guild_id, col(GuildPaper.paper_id).in_(set(ids.values()))
                    )
                )
            ).all()
        )
        new = sorted(set(ids.values()) - known)
        if new:
            rows = [{"guild_id": guild_id, "paper_id": pid, "source": "import", "first_seen": utcnow()} for pid in new]
            await conn.execute(insert_ignoring_duplicates(conn.dialect.name, _GUILD_PAPERS), rows)
            outcome.papers_known += len(new)
        return ids

    @staticmethod
    def _key(paper: PlannedPaper, guild_id: int) -> str:
        if paper.key:
            return paper.key
        return title_key(guild_id, normalise_title(paper.title or "") or "untitled")

    async def _write_notes(
        self,
        session: AsyncSession,
        *,
        notes: Sequence[PlannedNote],
        guild_id: int,
        author: Author,
        run_id: int,
        outcome: ImportOutcome,
        now: datetime,
    ) -> None:
        ids = await self._paper_ids(
            session, papers=[n.paper for n in notes], guild_id=guild_id, run_id=run_id, outcome=outcome
        )
        existing = set(
            (
                await session.exec(
                    select(Note.paper_id).where(
                        Note.guild_id == guild_id,
                        Note.author_id == author.id,
                        col(Note.paper_id).in_(set(ids.values())),
                    )
                )
            ).all()
        )
        made: list[tuple[Note, list[str]]] = []
        for planned in notes:
            paper_id = ids[planned.paper.identity]
            if paper_id in existing:
                outcome.notes_kept += 1
                continue
            body = planned.body
            if planned.paper.key and PaperKey(planned.paper.key).scheme != "arxiv" and planned.paper.title:
                if planned.paper.title not in body:  # the title lives nowhere else for a DOI or a link
                    body = f"**{planned.paper.title}**\n\n{body}"
            try:
                body = clean_body(body)
            except UserFacingError as exc:
                outcome.notes_refused.append(f"line {planned.line}: {exc.message}")
                continue
            when = note_time(planned.written_on, now=now)
            note = Note(
                guild_id=guild_id,
                paper_id=paper_id,
                author_id=author.id,
                author_name=author.name[:100],
                body=body,
                created_at=when,
                updated_at=when,
                origin=NoteOrigin.IMPORT,
                status=planned.status,
                undated=planned.written_on is None,
            )
            existing.add(paper_id)  # two entries on one paper that the parser did not merge: the first wins
            made.append((note, _valid_tags(planned.tags)))
        await self._add_notes(session, guild_id=guild_id, made=made)
        outcome.notes_created += len(made)

    async def _add_notes(self, session: AsyncSession, *, guild_id: int, made: list[tuple[Note, list[str]]]) -> None:
        session.add_all(note for note, _ in made)
        await session.flush()
        tag_ids = await _tag_ids(session, guild_id=guild_id, names=sorted({t for _, tags in made for t in tags}))
        links: list[NoteTag] = []
        for note, tags in made:
            assert note.id is not None
            links.extend(NoteTag(note_id=note.id, tag_id=tag_ids[name], guild_id=guild_id) for name in tags)
        session.add_all(links)
        await session.flush()

    # --- paperclub's own export ---------------------------------------------------------------------------------

    async def _restore(
        self,
        session: AsyncSession,
        *,
        export: GroupExport,
        notes: Sequence[ExportedNote],
        guild_id: int,
        outcome: ImportOutcome,
    ) -> None:
        """Notes of a JSON export as they were: authors, dates, tags and earlier versions."""
        chunk = list(notes)
        planned = [PlannedPaper(title=n.paper.title, key=self._export_key(n.paper.key, guild_id)) for n in chunk]
        ids = await self._paper_ids(
            session, papers=planned, guild_id=guild_id, run_id=outcome.import_id, outcome=outcome
        )
        pairs = {(ids[p.identity], n.author_id) for p, n in zip(planned, chunk, strict=True)}
        existing = set(
            (
                await session.exec(
                    select(Note.paper_id, Note.author_id).where(
                        Note.guild_id == guild_id, col(Note.paper_id).in_({pid for pid, _ in pairs})
                    )
                )
            ).all()
        )
        same_group = export.guild_id == guild_id  # message links only mean something in the group they were in
        made: list[tuple[Note, list[str]]] = []
        revisions: list[tuple[Note, ExportedRevision]] = []
        for paper, exported in zip(planned, chunk, strict=True):
            paper_id = ids[paper.identity]
            if (paper_id, exported.author_id) in existing:
                outcome.notes_kept += 1
                continue
            existing.add((paper_id, exported.author_id))
            note = Note(
                guild_id=guild_id,
                paper_id=paper_id,
                author_id=exported.author_id,
                author_name=exported.author_name[:100],
                body=exported.body,
                revision=exported.revision,
                created_at=exported.created_at,
                updated_at=exported.updated_at,
                channel_id=exported.channel_id if same_group else None,
                message_id=exported.message_id if same_group else None,
                thread_id=exported.thread_id if same_group else None,
                origin=NoteOrigin.IMPORT,
            )
            made.append((note, _valid_tags(exported.tags)))
            revisions.extend((note, rev) for rev in exported.revisions)
        await self._add_notes(session, guild_id=guild_id, made=made)
        for note, rev in revisions:
            assert note.id is not None
            session.add(
                NoteRevision(
                    guild_id=guild_id,
                    note_id=note.id,
                    revision=rev.revision,
                    body=rev.body,
                    tags=list(rev.tags),
                    editor_id=rev.editor_id,
                    written_at=rev.written_at,
                    replaced_at=rev.replaced_at,
                )
            )
        await session.flush()
        outcome.notes_created += len(made)

    @staticmethod
    def _export_key(key: str, guild_id: int) -> str:
        """An exported paper key for this group: a title-only paper belongs to the group importing it."""
        if PaperKey(key).scheme == "title":
            return title_key(guild_id, key.split("/", 1)[-1] if "/" in key else PaperKey(key).value)
        return key
