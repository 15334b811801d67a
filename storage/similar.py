"""Similar papers: the papers a group knows that share most of a paper's key words, best first.

On SQLite, BM25 (FTS5) over the papers' full-text index; on PostgreSQL, ``ts_rank`` over the papers'
``search_vector`` (migration 0002). Either way the query is the paper's key terms, any of them.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import Sessions
from storage.models import Note, NoteTag, Tag
from storage.papers import PaperView, papers_by_id
from storage.search import STOP_WORDS, TS_CONFIG, pg_lexeme

MAX_QUERY_TERMS = 24
_TOKEN = re.compile(r"[^\W\d_][^\W_]{2,}")
# Words every abstract uses; they say nothing about what a paper is about.
GENERIC = frozenset(
    """propose proposed show shows shown present presents using used use based results result method methods
    approach approaches paper work new novel also however existing state art performance demonstrate via
    well first two one three different various several large small many number problem problems task tasks
    model models data""".split()
)


@dataclass(frozen=True, slots=True)
class Similar:
    """A related paper and, in a few words, why."""

    paper: PaperView
    score: float
    shared_terms: tuple[str, ...]
    shared_tags: tuple[str, ...]
    notes: int

    @property
    def why(self) -> str:
        """One line saying what the two papers have in common."""
        parts = []
        if self.shared_terms:
            parts.append("both about " + ", ".join(self.shared_terms))
        if self.shared_tags:
            parts.append("both tagged " + ", ".join(f"`{t}`" for t in self.shared_tags))
        return "; ".join(parts) or "similar wording"


def _stem(word: str) -> str:
    word = word.lower()
    for suffix in ("ations", "ation", "ings", "ing", "ies", "es", "s", "ed"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def key_terms(title: str, abstract: str) -> list[str]:
    """The words that say what a paper is about: title words first, then the abstract's most used ones."""
    counts: Counter[str] = Counter()
    spelled: dict[str, str] = {}
    for weight, body in ((3, title), (1, abstract)):
        for word in _TOKEN.findall(body):
            lower = word.lower()
            if lower in STOP_WORDS or lower in GENERIC:
                continue
            stem = _stem(lower)
            counts[stem] += weight
            spelled.setdefault(stem, lower)
    return [spelled[stem] for stem, _ in counts.most_common(MAX_QUERY_TERMS)]


# Both: (paper id, score), lower scores first, at most :limit, among the group's papers but for the one asked about.
SQLITE_SQL = """
    SELECT p.id, papers_fts.rank FROM papers_fts
    CROSS JOIN guild_papers AS gp ON gp.paper_id = papers_fts.rowid AND gp.guild_id = :guild_id
    JOIN papers AS p ON p.id = papers_fts.rowid
    WHERE papers_fts MATCH :match AND p.id != :paper_id
    ORDER BY papers_fts.rank LIMIT :limit"""
# Every field weighs the same, as in the SQLite index's default bm25; the length normalisation stands in for bm25's.
POSTGRES_SQL = f"""
    WITH q AS MATERIALIZED (SELECT to_tsquery('{TS_CONFIG}', :match) AS query)
    SELECT p.id, -ts_rank('{{1, 1, 1, 1}}'::real[], p.search_vector, (SELECT query FROM q), 1) AS score
    FROM guild_papers AS gp JOIN papers AS p ON p.id = gp.paper_id
    WHERE gp.guild_id = :guild_id AND p.search_vector @@ (SELECT query FROM q) AND p.id != :paper_id
    ORDER BY score, p.id DESC LIMIT :limit"""


class SimilarService:
    """Finds papers like a given one among a group's known papers."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def similar(self, *, guild_id: int, paper: PaperView, limit: int = 8) -> list[Similar]:
        """Papers the group knows that read most like ``paper``, best first, without ``paper`` itself."""
        terms = key_terms(paper.title or "", paper.abstract or "")
        if not terms:
            return []
        async with self.sessions() as session:
            conn = await session.connection()
            if conn.dialect.name == "postgresql":
                sql, match = POSTGRES_SQL, " | ".join(pg_lexeme(t) for t in terms)
            else:
                sql, match = SQLITE_SQL, " OR ".join(f'"{t}"' for t in terms)
            rows = (
                await conn.execute(
                    text(sql), {"guild_id": guild_id, "match": match, "paper_id": paper.id, "limit": limit}
                )
            ).all()
            ids = [row[0] for row in rows]
            found = await papers_by_id(session, paper_ids=ids)
            tags = await _tags_by_paper(session, guild_id=guild_id, paper_ids=[*ids, paper.id])
            counts = await _note_counts(session, guild_id=guild_id, paper_ids=ids)
        results = []
        for pid, score in rows:
            other = found[pid]
            theirs = {_stem(w) for w in _TOKEN.findall(f"{other.title or ''} {other.abstract or ''}")}
            shared = [t for t in terms if _stem(t) in theirs]  # in order of how much they say about ``paper``
            results.append(
                Similar(
                    paper=PaperView.of(other),
                    score=score,
                    shared_terms=tuple(shared[:4]),
                    shared_tags=tuple(sorted(set(tags.get(pid, ())) & set(tags.get(paper.id, ()))))[:3],
                    notes=counts.get(pid, 0),
                )
            )
        return results


async def _tags_by_paper(session: AsyncSession, *, guild_id: int, paper_ids: list[int]) -> dict[int, set[str]]:
    query = (
        select(Note.paper_id, Tag.name)
        .join(NoteTag, col(NoteTag.note_id) == col(Note.id))
        .join(Tag, col(Tag.id) == col(NoteTag.tag_id))
        .where(Note.guild_id == guild_id, col(Note.paper_id).in_(paper_ids))
    )
    found: dict[int, set[str]] = {}
    for paper_id, name in (await session.exec(query)).all():
        found.setdefault(paper_id, set()).add(name)
    return found


async def _note_counts(session: AsyncSession, *, guild_id: int, paper_ids: list[int]) -> dict[int, int]:
    query = (
        select(Note.paper_id, func.count())
        .where(Note.guild_id == guild_id, col(Note.paper_id).in_(paper_ids))
        .group_by(col(Note.paper_id))
    )
    return {paper_id: count for paper_id, count in (await session.exec(query)).all()}
