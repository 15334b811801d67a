"""A paper's one discussion thread in a group: where later notes, session announcements and new versions go."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import PaperThread


async def paper_thread(session: AsyncSession, *, guild_id: int, paper_id: int) -> PaperThread | None:
    """The group's thread on this paper, if it has one."""
    return await session.get(PaperThread, (guild_id, paper_id))
