"""Notes: adding, editing (every earlier version kept), deleting, reading and listing a group's notes."""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, delete, func, or_
from sqlalchemy import select as core_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import Sessions, chunked
from storage.errors import AlreadyNotedError, LimitReachedError, NotFoundError, PermissionDeniedError
from storage.locks import hold_guild
from storage.message_links import jump_url
from storage.models import Note, NoteOrigin, NoteRevision, NoteTag, Paper, Tag, utcnow
from storage.note_text import clean_body
from storage.papers import PAPER_VIEW_COLUMNS, PaperView, mark_known
from storage.tables import NOTE_TAGS, NOTES, PAPERS, TAGS

log = logging.getLogger(__name__)

NOT_FOUND = "There is no note #{id} in this server. Pick one from the list as you type, or see `/notes`."
MAX_NOTES_PER_DAY = 50  # notes one member may add in one server in 24 hours (the operator's default)
DAY = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class NoteView:
    """A note with its paper and tags, detached from any session."""

    id: int
    guild_id: int
    author_id: int
    author_name: str
    body: str
    tags: tuple[str, ...]
    revision: int
    created_at: datetime
    updated_at: datetime
    channel_id: int | None
    message_id: int | None
    thread_id: int | None
    paper: PaperView
    status: str = "done"  # done, wip (a placeholder), partial
    undated: bool = False  # imported from a document that gave no date
    origin: str = "discord"  # or "import"
    message_ids: tuple[int, ...] = ()  # every message it was posted as, in order
    line: tuple[int, int] | None = None  # (channel, message) of the line about it beside its paper's thread

    @property
    def state_label(self) -> str:
        """``WIP``, ``partial``, ``imported``, ``undated``: what a reader should know before reading it."""
        marks = {"wip": ["WIP"], "partial": ["partly written"]}.get(self.status, [])
        if self.origin == "import":
            marks.append("imported, undated" if self.undated else "imported")
        return ", ".join(marks)

    @property
    def jump_url(self) -> str | None:
        """A link to the message the note was posted as."""
        return jump_url(self.guild_id, self.channel_id, self.message_id)


@dataclass(frozen=True, slots=True)
class NotePage:
    """One page of a note listing."""

    notes: tuple[NoteView, ...]
    total: int
    offset: int
    limit: int

    @property
    def page(self) -> int:
        """This page's number, from 1."""
        return self.offset // self.limit + 1

    @property
    def pages(self) -> int:
        """How many pages there are (at least 1)."""
        return max(1, -(-self.total // self.limit))


# Queries: the session first, keyword-only arguments, never commit.


async def get_note(session: AsyncSession, *, guild_id: int, note_id: int) -> Note | None:
    """The group's note with this id; a note of another group is not found."""
    return (await session.exec(select(Note).where(Note.id == note_id, Note.guild_id == guild_id))).first()


async def find_note(session: AsyncSession, *, guild_id: int, paper_id: int, author_id: int) -> Note | None:
    """A member's note on a paper in a group."""
    query = select(Note).where(Note.guild_id == guild_id, Note.paper_id == paper_id, Note.author_id == author_id)
    return (await session.exec(query)).first()


async def note_revisions(session: AsyncSession, *, guild_id: int, note_id: int) -> list[NoteRevision]:
    """A note's earlier versions, oldest first."""
    query = (
        select(NoteRevision)
        .where(NoteRevision.guild_id == guild_id, NoteRevision.note_id == note_id)
        .order_by(col(NoteRevision.revision))
    )
    return list((await session.exec(query)).all())


async def note_tags(
    session: AsyncSession, *, guild_id: int, note_ids: Sequence[int], by_name: bool = False
) -> dict[int, list[str]]:
    """Tag names of each note, in the order they were given (``by_name``: in alphabetical order)."""
    found: dict[int, list[str]] = {nid: [] for nid in note_ids}
    for chunk in chunked(list(note_ids)):
        query = (
            select(NoteTag.note_id, Tag.name)
            .join(Tag, col(Tag.id) == col(NoteTag.tag_id))
            .where(NoteTag.guild_id == guild_id, col(NoteTag.note_id).in_(chunk))
            .order_by(col(NoteTag.note_id), col(Tag.name) if by_name else col(Tag.id))
        )
        for note_id, name in (await session.exec(query)).all():
            found[note_id].append(name)
    return found


async def revise_note(
    session: AsyncSession,
    *,
    guild_id: int,
    note: Note,
    old_tags: list[str],
    body: str,
    tags: list[str],
    editor_id: int,
) -> None:
    """Keep the note's current text and ``old_tags`` as an earlier version, then give it ``body`` and ``tags``."""
    assert note.id is not None
    session.add(
        NoteRevision(
            guild_id=guild_id,
            note_id=note.id,
            revision=note.revision,
            body=note.body,
            tags=old_tags,
            editor_id=editor_id,
            written_at=note.updated_at,
        )
    )
    note.body = body
    note.revision += 1
    note.updated_at = utcnow()
    await set_tags(session, guild_id=guild_id, note_id=note.id, names=tags)


async def set_tags(session: AsyncSession, *, guild_id: int, note_id: int, names: list[str]) -> None:
    """Make a note carry exactly these tags, creating the group's new tags."""
    await session.exec(  # type: ignore[call-overload]
        delete(NoteTag).where(col(NoteTag.guild_id) == guild_id, col(NoteTag.note_id) == note_id)
    )
    for name in names:
        tag = (await session.exec(select(Tag).where(Tag.guild_id == guild_id, Tag.name == name))).first()
        if tag is None:
            tag = Tag(guild_id=guild_id, name=name)
            session.add(tag)
            await session.flush()
        assert tag.id is not None
        session.add(NoteTag(note_id=note_id, tag_id=tag.id, guild_id=guild_id))


async def group_tags(session: AsyncSession, *, guild_id: int) -> list[tuple[str, int]]:
    """The group's tags with how many notes carry each, most used first."""
    query = (
        select(Tag.name, func.count(col(NoteTag.note_id)))
        .join(NoteTag, col(NoteTag.tag_id) == col(Tag.id))
        .where(Tag.guild_id == guild_id)
        .group_by(col(Tag.name))
        .order_by(func.count(col(NoteTag.note_id)).desc(), col(Tag.name))
    )
    return [(name, count) for name, count in (await session.exec(query)).all()]


# A note's view is read in one query: the note, its paper and its tags, one row per tag (one row if it has none),
# tags in the order they were given. Plain rows, no ORM objects; the statements are built once, so SQLAlchemy
# reuses their compiled forms.
_NOTE_COLUMNS = (
    NOTES.c.id,
    NOTES.c.guild_id,
    NOTES.c.author_id,
    NOTES.c.author_name,
    NOTES.c.body,
    NOTES.c.revision,
    NOTES.c.created_at,
    NOTES.c.updated_at,
    NOTES.c.channel_id,
    NOTES.c.message_id,
    NOTES.c.thread_id,
    NOTES.c.status,
    NOTES.c.undated,
    NOTES.c.origin,
    NOTES.c.message_ids,
    NOTES.c.line_channel_id,
    NOTES.c.line_message_id,
)
_VIEW_COLUMNS = (*_NOTE_COLUMNS, TAGS.c.name, *PAPER_VIEW_COLUMNS)
_TAG = len(_NOTE_COLUMNS)  # where a row's tag is; its paper follows

_VIEW_SOURCE = (
    NOTES.join(PAPERS, PAPERS.c.id == NOTES.c.paper_id)
    .outerjoin(NOTE_TAGS, (NOTE_TAGS.c.note_id == NOTES.c.id) & (NOTE_TAGS.c.guild_id == NOTES.c.guild_id))
    .outerjoin(TAGS, TAGS.c.id == NOTE_TAGS.c.tag_id)
)
_VIEWS_BY_ID = (
    core_select(*_VIEW_COLUMNS)
    .select_from(_VIEW_SOURCE)
    .where(NOTES.c.guild_id == bindparam("guild_id"), NOTES.c.id.in_(bindparam("note_ids", expanding=True)))
    .order_by(NOTES.c.id, TAGS.c.id)
)


def _views_of_rows(rows: Sequence[Sequence[Any]]) -> list[NoteView]:
    """Views of the notes in ``rows`` (as :data:`_VIEW_COLUMNS`, a note's rows together), in their order."""
    tags: dict[int, list[str]] = {}
    firsts: list[Sequence[Any]] = []
    for row in rows:
        if row[0] not in tags:
            tags[row[0]] = []
            firsts.append(row)
        if row[_TAG] is not None:
            tags[row[0]].append(row[_TAG])
    views = []
    for row in firsts:
        (nid, guild_id, author_id, author_name, body, revision, created, updated, channel_id, message_id) = row[:10]
        thread_id, status, undated, origin, message_ids, line_channel_id, line_message_id = row[10:_TAG]  # the rest
        views.append(
            NoteView(
                id=nid,
                guild_id=guild_id,
                author_id=author_id,
                author_name=author_name,
                body=body,
                tags=tuple(tags[nid]),
                revision=revision,
                created_at=created,
                updated_at=updated,
                channel_id=channel_id,
                message_id=message_id,
                thread_id=thread_id,
                paper=PaperView.of_row(row[_TAG + 1 :]),
                status=status,
                undated=undated,
                origin=origin,
                # Notes posted before every part was kept know only their first message.
                message_ids=tuple(message_ids or ([message_id] if message_id else [])),
                line=(line_channel_id, line_message_id) if line_channel_id and line_message_id else None,
            )
        )
    return views


async def note_views(session: AsyncSession, *, guild_id: int, note_ids: Sequence[int]) -> list[NoteView]:
    """Views of the group's notes with these ids, in the order given (an id not found is left out)."""
    found: dict[int, NoteView] = {}
    for chunk in chunked(list(note_ids)):
        rows = (
            await (await session.connection()).execute(_VIEWS_BY_ID, {"guild_id": guild_id, "note_ids": list(chunk)})
        ).all()
        found.update((view.id, view) for view in _views_of_rows(rows))
    return [found[nid] for nid in note_ids if nid in found]


async def _view(session: AsyncSession, *, guild_id: int, note: Note) -> NoteView:
    assert note.id is not None
    return (await note_views(session, guild_id=guild_id, note_ids=[note.id]))[0]


@functools.cache
def _page_query(*, author: bool, paper: bool, since: bool, tag: bool) -> Select[Any]:
    """One page of the group's notes, newest first, as :data:`_VIEW_COLUMNS` after how many notes match in all;
    filtered by the parameters named (``author_id``, ``paper_id``, ``since``, ``tag``), ``offset`` and ``limit``.
    Made once for each set of filters."""
    where: list[ColumnElement[bool]] = [NOTES.c.guild_id == bindparam("guild_id")]
    if author:
        where.append(NOTES.c.author_id == bindparam("author_id"))
    if paper:
        where.append(NOTES.c.paper_id == bindparam("paper_id"))
    if since:
        where.append(NOTES.c.created_at >= bindparam("since", type_=NOTES.c.created_at.type))
    if tag:
        tagged = (
            core_select(NOTE_TAGS.c.note_id)
            .join(TAGS, TAGS.c.id == NOTE_TAGS.c.tag_id)
            .where(
                TAGS.c.guild_id == bindparam("guild_id"),
                or_(TAGS.c.name == bindparam("tag"), TAGS.c.name.startswith(bindparam("tag_prefix"))),
            )
        )
        where.append(NOTES.c.id.in_(tagged))
    page = (
        core_select(NOTES.c.id, NOTES.c.created_at, func.count().over().label("total"))
        .where(*where)
        .order_by(NOTES.c.created_at.desc(), NOTES.c.id.desc())
        .offset(bindparam("offset"))
        .limit(bindparam("limit"))
        .subquery("page")
    )
    return (
        core_select(page.c.total, *_VIEW_COLUMNS)
        .select_from(page.join(_VIEW_SOURCE, NOTES.c.id == page.c.id))
        .order_by(page.c.created_at.desc(), page.c.id.desc(), TAGS.c.id)
    )


class NoteService:
    """The unit of work for every change to notes; each method is one transaction."""

    def __init__(self, sessions: Sessions, *, max_per_day: int = MAX_NOTES_PER_DAY) -> None:
        self.sessions = sessions
        self.max_per_day = max_per_day  # notes one member adds in one server in 24 hours; imports don't count

    async def add(
        self,
        *,
        guild_id: int,
        paper_id: int,
        author_id: int,
        author_name: str,
        body: str,
        tags: list[str],
    ) -> NoteView:
        """Save a member's note on a paper; a second note on the same paper raises AlreadyNotedError.

        A member who added ``max_per_day`` notes in this server in the last 24 hours is refused.
        """
        body = clean_body(body)
        async with self.sessions() as session:
            existing = await find_note(session, guild_id=guild_id, paper_id=paper_id, author_id=author_id)
            if existing is not None:
                assert existing.id is not None
                raise AlreadyNotedError("You already have a note on this paper.", note_id=existing.id)
            await hold_guild(session, guild_id=guild_id, purpose=f"notes by {author_id}")
            await self._check_room(session, guild_id=guild_id, author_id=author_id)
            note = Note(
                guild_id=guild_id, paper_id=paper_id, author_id=author_id, author_name=author_name[:100], body=body
            )
            session.add(note)
            try:
                await session.flush()
            except IntegrityError:  # the same member, twice at once
                await session.rollback()
                existing = await find_note(session, guild_id=guild_id, paper_id=paper_id, author_id=author_id)
                raise AlreadyNotedError(
                    "You already have a note on this paper.", note_id=existing.id if existing and existing.id else 0
                ) from None
            assert note.id is not None
            await set_tags(session, guild_id=guild_id, note_id=note.id, names=tags)
            await mark_known(session, guild_id=guild_id, paper_id=paper_id, source="note")
            await session.commit()
            log.info("guild=%s note=%s added on paper=%s by %s", guild_id, note.id, paper_id, author_id)
            return await _view(session, guild_id=guild_id, note=note)

    async def edit(
        self,
        *,
        guild_id: int,
        note_id: int,
        editor_id: int,
        body: str | None = None,
        tags: list[str] | None = None,
    ) -> NoteView:
        """Replace a note's text and/or tags, keeping the version it replaces. Only its author may."""
        async with self.sessions() as session:
            note = await self._owned(session, guild_id=guild_id, note_id=note_id, member_id=editor_id, verb="edit")
            assert note.id is not None
            old_tags = (await note_tags(session, guild_id=guild_id, note_ids=[note.id]))[note.id]
            new_body = clean_body(body) if body is not None else note.body
            new_tags = tags if tags is not None else old_tags
            if new_body == note.body and new_tags == old_tags:
                return await _view(session, guild_id=guild_id, note=note)
            await revise_note(
                session,
                guild_id=guild_id,
                note=note,
                old_tags=old_tags,
                body=new_body,
                tags=new_tags,
                editor_id=editor_id,
            )
            await session.commit()
            log.info("guild=%s note=%s edited to revision %s", guild_id, note.id, note.revision)
            return await _view(session, guild_id=guild_id, note=note)

    async def check_delete(self, *, guild_id: int, note_id: int, member_id: int, moderator: bool) -> NoteView:
        """The note a member is about to delete, if they may."""
        async with self.sessions() as session:
            note = await self._deletable(
                session, guild_id=guild_id, note_id=note_id, member_id=member_id, moderator=moderator
            )
            return await _view(session, guild_id=guild_id, note=note)

    async def delete(self, *, guild_id: int, note_id: int, member_id: int, moderator: bool) -> NoteView:
        """Delete a note with its earlier versions and tags. Its author or a moderator may."""
        async with self.sessions() as session:
            note = await self._deletable(
                session, guild_id=guild_id, note_id=note_id, member_id=member_id, moderator=moderator
            )
            view = await _view(session, guild_id=guild_id, note=note)
            await session.delete(note)
            await session.commit()
            log.info("guild=%s note=%s deleted by %s", guild_id, note_id, member_id)
            return view

    async def get(self, *, guild_id: int, note_id: int) -> NoteView:
        """One of the group's notes."""
        async with self.sessions() as session:
            return await self._get_view(session, guild_id=guild_id, note_id=note_id)

    async def find(self, *, guild_id: int, paper_id: int, author_id: int) -> NoteView | None:
        """A member's note on a paper, if they have one."""
        async with self.sessions() as session:
            note = await find_note(session, guild_id=guild_id, paper_id=paper_id, author_id=author_id)
            return await _view(session, guild_id=guild_id, note=note) if note else None

    async def find_by_key(self, *, guild_id: int, key: str, author_id: int) -> NoteView | None:
        """A member's note on the paper with this key, if they have one."""
        async with self.sessions() as session:
            query = (
                select(Note)
                .join(Paper, col(Paper.id) == col(Note.paper_id))
                .where(Note.guild_id == guild_id, Note.author_id == author_id, Paper.key == key)
            )
            note = (await session.exec(query)).first()
            return await _view(session, guild_id=guild_id, note=note) if note else None

    async def revisions(self, *, guild_id: int, note_id: int) -> list[NoteRevision]:
        """Earlier versions of a note, oldest first."""
        async with self.sessions() as session:
            await self._get(session, guild_id=guild_id, note_id=note_id)
            return await note_revisions(session, guild_id=guild_id, note_id=note_id)

    async def history(self, *, guild_id: int, note_id: int) -> tuple[NoteView, list[NoteRevision]]:
        """A note as it is now and its earlier versions, oldest first, read together."""
        async with self.sessions() as session:
            view = await self._get_view(session, guild_id=guild_id, note_id=note_id)
            return view, await note_revisions(session, guild_id=guild_id, note_id=note_id)

    async def page(
        self,
        *,
        guild_id: int,
        author_id: int | None = None,
        tag: str | None = None,
        paper_id: int | None = None,
        since: datetime | None = None,
        offset: int = 0,
        limit: int = 10,
    ) -> NotePage:
        """The group's notes, newest first, filtered as asked."""
        query = _page_query(
            author=author_id is not None, paper=paper_id is not None, since=since is not None, tag=tag is not None
        )
        params = {
            "guild_id": guild_id,
            "author_id": author_id,
            "paper_id": paper_id,
            "since": since,
            "tag": tag,
            "tag_prefix": None if tag is None else tag + "/",
            "offset": offset,
            "limit": limit,
        }
        given = {name: value for name, value in params.items() if value is not None}
        async with self.sessions() as session:
            rows = (await (await session.connection()).execute(query, given)).all()
            total = rows[0][0] if rows else 0
            if not rows and offset:  # past the last page: the first page still tells how many there are
                first = (await (await session.connection()).execute(query, {**given, "offset": 0, "limit": 1})).first()
                total = first[0] if first else 0
        views = _views_of_rows([row[1:] for row in rows])
        return NotePage(notes=tuple(views), total=total, offset=offset, limit=limit)

    async def tags(self, *, guild_id: int) -> list[tuple[str, int]]:
        """The group's tags with their note counts, most used first."""
        async with self.sessions() as session:
            return await group_tags(session, guild_id=guild_id)

    async def set_message(
        self,
        *,
        guild_id: int,
        note_id: int,
        channel_id: int | None,
        message_id: int | None,
        thread_id: int | None = None,
        message_ids: Sequence[int] = (),
        line: tuple[int, int] | None = None,
    ) -> None:
        """Remember the messages a note was posted as (``message_id`` first, then the rest), or none; and ``line``,
        the one line a channel got about it beside its paper's thread, when there is a new one (a note re-posted
        keeps the line it had)."""
        async with self.sessions() as session:
            note = await get_note(session, guild_id=guild_id, note_id=note_id)
            if note is None:
                return
            note.channel_id, note.message_id, note.thread_id = channel_id, message_id, thread_id
            note.message_ids = list(message_ids) or ([message_id] if message_id else [])
            if line is not None:
                note.line_channel_id, note.line_message_id = line
            await session.commit()

    async def autocomplete(
        self, *, guild_id: int, author_id: int | None, text: str, limit: int = 25
    ) -> list[tuple[int, str]]:
        """(note id, label) of a member's notes (or all the group's) best matching what is typed so far."""
        from rapidfuzz import fuzz, process, utils  # loaded on first use, not held from start (bench/idle_memory.py)

        where: list[ColumnElement[bool]] = [col(Note.guild_id) == guild_id]
        if author_id is not None:
            where.append(col(Note.author_id) == author_id)
        query = (
            select(col(Note.id), col(Note.author_name), col(Note.created_at), func.coalesce(Paper.title, Paper.key))
            .join(Paper, col(Paper.id) == col(Note.paper_id))
            .where(*where)
            .order_by(col(Note.created_at).desc())
            .limit(500)
        )
        async with self.sessions() as session:
            rows = (await session.exec(query)).all()
        labels: dict[int, str] = {}
        for note_id, author, created, title in rows:
            assert note_id is not None
            who = "" if author_id is not None else f" — {author}"
            label = f"#{note_id} {title}{who} · {created:%Y-%m-%d}"
            labels[note_id] = label if len(label) <= 100 else label[:99] + "…"
        if text.strip():
            hits = process.extract(text, labels, scorer=fuzz.WRatio, processor=utils.default_process, limit=limit)
            return [(note_id, label) for label, _, note_id in hits]
        return list(labels.items())[:limit]

    async def check_room(self, *, guild_id: int, author_id: int) -> None:
        """Raise as :meth:`add` would when the member has no room for another note today: asked before a form
        opens, so nobody writes a note that can't be saved. :meth:`add` checks again, in its own transaction."""
        async with self.sessions() as session:
            await self._check_room(session, guild_id=guild_id, author_id=author_id)

    async def _check_room(self, session: AsyncSession, *, guild_id: int, author_id: int) -> None:
        """Raise when the member added as many notes here in the last 24 hours as allowed (imports don't count)."""
        now = utcnow()
        recent = (
            await session.exec(
                select(Note.created_at)
                .where(
                    Note.guild_id == guild_id,
                    Note.author_id == author_id,
                    Note.origin == NoteOrigin.DISCORD,
                    col(Note.created_at) > now - DAY,
                )
                .order_by(col(Note.created_at))
            )
        ).all()
        if len(recent) < self.max_per_day:
            return
        # The next note fits once enough of these are a day old to leave max_per_day - 1.
        opens = recent[len(recent) - self.max_per_day] + DAY
        hours = max(1, math.ceil((opens - now) / timedelta(hours=1)))
        raise LimitReachedError(
            f"You've added {len(recent)} notes in this server in the last 24 hours, and this bot allows "
            f"{self.max_per_day}. You can add another in about {hours} hour{'s' if hours > 1 else ''}."
        )

    async def _get_view(self, session: AsyncSession, *, guild_id: int, note_id: int) -> NoteView:
        found = await note_views(session, guild_id=guild_id, note_ids=[note_id])
        if not found:
            raise NotFoundError(NOT_FOUND.format(id=note_id))
        return found[0]

    async def _get(self, session: AsyncSession, *, guild_id: int, note_id: int) -> Note:
        note = await get_note(session, guild_id=guild_id, note_id=note_id)
        if note is None:
            raise NotFoundError(NOT_FOUND.format(id=note_id))
        return note

    async def _deletable(
        self, session: AsyncSession, *, guild_id: int, note_id: int, member_id: int, moderator: bool
    ) -> Note:
        if moderator:
            return await self._get(session, guild_id=guild_id, note_id=note_id)
        return await self._owned(session, guild_id=guild_id, note_id=note_id, member_id=member_id, verb="delete")

    async def _owned(self, session: AsyncSession, *, guild_id: int, note_id: int, member_id: int, verb: str) -> Note:
        note = await self._get(session, guild_id=guild_id, note_id=note_id)
        if note.author_id != member_id:
            raise PermissionDeniedError(f"Note #{note_id} is {note.author_name}'s; only its author can {verb} it.")
        return note
