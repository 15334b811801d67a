"""Notes remember every message they were posted as, so an edit or a delete replaces or removes them all.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE, not a batch: rebuilding notes on SQLite would drop its full-text triggers and cascade
    # the delete of the old table to the notes' revisions and tags.
    op.add_column("notes", sa.Column("message_ids", sa.JSON(), server_default="[]", nullable=False))


def downgrade() -> None:
    # Plain ALTER TABLE (SQLite 3.35+): a batch rebuild of notes would drop its full-text triggers.
    op.execute("ALTER TABLE notes DROP COLUMN message_ids")
