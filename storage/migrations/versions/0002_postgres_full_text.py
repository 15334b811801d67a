"""PostgreSQL's own full-text search: a tsvector per note and per paper, kept by the database, with GIN indexes.

On PostgreSQL only (SQLite has its FTS5 index from 0001, and nothing changes there):

- a text search configuration ``paperclub``: the English (Snowball) stemmer, with diacritics folded by the
  ``unaccent`` dictionary when the server has that extension (so "café" finds "cafe", as FTS5 does);
- ``notes.search_vector``: a stored generated column over the body;
- ``papers.search_vector``: a stored generated column, weighted: title A, authors B, abstract C;
- a GIN index on each.

Before the text reaches the parser, ASCII punctuation becomes spaces: like FTS5's unicode61 tokenizer, and
unlike PostgreSQL's parser, ``in-context``, ``2403.17887`` or ``x^2`` are then plain words side by side, which
is what the search's phrases look for. The columns are not in the models (nothing reads them but the search),
so ``storage.migrations.include_object`` leaves them out of autogenerate's comparison.

Revision ID: 0002
Revises: 0001
Created: 2026-11-23 04:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONFIG = "paperclub"
MADE_UNACCENT = "paperclub made the unaccent extension"  # the configuration's comment, read by the downgrade

# Written out here, not imported, so this revision stays what it was when the search changes.
_PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
_PUNCTUATION_SQL = "E'" + _PUNCTUATION.replace("\\", "\\\\").replace("'", "''") + "'"
_SPACES_SQL = "'" + " " * len(_PUNCTUATION) + "'"


def _words(column: str) -> str:
    return f"to_tsvector('{CONFIG}', translate({column}, {_PUNCTUATION_SQL}, {_SPACES_SQL}))"


NOTES_VECTOR = _words("body")
PAPERS_VECTOR = " || ".join(
    f"setweight({_words(column)}, '{weight}')"
    for column, weight in (("coalesce(title, '')", "A"), ("authors::jsonb::text", "B"), ("coalesce(abstract, '')", "C"))
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    had_unaccent = bind.execute(text("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'unaccent')")).scalar()
    if not had_unaccent:
        # Not every server ships it, nor lets every role install it: without it, search works but does not fold
        # diacritics. The block's own savepoint keeps a refusal from spoiling the migration's transaction.
        op.execute(
            """DO $$ BEGIN
                CREATE EXTENSION IF NOT EXISTS unaccent;
            EXCEPTION WHEN OTHERS THEN
                RAISE WARNING 'paperclub: no unaccent extension (%), so search will not fold diacritics', SQLERRM;
            END $$"""
        )
    unaccent = bind.execute(
        text(
            "SELECT quote_ident(n.nspname) || '.' || quote_ident(d.dictname) FROM pg_ts_dict AS d "
            "JOIN pg_namespace AS n ON n.oid = d.dictnamespace WHERE d.dictname = 'unaccent' LIMIT 1"
        )
    ).scalar()
    op.execute(f"CREATE TEXT SEARCH CONFIGURATION {CONFIG} (COPY = pg_catalog.english)")
    if unaccent:
        op.execute(
            f"ALTER TEXT SEARCH CONFIGURATION {CONFIG} "
            f"ALTER MAPPING FOR word, hword, hword_part WITH {unaccent}, english_stem"
        )
        op.execute(
            f"ALTER TEXT SEARCH CONFIGURATION {CONFIG} "
            f"ALTER MAPPING FOR numword, numhword, hword_numpart WITH {unaccent}, simple"
        )
        if not had_unaccent:
            op.execute(f"COMMENT ON TEXT SEARCH CONFIGURATION {CONFIG} IS '{MADE_UNACCENT}'")
    op.execute(f"ALTER TABLE notes ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ({NOTES_VECTOR}) STORED")
    op.execute(f"ALTER TABLE papers ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ({PAPERS_VECTOR}) STORED")
    op.execute("CREATE INDEX ix_notes_search_vector ON notes USING gin (search_vector)")
    op.execute("CREATE INDEX ix_papers_search_vector ON papers USING gin (search_vector)")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    made_unaccent = bind.execute(
        text(
            "SELECT obj_description(oid, 'pg_ts_config') = :made FROM pg_ts_config "
            "WHERE cfgname = :config AND pg_ts_config_is_visible(oid)"
        ),
        {"made": MADE_UNACCENT, "config": CONFIG},
    ).scalar()
    op.execute("DROP INDEX IF EXISTS ix_papers_search_vector")
    op.execute("DROP INDEX IF EXISTS ix_notes_search_vector")
    op.execute("ALTER TABLE papers DROP COLUMN IF EXISTS search_vector")
    op.execute("ALTER TABLE notes DROP COLUMN IF EXISTS search_vector")
    op.execute(f"DROP TEXT SEARCH CONFIGURATION IF EXISTS {CONFIG}")
    if made_unaccent:  # unless something else has come to use it since
        op.execute(
            """DO $$ BEGIN
                DROP EXTENSION IF EXISTS unaccent;
            EXCEPTION WHEN dependent_objects_still_exist THEN
                NULL;
            END $$"""
        )
