"""Full-text search over a group's notes and the papers it knows, behind one interface.

On SQLite the index is FTS5: external-content tables over ``notes`` and ``papers`` kept in step by triggers
(insert, edit, delete), with the porter stemmer over unicode61 (diacritics folded), which suits scientific
English. What members type never reaches FTS5 as syntax: :func:`fts_query` turns it into quoted terms.

On PostgreSQL it is the database's own: a generated ``search_vector`` (tsvector) column on ``notes`` and
``papers`` with a GIN index, in the text search configuration ``paperclub`` (English stemming, diacritics
folded); see migration 0002. Where the server has the ``rum`` extension, RUM indexes on the same columns
(migration 0009) rank the matches inside the index. The same quoted terms become a tsquery through
:func:`pg_tsquery`, every word a quoted lexeme, so what members type is never tsquery syntax there either.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, text
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
NOTE_SCORE = "bm25(notes_fts)"
PAPER_SCORE = "bm25(papers_fts, 8.0, 3.0, 1.0)"  # a word in a title counts for much more than one in an abstract

# PostgreSQL (migration 0002 makes the configuration and the columns).
TS_CONFIG = "paperclub"
PG_PAPER_WEIGHTS = "'{0.1, 0.125, 0.375, 1.0}'::real[]"  # D, C abstract, B authors, A title: PAPER_SCORE's 1:3:8
PG_RANK_NORMALIZATION = 1  # divide by 1 + log(length): a long text matches more words but is not more relevant
PG_HEADLINE = (
    f'StartSel="{HIT_START}", StopSel="{HIT_END}", MaxWords=24, MinWords=10, MaxFragments=2, FragmentDelimiter=" … "'
)
# Indexed as spaces (migration 0002), as FTS5's tokenizer does, so "2403.17887" is two words in the index.
PG_PUNCTUATION = string.punctuation
_TERM = re.compile(r'"([^"]*)"(\*?)')


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


def pg_lexeme(word: str) -> str:
    """A word as one quoted operand of ``to_tsquery``: whatever it holds is read as text, never as operators."""
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


def pg_tsquery(match: str) -> tuple[str, dict[str, str]]:
    """The SQL for the tsquery meaning what :func:`fts_query` wrote, and its parameters.

    Every term is required; a quoted term is a phrase (``phraseto_tsquery``); a term ending in ``*`` is a phrase
    whose last word is a prefix (``'word':*``), stemmed like the text, or taken as written if it is a stop word
    (``over*`` still finds "overfitting"). Member input only ever travels as bound parameters.
    """
    parts: list[str] = []
    params: dict[str, str] = {}
    for i, (phrase, star) in enumerate(_TERM.findall(match)):
        words = phrase.split()
        if not words:
            continue
        key = f"term{i}"
        if star:
            params[key] = " <-> ".join(pg_lexeme(word) for word in words) + ":*"
            stemmed = f"to_tsquery('{TS_CONFIG}', :{key})"
            parts.append(f"(CASE WHEN numnode({stemmed}) > 0 THEN {stemmed} ELSE to_tsquery('simple', :{key}) END)")
        else:
            params[key] = " ".join(words)
            parts.append(f"phraseto_tsquery('{TS_CONFIG}', :{key})")
    return " && ".join(parts) or "''::tsquery", params


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One result: a note, or a paper the group knows."""

    kind: str  # "note" or "paper"
    score: float  # lower is better (bm25; on PostgreSQL see pg_distance)
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
    """One page of results: the group's notes best first, then the papers it knows best first."""

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


def _note_filters(filters: SearchFilters, since: Any) -> tuple[list[str], dict[str, Any]]:
    """The conditions on ``notes AS n`` for the filters (``since`` as the database takes it), with parameters."""
    where: list[str] = []
    params: dict[str, Any] = {}
    if filters.author_id is not None:
        where.append("n.author_id = :author_id")
        params["author_id"] = filters.author_id
    if filters.since is not None:
        where.append("n.created_at >= :since")
        params["since"] = since
    if filters.tag is not None:
        where.append(
            "n.id IN (SELECT nt.note_id FROM note_tags nt JOIN tags t ON t.id = nt.tag_id "
            "WHERE t.guild_id = :guild_id AND (t.name = :tag OR t.name LIKE :tag_prefix ESCAPE '\\'))"
        )
        params["tag"] = filters.tag
        params["tag_prefix"] = filters.tag.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "/%"
    return where, params


class SqliteSearch:
    """FTS5 on SQLite."""

    async def notes(
        self, conn: AsyncConnection, *, guild_id: int, match: str, filters: SearchFilters, limit: int
    ) -> list[SearchHit]:
        """The group's notes matching ``match``, best first."""
        since = filters.since.strftime("%Y-%m-%d %H:%M:%S") if filters.since is not None else None
        narrowed, extra = _note_filters(filters, since)
        where = ["notes_fts MATCH :match", "n.guild_id = :guild_id", *narrowed]
        params: dict[str, Any] = {"match": match, "guild_id": guild_id, "limit": limit, **extra}
        select = f"""n.id, n.author_name, n.created_at, n.channel_id, n.message_id, p.id, p.key, p.title,
                   snippet(notes_fts, 0, '{HIT_START}', '{HIT_END}', '…', 24)"""
        source = "notes_fts CROSS JOIN notes AS n INDEXED BY ix_notes_guild_id ON n.id = notes_fts.rowid"
        shown = "JOIN papers AS p ON p.id = n.paper_id"
        # When every note on the instance is this group's (a bot for one group), scoring needs no look at the
        # notes at all; the details are read through the group's check either way.
        alone = not narrowed and await _sole_group(conn, guild_id)
        scored = ("notes_fts", "notes_fts MATCH :match") if alone else None
        rows = await _ranked(
            conn, "notes_fts", NOTE_SCORE, select, source, shown, " AND ".join(where), params, scored=scored
        )
        return [_note_hit(score, row) for score, row in rows]

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
    *,
    scored: tuple[str, str] | None = None,
) -> list[tuple[float, tuple[Any, ...]]]:
    """The best ``params["limit"]`` of all the group's matches by bm25, ties newest first, with their details.

    One pass scores every match of the group (FTS5 computes bm25 row by row, about a microsecond each, only for
    rows that pass the group's filters; SQLite keeps just the best few while sorting); a second query fetches
    the snippets, the other costly part, of just those, through ``source`` and ``where`` again. ``scored``, a
    FROM and WHERE of its own for the scoring pass, may leave out checks that cannot fail.
    """
    order = f"ORDER BY score, {table}.rowid DESC LIMIT :limit"
    scored_from, scored_where = scored or (source, where)
    scoring = f"SELECT {table}.rowid, {score} AS score FROM {scored_from} WHERE {scored_where} {order}"
    best = (await conn.execute(text(scoring), params)).all()
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


async def _sole_group(conn: AsyncConnection, guild_id: int) -> bool:
    """Whether every note on the instance is this group's: two seeks in the (group, id) index."""
    ends = "SELECT (SELECT min(guild_id) FROM notes), (SELECT max(guild_id) FROM notes)"
    row = (await conn.execute(text(ends))).one()
    return bool(row[0] == guild_id == row[1])


class PgSearch:
    """PostgreSQL's full-text search: the generated ``search_vector`` columns and their indexes.

    Like :class:`SqliteSearch`, the best of all the group's matches come first, ties newest first, and only the
    best few get a headline, the costly part. Where the RUM indexes are (migration 0009), the index hands the
    matches over best first by RUM's score (:func:`pg_distance`), so a common word costs little more than a rare
    one; without them, every match is scored with ``ts_rank_cd`` and sorted: an exact top too, by a different
    score, and slower on large groups.
    """

    async def notes(
        self, conn: AsyncConnection, *, guild_id: int, match: str, filters: SearchFilters, limit: int
    ) -> list[SearchHit]:
        """The group's notes matching ``match``, best first."""
        query = await pg_query(conn, match)
        if query is None:
            return []
        narrowed, extra = _note_filters(filters, _aware(filters.since))
        group = " AND ".join(["n.guild_id = :guild_id", *narrowed])
        params = {**extra, **query.params(), "guild_id": guild_id}
        best = await _pg_best(conn, "n", "notes AS n", group, params, query=query, limit=limit, paper=False)
        if not best:
            return []
        sql = f"""
            SELECT n.id, n.author_name, n.created_at, n.channel_id, n.message_id, p.id, p.key, p.title,
                   {_pg_headline("n.body")}
            FROM notes AS n JOIN papers AS p ON p.id = n.paper_id
            WHERE n.guild_id = :guild_id AND n.id = ANY(CAST(:ids AS bigint[]))"""
        details = {**_pg_headline_params(query.match), "guild_id": guild_id, "ids": list(best)}
        by_id = {row[0]: row for row in await conn.execute(text(sql), details)}
        return [_note_hit(distance, by_id[ident]) for ident, distance in best.items() if ident in by_id]

    async def papers(
        self, conn: AsyncConnection, *, guild_id: int, match: str, filters: SearchFilters, limit: int
    ) -> list[SearchHit]:
        """The papers the group knows matching ``match``, best first."""
        query = await pg_query(conn, match)
        if query is None:
            return []
        group = "gp.guild_id = :guild_id"  # the papers searched: the ones the group knows
        params: dict[str, Any] = {**query.params(), "guild_id": guild_id}
        if filters.since is not None:
            group += " AND gp.first_seen >= :since"
            params["since"] = _aware(filters.since)
        source = "guild_papers AS gp JOIN papers AS p ON p.id = gp.paper_id"
        best = await _pg_best(conn, "p", source, group, params, query=query, limit=limit, paper=True)
        if not best:
            return []
        # The headline reads the title, the authors as a list and the abstract, as one text.
        authors = (
            "CASE WHEN jsonb_typeof(p.authors::jsonb) = 'array' THEN "
            "array_to_string(ARRAY(SELECT jsonb_array_elements_text(p.authors::jsonb)), ', ') END"
        )
        sql = f"""
            SELECT p.id, p.key, p.title, {_pg_headline(f"concat_ws(' · ', p.title, {authors}, p.abstract)")}
            FROM papers AS p WHERE p.id = ANY(CAST(:ids AS bigint[]))"""
        details = {**_pg_headline_params(query.match), "ids": list(best)}
        by_id = {row[0]: row for row in await conn.execute(text(sql), details)}
        return [
            SearchHit(
                kind="paper",
                score=distance,
                paper_id=ident,
                paper_key=by_id[ident][1],
                paper_title=by_id[ident][2],
                snippet=by_id[ident][3],
            )
            for ident, distance in best.items()
            if ident in by_id
        ]


_OPERAND = re.compile(r"'((?:[^']|'')*)'(:\*)?")


@dataclass(frozen=True, slots=True)
class PgQuery:
    """A search as PostgreSQL runs it: the tsquery every result matches, and the one RUM ranks by.

    Inside the index, RUM's score is not always its ``<=>`` operator's: for a phrase, or for three words or more
    that must all be there, the index counts differently from the operator on the row. So the index ranks by any
    of the query's words (``'a' | 'b' | 'c':*``), which it counts as the operator does, while the match
    (``'a' <-> 'b' & 'c':*``) says which notes are results. One difference stays, prefixes: see
    :func:`pg_distance`.
    """

    match: str  # tsquery, as text
    ranking: str  # tsquery, as text: any of the match's words and prefixes
    words: tuple[str, ...]  # the ranking's whole words (lexemes)...
    prefixes: tuple[str, ...]  # ...and its prefixes

    @classmethod
    def of(cls, match: str) -> PgQuery:
        """The search for a tsquery, as text."""
        operands = dict.fromkeys(_OPERAND.findall(match))
        return cls(
            match=match,
            ranking=" | ".join(f"'{lexeme}'{star}" for lexeme, star in operands),
            words=tuple(lexeme.replace("''", "'") for lexeme, star in operands if not star),
            prefixes=tuple(lexeme.replace("''", "'") for lexeme, star in operands if star),
        )

    def params(self) -> dict[str, Any]:
        """The parameters :func:`pg_distance`'s SQL takes."""
        return {
            "query": self.match,
            "ranking": self.ranking,
            "words": list(self.words),
            "prefixes": list(self.prefixes),
        }


async def pg_query(conn: AsyncConnection, match: str) -> PgQuery | None:
    """The tsqueries for ``match``; None when every word is one the index leaves out (stop words)."""
    expression, params = pg_tsquery(match)
    query = str((await conn.execute(text(f"SELECT CAST({expression} AS text)"), params)).scalar_one() or "")
    return PgQuery.of(query) if query else None


# A row's tsvector as RUM's index reads it for a query with prefixes: every word that one of the prefixes matches
# written as that prefix, and none of the words the ranking does not ask for (they count for nothing). Unnesting a
# row costs, so only rows holding two words or more that prefixes match, the only ones it changes, are rewritten.
_JOINED = """CASE WHEN (SELECT count(*) FROM unnest(tsvector_to_array({vector})) AS l
                 WHERE l ^@ ANY(CAST(:prefixes AS text[]))) < 2 THEN {vector}
    ELSE (SELECT coalesce(string_agg(
              '''' || replace(replace(lexeme, '\\', '\\\\'), '''', '''''') || ''':' || positions, ' '), '')::tsvector
          FROM (SELECT coalesce((SELECT max(pre) FROM unnest(CAST(:prefixes AS text[])) AS pre
                                 WHERE u.lexeme ^@ pre), u.lexeme) AS lexeme,
                       string_agg(x.pos || x.w, ',' ORDER BY x.pos) AS positions
                FROM unnest({vector}) AS u(lexeme, positions, weights), unnest(u.positions, u.weights) AS x(pos, w)
                WHERE u.lexeme ^@ ANY(CAST(:prefixes AS text[])) OR u.lexeme = ANY(CAST(:words AS text[]))
                GROUP BY 1) AS joined) END"""


def pg_distance(vector: str, *, in_index: bool, paper: bool, joined: bool) -> str:
    """SQL for how far the tsvector ``vector`` is from a search (the parameters of :meth:`PgQuery.params`):
    lower is better.

    With the RUM indexes, RUM's score for the ranking query as the index computes it: one over a sum, for each of
    the query's words, of its occurrences' weights, the k-th occurrence of a word counting 1/k² (a word said again
    counts less and less), with PostgreSQL's default weights A 1, B 0.4, C 0.2, D 0.1 (the index takes no others:
    a word in a paper's title counts five times one in its abstract, one in its authors twice). The index takes
    all the words a prefix matches as one word; ``joined`` (the query has prefixes) has the row's tsvector read
    the same way.

    Without RUM: ``ts_rank_cd`` of the match query, with the papers' weights and the length normalisation, negated.
    """
    if not in_index:
        weights = f"{PG_PAPER_WEIGHTS}, " if paper else ""
        return f"-ts_rank_cd({weights}{vector}, CAST(:query AS tsquery), {PG_RANK_NORMALIZATION})"
    if joined:
        vector = f"({_JOINED.format(vector=vector)})"
    return f"{vector} <=> CAST(:ranking AS tsquery)"


async def _pg_best(
    conn: AsyncConnection,
    table: str,
    source: str,
    group: str,
    params: dict[str, Any],
    *,
    query: PgQuery,
    limit: int,
    paper: bool,
) -> dict[int, float]:
    """The ``limit`` best of the group's matches in ``source`` (``table`` the alias of the notes or papers), by
    id, with their distance: best first, ties newest first."""
    in_index = await pg_ranks_in_index(conn)
    joined = bool(query.prefixes)
    distance = pg_distance(f"{table}.search_vector", in_index=in_index, paper=paper, joined=joined)
    matches = (
        f"SELECT {table}.id, {distance} AS distance FROM {source} "
        f"WHERE {group} AND {table}.search_vector @@ CAST(:query AS tsquery)"
    )
    if not in_index:
        every = f"{matches} ORDER BY distance, {table}.id DESC LIMIT :limit"
        return {ident: score for ident, score in await conn.execute(text(every), {**params, "limit": limit})}
    # The index hands the matches over best first but ties in no set order: read on to the end of the tie at the
    # cut, then put those in order.
    order = f"{table}.search_vector <=> CAST(:ranking AS tsquery)"
    if not joined:  # the distances read are the index's: the database reads on through the tie itself
        ties = f"{matches} ORDER BY {order} FETCH FIRST (:limit) ROWS WITH TIES"
        rows = [(ident, score) for ident, score in await conn.execute(text(ties), {**params, "limit": limit})]
    else:  # the index's order, but a distance the database cannot see as the order's: read a window, and more
        window = 4 * limit + 16
        while True:
            ordered = text(f"{matches} ORDER BY {order} LIMIT :window")
            rows = [(ident, score) for ident, score in await conn.execute(ordered, {**params, "window": window})]
            if len(rows) < window or rows[-1][1] != rows[limit - 1][1]:
                break
            window *= 4
    return dict(sorted(rows, key=lambda row: (row[1], -row[0]))[:limit])


_RANKS_IN_INDEX: WeakKeyDictionary[Engine, bool] = WeakKeyDictionary()
# Whether rum's operator is at hand and both tables have a valid RUM index (migration 0009 makes them if it can).
_RUM_READY = """
    SELECT to_regoperator('<=>(tsvector,tsquery)') IS NOT NULL AND (
        SELECT count(DISTINCT i.indrelid) FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid
        JOIN pg_am AS a ON a.oid = c.relam
        WHERE a.amname = 'rum' AND i.indisvalid AND i.indrelid IN (to_regclass('notes'), to_regclass('papers'))
    ) = 2"""


async def pg_ranks_in_index(conn: AsyncConnection) -> bool:
    """Whether this PostgreSQL database ranks matches inside RUM indexes: asked once per engine, then remembered
    (the schema is settled by the migrations before anything searches)."""
    engine = conn.sync_engine
    known = _RANKS_IN_INDEX.get(engine)
    if known is None:
        known = bool((await conn.execute(text(_RUM_READY))).scalar())
        _RANKS_IN_INDEX[engine] = known
    return known


def _pg_headline(document: str) -> str:
    """SQL for the snippet of ``document`` with the matched words marked.

    PostgreSQL's parser reads "2403.17887" or "example.org" as one token, which the index (made from the text
    with punctuation as spaces) does not hold, so a note found by such words would show no marked word: those
    get the snippet of the text as the index read it.
    """
    marked = f"ts_headline('{TS_CONFIG}', {document}, CAST(:query AS tsquery), :headline)"
    words = f"regexp_replace(translate({document}, :punctuation, :spaces), ' {{2,}}', ' ', 'g')"
    as_indexed = f"ts_headline('{TS_CONFIG}', {words}, CAST(:query AS tsquery), :headline)"
    return (
        f"(SELECT CASE WHEN strpos(h.snippet, :hit) > 0 THEN h.snippet ELSE {as_indexed} END "
        f"FROM (SELECT {marked} AS snippet) AS h)"
    )


def _pg_headline_params(query: str) -> dict[str, str]:
    return {
        "query": query,
        "headline": PG_HEADLINE,
        "hit": HIT_START,
        "punctuation": PG_PUNCTUATION,
        "spaces": " " * len(PG_PUNCTUATION),
    }


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _note_hit(score: float, row: Sequence[Any]) -> SearchHit:
    """A note found: ``row`` holds the note's id, author, time, channel and message, then its paper's id, key and
    title, then the snippet (the order both backends' queries select them in)."""
    return SearchHit(
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
    if dialect == "postgresql":
        return PgSearch()
    raise RuntimeError(f"full-text search works on SQLite and PostgreSQL, not {dialect}")


class SearchService:
    """Ranked search over a group's notes and known papers: the group's notes first, then the papers it knows.

    The two kinds are scored differently (a title word in a paper counts eight times), so their scores are never
    compared: a page runs through the notes, best first, and goes on with the papers, best first, once the notes
    are all shown.
    """

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def search(
        self, *, guild_id: int, query: str, filters: SearchFilters | None = None, offset: int = 0, limit: int = 5
    ) -> SearchPage:
        """One page of results for what a member typed: notes best first, then papers best first."""
        filters = filters or SearchFilters()
        match = fts_query(query)
        want = offset + limit + 1  # one more than shown tells whether there is a next page

        async with self.sessions() as session:
            conn = await session.connection()
            backend = backend_for(conn.dialect.name)
            hits = await backend.notes(conn, guild_id=guild_id, match=match, filters=filters, limit=want)
            if len(hits) < want and not filters.notes_only:  # every note is in: papers fill the rest
                hits += await backend.papers(
                    conn, guild_id=guild_id, match=match, filters=filters, limit=want - len(hits)
                )
        return SearchPage(
            hits=tuple(hits[offset : offset + limit]), offset=offset, limit=limit, has_more=len(hits) > offset + limit
        )
