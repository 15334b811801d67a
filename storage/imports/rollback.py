"""Taking back an import that a stopped process left half-applied: query functions for the import service.

An import is written a chunk of notes per transaction, so a process that stops mid-way leaves part of it. Every
note an import creates carries its id (``notes.import_id``); rolling the import back deletes those notes (their
tags and earlier versions go with them), the group's links to papers it made known that nothing else needs, its
queued title lookups and the title-only papers nothing else uses. Notes it found already there, the group's other
notes and imports, and other groups are never touched.

Each chunk renews its import's claim in its own transaction (:func:`keep_claim`), and is not written if another
process has taken the claim over; a roll-back takes the claim over (once it ran out, or its holder ended) before
it marks the import stopped (:func:`roll_back`). On SQLite and PostgreSQL alike the renewal and the takeover wait
for each other, so no chunk is written after its import was rolled back, and a roll-back sees every chunk
written before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, delete, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import chunked
from storage.models import (
    ImportState,
)
from storage.tables import (
    DELIVERIES,
    DIGEST_PICKS,
    GUILD_PAPERS,
    IMPORT_RUNS,
    LEASES,
    NOTE_TAGS,
    NOTES,
    PAPERS,
    TAGS,
    TITLE_LOOKUPS,
)


@dataclass(frozen=True, slots=True)
class StoppedImport:
    """An import rolled back because the process applying it stopped, and where its member was told of it."""

    import_id: int
    guild_id: int
    member_id: int
    file_name: str
    channel_id: int | None
    message_id: int | None


def claim_name(import_id: int) -> str:
    """The lease held by the process applying an import, renewed after each chunk."""
    return f"import:{import_id}"


async def claim(session: AsyncSession, *, import_id: int, holder: str, until: datetime) -> None:
    """Claim a new import for ``holder``, in the transaction that records the import: every import applied with
    a claim has one from its first moment (an import left applying without one is from before claims)."""
    conn = await session.connection()
    name = claim_name(import_id)
    await conn.execute(delete(LEASES).where(LEASES.c.name == name))  # a row left by an import of this id
    await conn.execute(insert(LEASES).values(name=name, holder=holder, expires_at=until))


async def keep_claim(session: AsyncSession, *, import_id: int, holder: str, until: datetime) -> bool:
    """Move the end of ``holder``'s claim on an import to ``until`` (a moment past gives it back), within the
    transaction of a chunk; False when another process has taken the claim over."""
    conn = await session.connection()
    kept = await conn.execute(
        update(LEASES).where(LEASES.c.name == claim_name(import_id), LEASES.c.holder == holder).values(expires_at=until)
    )
    return kept.rowcount == 1


async def claimed_applying(session: AsyncSession) -> list[int]:
    """Imports still being applied that were claimed when they began, oldest first."""
    conn = await session.connection()
    query = select(IMPORT_RUNS.c.id).where(IMPORT_RUNS.c.state == ImportState.APPLYING).order_by(IMPORT_RUNS.c.id)
    names = {claim_name(import_id): import_id for import_id in (await conn.execute(query)).scalars()}
    claimed: set[str] = set()
    for part in chunked(list(names)):
        claimed.update((await conn.execute(select(LEASES.c.name).where(LEASES.c.name.in_(part)))).scalars())
    return [import_id for name, import_id in names.items() if name in claimed]


async def roll_back(
    session: AsyncSession, *, import_id: int, counts: dict[str, int], now: datetime
) -> StoppedImport | None:
    """Take back everything an import still being applied wrote, and mark it stopped with ``counts`` (zeros);
    None when it is not being applied any more (finished, or rolled back already)."""
    conn = await session.connection()
    stopped = await conn.execute(
        update(IMPORT_RUNS)
        .where(IMPORT_RUNS.c.id == import_id, IMPORT_RUNS.c.state == ImportState.APPLYING)
        .values(state=ImportState.STOPPED, counts=counts, finished_at=now)
    )
    if stopped.rowcount != 1:
        return None
    run = (await conn.execute(select(IMPORT_RUNS).where(IMPORT_RUNS.c.id == import_id))).one()
    guild_id = run.guild_id
    made = (NOTES.c.import_id == import_id) & (NOTES.c.guild_id == guild_id)
    tag_ids = {
        row[0]
        for row in await conn.execute(
            select(NOTE_TAGS.c.tag_id).distinct().join(NOTES, NOTES.c.id == NOTE_TAGS.c.note_id).where(made)
        )
    }
    await conn.execute(delete(NOTES).where(made))  # tags and earlier versions cascade; the full-text index follows
    if tag_ids:
        await _drop_unused_tags(conn, guild_id=guild_id, tag_ids=sorted(tag_ids))
    await _drop_links(conn, guild_id=guild_id, import_id=import_id, since=run.created_at)
    await _drop_lookups(conn, guild_id=guild_id, import_id=import_id)
    return StoppedImport(
        import_id=import_id,
        guild_id=guild_id,
        member_id=run.member_id,
        file_name=run.file_name,
        channel_id=run.channel_id,
        message_id=run.message_id,
    )


async def _drop_unused_tags(conn: AsyncConnection, *, guild_id: int, tag_ids: Sequence[int]) -> None:
    """The import's tags that no note of the group carries any more."""
    carried = select(NOTE_TAGS.c.tag_id).where(NOTE_TAGS.c.guild_id == guild_id)
    for part in chunked(tag_ids):
        await conn.execute(
            delete(TAGS).where(TAGS.c.guild_id == guild_id, TAGS.c.id.in_(part), TAGS.c.id.not_in(carried))
        )


def _needed(guild_id: int, paper_id: ColumnElement[int]) -> ColumnElement[bool]:
    """Something of the group, other than an import's link, that needs it to know a paper."""
    return (
        exists().where(NOTES.c.guild_id == guild_id, NOTES.c.paper_id == paper_id)
        | exists().where(DELIVERIES.c.guild_id == guild_id, DELIVERIES.c.paper_id == paper_id)
        | exists().where(DIGEST_PICKS.c.guild_id == guild_id, DIGEST_PICKS.c.paper_id == paper_id)
    )


async def _drop_links(conn: AsyncConnection, *, guild_id: int, import_id: int, since: datetime) -> None:
    """The group's links to papers the import made known that nothing needs now.

    A link records only that an import made it, and when: the import's are those made from its start until the
    group's next import began (with one process per group at a time, the import after it starts once it stopped).
    """
    later = select(func.min(IMPORT_RUNS.c.created_at)).where(
        IMPORT_RUNS.c.guild_id == guild_id, IMPORT_RUNS.c.id > import_id
    )
    until = (await conn.execute(later)).scalar_one()
    window = [GUILD_PAPERS.c.first_seen >= since]
    if until is not None:
        window.append(GUILD_PAPERS.c.first_seen < until)
    await conn.execute(
        delete(GUILD_PAPERS).where(
            GUILD_PAPERS.c.guild_id == guild_id,
            GUILD_PAPERS.c.source == "import",
            *window,
            ~_needed(guild_id, GUILD_PAPERS.c.paper_id),
        )
    )


async def _drop_lookups(conn: AsyncConnection, *, guild_id: int, import_id: int) -> None:
    """The import's title lookups, with their title-only papers when nothing uses them now; a paper something
    still uses keeps its lookup, which then belongs to no import."""
    mine = (TITLE_LOOKUPS.c.import_id == import_id) & (TITLE_LOOKUPS.c.guild_id == guild_id)
    keys = list((await conn.execute(select(TITLE_LOOKUPS.c.title_key).where(mine))).scalars())
    for part in chunked(keys):
        unused = (
            select(PAPERS.c.key)
            .where(PAPERS.c.key.in_(part))
            .where(~exists().where(NOTES.c.paper_id == PAPERS.c.id))
            .where(~exists().where(GUILD_PAPERS.c.paper_id == PAPERS.c.id))
        )
        gone = list((await conn.execute(unused)).scalars())
        if gone:
            await conn.execute(delete(PAPERS).where(PAPERS.c.key.in_(gone)))
            await conn.execute(delete(TITLE_LOOKUPS).where(mine, TITLE_LOOKUPS.c.title_key.in_(gone)))
    await conn.execute(update(TITLE_LOOKUPS).where(mine).values(import_id=None))
