"""Reading sessions on Discord: reminders (the :class:`~schedules.reminders.ReminderPoster` adapter), the server's
scheduled event kept in step with the session, and the announcement edited when the session moves or is off."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

import discord

from bot.delivery import DiscordDeliverer
from bot.interactions import NO_MENTIONS
from bot.session_render import CHANNEL_MENTION, announcement_embed, event_description, event_name, reminder_embed
from storage.reading_sessions import SessionView

log = logging.getLogger(__name__)

EVENT_LENGTH = timedelta(hours=1)
EVENT_PERMISSION = "the **Create Events** or **Manage Events** permission"
NO_EVENT = f"I couldn't add it to the server's events: I need {EVENT_PERMISSION} for that."


class SessionPosts:
    """Posts reminders through the paced sender, and keeps a session's announcement and event in step."""

    def __init__(self, client: discord.Client, sender: DiscordDeliverer) -> None:
        self.client = client
        self.sender = sender

    # --- reminders (ReminderPoster) -------------------------------------------------------------------------

    async def remind(self, kind: str, session: SessionView) -> int:
        """Post the reminder in the session's channel; its message id (ChannelUnavailable when it can't)."""
        posted: list[int] = []

        async def record(message_id: int) -> None:
            posted.append(message_id)

        await self.sender.post_messages(session.channel_id, [[reminder_embed(kind, session)]], record)
        return posted[0]

    async def find_reminder(self, kind: str, session: SessionView, *, since: datetime) -> int | None:
        """The bot's message that is this reminder, posted in the session's channel since ``since``."""
        return await self.sender.find_message(
            session.channel_id, [reminder_embed(kind, session)], after=None, since=since
        )

    # --- the announcement -----------------------------------------------------------------------------------

    async def edit_announcement(self, session: SessionView) -> None:
        """Show the session as it is now in its announcement (a deleted announcement is left be)."""
        if session.message_id is None:
            return
        channel = self.client.get_channel(session.channel_id)
        if not isinstance(channel, discord.abc.Messageable):
            return
        try:
            await channel.get_partial_message(session.message_id).edit(  # type: ignore[attr-defined]
                embed=announcement_embed(session), allowed_mentions=NO_MENTIONS
            )
        except discord.HTTPException as exc:
            log.info("guild=%s could not edit session %s's announcement: %s", session.guild_id, session.id, exc)

    async def tell(self, session: SessionView, text: str) -> None:
        """A short line in the session's channel (a move, a cancellation); a channel gone or forbidden is skipped."""
        channel = self.client.get_channel(session.channel_id)
        if not isinstance(channel, discord.abc.Messageable):
            return
        try:
            await channel.send(text, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            log.info("guild=%s could not tell the channel about session %s: %s", session.guild_id, session.id, exc)

    # --- the server's scheduled event ----------------------------------------------------------------------

    def _guild(self, session: SessionView) -> discord.Guild | None:
        guild = self.client.get_guild(session.guild_id)
        me = guild.me if guild is not None else None
        if me is None:
            return None
        allowed = me.guild_permissions  # Create Events is enough for the events the bot made itself: all of its own
        if not (allowed.create_events or allowed.manage_events):
            return None
        return guild

    def _location(self, session: SessionView) -> str:
        """Plain text, as an event shows it: a channel named in ``where`` by its name."""
        if session.location:
            return CHANNEL_MENTION.sub(self._channel_name, session.location)[:100]
        channel = self.client.get_channel(session.channel_id)
        name = getattr(channel, "name", None)
        return f"#{name}"[:100] if name else "Discord"

    def _channel_name(self, mention: re.Match[str]) -> str:
        name = getattr(self.client.get_channel(int(mention[1])), "name", None)
        return f"#{name}" if name else mention[0]

    async def create_event(self, session: SessionView) -> int | None:
        """The server's scheduled event for the session (an external one, an hour long); None when the bot may
        not make events."""
        guild = self._guild(session)
        if guild is None:
            return None
        try:
            event = await guild.create_scheduled_event(
                name=event_name(session),
                start_time=session.starts_at,
                end_time=session.starts_at + EVENT_LENGTH,
                entity_type=discord.EntityType.external,
                privacy_level=discord.PrivacyLevel.guild_only,
                location=self._location(session),
                description=event_description(session),
            )
        except discord.HTTPException as exc:
            log.info("guild=%s could not make session %s's event: %s", session.guild_id, session.id, exc)
            return None
        return event.id

    async def move_event(self, session: SessionView) -> int | None:
        """Move the session's event to its new time, or make it again when it was deleted on Discord: the event's
        id; None when there is none or it could not be moved."""
        guild = self._guild(session)
        if guild is None or session.event_id is None:
            return None
        try:
            event = await guild.fetch_scheduled_event(session.event_id)
            await event.edit(
                start_time=session.starts_at,
                end_time=session.starts_at + EVENT_LENGTH,
                location=self._location(session),
            )
        except discord.NotFound:
            return await self.create_event(session)
        except discord.HTTPException as exc:
            log.info("guild=%s could not move session %s's event: %s", session.guild_id, session.id, exc)
            return None
        return event.id

    async def cancel_event(self, session: SessionView) -> bool:
        """Take the session's event off the server's calendar; False when there is none or it could not."""
        guild = self._guild(session)
        if guild is None or session.event_id is None:
            return False
        try:
            event = await guild.fetch_scheduled_event(session.event_id)
            await event.delete()
        except discord.NotFound:
            return True  # deleted on Discord already
        except discord.HTTPException as exc:
            log.info("guild=%s could not delete session %s's event: %s", session.guild_id, session.id, exc)
            return False
        return True
