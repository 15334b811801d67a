"""Full-text search over a group's notes and the papers it knows, behind one interface.

On SQLite the index is FTS5: external-content tables over ``notes`` and ``papers`` kept in step by triggers
(insert, edit, delete), with the porter stemmer over unicode61 (diacritics folded), which suits scientific
English. What members type never reaches FTS5 as syntax: :func:`fts_query` turns it into quoted terms.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import Sessions
from storage.errors import UserFacingError

TOKENIZER = "porter unicode61 remove_diacritics 2"
HIT_START, HIT_END = "\x02", "\x03"  # marks around matched words in snippets, turned into bold by the bot

# The FTS5 tables (notes_fts, papers_fts) and the triggers that keep them in step are made by the migrations
# (storage/migrations/versions). Papers are indexed once a group knows them: search and /similar only ever look
# among a group's papers, and a feed brings thousands a day that no group has seen.

STOP_WORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having he
    her here hers herself him himself his how i if in into is it its itself just let me more most my myself no
    nor not now of off on once only or other our ours ourselves out over own same she should so some such than
    that the their theirs them themselves then there these they this those through to too under until up us very
    was we were what when where which while who whom why will with would you your yours yourself yourselves
    paper papers note notes""".split()
)
_PHRASE = re.compile(r'"([^"]*)"?')
_WORD = re.compile(r"[^\W_]+")
MAX_TERMS = 12
RANK_WINDOW = 100  # a broad query is ranked among the group's newest matches, this many deep
NOTE_SCORE = "bm25(notes_fts)"
PAPER_SCORE = "bm25(papers_fts, 8.0, 3.0, 1.0)"  # a word in a title counts for much more than one in an abstract


class SearchQueryError(UserFacingError):
    """The search text has nothing to search for."""


def fts_query(raw: str) -> str:
    """An FTS5 MATCH expression for what a member typed: every term quoted, so nothing is read as syntax.

    ``"exact phrase"`` stays a phrase, ``trans*`` is a prefix, words joined by hyphens or LaTeX
    (``model-merging``, ``x^2``) must appear together, and words are all required. Stop words alone
    are refused with a hint.
    """
    terms: list[str] = []
    dropped = False
    rest = raw
    for match in _PHRASE.finditer(raw):
        words = _WORD.findall(match.group(1))
        if words:
            terms.append('"' + " ".join(words) + '"')
    rest = _PHRASE.sub(" ", raw)
    for chunk in rest.split():
        prefix = chunk.endswith("*")
        words = _WORD.findall(chunk)
        if not words:
            continue
        if len(words) == 1 and words[0].lower() in STOP_WORDS and not prefix:
            dropped = True
            continue
        phrase = '"' + " ".join(words) + '"'
        terms.append(phrase + "*" if prefix and len(words[-1]) >= 2 else phrase)
    if not terms:
        if dropped:
            raise SearchQueryError(
                "Those words are too common to search for. Add a word that says what the note is about, "
                "or put an exact phrase in quotes."
            )
        raise SearchQueryError('Type some words to search for, e.g. `model merging` or `"in-context learning"`.')
    return " ".join(dict.fromkeys(terms[:MAX_TERMS]))


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One result: a note, or a paper the group knows."""

    kind: str  # "note" or "paper"
    score: float  # lower is better (bm25)
    paper_id: int
    paper_key: str
    paper_title: str | None
    snippet: str  # with HIT_START/HIT_END around matched words
    note_id: int | None = None
    author_name: str | None = None
    created_at: datetime | None = None
    channel_id: int | None = None
    message_id: int | None = None


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of results, best first."""

    hits: tuple[SearchHit, ...]
    offset: int
    limit: int
    has_more: bool


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """What narrows a search down."""

    author_id: int | None = None
    tag: str | None = None
    since: datetime | None = None

    @property
    def notes_only(self) -> bool:
        """Papers have no author or tags, so those filters leave only notes."""
        return self.author_id is not None or self.tag is not None


class SearchBackend(Protocol):
    """A database's own full-text search."""

    async def notes(
        self, conn: AsyncConnection, *, guild_id: int, match: str, filters: SearchFilters, limit: int
    ) -> list[SearchHit]:
        """The group's notes matching ``match``, best first."""
        ...

    async def papers(
        self, conn: AsyncConnection, *, guild_id: int, match: str, filters: SearchFilters, limit: int
    ) -> list[SearchHit]:
        """The papers the group knows matching ``match``, best first."""
        ...


class SqliteSearch:
    """FTS5 on SQLite."""

    async def notes(
        self, conn: AsyncConnection, *, guild_id: int, match: str, filters: SearchFilters, limit: int
    ) -> list[SearchHit]:
        """The group's notes matching ``match``, best first."""
        where = ["notes_fts MATCH :match", "n.guild_id = :guild_id"]
        params: dict[str, Any] = {"match": match, "guild_id": guild_id, "limit": limit}
        if filters.author_id is not None:
            where.append("n.author_id = :author_id")
            params["author_id"] = filters.author_id
        if filters.since is not None:
            where.append("n.created_at >= :since")
            params["since"] = filters.since.strftime("%Y-%m-%d %H:%M:%S")
        if filters.tag is not None:
            where.append(
                "n.id IN (SELECT nt.note_id FROM note_tags nt JOIN tags t ON t.id = nt.tag_id "
                "WHERE t.guild_id = :guild_id AND (t.name = :tag OR t.name LIKE :tag_prefix ESCAPE '\\'))"
            )
            params["tag"] = filters.tag
            params["tag_prefix"] = filters.tag.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "/%"
        select = f"""n.id, n.author_name, n.created_at, n.channel_id, n.message_id, p.id, p.key, p.title,
                   snippet(notes_fts, 0, '{HIT_START}', '{HIT_END}', '…', 24)"""
        source = "notes_fts CROSS JOIN notes AS n ON n.id = notes_fts.rowid"
        shown = "JOIN papers AS p ON p.id = n.paper_id"
        rows = await _ranked(conn, "notes_fts", NOTE_SCORE, select, source, shown, " AND ".join(where), params)
        return [
            SearchHit(
                kind="note",
                score=score,
                paper_id=row[5],
                paper_key=row[6],
                paper_title=row[7],
                snippet=row[8],
                note_id=row[0],
                author_name=row[1],
                created_at=_parse_time(row[2]),
                channel_id=row[3],
                message_id=row[4],
            )
            for score, row in rows
        ]

    async def papers(
        self, conn: AsyncConnection, *, guild_id: int, match: str, filters: SearchFilters, limit: int
    ) -> list[SearchHit]:
        """The papers the group knows matching ``match``, best first."""
        where = ["papers_fts MATCH :match"]
        params: dict[str, Any] = {"match": match, "guild_id": guild_id, "limit": limit}
        if filters.since is not None:
            where.append("gp.first_seen >= :since")
            params["since"] = filters.since.strftime("%Y-%m-%d %H:%M:%S")
        select = f"p.id, p.key, p.title, snippet(papers_fts, -1, '{HIT_START}', '{HIT_END}', '…', 24)"
        source = (
            "papers_fts CROSS JOIN guild_papers AS gp ON gp.paper_id = papers_fts.rowid AND gp.guild_id = :guild_id"
        )
        shown = "JOIN papers AS p ON p.id = papers_fts.rowid"
        rows = await _ranked(conn, "papers_fts", PAPER_SCORE, select, source, shown, " AND ".join(where), params)
        return [
            SearchHit(kind="paper", score=score, paper_id=row[0], paper_key=row[1], paper_title=row[2], snippet=row[3])
            for score, row in rows
        ]


async def _ranked(
    conn: AsyncConnection,
    table: str,
    score: str,
    select: str,
    source: str,
    shown: str,
    where: str,
    params: dict[str, Any],
) -> list[tuple[float, tuple[Any, ...]]]:
    """The best ``params["limit"]`` matches by bm25 among the group's newest RANK_WINDOW, with their details.

    FTS5 walks matches newest first cheaply (in rowid order, stopping early), but ORDER BY rank computes
    bm25 for every match: for a word in half the notes that alone takes several times the 20 ms a search
    may take. So one pass scores the group's newest matches, the best are kept here, and a second query
    fetches the snippets and details of just those.
    """
    window = max(RANK_WINDOW, params["limit"])
    scored = (
        await conn.execute(
            text(f"SELECT {table}.rowid, {score} FROM {source} WHERE {where} ORDER BY {table}.rowid DESC LIMIT :w"),
            {**params, "w": window},
        )
    ).all()
    best = sorted(scored, key=lambda row: row[1])[: params["limit"]]
    if not best:
        return []
    ids = ", ".join(str(int(rowid)) for rowid, _ in best)
    details = (
        await conn.execute(
            text(f"SELECT {table}.rowid, {select} FROM {source} {shown} WHERE {where} AND {table}.rowid IN ({ids})"),
            params,
        )
    ).all()
    by_id = {row[0]: tuple(row[1:]) for row in details}
    return [(rank, by_id[rowid]) for rowid, rank in best if rowid in by_id]


def _parse_time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def backend_for(dialect: str) -> SearchBackend:
    """The search that suits a database."""
    if dialect == "sqlite":
        return SqliteSearch()
    raise RuntimeError(f"full-text search works on SQLite and PostgreSQL, not {dialect}")


class SearchService:
    """Ranked search over a group's notes and known papers."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def search(
        self, *, guild_id: int, query: str, filters: SearchFilters | None = None, offset: int = 0, limit: int = 5
    ) -> SearchPage:
        """One page of results for what a member typed, best first."""
        filters = filters or SearchFilters()
        match = fts_query(query)
        want = offset + limit + 1  # one more than shown tells whether there is a next page
        kinds = ["notes"] if filters.notes_only else ["notes", "papers"]

        async def run(kind: str) -> list[SearchHit]:
            # Each kind on its own connection: SQLite works on both at once, outside the event loop.
            async with self.sessions() as session:
                conn = await session.connection()
                backend = backend_for(conn.dialect.name)
                found: list[SearchHit] = await getattr(backend, kind)(
                    conn, guild_id=guild_id, match=match, filters=filters, limit=want
                )
                return found

        hits = [hit for found in await asyncio.gather(*(run(kind) for kind in kinds)) for hit in found]
        hits.sort(key=lambda h: h.score)
        return SearchPage(
            hits=tuple(hits[offset : offset + limit]), offset=offset, limit=limit, has_more=len(hits) > offset + limit
        )
