"""The group's rhythm: the reading queue and its votes, reading sessions with their reminders and the presenter
rotation, one discussion thread per paper, the notices of a paper's new versions, the role that may schedule
sessions, and when each paper's newest version was last asked of arXiv.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.models

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "presenter_rotation",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("member_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("member_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("joined_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_presented_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("guild_id", "member_id"),
    )
    op.create_table(
        "paper_threads",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("thread_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["paper_id"], ["papers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("guild_id", "paper_id"),
    )
    op.create_table(
        "queue_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("proposed_by", sa.BigInteger(), nullable=False),
        sa.Column("proposer_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("why", sa.Text(), nullable=True),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("removed_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("removed_by", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["paper_id"], ["papers.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("guild_id", "paper_id", name="uq_queue_entry_guild_paper"),
    )
    op.create_index("ix_queue_entries_guild_removed", "queue_entries", ["guild_id", "removed_at"], unique=False)
    op.create_index(op.f("ix_queue_entries_paper_id"), "queue_entries", ["paper_id"], unique=False)
    op.create_table(
        "reading_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("presenter_id", sa.BigInteger(), nullable=True),
        sa.Column("presenter_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("location", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("event_id", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["paper_id"], ["papers.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_reading_sessions_guild_starts", "reading_sessions", ["guild_id", "starts_at"], unique=False)
    op.create_index(op.f("ix_reading_sessions_paper_id"), "reading_sessions", ["paper_id"], unique=False)
    op.create_index(op.f("ix_reading_sessions_starts_at"), "reading_sessions", ["starts_at"], unique=False)
    op.create_table(
        "version_notices",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["paper_id"], ["papers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("guild_id", "paper_id", "version"),
    )
    op.create_table(
        "queue_votes",
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["queue_entries.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("entry_id", "member_id"),
    )
    op.create_index(op.f("ix_queue_votes_guild_id"), "queue_votes", ["guild_id"], unique=False)
    op.create_table(
        "session_reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("starts_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("claimed_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["session_id"], ["reading_sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_id", "kind", "starts_at", name="uq_session_reminder"),
    )
    op.create_index(op.f("ix_session_reminders_guild_id"), "session_reminders", ["guild_id"], unique=False)
    op.create_index(op.f("ix_session_reminders_session_id"), "session_reminders", ["session_id"], unique=False)
    op.create_index("ix_session_reminders_state", "session_reminders", ["state"], unique=False)
    op.add_column("guild_settings", sa.Column("session_role_id", sa.BigInteger(), nullable=True))
    op.add_column("papers", sa.Column("versions_checked_at", storage.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE (SQLite 3.35+): a batch rebuild of papers would drop its full-text triggers.
    op.execute("ALTER TABLE papers DROP COLUMN versions_checked_at")
    op.execute("ALTER TABLE guild_settings DROP COLUMN session_role_id")
    op.drop_index("ix_session_reminders_state", table_name="session_reminders")
    op.drop_index(op.f("ix_session_reminders_session_id"), table_name="session_reminders")
    op.drop_index(op.f("ix_session_reminders_guild_id"), table_name="session_reminders")
    op.drop_table("session_reminders")
    op.drop_index(op.f("ix_queue_votes_guild_id"), table_name="queue_votes")
    op.drop_table("queue_votes")
    op.drop_table("version_notices")
    op.drop_index(op.f("ix_reading_sessions_starts_at"), table_name="reading_sessions")
    op.drop_index(op.f("ix_reading_sessions_paper_id"), table_name="reading_sessions")
    op.drop_index("ix_reading_sessions_guild_starts", table_name="reading_sessions")
    op.drop_table("reading_sessions")
    op.drop_index(op.f("ix_queue_entries_paper_id"), table_name="queue_entries")
    op.drop_index("ix_queue_entries_guild_removed", table_name="queue_entries")
    op.drop_table("queue_entries")
    op.drop_table("paper_threads")
    op.drop_table("presenter_rotation")
