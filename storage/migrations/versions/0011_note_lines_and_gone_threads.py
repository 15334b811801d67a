"""Notes remember the one line a channel got about them beside their paper's thread, so deleting a note takes its
line away too (or rewords it, when the line opened the thread); a paper's thread deleted on Discord is marked gone.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE, not a batch: rebuilding notes on SQLite would drop its full-text triggers and cascade
    # the delete of the old table to the notes' revisions and tags.
    op.add_column("notes", sa.Column("line_channel_id", sa.BigInteger(), nullable=True))
    op.add_column("notes", sa.Column("line_message_id", sa.BigInteger(), nullable=True))
    op.add_column("paper_threads", sa.Column("gone", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    op.execute("ALTER TABLE paper_threads DROP COLUMN gone")
    # Plain ALTER TABLE (SQLite 3.35+): a batch rebuild of notes would drop its full-text triggers.
    op.execute("ALTER TABLE notes DROP COLUMN line_message_id")
    op.execute("ALTER TABLE notes DROP COLUMN line_channel_id")
