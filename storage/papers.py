"""Papers: stored metadata, resolving what a member typed to one paper, and filling in pending metadata."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, func, or_
from sqlalchemy import select as core_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import Sessions, chunked, insert_ignoring_duplicates
from storage.errors import NotFoundError, UserFacingError
from storage.identity import PaperKey, TitleQuery, display_title, parse_paper
from storage.metadata import MetadataSource, PaperMetadata
from storage.models import GuildPaper, MetadataStatus, Paper, utcnow
from storage.tables import GUILD_PAPERS, PAPERS
from storage.versions import record_new_versions

log = logging.getLogger(__name__)

CLEAR_MATCH = 95.0  # a title score at or above this, well ahead of the next, needs no confirmation
CLEAR_MARGIN = 8.0
CANDIDATE_FLOOR = 55.0
MAX_CANDIDATES = 5
RETRY_FIRST = 30.0  # seconds before a pending paper is asked again after its first failed lookup
RECOVERY_PROBE = 45.0  # while every pending paper waits out its backoff, one is asked this often (ticks are 30 s)
MAX_BATCHES = 5  # requests one run of the pending-metadata job may send once arXiv answers

BeforeRemote = Callable[[], None]  # called right before a member's lookup asks arXiv; raising stops the lookup


@dataclass(frozen=True, slots=True)
class PaperView:
    """A paper as the bot shows it, detached from any session."""

    id: int
    key: str
    version: int | None
    title: str | None
    authors: tuple[str, ...]
    abstract: str | None
    categories: tuple[str, ...]
    published: datetime | None
    metadata_status: str
    updated: datetime | None = None

    @property
    def display_title(self) -> str:
        """The title, or the id while metadata is pending."""
        return display_title(self.key, self.title)

    @property
    def pending(self) -> bool:
        """Metadata is still to be filled in."""
        return self.metadata_status == MetadataStatus.PENDING

    @property
    def url(self) -> str:
        """The page to open for this paper."""
        return PaperKey(self.key).abs_url

    @property
    def arxiv_id(self) -> str | None:
        """The arXiv id, for arXiv papers."""
        return PaperKey(self.key).arxiv_id

    @classmethod
    def of(cls, paper: Paper) -> PaperView:
        """A view of a stored paper."""
        assert paper.id is not None
        return cls(
            id=paper.id,
            key=paper.key,
            version=paper.version,
            title=paper.title,
            authors=tuple(paper.authors or ()),
            abstract=paper.abstract,
            categories=tuple(paper.categories or ()),
            published=paper.published,
            metadata_status=paper.metadata_status,
            updated=paper.updated,
        )

    @classmethod
    def of_row(cls, values: Sequence[Any]) -> PaperView:
        """A view of a paper read as the values of :data:`PAPER_VIEW_COLUMNS`, in that order."""
        pid, key, version, title, authors, abstract, categories, published, status, updated = values
        return cls(
            id=pid,
            key=key,
            version=version,
            title=title,
            authors=tuple(authors or ()),
            abstract=abstract,
            categories=tuple(categories or ()),
            published=published,
            metadata_status=status,
            updated=updated,
        )


# What a PaperView holds, for queries that read papers as plain rows (no ORM objects to build and track).
PAPER_VIEW_COLUMNS = (
    PAPERS.c.id,
    PAPERS.c.key,
    PAPERS.c.version,
    PAPERS.c.title,
    PAPERS.c.authors,
    PAPERS.c.abstract,
    PAPERS.c.categories,
    PAPERS.c.published,
    PAPERS.c.metadata_status,
    PAPERS.c.updated,
)
# Built once: SQLAlchemy then reuses its compiled form for every lookup by key.
_VIEW_BY_KEY = core_select(*PAPER_VIEW_COLUMNS).where(PAPERS.c.key == bindparam("key"))


@dataclass(frozen=True, slots=True)
class Candidate:
    """A paper that may be the one a member meant, for them to pick."""

    key: str
    title: str
    detail: str  # authors and year, one line
    score: float
    metadata: PaperMetadata | None = None


@dataclass(frozen=True, slots=True)
class Ambiguous:
    """Free text matched several papers (or none clearly): the member picks one."""

    query: str
    candidates: tuple[Candidate, ...]


def _detail(authors: tuple[str, ...] | list[str], when: datetime | None) -> str:
    names = list(authors)
    who = names[0] + (" et al." if len(names) > 1 else "") if names else "unknown authors"
    return f"{who}, {when.year}" if when else who


def apply_metadata(paper: Paper, meta: PaperMetadata) -> None:
    """Copy what a source reported onto the stored paper."""
    paper.title = meta.title or paper.title
    paper.version = max(filter(None, (paper.version, meta.version)), default=None)
    paper.authors = list(meta.authors)
    paper.abstract = meta.abstract or None
    paper.categories = list(meta.categories)
    paper.published = meta.published
    paper.updated = meta.updated
    paper.doi = meta.doi
    paper.journal_ref = meta.journal_ref
    paper.comment = meta.comment
    paper.metadata_status = MetadataStatus.OK
    paper.metadata_checked_at = utcnow()


async def get_paper(session: AsyncSession, *, key: str) -> Paper | None:
    """The stored paper with this key."""
    return (await session.exec(select(Paper).where(Paper.key == key))).first()


async def paper_view(session: AsyncSession, *, key: str) -> PaperView | None:
    """The stored paper with this key, as a view."""
    row = (await (await session.connection()).execute(_VIEW_BY_KEY, {"key": key})).first()
    return PaperView.of_row(row) if row is not None else None


async def papers_by_id(session: AsyncSession, *, paper_ids: Collection[int]) -> dict[int, Paper]:
    """Stored papers by id (an id with no paper is left out)."""
    found: dict[int, Paper] = {}
    for chunk in chunked(sorted(set(paper_ids))):
        for paper in (await session.exec(select(Paper).where(col(Paper.id).in_(chunk)))).all():
            assert paper.id is not None
            found[paper.id] = paper
    return found


async def known_titles(session: AsyncSession, *, guild_id: int) -> list[tuple[int, str, str]]:
    """(id, key, title) of every paper the group knows, oldest first."""
    query = (
        select(Paper.id, Paper.key, Paper.title)
        .join(GuildPaper, col(GuildPaper.paper_id) == col(Paper.id))
        .where(GuildPaper.guild_id == guild_id)
        .order_by(col(GuildPaper.first_seen))
    )
    return [(pid, key, title or key) for pid, key, title in (await session.exec(query)).all() if pid is not None]


async def mark_known(session: AsyncSession, *, guild_id: int, paper_id: int, source: str) -> None:
    """Record that a group knows a paper (the first source that brought it is kept, also when several members
    bring it at the same moment)."""
    if await session.get(GuildPaper, (guild_id, paper_id)) is None:
        conn = await session.connection()
        await conn.execute(
            insert_ignoring_duplicates(conn.dialect.name, GUILD_PAPERS),
            [{"guild_id": guild_id, "paper_id": paper_id, "source": source, "first_seen": utcnow()}],
        )


class PaperService:
    """Finds, creates and completes papers; arXiv (or any MetadataSource) is passed in."""

    def __init__(self, sessions: Sessions, source: MetadataSource | None, *, lookup_timeout: float = 4.0) -> None:
        self.sessions = sessions
        self.source = source
        self.lookup_timeout = lookup_timeout

    async def get(self, paper_id: int) -> PaperView:
        """A stored paper by id."""
        async with self.sessions() as session:
            paper = await session.get(Paper, paper_id)
            if paper is None:
                raise NotFoundError("That paper is not known here.")
            return PaperView.of(paper)

    async def get_by_key(self, key: str) -> PaperView:
        """A stored paper by its canonical key."""
        async with self.sessions() as session:
            paper = await paper_view(session, key=key)
        if paper is None:
            raise NotFoundError("That paper is not known here yet.")
        return paper

    async def resolve(
        self, *, guild_id: int, text: str | PaperKey | TitleQuery, before_remote: BeforeRemote | None = None
    ) -> PaperView | Ambiguous:
        """The paper a member means by ``text`` (as typed, or already parsed), or the candidates to pick from.

        ``before_remote`` is called right before arXiv is asked anything (it may raise to stop the lookup);
        a paper already stored with its details costs no call.
        """
        parsed = parse_paper(text) if isinstance(text, str) else text
        if isinstance(parsed, PaperKey):
            return await self.ensure(parsed, before_remote=before_remote)
        return await self._resolve_title(guild_id=guild_id, query=parsed, before_remote=before_remote)

    async def ensure(
        self, key: PaperKey, *, metadata: PaperMetadata | None = None, before_remote: BeforeRemote | None = None
    ) -> PaperView:
        """The stored paper for ``key``, created (with metadata when reachable) if new.

        An arXiv id that arXiv says does not exist is refused; when arXiv cannot be reached the paper is
        stored with its metadata pending, for the background job to fill in. ``before_remote`` is called
        right before arXiv is asked (see :meth:`resolve`).
        """
        async with self.sessions() as session:
            paper = await paper_view(session, key=key.key)
        if paper is not None and not paper.pending and metadata is None:
            return paper
        if metadata is None and key.scheme == "arxiv":
            metadata, known = await self._lookup(key, before_remote=before_remote)
            if not known and paper is None:
                raise NotFoundError(f"arXiv has no paper `{key.value}`. Check the id, or give a link instead.")
        return await self._store(key, metadata)

    async def _lookup(
        self, key: PaperKey, *, before_remote: BeforeRemote | None = None
    ) -> tuple[PaperMetadata | None, bool]:
        """Metadata for an arXiv key, and whether the paper may exist (False only when arXiv says it doesn't)."""
        if self.source is None:
            return None, True
        if before_remote is not None:
            before_remote()
        try:
            found = await asyncio.wait_for(self.source.fetch([key.key]), self.lookup_timeout)
        except Exception as exc:  # any failure of the outside world leaves the metadata pending
            log.info("metadata for %s is pending: %s", key.key, exc or type(exc).__name__)
            return None, True
        meta = found.get(key.key)
        return meta, meta is not None

    async def _store(self, key: PaperKey, metadata: PaperMetadata | None) -> PaperView:
        async with self.sessions() as session:
            paper = await get_paper(session, key=key.key)
            if paper is None:
                # The version a member typed (``v99``) is theirs, not the paper's: only arXiv sets it.
                paper = Paper(key=key.key)
                paper.metadata_status = MetadataStatus.PENDING if key.scheme == "arxiv" else MetadataStatus.MISSING
                session.add(paper)
            if metadata is not None:
                known = paper.version if paper.id is not None and paper.metadata_status == MetadataStatus.OK else None
                apply_metadata(paper, metadata)
                if paper.id is not None:  # a newer version found by a member's search: the groups are told too
                    await record_new_versions(session, changes=[(paper.id, known, paper.version)])
            try:
                await session.commit()
            except IntegrityError:  # another member added the same paper a moment ago
                await session.rollback()
                paper = await get_paper(session, key=key.key)
                if paper is None:
                    raise
            await session.refresh(paper)
            return PaperView.of(paper)

    async def _resolve_title(
        self, *, guild_id: int, query: TitleQuery, before_remote: BeforeRemote | None = None
    ) -> PaperView | Ambiguous:
        from rapidfuzz import fuzz, process, utils  # loaded on first use, not held from start (bench/idle_memory.py)

        async with self.sessions() as session:
            known = await known_titles(session, guild_id=guild_id)
        candidates: dict[str, Candidate] = {}
        titles = {key: title for _, key, title in known}
        for title, score, key in process.extract(
            query.text, titles, scorer=fuzz.WRatio, processor=utils.default_process, limit=MAX_CANDIDATES
        ):
            if score >= CANDIDATE_FLOOR:
                candidates[key] = Candidate(key=key, title=title, detail="noted in this group", score=score)
        best = sorted(candidates.values(), key=lambda c: -c.score)
        if best and _clear(best):
            return await self.ensure(PaperKey(best[0].key), before_remote=before_remote)
        remote_failed = False
        if self.source is not None:
            if before_remote is not None:
                before_remote()
            try:
                found = await asyncio.wait_for(self.source.search_title(query.text, limit=MAX_CANDIDATES), 15)
            except Exception as exc:
                log.info("title search for %r failed: %s", query.text, exc or type(exc).__name__)
                found, remote_failed = [], True
            for meta in found:
                score = fuzz.WRatio(query.text, meta.title, processor=utils.default_process)
                if meta.key not in candidates or candidates[meta.key].score < score:
                    candidates[meta.key] = Candidate(
                        key=meta.key,
                        title=meta.title,
                        detail=_detail(meta.authors, meta.published),
                        score=score,
                        metadata=meta,
                    )
        best = sorted(candidates.values(), key=lambda c: -c.score)[:MAX_CANDIDATES]
        if best and _clear(best):
            return await self.ensure(PaperKey(best[0].key), metadata=best[0].metadata, before_remote=before_remote)
        if not best:
            if remote_failed:
                raise UserFacingError(
                    "arXiv is not answering right now, and no paper here matches that title. "
                    "Give the arXiv id or link instead."
                )
            raise NotFoundError(f"No paper found titled like “{query.text[:80]}”. Give its arXiv id or link instead.")
        return Ambiguous(query=query.text, candidates=tuple(best))

    async def find_known(self, *, guild_id: int, text: str) -> PaperView | None:
        """The paper among the group's own that ``text`` names (an id, a link, or a title), if any."""
        from rapidfuzz import fuzz, process, utils  # loaded on first use, not held from start (bench/idle_memory.py)

        parsed = parse_paper(text)
        async with self.sessions() as session:
            known = await known_titles(session, guild_id=guild_id)
            if isinstance(parsed, PaperKey):
                chosen = next((pid for pid, key, _ in known if key == parsed.key), None)
            else:
                titles = {pid: title for pid, _, title in known}
                best = process.extractOne(
                    parsed.text, titles, scorer=fuzz.WRatio, processor=utils.default_process, score_cutoff=80
                )
                chosen = best[2] if best else None
            paper = await session.get(Paper, chosen) if chosen is not None else None
            return PaperView.of(paper) if paper else None

    async def autocomplete(self, *, guild_id: int, text: str, limit: int = 25) -> list[tuple[str, str]]:
        """(key, label) of the group's papers best matching what is typed so far."""
        from rapidfuzz import fuzz, process, utils  # loaded on first use, not held from start (bench/idle_memory.py)

        async with self.sessions() as session:
            known = await known_titles(session, guild_id=guild_id)
        if not text.strip():
            chosen = known[-limit:][::-1]
        else:
            labels = {key: f"{title} {key}" for _, key, title in known}
            hits = process.extract(text, labels, scorer=fuzz.WRatio, processor=utils.default_process, limit=limit)
            order = {key: i for i, (_, _, key) in enumerate(hits)}
            chosen = sorted((k for k in known if k[1] in order), key=lambda k: order[k[1]])
        return [(key, choice_label(title, key)) for _, key, title in chosen]

    async def fill_pending(self, *, now: datetime | None = None, limit: int = 100, longest: float = 600.0) -> int:
        """Ask arXiv for papers still pending, ``limit`` a request; returns how many were completed.

        With ``now`` (the background job), only papers whose retry time has come are asked: 30 s after the first
        failure, doubling up to ``longest``. While none is due, one paper is asked every :data:`RECOVERY_PROBE`,
        so arXiv's recovery is noticed within a minute; once arXiv answers, every pending paper is asked at once
        (up to :data:`MAX_BATCHES` requests a run). Without ``now``, every pending paper is asked.
        """
        if self.source is None:
            return 0
        due_by = now
        asked: set[int] = set()
        done = 0
        for _ in range(MAX_BATCHES):
            async with self.sessions() as session:
                batch = await pending_batch(session, due_by=due_by, longest=longest, skip=asked, limit=limit)
            if not batch:
                break
            asked.update(batch)
            filled = await self._fill(batch, checked_at=now or utcnow())
            if filled is None:
                break
            done += filled
            due_by = None  # arXiv answers: what else is pending is worth asking now, not after its backoff
        return done

    async def _fill(self, batch: dict[int, str], *, checked_at: datetime) -> int | None:
        """One request for a batch of pending papers (id -> key); how many were completed, None if arXiv failed."""
        assert self.source is not None
        try:
            found = await self.source.fetch(list(batch.values()))
        except Exception as exc:  # any failure of the outside world: the papers wait for their next retry
            found = None
            log.warning("pending metadata for %d papers still unreachable: %s", len(batch), exc or type(exc).__name__)
        done = 0
        async with self.sessions() as session:
            rows = (await session.exec(select(Paper).where(col(Paper.id).in_(list(batch))))).all()
            for paper in rows:
                if paper.metadata_status != MetadataStatus.PENDING:
                    continue  # filled meanwhile by a member's lookup or a listing
                paper.metadata_attempts += 1
                paper.metadata_checked_at = checked_at
                meta = found.get(paper.key) if found is not None else None
                if meta is not None:
                    apply_metadata(paper, meta)
                    done += 1
                elif found is not None and paper.key in found:
                    paper.metadata_status = MetadataStatus.MISSING
            await session.commit()
        if found is None:
            return None
        log.info("filled in metadata for %d of %d pending papers", done, len(batch))
        return done


def retry_wait(attempts: int, *, longest: float) -> float:
    """Seconds between a pending paper's ``attempts``-th failed lookup and the next: 30 s, doubling, capped."""
    if attempts <= 0:
        return 0.0
    return min(longest, RETRY_FIRST * 2 ** min(attempts - 1, 30))


def _retry_due(now: datetime, *, longest: float) -> ColumnElement[bool]:
    """Pending papers whose retry time has come, as one condition: a term per backoff step, then the cap."""
    checked = col(Paper.metadata_checked_at)
    terms = [checked.is_(None), col(Paper.metadata_attempts) <= 0]
    attempts = 1
    while (wait := retry_wait(attempts, longest=longest)) < longest:
        terms.append((col(Paper.metadata_attempts) == attempts) & (checked <= now - timedelta(seconds=wait)))
        attempts += 1
    terms.append((col(Paper.metadata_attempts) >= attempts) & (checked <= now - timedelta(seconds=longest)))
    return or_(*terms)


async def pending_batch(
    session: AsyncSession, *, due_by: datetime | None, longest: float, skip: Collection[int] = (), limit: int = 100
) -> dict[int, str]:
    """Pending arXiv papers to ask about (id -> key), least recently asked first.

    With ``due_by``: those whose retry time has come; if none has, one paper when nothing was asked for
    :data:`RECOVERY_PROBE` (to notice that arXiv is back), else none.
    """
    pending = and_(col(Paper.metadata_status) == MetadataStatus.PENDING, col(Paper.key).startswith("arxiv:"))
    query = select(Paper.id, Paper.key).where(pending, col(Paper.id).notin_(list(skip)))
    query = query.order_by(col(Paper.metadata_checked_at).asc().nulls_first())
    if due_by is not None:
        due = (await session.exec(query.where(_retry_due(due_by, longest=longest)).limit(limit))).all()
        if due:
            return {pid: key for pid, key in due if pid is not None}
        last = (await session.exec(select(func.max(Paper.metadata_checked_at)).where(pending))).one()
        if last is not None and last > due_by - timedelta(seconds=RECOVERY_PROBE):
            return {}
        limit = 1
    return {pid: key for pid, key in (await session.exec(query.limit(limit))).all() if pid is not None}


def _clear(ranked: list[Candidate]) -> bool:
    top = ranked[0].score
    return top >= CLEAR_MATCH and (len(ranked) == 1 or top - ranked[1].score >= CLEAR_MARGIN)


def choice_label(title: str, key: str) -> str:
    """A paper as a choice while typing (at most 100 characters): its title, shortened, then its identifier."""
    ident = key.split(":", 1)[1]
    if title in (ident, key) or len(ident) > 60:  # no title, or a long link: one of them alone
        text = ident if title == key else title
        return text if len(text) <= 100 else text[:99].rstrip() + "…"
    room = 100 - len(ident) - 3
    short = title if len(title) <= room else title[: room - 1].rstrip() + "…"
    return f"{short} ({ident})"
