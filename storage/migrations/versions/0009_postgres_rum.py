"""PostgreSQL: RUM indexes on the notes' and papers' ``search_vector``, so search ranks inside the index.

On PostgreSQL only (SQLite keeps its FTS5 index). The ``rum`` extension (postgrespro's RUM access method; Debian
packages ``postgresql-NN-rum``) keeps every word's positions in the index, so ``ORDER BY search_vector <=> query``
reads the best matches straight from the index instead of reading and scoring every matching row's tsvector.

Not every server has the extension, nor lets every role create it: then this revision makes nothing (a warning
says why) and search ranks every match without the index, exact but slower on large groups. The extension is
made inside the statement's own savepoint, so a refusal does not spoil the migration's transaction. The GIN
indexes of 0002 stay: they serve every other full-text match (/similar) and the search when ``rum`` is absent.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MADE_RUM = "paperclub made the rum extension"  # the extension's comment, read by the downgrade
INDEXES = {"notes": "ix_notes_search_rum", "papers": "ix_papers_search_rum"}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    had_rum = bind.execute(text("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'rum')")).scalar()
    if not had_rum:
        op.execute(
            """DO $$ BEGIN
                CREATE EXTENSION IF NOT EXISTS rum;
            EXCEPTION WHEN OTHERS THEN
                RAISE WARNING 'paperclub: no rum extension (%), so search ranks every match without an index', SQLERRM;
            END $$"""
        )
        if bind.execute(text("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'rum')")).scalar():
            op.execute(f"COMMENT ON EXTENSION rum IS '{MADE_RUM}'")
    opclass = bind.execute(  # wherever the extension lives, even outside the search path
        text(
            "SELECT quote_ident(n.nspname) || '.rum_tsvector_ops' FROM pg_opclass AS c "
            "JOIN pg_am AS a ON a.oid = c.opcmethod JOIN pg_namespace AS n ON n.oid = c.opcnamespace "
            "WHERE a.amname = 'rum' AND c.opcname = 'rum_tsvector_ops' LIMIT 1"
        )
    ).scalar()
    if opclass:
        for table, index in INDEXES.items():
            op.execute(f"CREATE INDEX {index} ON {table} USING rum (search_vector {opclass})")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    made_rum = bind.execute(
        text("SELECT obj_description(oid, 'pg_extension') = :made FROM pg_extension WHERE extname = 'rum'"),
        {"made": MADE_RUM},
    ).scalar()
    for index in INDEXES.values():
        op.execute(f"DROP INDEX IF EXISTS {index}")
    if made_rum:  # unless something else has come to use it since
        op.execute(
            """DO $$ BEGIN
                DROP EXTENSION IF EXISTS rum;
            EXCEPTION WHEN dependent_objects_still_exist THEN
                NULL;
            END $$"""
        )
