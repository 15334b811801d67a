"""A group's own settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from storage.db import Sessions
from storage.errors import ValidationError
from storage.models import GuildSettings


@dataclass(frozen=True, slots=True)
class GroupSettings:
    """A group's settings, detached from any session."""

    guild_id: int
    note_threads: bool
    link_cards: bool
    timezone: str
    session_role_id: int | None = None  # besides Manage Server, who may schedule, move and cancel reading sessions


def _view(row: GuildSettings) -> GroupSettings:
    return GroupSettings(
        guild_id=row.guild_id,
        note_threads=row.note_threads,
        link_cards=row.link_cards,
        timezone=row.timezone,
        session_role_id=row.session_role_id,
    )


class GroupSettingsService:
    """Reads and changes a group's settings; a group that never changed any has the defaults."""

    EDITABLE = frozenset({"note_threads", "link_cards", "session_role_id"})

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def get(self, guild_id: int) -> GroupSettings:
        """The group's settings."""
        async with self.sessions() as session:
            row = await session.get(GuildSettings, guild_id)
            return _view(row or GuildSettings(guild_id=guild_id))

    async def update(self, guild_id: int, **changes: Any) -> GroupSettings:
        """Change some of the group's settings."""
        unknown = set(changes) - self.EDITABLE
        if unknown:
            raise ValidationError(f"Unknown setting: {', '.join(sorted(unknown))}.")
        async with self.sessions() as session:
            row = await session.get(GuildSettings, guild_id)
            if row is None:
                row = GuildSettings(guild_id=guild_id)
                session.add(row)
            for name, value in changes.items():
                setattr(row, name, value)
            try:
                await session.commit()
            except IntegrityError:  # created by a concurrent change: apply ours on top
                await session.rollback()
                row = await session.get(GuildSettings, guild_id)
                assert row is not None
                for name, value in changes.items():
                    setattr(row, name, value)
                await session.commit()
            return _view(row)
