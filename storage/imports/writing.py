"""Writing an import plan's notes, papers and tags: query functions for the import service's transactions.

Each takes the session first and keyword-only arguments, and never commits: :class:`~storage.imports.importer.
ImportService` makes each chunk of notes one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import chunked, insert_ignoring_duplicates
from storage.errors import UserFacingError
from storage.exports import ExportedNote, ExportedRevision, GroupExport
from storage.identity import PaperKey, title_key
from storage.imports.plan import PlannedNote, PlannedPaper, normalise_title
from storage.models import (
    GuildPaper,
    MetadataStatus,
    Note,
    NoteOrigin,
    NoteRevision,
    NoteTag,
    Paper,
    PaperAlias,
    utcnow,
)
from storage.note_text import clean_body, parse_tags
from storage.tables import GUILD_PAPERS, TAGS, TITLE_LOOKUPS

NOON = time(12, 0, tzinfo=UTC)  # a document's day, stored at noon UTC: the same calendar day in nearly every zone


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
    insert = insert_ignoring_duplicates(conn.dialect.name, TAGS)
    for part in chunked(list(names)):
        await conn.execute(insert, [{"guild_id": guild_id, "name": name} for name in part])
    ids: dict[str, int] = {}
    for part in chunked(list(names)):
        query = sa_select(TAGS.c.name, TAGS.c.id).where(TAGS.c.guild_id == guild_id, TAGS.c.name.in_(part))
        ids.update({name: tag_id for name, tag_id in await conn.execute(query)})
    return ids


async def paper_ids(
    session: AsyncSession,
    *,
    papers: Sequence[PlannedPaper],
    guild_id: int,
    run_id: int,
    outcome: ImportOutcome,
) -> dict[str, int]:
    """Paper ids by planned identity, making the papers (and title lookups) that are new, and making them
    known to the group."""
    keys = {paper.identity: planned_key(paper, guild_id) for paper in papers}
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
        await conn.execute(insert_ignoring_duplicates(conn.dialect.name, TITLE_LOOKUPS), lookups)
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
        await conn.execute(insert_ignoring_duplicates(conn.dialect.name, GUILD_PAPERS), rows)
        outcome.papers_known += len(new)
    return ids


def planned_key(paper: PlannedPaper, guild_id: int) -> str:
    if paper.key:
        return paper.key
    return title_key(guild_id, normalise_title(paper.title or "") or "untitled")


async def write_notes(
    session: AsyncSession,
    *,
    notes: Sequence[PlannedNote],
    guild_id: int,
    author: Author,
    run_id: int,
    outcome: ImportOutcome,
    now: datetime,
) -> None:
    ids = await paper_ids(session, papers=[n.paper for n in notes], guild_id=guild_id, run_id=run_id, outcome=outcome)
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
            import_id=run_id,
        )
        existing.add(paper_id)  # two entries on one paper that the parser did not merge: the first wins
        made.append((note, _valid_tags(planned.tags)))
    await add_notes(session, guild_id=guild_id, made=made)
    outcome.notes_created += len(made)


async def add_notes(session: AsyncSession, *, guild_id: int, made: list[tuple[Note, list[str]]]) -> None:
    session.add_all(note for note, _ in made)
    await session.flush()
    tag_ids = await _tag_ids(session, guild_id=guild_id, names=sorted({t for _, tags in made for t in tags}))
    links: list[NoteTag] = []
    for note, tags in made:
        assert note.id is not None
        links.extend(NoteTag(note_id=note.id, tag_id=tag_ids[name], guild_id=guild_id) for name in tags)
    session.add_all(links)
    await session.flush()


async def restore_notes(
    session: AsyncSession,
    *,
    export: GroupExport,
    notes: Sequence[ExportedNote],
    guild_id: int,
    outcome: ImportOutcome,
) -> None:
    """Notes of a JSON export as they were: authors, dates, tags and earlier versions."""
    chunk = list(notes)
    planned = [PlannedPaper(title=n.paper.title, key=export_key(n.paper.key, guild_id)) for n in chunk]
    ids = await paper_ids(session, papers=planned, guild_id=guild_id, run_id=outcome.import_id, outcome=outcome)
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
            import_id=outcome.import_id,
        )
        made.append((note, _valid_tags(exported.tags)))
        revisions.extend((note, rev) for rev in exported.revisions)
    await add_notes(session, guild_id=guild_id, made=made)
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


def export_key(key: str, guild_id: int) -> str:
    """An exported paper key for this group: a title-only paper belongs to the group importing it."""
    if PaperKey(key).scheme == "title":
        return title_key(guild_id, key.split("/", 1)[-1] if "/" in key else PaperKey(key).value)
    return key
