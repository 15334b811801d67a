"""The whole schema: notes, papers, tags, feeds, deliveries, digests.

Revision ID: 0001
Revises:
Created: 2026-11-23 01:21:48.690128
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.models

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite's full-text index (FTS5), kept in step with notes and papers by triggers. Written out here, not imported,
# so this revision stays what it was when later ones change the index. PostgreSQL gets its own in a later one.
SQLITE_FULL_TEXT = [
    """CREATE VIRTUAL TABLE IF NOT EXISTS notes_fts USING fts5(
        body, content='notes', content_rowid='id', tokenize='porter unicode61 remove_diacritics 2', prefix='2 3 4')""",
    """CREATE TRIGGER IF NOT EXISTS notes_fts_insert AFTER INSERT ON notes BEGIN
        INSERT INTO notes_fts(rowid, body) VALUES (new.id, new.body);
    END""",
    """CREATE TRIGGER IF NOT EXISTS notes_fts_delete AFTER DELETE ON notes BEGIN
        INSERT INTO notes_fts(notes_fts, rowid, body) VALUES ('delete', old.id, old.body);
    END""",
    """CREATE TRIGGER IF NOT EXISTS notes_fts_update AFTER UPDATE OF body ON notes BEGIN
        INSERT INTO notes_fts(notes_fts, rowid, body) VALUES ('delete', old.id, old.body);
        INSERT INTO notes_fts(rowid, body) VALUES (new.id, new.body);
    END""",
    """CREATE VIRTUAL TABLE IF NOT EXISTS papers_fts USING fts5(
        title, authors, abstract, content='papers', content_rowid='id', tokenize='porter unicode61 remove_diacritics 2', prefix='2 3 4')""",
    "DROP TRIGGER IF EXISTS papers_fts_insert",
    """CREATE TRIGGER IF NOT EXISTS papers_fts_known AFTER INSERT ON guild_papers
    WHEN (SELECT searchable FROM papers WHERE id = new.paper_id) = 0 BEGIN
        UPDATE papers SET searchable = 1 WHERE id = new.paper_id;
        INSERT INTO papers_fts(rowid, title, authors, abstract)
        SELECT id, title, authors, abstract FROM papers WHERE id = new.paper_id;
    END""",
    """CREATE TRIGGER IF NOT EXISTS papers_fts_delete AFTER DELETE ON papers WHEN old.searchable BEGIN
        INSERT INTO papers_fts(papers_fts, rowid, title, authors, abstract)
        VALUES ('delete', old.id, old.title, old.authors, old.abstract);
    END""",
    """CREATE TRIGGER IF NOT EXISTS papers_fts_update AFTER UPDATE OF title, authors, abstract ON papers
    WHEN old.searchable BEGIN
        INSERT INTO papers_fts(papers_fts, rowid, title, authors, abstract)
        VALUES ('delete', old.id, old.title, old.authors, old.abstract);
        INSERT INTO papers_fts(rowid, title, authors, abstract) VALUES (new.id, new.title, new.authors, new.abstract);
    END""",
]
SQLITE_FULL_TEXT_DROP = [
    "DROP TRIGGER IF EXISTS notes_fts_insert",
    "DROP TRIGGER IF EXISTS notes_fts_delete",
    "DROP TRIGGER IF EXISTS notes_fts_update",
    "DROP TRIGGER IF EXISTS papers_fts_known",
    "DROP TRIGGER IF EXISTS papers_fts_delete",
    "DROP TRIGGER IF EXISTS papers_fts_update",
    "DROP TABLE IF EXISTS notes_fts",
    "DROP TABLE IF EXISTS papers_fts",
]


def upgrade() -> None:
    op.create_table(
        "digest_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("period_start", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("period_end", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("message_ids", sa.JSON(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("trigger", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("guild_id", "period_start", name="uq_digest_run_guild_period"),
    )
    with op.batch_alter_table("digest_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_digest_runs_guild_id"), ["guild_id"], unique=False)

    op.create_table(
        "digest_schedules",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("time", sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
        sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("quiet_weeks", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("guild_id"),
    )
    op.create_table(
        "feeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("etag", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("last_modified", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("last_fetch_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("next_fetch_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("fingerprint_since", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feeds_next_fetch_at"), ["next_fetch_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_feeds_url"), ["url"], unique=True)

    op.create_table(
        "guild_settings",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("note_threads", sa.Boolean(), nullable=False),
        sa.Column("link_cards", sa.Boolean(), nullable=False),
        sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("guild_id"),
    )
    op.create_table(
        "papers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("authors", sa.JSON(), nullable=False),
        sa.Column("abstract", sa.Text(), nullable=True),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("published", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("doi", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("journal_ref", sa.Text(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("metadata_status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("metadata_attempts", sa.Integer(), nullable=False),
        sa.Column("metadata_checked_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("searchable", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("papers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_papers_key"), ["key"], unique=True)
        batch_op.create_index(batch_op.f("ix_papers_metadata_status"), ["metadata_status"], unique=False)

    op.create_table(
        "tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("guild_id", "name", name="uq_tag_guild_name"),
    )
    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tags_guild_id"), ["guild_id"], unique=False)

    op.create_table(
        "digest_picks",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("picked_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["paper_id"], ["papers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("guild_id", "paper_id"),
    )
    with op.batch_alter_table("digest_picks", schema=None) as batch_op:
        batch_op.create_index("ix_digest_picks_guild_picked", ["guild_id", "picked_at"], unique=False)

    op.create_table(
        "feed_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("announce_type", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("first_seen", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["feed_id"], ["feeds.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["paper_id"], ["papers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("feed_id", "paper_id", name="uq_feed_entry"),
    )
    with op.batch_alter_table("feed_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feed_entries_feed_id"), ["feed_id"], unique=False)
        batch_op.create_index("ix_feed_entries_feed_seen", ["feed_id", "first_seen"], unique=False)
        batch_op.create_index(batch_op.f("ix_feed_entries_first_seen"), ["first_seen"], unique=False)
        batch_op.create_index(batch_op.f("ix_feed_entries_paper_id"), ["paper_id"], unique=False)

    op.create_table(
        "guild_papers",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("first_seen", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["paper_id"], ["papers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("guild_id", "paper_id"),
    )
    with op.batch_alter_table("guild_papers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_guild_papers_paper_id"), ["paper_id"], unique=False)

    op.create_table(
        "notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.Column("author_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("thread_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["paper_id"], ["papers.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("guild_id", "paper_id", "author_id", name="uq_note_guild_paper_author"),
    )
    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.create_index("ix_notes_guild_author", ["guild_id", "author_id"], unique=False)
        batch_op.create_index("ix_notes_guild_created", ["guild_id", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_notes_paper_id"), ["paper_id"], unique=False)

    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("keywords", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("exclude", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("mode", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("pause_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered", sa.Integer(), nullable=False),
        sa.Column("last_delivered_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("seen_entry_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["feed_id"], ["feeds.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("guild_id", "channel_id", "feed_id", name="uq_subscription_channel_feed"),
    )
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subscriptions_feed_id"), ["feed_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_subscriptions_guild_id"), ["guild_id"], unique=False)

    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["paper_id"], ["papers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["subscription_id"], ["subscriptions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subscription_id", "paper_id", name="uq_delivery_subscription_paper"),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_deliveries_channel_paper", ["channel_id", "paper_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_deliveries_guild_id"), ["guild_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_deliveries_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_deliveries_subscription_id"), ["subscription_id"], unique=False)

    op.create_table(
        "note_revisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("note_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("editor_id", sa.BigInteger(), nullable=False),
        sa.Column("written_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("replaced_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["note_id"], ["notes.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("note_id", "revision", name="uq_revision_note_number"),
    )
    with op.batch_alter_table("note_revisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_note_revisions_guild_id"), ["guild_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_note_revisions_note_id"), ["note_id"], unique=False)

    op.create_table(
        "note_tags",
        sa.Column("note_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["note_id"], ["notes.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("note_id", "tag_id"),
    )
    with op.batch_alter_table("note_tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_note_tags_guild_id"), ["guild_id"], unique=False)
        batch_op.create_index("ix_note_tags_tag_note", ["tag_id", "note_id"], unique=False)

    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_FULL_TEXT:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_FULL_TEXT_DROP:
            op.execute(statement)
    with op.batch_alter_table("note_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_note_tags_tag_note")
        batch_op.drop_index(batch_op.f("ix_note_tags_guild_id"))

    op.drop_table("note_tags")
    with op.batch_alter_table("note_revisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_note_revisions_note_id"))
        batch_op.drop_index(batch_op.f("ix_note_revisions_guild_id"))

    op.drop_table("note_revisions")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deliveries_subscription_id"))
        batch_op.drop_index(batch_op.f("ix_deliveries_state"))
        batch_op.drop_index(batch_op.f("ix_deliveries_guild_id"))
        batch_op.drop_index("ix_deliveries_channel_paper")

    op.drop_table("deliveries")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subscriptions_guild_id"))
        batch_op.drop_index(batch_op.f("ix_subscriptions_feed_id"))

    op.drop_table("subscriptions")
    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notes_paper_id"))
        batch_op.drop_index("ix_notes_guild_created")
        batch_op.drop_index("ix_notes_guild_author")

    op.drop_table("notes")
    with op.batch_alter_table("guild_papers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_guild_papers_paper_id"))

    op.drop_table("guild_papers")
    with op.batch_alter_table("feed_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feed_entries_paper_id"))
        batch_op.drop_index(batch_op.f("ix_feed_entries_first_seen"))
        batch_op.drop_index("ix_feed_entries_feed_seen")
        batch_op.drop_index(batch_op.f("ix_feed_entries_feed_id"))

    op.drop_table("feed_entries")
    with op.batch_alter_table("digest_picks", schema=None) as batch_op:
        batch_op.drop_index("ix_digest_picks_guild_picked")

    op.drop_table("digest_picks")
    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tags_guild_id"))

    op.drop_table("tags")
    with op.batch_alter_table("papers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_papers_metadata_status"))
        batch_op.drop_index(batch_op.f("ix_papers_key"))

    op.drop_table("papers")
    op.drop_table("guild_settings")
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feeds_url"))
        batch_op.drop_index(batch_op.f("ix_feeds_next_fetch_at"))

    op.drop_table("feeds")
    op.drop_table("digest_schedules")
    with op.batch_alter_table("digest_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_digest_runs_guild_id"))

    op.drop_table("digest_runs")
