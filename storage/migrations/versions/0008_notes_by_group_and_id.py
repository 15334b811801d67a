"""An index of notes by group and id, so search can tell whether a matching note is the group's without reading
the note itself: search ranks every match of what a member typed, not only the newest.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_notes_guild_id", "notes", ["guild_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_notes_guild_id", table_name="notes")
