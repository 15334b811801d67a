"""A note as Discord messages: at most three, then its start with the whole note attached as a file; taking back
every message a note was posted as; and a note's earlier versions, page by page."""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from typing import Any

import discord

from bot.interactions import NO_MENTIONS, answer
from bot.render import COLOUR, EMBED_TITLE, FIELD_VALUE, chunk_text, clip, note_embeds
from storage.models import NoteRevision
from storage.notes import NoteView

log = logging.getLogger(__name__)

MAX_MESSAGES = 3  # a longer note would drown the channel: its start is posted and the whole note attached
THREAD_ARCHIVED = 50083  # Discord's code: a message in an archived thread can be neither edited nor deleted


class NoteParts:
    """What a note is sent as: embeds grouped into messages and, for a long note, the whole note as a file."""

    def __init__(self, note: NoteView) -> None:
        self.note = note
        messages = note_embeds(note)
        self.attached = len(messages) > MAX_MESSAGES
        self.messages = messages[:1] if self.attached else messages
        self.filename = f"note-{note.id}.md"
        total = len(messages)
        self.content = (
            f"Note #{note.id} is long ({total} messages): here is its start, and the whole note is attached "
            f"as `{self.filename}`."
            if self.attached
            else None
        )

    def file(self) -> discord.File | None:
        """A fresh copy of the attachment (a File can be sent once), or None for a short note."""
        if not self.attached:
            return None
        return discord.File(io.BytesIO(note_markdown(self.note).encode()), filename=self.filename)


def note_markdown(note: NoteView) -> str:
    """The whole note as a Markdown document: the paper, who wrote it and when, its tags, then its text."""
    paper = note.paper
    lines = [f"# {paper.display_title}", "", f"<{paper.url}>" if paper.url else paper.key, ""]
    when = "undated" if note.undated else f"{note.created_at:%Y-%m-%d}"
    edited = f", edited {note.updated_at:%Y-%m-%d} (version {note.revision})" if note.revision > 1 else ""
    lines.append(f"Note #{note.id} by {note.author_name}, {when}{edited}")
    if note.tags:
        lines.append("Tags: " + ", ".join(note.tags))
    return "\n".join(lines) + "\n\n---\n\n" + note.body + "\n"


async def send_note(target: discord.abc.Messageable, note: NoteView) -> list[discord.Message]:
    """Post a note in a channel as at most three messages, in order (then its start and the whole note as a file)."""
    parts = NoteParts(note)
    sent = []
    for i, embeds in enumerate(parts.messages):
        file = parts.file() if i == 0 else None
        sent.append(
            await target.send(
                content=parts.content if i == 0 else None,
                embeds=embeds,
                file=file or discord.utils.MISSING,
                allowed_mentions=NO_MENTIONS,
            )
        )
    return sent


async def show_note(interaction: discord.Interaction, note: NoteView, *, view: discord.ui.View | None = None) -> None:
    """Show a note to the member alone, with the same limit; ``view`` goes under its last message."""
    parts = NoteParts(note)
    file = parts.file()
    last = len(parts.messages) - 1
    for i, embeds in enumerate(parts.messages):
        kwargs: dict[str, Any] = {
            "content": parts.content if i == 0 else None,
            "embeds": embeds,
            "ephemeral": True,
            "allowed_mentions": NO_MENTIONS,
            "view": view if view is not None and i == last else discord.utils.MISSING,
            "file": file if file is not None and i == 0 else discord.utils.MISSING,
        }
        if i == 0:
            await answer(interaction, **kwargs)
        else:
            await interaction.followup.send(**kwargs)


async def retract(client: discord.Client, note: NoteView) -> None:
    """Delete every message the note was posted as; one already gone is fine."""
    if not (note.channel_id and note.message_ids):
        return
    for message_id in note.message_ids:
        try:
            await delete_message(client, note.channel_id, message_id, guild_id=note.guild_id)
        except discord.NotFound:
            continue  # deleted by a moderator, or with its channel
        except discord.HTTPException as exc:
            log.info("guild=%s message %s of note %s not removed: %s", note.guild_id, message_id, note.id, exc)


async def delete_message(client: discord.Client, channel_id: int, message_id: int, *, guild_id: int) -> None:
    """Delete one of the bot's messages. One in an archived thread (a week without messages) is deleted once the
    thread is open again, as Discord's app does it; a locked thread, or one out of reach, raises as Discord said."""
    message = client.get_partial_messageable(channel_id, guild_id=guild_id).get_partial_message(message_id)
    try:
        await message.delete()
    except discord.HTTPException as exc:
        if exc.code != THREAD_ARCHIVED:
            raise
        thread = await client.fetch_channel(channel_id)
        if not isinstance(thread, discord.Thread) or thread.locked:
            raise
        await thread.edit(archived=False)
        await message.delete()


def _who(note: NoteView, member_id: int) -> str:
    return note.author_name if member_id == note.author_id else f"<@{member_id}>"


def history_pages(note: NoteView, revisions: Sequence[NoteRevision]) -> list[discord.Embed]:
    """Every earlier version of a note, newest first, each over as many pages as its text needs (none cut)."""
    by_number = {r.revision: r for r in revisions}
    pages: list[discord.Embed] = []
    for rev in sorted(revisions, key=lambda r: r.revision, reverse=True):
        # A row keeps who replaced that version; the one who wrote it is who replaced the version before it.
        before = by_number.get(rev.revision - 1)
        editor = before.editor_id if before is not None else note.author_id
        chunks = chunk_text(rev.body) or ["*(empty)*"]
        for part, chunk in enumerate(chunks, start=1):
            embed = discord.Embed(
                title=clip(f"Note #{note.id} · version {rev.revision} of {note.revision}", EMBED_TITLE),
                description=chunk,
                colour=COLOUR,
                timestamp=rev.written_at,
            )
            embed.set_author(name=clip(note.paper.display_title, 256))
            written = f"<t:{int(rev.written_at.timestamp())}:f> by {_who(note, editor)}"
            embed.add_field(name="Written", value=clip(written, FIELD_VALUE), inline=True)
            embed.add_field(name="Replaced", value=f"<t:{int(rev.replaced_at.timestamp())}:f>", inline=True)
            if rev.tags and part == 1:
                embed.add_field(
                    name="Tags", value=clip(" ".join(f"`{t}`" for t in rev.tags), FIELD_VALUE), inline=False
                )
            more = f" · part {part} of {len(chunks)}" if len(chunks) > 1 else ""
            embed.set_footer(text=f"Version {rev.revision}{more}")
            pages.append(embed)
    for number, embed in enumerate(pages, start=1):
        embed.set_footer(text=f"{embed.footer.text} · page {number} of {len(pages)}")
    return pages
