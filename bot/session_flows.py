"""The steps a reading session takes on Discord when a moderator schedules, moves or cancels it: the record, the
announcement, the server's event, and what the moderator is told."""

from __future__ import annotations

from datetime import UTC, datetime

import discord

from bot.interactions import NO_MENTIONS
from bot.session_post import EVENT_PERMISSION, NO_EVENT, SessionPosts
from bot.session_render import announcement_embed, cancelled_text, moved_text
from schedules.when import When
from storage.papers import PaperView
from storage.reading_sessions import Presenter, ReadingSessions


class SessionFlows:
    """Scheduling, moving and cancelling a session, each kept in step with its announcement and event."""

    def __init__(self, *, reading: ReadingSessions, posts: SessionPosts) -> None:
        self.reading = reading
        self.posts = posts

    async def schedule(
        self,
        interaction: discord.Interaction,
        paper: PaperView,
        *,
        when: When,
        timezone: str,
        presenter: Presenter | None,
        where: str | None,
    ) -> None:
        """Record the session, announce it in the channel (the command's public answer), put it on the server's
        events, and tell the moderator alone what could not be done or what became of the time."""
        assert interaction.guild_id is not None
        session = await self.reading.schedule(
            guild_id=interaction.guild_id,
            paper_id=paper.id,
            starts_at=when.instant,
            timezone=timezone,
            presenter=presenter,
            location=" ".join(where.split()) if where else None,
            channel_id=interaction.channel_id or 0,
            created_by=interaction.user.id,
            now=datetime.now(UTC),
        )
        message = await interaction.followup.send(
            embed=announcement_embed(session), allowed_mentions=NO_MENTIONS, wait=True
        )
        event_id = await self.posts.create_event(session)
        await self.reading.set_posts(
            guild_id=session.guild_id, session_id=session.id, message_id=message.id, event_id=event_id
        )
        notes = [when.note] if when.note else []
        if event_id is None:
            notes.append(NO_EVENT)
        if notes:
            await interaction.followup.send("\n".join(notes), ephemeral=True, allowed_mentions=NO_MENTIONS)

    async def move(self, *, guild_id: int, session_id: int, when: When) -> str:
        """Move the session; its announcement, channel, event and reminders follow. What the moderator is told."""
        moved = await self.reading.move(
            guild_id=guild_id, session_id=session_id, starts_at=when.instant, now=datetime.now(UTC)
        )
        await self.posts.edit_announcement(moved)
        await self.posts.tell(moved, moved_text(moved))
        lines = [f"Moved. {moved_text(moved)}"]
        if when.note:
            lines.append(when.note)
        if moved.event_id is not None:
            event_id = await self.posts.move_event(moved)
            if event_id is None:
                lines.append(
                    f"The server's event could not be moved: edit it by hand, or check I have {EVENT_PERMISSION}."
                )
            elif event_id != moved.event_id:  # deleted on Discord: made again
                await self.reading.set_posts(guild_id=guild_id, session_id=moved.id, event_id=event_id)
                lines.append("Its event was gone from the server's events: it is on them again.")
        elif (event_id := await self.posts.create_event(moved)) is not None:
            await self.reading.set_posts(guild_id=guild_id, session_id=moved.id, event_id=event_id)
            lines.append("It is on the server's events now.")
        return "\n".join(lines)

    async def cancel(self, *, guild_id: int, session_id: int) -> str:
        """Call the session off: its announcement and channel say so, its event goes, no reminders come. What the
        moderator is told."""
        cancelled = await self.reading.cancel(guild_id=guild_id, session_id=session_id, now=datetime.now(UTC))
        await self.posts.edit_announcement(cancelled)
        await self.posts.tell(cancelled, cancelled_text(cancelled))
        lines = [f"Cancelled. {cancelled_text(cancelled)}"]
        if cancelled.event_id is not None:
            if await self.posts.cancel_event(cancelled):
                await self.reading.forget_event(guild_id=guild_id, session_id=cancelled.id)
            else:
                lines.append("The server's event could not be removed: delete it by hand.")
        return "\n".join(lines)
