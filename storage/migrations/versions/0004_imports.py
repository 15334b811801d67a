"""Imports: notes brought in from a group's documents (origin, status, undated), the imports themselves, the
title-only papers waiting for their arXiv match, and the aliases a resolved title leaves behind.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.models

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=True),
        sa.Column("file_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("shape", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("imports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_imports_guild_id"), ["guild_id"], unique=False)

    op.create_table(
        "paper_aliases",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["paper_id"], ["papers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("paper_aliases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_paper_aliases_paper_id"), ["paper_id"], unique=False)

    op.create_table(
        "title_lookups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("title_key", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("surnames", sa.JSON(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("resolved_key", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("checked_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["import_id"], ["imports.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("title_key"),
    )
    with op.batch_alter_table("title_lookups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_title_lookups_import_id"), ["import_id"], unique=False)
        batch_op.create_index("ix_title_lookups_state_guild", ["state", "guild_id"], unique=False)

    # Plain ALTER TABLE, not a batch: rebuilding notes on SQLite would drop its full-text triggers and cascade
    # the delete of the old table to the notes' revisions and tags.
    op.add_column(
        "notes",
        sa.Column("origin", sqlmodel.sql.sqltypes.AutoString(length=8), server_default="discord", nullable=False),
    )
    op.add_column(
        "notes", sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=8), server_default="done", nullable=False)
    )
    op.add_column("notes", sa.Column("undated", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    # Plain ALTER TABLE (SQLite 3.35+): a batch rebuild of notes would drop its full-text triggers.
    for column in ("undated", "status", "origin"):
        op.execute(f"ALTER TABLE notes DROP COLUMN {column}")

    with op.batch_alter_table("title_lookups", schema=None) as batch_op:
        batch_op.drop_index("ix_title_lookups_state_guild")
        batch_op.drop_index(batch_op.f("ix_title_lookups_import_id"))

    op.drop_table("title_lookups")
    with op.batch_alter_table("paper_aliases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_paper_aliases_paper_id"))

    op.drop_table("paper_aliases")
    with op.batch_alter_table("imports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_imports_guild_id"))

    op.drop_table("imports")
