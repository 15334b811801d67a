"""How notes and papers look in Discord, within its limits, and never cut without saying so."""

from __future__ import annotations

import re

import discord

from storage.notes import NotePage, NoteView
from storage.papers import PaperView
from storage.text import first_line

COLOUR = discord.Colour(0x4F7CAC)
EMBED_TITLE = 256
EMBED_TOTAL = 6000
EMBEDS_PER_MESSAGE = 10
FIELD_VALUE = 1024
CHUNK = 2800  # two continuation embeds fit in one message
_FENCE = re.compile(r"^\s*(```+)(.*)$")


def clip(text: str, limit: int) -> str:
    """``text`` shortened to ``limit`` characters with an ellipsis, for titles and labels (not note bodies)."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def authors_line(authors: tuple[str, ...], *, shown: int = 4) -> str:
    """Authors, shortened past a few, with a count of the rest."""
    if not authors:
        return ""
    if len(authors) <= shown:
        return ", ".join(authors)
    return f"{', '.join(authors[:shown])} and {len(authors) - shown} more"


def _open_fence(text: str, fence: str | None) -> str | None:
    for line in text.split("\n"):
        m = _FENCE.match(line)
        if m:
            fence = None if fence else m[1] + m[2].strip()
    return fence


def _cut(text: str, room: int) -> tuple[int, int]:
    """Where to end a chunk of at most ``room`` characters, and how many separator characters to drop."""
    window = text[: room + 1]
    for sep, floor in (("\n\n", room // 2), ("\n", room // 3), (" ", room // 2)):
        at = window.rfind(sep, 0, room)
        if at >= floor:
            return at, len(sep)
    return room, 0


def chunk_text(text: str, limit: int = CHUNK) -> list[str]:
    """Split a note into pieces of at most ``limit`` characters, at paragraph or line breaks where possible.

    A code block cut in two is closed at the end of one piece and reopened at the start of the next, so
    markdown and LaTeX render the same as written. Only the separators at cuts are dropped.
    """
    pieces: list[str] = []
    fence: str | None = None
    rest = text
    while rest:
        prefix = f"{fence}\n" if fence else ""
        room = limit - len(prefix)
        if len(rest) <= room:
            pieces.append(prefix + rest)
            break
        at, drop = _cut(rest, room - 4)
        piece, rest = rest[:at], rest[at + drop :]
        fence_after = _open_fence(piece, fence)
        pieces.append(prefix + piece + ("\n```" if fence_after else ""))
        fence = fence_after
    return pieces


def embed_size(embed: discord.Embed) -> int:
    """Characters an embed counts against Discord's 6,000 per message."""
    size = len(embed.title or "") + len(embed.description or "")
    size += sum(len(f.name or "") + len(f.value or "") for f in embed.fields)
    size += len(embed.footer.text or "") + len(embed.author.name or "")
    return size


def pack(embeds: list[discord.Embed]) -> list[list[discord.Embed]]:
    """Embeds grouped into messages, in order, each within Discord's per-message limits."""
    messages: list[list[discord.Embed]] = []
    total = 0
    for embed in embeds:
        size = embed_size(embed)
        if not messages or len(messages[-1]) == EMBEDS_PER_MESSAGE or total + size > EMBED_TOTAL:
            messages.append([])
            total = 0
        messages[-1].append(embed)
        total += size
    return messages


def paper_title(paper: PaperView) -> str:
    """The paper's title for an embed, saying so while arXiv's details are pending."""
    if paper.pending:
        return clip(f"{paper.display_title} (details pending from arXiv)", EMBED_TITLE)
    return clip(paper.display_title, EMBED_TITLE)


def note_embeds(note: NoteView) -> list[list[discord.Embed]]:
    """A note as embeds grouped into messages: the paper and tags first, then the whole text."""
    chunks = chunk_text(note.body)
    head = discord.Embed(title=paper_title(note.paper), url=note.paper.url, colour=COLOUR, timestamp=note.created_at)
    head.set_author(name=clip(f"Note by {note.author_name}", 256))
    head.description = chunks[0]
    if note.paper.authors:
        head.add_field(name="Authors", value=clip(authors_line(note.paper.authors), FIELD_VALUE), inline=False)
    if note.tags:
        head.add_field(name="Tags", value=clip(" ".join(f"`{t}`" for t in note.tags), FIELD_VALUE), inline=False)
    edited = f" · edited (version {note.revision})" if note.revision > 1 else ""
    parts = f" · part 1 of {len(chunks)}" if len(chunks) > 1 else ""
    head.set_footer(text=f"Note #{note.id} · {note.paper.key}{edited}{parts}")
    embeds = [head]
    for i, chunk in enumerate(chunks[1:], start=2):
        more = discord.Embed(description=chunk, colour=COLOUR)
        more.set_footer(text=f"Note #{note.id} · part {i} of {len(chunks)}")
        embeds.append(more)
    return pack(embeds)


def note_list_embed(page: NotePage, *, heading: str) -> discord.Embed:
    """One page of a note listing."""
    embed = discord.Embed(title=clip(heading, EMBED_TITLE), colour=COLOUR)
    if not page.notes:
        embed.description = "No notes match. Try fewer filters, or add one with `/note add`."
        return embed
    lines = []
    for note in page.notes:
        tags = " ".join(f"`{t}`" for t in note.tags)
        link = f" · [message]({note.jump_url})" if note.jump_url else ""
        title = clip(note.paper.display_title, 120)
        lines.append(
            f"**#{note.id} [{title}]({note.paper.url})**\n"
            f"{note.author_name} · {note.created_at:%Y-%m-%d}{' · ' + tags if tags else ''}{link}\n"
            f"> {clip(first_line(note.body), 160)}"
        )
    embed.description = "\n\n".join(lines)
    embed.set_footer(text=f"Page {page.page} of {page.pages} · {page.total} notes · /note show <id> for the whole note")
    return embed
