"""A note in its paper's one discussion thread (the group's threads setting): the paper's first note opens the
thread, later notes go in it with one short line in the channel, and a thread that was deleted, or archived and
locked, is replaced by a new one."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Literal

import discord

from bot.interactions import NO_MENTIONS
from bot.note_posts import delete_message, send_note
from bot.render import deleted_note_line, note_line, thread_name
from storage.message_links import channel_url
from storage.notes import NoteView
from storage.paper_threads import PaperThreads

log = logging.getLogger(__name__)

ARCHIVE_AFTER: Literal[10080] = 10080  # minutes: a week without messages, Discord's longest auto-archive


@dataclass(frozen=True, slots=True)
class InThread:
    """A note posted in its paper's thread: its messages, and the thread."""

    messages: list[discord.Message]
    thread_id: int
    line: discord.Message | None = None  # the one line about it in the channel the member wrote from


class NoteThreads:
    """Posting notes in their papers' threads, through the bot's client."""

    def __init__(self, client: discord.Client, *, threads: PaperThreads) -> None:
        self.client = client
        self.threads = threads

    async def post(self, channel: discord.abc.Messageable, note: NoteView, *, announce: bool = True) -> InThread | None:
        """Post the note in its paper's thread, with one line about it in ``channel`` (``announce``; not when the
        member is in the thread). A paper without a thread (or whose thread is gone) gets one, opened from that
        line. None when no thread could be had: the caller posts the note in the channel instead.

        Two notes opening the paper's thread at the same moment: the thread recorded first stands, and the other
        note removes its own line and thread (nothing was posted in it yet) and goes in the standing one.
        """
        place = await self.threads.thread(guild_id=note.guild_id, paper_id=note.paper.id)
        if place is None or place.gone:
            return await self._open(channel, note, replacing=place.thread_id if place else None)
        sent = await self._send_in(place.thread_id, note)
        if sent is None:
            return await self._open(channel, note, replacing=place.thread_id)
        line = await self._say(channel, note, place.thread_id) if announce else None
        return InThread(messages=sent, thread_id=place.thread_id, line=line)

    async def _open(
        self, channel: discord.abc.Messageable, note: NoteView, *, replacing: int | None
    ) -> InThread | None:
        """The paper's thread, opened from the note's line in ``channel``, recorded (unless another note's thread was
        recorded first: then that one), and the note posted in it. Written in another paper's thread, the line and
        the thread go in the channel that thread hangs off."""
        if isinstance(channel, discord.Thread) and isinstance(channel.parent, discord.TextChannel):
            channel = channel.parent
        if not isinstance(channel, discord.TextChannel):
            return None  # a thread, a voice channel's chat: threads open from text channels
        line = None
        try:
            line = await channel.send(note_line(note, None), allowed_mentions=NO_MENTIONS)
            thread = await line.create_thread(name=thread_name(note.paper), auto_archive_duration=ARCHIVE_AFTER)
        except discord.HTTPException as exc:
            log.info("guild=%s no thread for paper %s in %s: %s", note.guild_id, note.paper.id, channel.id, exc)
            if line is not None:
                await self._drop(line.delete(), note, "line")
            return None
        standing = await self.threads.record(
            guild_id=note.guild_id,
            paper_id=note.paper.id,
            channel_id=channel.id,
            thread_id=thread.id,
            replacing=replacing,
        )
        if standing.thread_id != thread.id:  # another note on the paper opened its thread first: ours goes there
            await self._remove(thread, note)
            await self._drop(line.delete(), note, "line")
            sent = await self._send_in(standing.thread_id, note)
            if sent is None:
                return None
            said = await self._say(channel, note, standing.thread_id)
            return InThread(messages=sent, thread_id=standing.thread_id, line=said)
        sent = await send_note(thread, note)
        url = channel_url(note.guild_id, thread.id)
        await self._drop(line.edit(content=note_line(note, url), allowed_mentions=NO_MENTIONS), note, "link")
        return InThread(messages=sent, thread_id=thread.id, line=line)

    async def _say(self, channel: discord.abc.Messageable, note: NoteView, thread_id: int) -> discord.Message | None:
        """The one line in the channel about a note posted in the paper's thread (None when there is none)."""
        if getattr(channel, "id", None) == thread_id:
            return None  # the member is in the thread: the note itself is the news
        url = channel_url(note.guild_id, thread_id)
        try:
            return await channel.send(note_line(note, url), allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:  # the note is posted in the thread all the same
            log.info("guild=%s note %s: line not done: %s", note.guild_id, note.id, exc)
            return None

    async def forget(self, guild_id: int, thread_id: int) -> None:
        """A thread deleted on Discord: when it was a paper's thread, /paper links it no more and the next note on
        the paper opens a new one."""
        if await self.threads.forget(guild_id=guild_id, thread_id=thread_id):
            log.info("guild=%s paper thread %s was deleted", guild_id, thread_id)

    async def forget_channel(self, guild_id: int, channel_id: int) -> None:
        """A channel deleted on Discord: its papers' threads went with it (Discord tells of no thread deleted), so
        /paper links them no more and the papers' next notes open new ones."""
        if marked := await self.threads.forget_channel(guild_id=guild_id, channel_id=channel_id):
            log.info("guild=%s channel %s was deleted with %d paper threads", guild_id, channel_id, marked)

    async def take_back_line(self, note: NoteView) -> None:
        """The line about a deleted note goes; the line that opened the paper's thread stays, reworded, as the way
        into the thread (a thread's first message has the thread's id), while that thread is the paper's. One gone,
        or out of reach, is left be."""
        if note.line is None:
            return
        channel_id, message_id = note.line
        place = await self.threads.thread(guild_id=note.guild_id, paper_id=note.paper.id)
        if message_id == note.thread_id and place is not None and place.thread_id == message_id and not place.gone:
            # in the channel the thread hangs off, never in an archived thread
            message = self.client.get_partial_messageable(channel_id, guild_id=note.guild_id).get_partial_message(
                message_id
            )
            url = channel_url(note.guild_id, message_id)
            reworded = message.edit(content=deleted_note_line(note, url), allowed_mentions=NO_MENTIONS)
            await self._drop(reworded, note, "line reworded")
        else:
            taken = delete_message(self.client, channel_id, message_id, guild_id=note.guild_id)
            await self._drop(taken, note, "line taken back")

    async def _send_in(self, thread_id: int, note: NoteView) -> list[discord.Message] | None:
        """The note posted in an existing thread (one archived but not locked opens again); None when the thread
        is gone: deleted (404: marked so, linked no more even when no new thread can be opened), or locked or out of
        the bot's reach (403)."""
        thread = self.client.get_partial_messageable(
            thread_id, guild_id=note.guild_id, type=discord.ChannelType.public_thread
        )
        try:
            return await send_note(thread, note)
        except (discord.NotFound, discord.Forbidden) as exc:
            log.info("guild=%s thread %s of paper %s is gone: %s", note.guild_id, thread_id, note.paper.id, exc)
            if isinstance(exc, discord.NotFound):
                await self.threads.forget(guild_id=note.guild_id, thread_id=thread_id)
            return None

    async def _remove(self, thread: discord.Thread, note: NoteView) -> None:
        """Delete a thread that lost the race (nothing was posted in it); archive it when it can't be deleted."""
        try:
            await thread.delete()
        except discord.HTTPException as exc:
            log.info("guild=%s extra thread %s not deleted, archived instead: %s", note.guild_id, thread.id, exc)
            await self._drop(thread.edit(archived=True), note, "archive")

    @staticmethod
    async def _drop(step: Awaitable[object], note: NoteView, what: str) -> None:
        """A finishing step whose failure leaves the note posted: logged, not raised."""
        try:
            await step
        except discord.HTTPException as exc:
            log.info("guild=%s note %s: %s not done: %s", note.guild_id, note.id, what, exc)
