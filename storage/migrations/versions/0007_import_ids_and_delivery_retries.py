"""Notes know the import that brought them (a half-applied import can be rolled back), and a feed delivery whose
send failed keeps its attempts and when to try again.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE on notes, not a batch: rebuilding notes on SQLite would drop its full-text triggers.
    op.add_column("notes", sa.Column("import_id", sa.Integer(), nullable=True))
    op.create_index(op.f("ix_notes_import_id"), "notes", ["import_id"], unique=False)
    op.add_column("deliveries", sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
    op.add_column("deliveries", sa.Column("retry_at", storage.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE (SQLite 3.35+): a batch rebuild of notes would drop its full-text triggers.
    op.execute("ALTER TABLE deliveries DROP COLUMN retry_at")
    op.execute("ALTER TABLE deliveries DROP COLUMN attempts")
    op.drop_index(op.f("ix_notes_import_id"), table_name="notes")
    op.execute("ALTER TABLE notes DROP COLUMN import_id")
