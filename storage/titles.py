"""Title lookups: the queue of a group's title-only papers waiting for their arXiv id, and applying what was found.

No HTTP here: the resolver in ``schedules.titles`` asks arXiv and hands the outcome to :class:`TitleService`.
Resolving a title paper either turns it into the arXiv paper (no such paper stored yet: same row, so its notes
stay where they are), or moves its notes and group links onto the stored arXiv paper and deletes it. Either way
the title key is kept as a :class:`~storage.models.PaperAlias`, so importing the document again finds the paper.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, String, and_, cast, func, literal, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import Sessions
from storage.errors import AlreadyNotedError, NotFoundError, PermissionDeniedError
from storage.metadata import PaperMetadata
from storage.models import (
    GuildPaper,
    ImportRun,
    ImportState,
    Lease,
    MetadataStatus,
    Note,
    Paper,
    PaperAlias,
    TitleLookup,
    TitleLookupState,
    utcnow,
)
from storage.note_text import MAX_TAGS
from storage.notes import NOT_FOUND as NOTE_NOT_FOUND
from storage.notes import find_note, note_tags, revise_note
from storage.papers import apply_metadata, get_paper, mark_known

log = logging.getLogger(__name__)

STALLED_IMPORT = timedelta(hours=1)  # applying takes seconds; an hour means the process stopped while applying
MERGED_NOTE_RULE = "\n\n---\n\n"  # between a member's note and the imported note appended to it


@dataclass(frozen=True, slots=True)
class PendingTitle:
    """A title waiting for its arXiv id, detached from any session."""

    id: int
    guild_id: int
    title_key: str
    import_id: int | None
    title: str
    surnames: tuple[str, ...]
    year: int | None
    attempts: int


@dataclass(frozen=True, slots=True)
class TitleOutcome:
    """What the resolver decided for one lookup: the arXiv paper it names, or None (no acceptable candidate)."""

    lookup_id: int
    match: PaperMetadata | None


@dataclass(frozen=True, slots=True)
class ImportProgressView:
    """How far one import's title resolution has come, and where its progress message is."""

    import_id: int
    guild_id: int
    channel_id: int | None
    message_id: int | None
    resolved: int
    unresolved: int
    pending: int

    @property
    def done(self) -> bool:
        """No title of this import is waiting any more."""
        return self.pending == 0


# Queries: the session first, keyword-only arguments, never commit.


def _ready() -> ColumnElement[bool]:
    """Pending lookups whose import has finished writing (or that belong to no import)."""
    return and_(
        col(TitleLookup.state) == TitleLookupState.PENDING,
        or_(col(TitleLookup.import_id).is_(None), col(ImportRun.state) != ImportState.APPLYING),
    )


async def pending_titles(session: AsyncSession, *, limit: int) -> list[PendingTitle]:
    """Up to ``limit`` pending lookups, shared round-robin between groups, the least recently served group first.

    A group's 5,000-title import takes its turn with a group that imported ten titles: each batch gives every
    waiting group a slot in turn (up to ``limit`` groups), and a group's own titles go oldest first. Groups are
    ordered by when any of their lookups was last checked, so the turn passes on across batches and restarts.
    """
    if limit < 1:
        return []
    waiting = (
        select(TitleLookup.guild_id)
        .outerjoin(ImportRun, col(ImportRun.id) == col(TitleLookup.import_id))
        .where(_ready())
        .distinct()
    )
    served = (
        select(TitleLookup.guild_id, func.max(TitleLookup.checked_at))
        .where(col(TitleLookup.guild_id).in_(waiting))
        .group_by(col(TitleLookup.guild_id))
        .order_by(func.max(TitleLookup.checked_at).asc().nulls_first(), col(TitleLookup.guild_id))
        .limit(limit)
    )
    guilds = [guild_id for guild_id, _ in (await session.exec(served)).all()]
    queues: list[list[TitleLookup]] = []
    for guild_id in guilds:
        rows = (
            select(TitleLookup)
            .outerjoin(ImportRun, col(ImportRun.id) == col(TitleLookup.import_id))
            .where(TitleLookup.guild_id == guild_id, _ready())
            .order_by(col(TitleLookup.id))
            .limit(limit)
        )
        queues.append(list((await session.exec(rows)).all()))
    chosen: list[TitleLookup] = []
    for turn in range(limit):
        for queue in queues:
            if turn < len(queue) and len(chosen) < limit:
                chosen.append(queue[turn])
    return [_pending(row) for row in chosen]


def _own(lookup: TitleLookup) -> bool:
    """The lookup names its own group's title paper (keys carry the group), never another group's."""
    return lookup.title_key.startswith(f"title:{lookup.guild_id}/")


def _pending(row: TitleLookup) -> PendingTitle:
    assert row.id is not None
    return PendingTitle(
        id=row.id,
        guild_id=row.guild_id,
        title_key=row.title_key,
        import_id=row.import_id,
        title=row.title,
        surnames=tuple(row.surnames or ()),
        year=row.year,
        attempts=row.attempts,
    )


async def import_progress(session: AsyncSession, *, import_ids: Sequence[int]) -> list[ImportProgressView]:
    """Lookup counts by state for each import, with where its progress message is."""
    if not import_ids:
        return []
    counts: dict[int, dict[str, int]] = {import_id: {} for import_id in import_ids}
    query = (
        select(TitleLookup.import_id, TitleLookup.state, func.count())
        .where(col(TitleLookup.import_id).in_(import_ids))
        .group_by(col(TitleLookup.import_id), col(TitleLookup.state))
    )
    for import_id, state, count in (await session.exec(query)).all():
        if import_id is not None:
            counts[import_id][state] = count
    runs = (await session.exec(select(ImportRun).where(col(ImportRun.id).in_(import_ids)))).all()
    views = []
    for run in sorted(runs, key=lambda r: r.id or 0):
        assert run.id is not None
        tally = counts[run.id]
        views.append(
            ImportProgressView(
                import_id=run.id,
                guild_id=run.guild_id,
                channel_id=run.channel_id,
                message_id=run.message_id,
                resolved=tally.get(TitleLookupState.RESOLVED, 0),
                unresolved=tally.get(TitleLookupState.UNRESOLVED, 0),
                pending=tally.get(TitleLookupState.PENDING, 0),
            )
        )
    return views


async def finish_imports(
    session: AsyncSession, *, import_ids: Sequence[int], now: datetime
) -> list[ImportProgressView]:
    """Progress of these imports; those resolving with nothing pending are marked done."""
    views = await import_progress(session, import_ids=import_ids)
    finished = [view.import_id for view in views if view.done]
    if finished:
        runs = await session.exec(
            select(ImportRun).where(col(ImportRun.id).in_(finished), ImportRun.state == ImportState.RESOLVING)
        )
        for run in runs.all():
            run.state, run.finished_at = ImportState.DONE, now
    return views


async def merge_into(session: AsyncSession, *, guild_id: int, title_paper: Paper, paper: Paper) -> None:
    """Move a group's title-only paper's notes and group links onto ``paper``, then delete the title paper.

    Where the member already has a note on ``paper`` in the group, that note is kept and the imported note's
    text is appended to it as a new revision (the revision keeps the earlier text), so nothing is lost.
    """
    assert title_paper.id is not None and paper.id is not None
    notes = (await session.exec(select(Note).where(Note.guild_id == guild_id, Note.paper_id == title_paper.id))).all()
    for note in notes:
        existing = await find_note(session, guild_id=guild_id, paper_id=paper.id, author_id=note.author_id)
        if existing is None:
            note.paper_id = paper.id
            await session.flush()
            continue
        await _append_note(session, guild_id=guild_id, note=note, into=existing)
    links = (
        await session.exec(
            select(GuildPaper).where(GuildPaper.guild_id == guild_id, GuildPaper.paper_id == title_paper.id)
        )
    ).all()
    for link in links:
        if await session.get(GuildPaper, (guild_id, paper.id)) is None:
            # A new row, not an update: adding the link is what puts the paper into the group's search index.
            session.add(
                GuildPaper(guild_id=guild_id, paper_id=paper.id, source=link.source, first_seen=link.first_seen)
            )
        await session.delete(link)
    await session.flush()
    await session.delete(title_paper)
    await session.flush()


async def _append_note(session: AsyncSession, *, guild_id: int, note: Note, into: Note) -> None:
    """Append an imported note to the member's existing note on the same paper, as a new revision."""
    assert note.id is not None and into.id is not None
    tags = await note_tags(session, guild_id=guild_id, note_ids=[into.id, note.id])
    await revise_note(
        session,
        guild_id=guild_id,
        note=into,
        old_tags=tags[into.id],
        body=into.body.rstrip() + MERGED_NOTE_RULE + note.body.strip(),
        tags=list(dict.fromkeys(tags[into.id] + tags[note.id]))[:MAX_TAGS],
        editor_id=note.author_id,
    )
    await session.delete(note)
    await session.flush()
    log.info("guild=%s note=%s folded into note=%s (revision %s)", guild_id, note.id, into.id, into.revision)


async def resolve_title(session: AsyncSession, *, lookup: TitleLookup, match: PaperMetadata, now: datetime) -> None:
    """Link a group's title-only paper to the arXiv paper ``match`` names, and keep the title key as an alias."""
    title_paper = await get_paper(session, key=lookup.title_key)
    paper = await get_paper(session, key=match.key)
    if paper is None and title_paper is not None:
        title_paper.key = match.key
        apply_metadata(title_paper, match)
        paper = title_paper
    elif paper is None:  # the title paper went away meanwhile: the alias still helps a later import
        paper = Paper(key=match.key)
        apply_metadata(paper, match)
        session.add(paper)
    else:
        if paper.metadata_status != MetadataStatus.OK:
            apply_metadata(paper, match)
        if title_paper is not None:
            await merge_into(session, guild_id=lookup.guild_id, title_paper=title_paper, paper=paper)
    await session.flush()
    assert paper.id is not None
    if await session.get(PaperAlias, lookup.title_key) is None:
        session.add(PaperAlias(key=lookup.title_key, paper_id=paper.id))
    lookup.state = TitleLookupState.RESOLVED
    lookup.resolved_key = match.key
    lookup.checked_at = now
    lookup.attempts += 1


async def link_title(session: AsyncSession, *, guild_id: int, title_paper: Paper, paper: Paper) -> None:
    """A member says which paper the group's title-only paper is: its notes follow, and the title stays an alias."""
    assert title_paper.key.startswith(f"title:{guild_id}/") and paper.id is not None
    key = title_paper.key
    await merge_into(session, guild_id=guild_id, title_paper=title_paper, paper=paper)
    if await session.get(PaperAlias, key) is None:
        session.add(PaperAlias(key=key, paper_id=paper.id))
    lookup = (await session.exec(select(TitleLookup).where(TitleLookup.title_key == key))).first()
    if lookup is not None:
        lookup.state, lookup.resolved_key, lookup.checked_at = TitleLookupState.RESOLVED, paper.key, utcnow()


class TitleService:
    """The unit of work for title lookups; each method is one transaction."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def link_note(self, *, guild_id: int, note_id: int, editor_id: int, paper_id: int) -> int:
        """Move a member's note to the paper it is about; returns the note's id afterwards.

        A note on the group's title-only paper links that paper for the whole group (every note on it follows, and
        importing the title again finds the paper). Where the member already has a note on the paper, the two
        become one, the earlier text kept as a revision.
        """
        async with self.sessions() as session:
            note = (await session.exec(select(Note).where(Note.id == note_id, Note.guild_id == guild_id))).first()
            if note is None:
                raise NotFoundError(NOTE_NOT_FOUND.format(id=note_id))
            if note.author_id != editor_id:
                raise PermissionDeniedError(f"Note #{note_id} is {note.author_name}'s; only its author can edit it.")
            current, target = await session.get(Paper, note.paper_id), await session.get(Paper, paper_id)
            assert current is not None and target is not None
            if current.id == target.id:
                return note_id
            if current.key.startswith(f"title:{guild_id}/"):
                await link_title(session, guild_id=guild_id, title_paper=current, paper=target)
            elif await find_note(session, guild_id=guild_id, paper_id=paper_id, author_id=editor_id) is not None:
                raise AlreadyNotedError("You already have a note on that paper.", note_id=note_id)
            else:
                note.paper_id = paper_id
                await mark_known(session, guild_id=guild_id, paper_id=paper_id, source="note")
            await session.flush()
            moved = await find_note(session, guild_id=guild_id, paper_id=paper_id, author_id=editor_id)
            assert moved is not None and moved.id is not None
            await session.commit()
            log.info("guild=%s note=%s linked to paper=%s", guild_id, moved.id, paper_id)
            return moved.id

    async def pending(self, *, limit: int) -> list[PendingTitle]:
        """The next titles to look up, shared fairly between groups."""
        async with self.sessions() as session:
            return await pending_titles(session, limit=limit)

    async def apply(self, outcomes: Sequence[TitleOutcome]) -> list[ImportProgressView] | None:
        """Record a batch's outcomes in one transaction; returns the progress of every import it touched, or None
        when a concurrent change got in the way (nothing recorded: the batch stays pending for the next run).

        A lookup no longer pending (another process settled it) is left as it is.
        """
        now = utcnow()
        async with self.sessions() as session:
            ids = [outcome.lookup_id for outcome in outcomes]
            rows = (await session.exec(select(TitleLookup).where(col(TitleLookup.id).in_(ids)))).all()
            lookups = {row.id: row for row in rows if row.state == TitleLookupState.PENDING}
            for outcome in outcomes:
                lookup = lookups.get(outcome.lookup_id)
                if lookup is None:
                    continue
                if not _own(lookup):
                    log.error("lookup %s names a paper outside its group: %r", lookup.id, lookup.title_key)
                    lookup.state, lookup.checked_at = TitleLookupState.UNRESOLVED, now
                elif outcome.match is None:
                    lookup.state, lookup.checked_at = TitleLookupState.UNRESOLVED, now
                    lookup.attempts += 1
                else:
                    await resolve_title(session, lookup=lookup, match=outcome.match, now=now)
            touched = sorted({row.import_id for row in lookups.values() if row.import_id is not None})
            views = await finish_imports(session, import_ids=touched, now=now)
            try:
                await session.commit()
            except IntegrityError:  # another process stored one of these arXiv papers a moment ago: next run
                await session.rollback()
                log.warning("title batch of %d clashed with a concurrent change; it stays pending", len(ids))
                return None
            resolved = sum(1 for o in outcomes if o.match is not None and o.lookup_id in lookups)
            log.info("titles: %d of %d linked to arXiv", resolved, len(lookups))
            return views

    async def postpone(self, lookup_ids: Sequence[int]) -> None:
        """arXiv could not answer: count the attempt and keep these lookups pending for the next run."""
        now = utcnow()
        async with self.sessions() as session:
            rows = await session.exec(
                select(TitleLookup).where(
                    col(TitleLookup.id).in_(lookup_ids), TitleLookup.state == TitleLookupState.PENDING
                )
            )
            for row in rows.all():
                row.attempts += 1
                row.checked_at = now
            await session.commit()

    async def settle_imports(self) -> list[ImportProgressView]:
        """Imports still marked resolving that have no title left waiting: marked done, with their progress.

        An import left applying from before imports were claimed (no claim row) is taken as written, so its
        titles are not held back for ever. A claimed one is rolled back instead (storage/imports/rollback.py):
        it is never promoted here, however long its process has been gone.
        """
        claimed = select(Lease.name).where(Lease.name == literal("import:") + cast(ImportRun.id, String))
        async with self.sessions() as session:
            stalled = await session.exec(
                select(ImportRun).where(
                    ImportRun.state == ImportState.APPLYING,
                    col(ImportRun.created_at) < utcnow() - STALLED_IMPORT,
                    ~claimed.exists(),
                )
            )
            for run in stalled.all():
                run.state = ImportState.RESOLVING
            await session.flush()
            waiting = select(TitleLookup.import_id).where(
                TitleLookup.state == TitleLookupState.PENDING, col(TitleLookup.import_id).is_not(None)
            )
            query = select(ImportRun.id).where(
                ImportRun.state == ImportState.RESOLVING, col(ImportRun.id).not_in(waiting)
            )
            ids = [run_id for run_id in (await session.exec(query)).all() if run_id is not None]
            if not ids:
                await session.commit()
                return []
            views = await finish_imports(session, import_ids=ids, now=utcnow())
            await session.commit()
            return views
