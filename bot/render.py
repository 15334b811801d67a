"""How notes and papers look in Discord, within its limits, and never cut without saying so."""

from __future__ import annotations

import re

import discord

from storage.note_text import first_line
from storage.notes import NotePage, NoteView
from storage.papers import PaperView

COLOUR = discord.Colour(0x4F7CAC)
EMBED_TITLE = 256
EMBED_TOTAL = 6000
EMBEDS_PER_MESSAGE = 10
DESCRIPTION = 4096
FIELD_VALUE = 1024
FIELDS = 25  # fields in one embed
URL_CHARS = 1000  # longer links are not linked (the title still shows): one link must not crowd out a page
CHUNK = 2800  # two continuation embeds fit in one message
_FENCE = re.compile(r"^\s*(```+)(.*)$")
_OPEN, _CLOSE = "\ue000", "\ue001"  # brackets, set aside while the rest is escaped


def clip(text: str, limit: int) -> str:
    """``text`` shortened to ``limit`` characters with an ellipsis, for titles and labels (not note bodies)."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def plain(text: str) -> str:
    """Text from a paper, a feed or a member shown as written in markdown: no formatting, no masked link, no mention.

    Brackets are escaped (``escape_markdown`` leaves them, or escapes only the first of a link), so a title such as
    ``[Click me](https://evil)`` reads as typed and can never become a link.
    """
    text = text.replace(_OPEN, "").replace(_CLOSE, "")
    text = discord.utils.escape_mentions(text).replace("<@", "<\u200b@").replace("<#", "<\u200b#")
    text = discord.utils.escape_markdown(text.replace("[", _OPEN).replace("]", _CLOSE))
    return text.replace(_OPEN, "\\[").replace(_CLOSE, "\\]")  # no bare "](" is left: each is "\\]("


def link_label(text: str, limit: int) -> str:
    """Text for inside ``[…](url)``: on one line, shortened to ``limit`` before escaping (no escape cut in half)."""
    return plain(clip(" ".join(text.split()), limit)) or "(untitled)"


def safe_url(url: str) -> str | None:
    """A link target safe inside ``[text](…)``, or None when it is not a web link or too long to be worth one."""
    url = url.strip()
    if not url.startswith(("https://", "http://")) or len(url) > URL_CHARS:
        return None
    for char, code in (" ", "%20"), ("(", "%28"), (")", "%29"), ("<", "%3C"), (">", "%3E"):
        url = url.replace(char, code)
    return url


def md_link(label: str, url: str, limit: int) -> str:
    """``[label](url)`` with the label escaped; the label alone when the link can't be used safely."""
    text = link_label(label, limit)
    target = safe_url(url)
    return f"[{text}]({target})" if target else text


def fitting(blocks: list[str], room: int, *, sep: str = "\n\n") -> int:
    """How many of the leading ``blocks`` fit in ``room`` characters joined by ``sep`` (at least one, if any)."""
    used = 0
    for n, block in enumerate(blocks):
        used += len(block) + (len(sep) if n else 0)
        if used > room:
            return max(n, 1)
    return len(blocks)


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
    state = f" ({note.state_label})" if note.state_label else ""
    head.set_author(name=clip(f"Note by {note.author_name}{state}", 256))
    if note.undated:
        head.timestamp = None  # its document gave no date: no made-up one
    head.description = chunks[0]
    if note.paper.authors:
        head.add_field(name="Authors", value=people(note.paper.authors, FIELD_VALUE), inline=False)
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


def _note_item(note: NoteView) -> str:
    """One note of a listing: at most about 2,500 characters, whatever its paper, tags and author."""
    tags = " ".join(f"`{t}`" for t in note.tags)
    link = f" · [message]({note.jump_url})" if note.jump_url else ""
    when = "undated" if note.undated else f"{note.created_at:%Y-%m-%d}"
    state = f" · *{note.status.upper() if note.status == 'wip' else note.status}*" if note.status != "done" else ""
    return (
        f"**#{note.id} {md_link(note.paper.display_title, note.paper.url, 120)}**\n"
        f"{plain(clip(note.author_name, 100))} · {when}{state}{' · ' + tags if tags else ''}{link}\n"
        f"> {plain(clip(first_line(note.body), 160))}"  # an excerpt: cut markdown would spill into the next note
    )


def note_list_embed(page: NotePage, *, heading: str, number: int | None = None) -> tuple[discord.Embed, int]:
    """One page of a note listing holding as many of ``page.notes`` as fit, and how many that is.

    ``number`` is the page's number when earlier pages held fewer notes than ``page.limit``.
    """
    embed = discord.Embed(title=clip(heading, EMBED_TITLE), colour=COLOUR)
    if not page.notes:
        embed.description = "No notes match. Try fewer filters, or add one with `/note add`."
        return embed, 0
    items = [_note_item(note) for note in page.notes]
    shown = fitting(items, DESCRIPTION)
    embed.description = "\n\n".join(items[:shown])
    number = number or page.page
    last = page.offset + shown
    pages = number + -(-max(page.total - last, 0) // max(page.limit, 1))  # a guess past this page: they adapt too
    embed.set_footer(
        text=f"Page {number} of {pages} · {page.total} notes, {page.offset + 1}–{last} here · "
        "/note show <id> for the whole note"
    )
    return embed, shown


def trim_sentences(text: str, limit: int) -> str:
    """``text`` cut after the last whole sentence that fits in ``limit`` characters, marked when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    window = text[: limit - 2]
    end = max(window.rfind(". "), window.rfind("? "), window.rfind("! "))
    return (window[: end + 1] if end >= limit // 3 else window.rsplit(" ", 1)[0]) + " …"


def plain_sentences(text: str, limit: int) -> str:
    """``text`` escaped with :func:`plain` and cut after whole sentences so that the escaped text fits ``limit``."""
    room = limit
    while True:
        shown = plain(trim_sentences(text, room))
        if len(shown) <= limit or room <= 20:
            return shown if len(shown) <= limit else clip(plain(clip(text, max(limit // 3, 1))), limit)
        room -= max(len(shown) - limit, 1)


def people(names: tuple[str, ...], limit: int, *, shown: int = 4) -> str:
    """Authors for markdown: the first few, escaped, each shortened, with a count of the rest."""
    return clip(authors_line(tuple(plain(clip(name, 100)) for name in names), shown=shown), limit)


def paper_links(paper: PaperView) -> str:
    """Where to read the paper: abstract page, PDF and HTML for arXiv papers; the link itself otherwise."""
    ident = paper.arxiv_id
    if ident is None:
        url = safe_url(paper.url)
        return f"[Open]({url})" if url else "The link is too long to show here; the title opens it."
    return (
        f"[Abstract](https://arxiv.org/abs/{ident}) · [PDF](https://arxiv.org/pdf/{ident}) · "
        f"[HTML](https://arxiv.org/html/{ident})"
    )


def notes_command(paper: PaperView) -> str:
    """The ``/notes`` command, as inline code, that lists the group's notes on the paper."""
    ident = clip(paper.key.split(":", 1)[1].replace("`", "'"), 100)
    return f"`/notes paper:{ident}`"


def paper_card(paper: PaperView, notes: NotePage, *, thread: str | None = None) -> discord.Embed:
    """A paper with what the group wrote about it, and a link to its discussion ``thread`` when it has one; every
    text from arXiv, a feed or a member escaped."""
    embed = discord.Embed(title=paper_title(paper), url=safe_url(paper.url), colour=COLOUR)
    if paper.abstract:
        embed.description = plain_sentences(paper.abstract, 900)
    elif paper.pending:
        embed.description = "arXiv hasn't answered yet; the details will be filled in shortly."
    if paper.authors:
        embed.add_field(name=f"Authors ({len(paper.authors)})", value=people(paper.authors, 600))
    if paper.categories:
        embed.add_field(name="Categories", value=clip(plain(", ".join(paper.categories)), 300))
    if paper.published:
        dates = f"{paper.published:%Y-%m-%d}"
        if paper.updated and paper.updated.date() != paper.published.date():
            dates += f" (updated {paper.updated:%Y-%m-%d})"
        embed.add_field(name="Published", value=dates)
    embed.add_field(name="Read it", value=paper_links(paper), inline=False)
    if notes.notes:
        more_hint = notes_command(paper)
        lines: list[str] = []
        for note in notes.notes:
            tags = " " + " ".join(f"`{t}`" for t in note.tags) if note.tags else ""
            link = f" · [message]({note.jump_url})" if note.jump_url else ""
            line = (
                f"**{plain(clip(note.author_name, 60))}** · {note.created_at:%Y-%m-%d}{tags}{link} · #{note.id}\n"
                f"> {plain(clip(first_line(note.body), 120))}"
            )
            if sum(len(x) + 1 for x in lines) + len(line) + 160 > FIELD_VALUE:  # keep room for the "more" line
                break
            lines.append(line)
        if notes.total > len(lines):
            lines.append(f"…and {notes.total - len(lines)} more: {more_hint}")
        noun = "note" if notes.total == 1 else "notes"
        embed.add_field(name=f"The group's {noun} ({notes.total})", value="\n".join(lines), inline=False)
    else:
        embed.add_field(name="The group's notes", value="Nobody here has noted it yet.", inline=False)
    if thread:
        embed.add_field(name="Discussion", value=f"💬 [The group's thread on it]({thread})", inline=False)
    embed.set_footer(text=clip(paper.key, 300))
    return embed


def bold_hits(snippet: str, *, start: str, end: str, limit: int = 300) -> str:
    """A search snippet on one line, markdown escaped, matched words in bold."""
    flat = plain(" ".join(snippet.split()))
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
        if flat.count(start) > flat.count(end):
            flat += end
    return flat.replace(start, "**").replace(end, "**")


def note_line(note: NoteView, url: str | None) -> str:
    """The one line a channel gets when a note is posted in its paper's thread: who, which paper, and a link to
    the thread (not to the note's message, which an edit replaces)."""
    where = f" → {url}" if url else ""
    return (
        f"📝 **{link_label(note.author_name, 80)}** added a note on **{link_label(note.paper.display_title, 200)}**"
        f"{where}"
    )


def deleted_note_line(note: NoteView, url: str) -> str:
    """What the line that opened a paper's thread says once the note it announced is deleted: the way into the
    thread, which stays."""
    return f"📝 A note on **{link_label(note.paper.display_title, 200)}** was deleted; the paper's thread → {url}"


def thread_name(paper: PaperView) -> str:
    """A paper's thread is named after it: on one line, within Discord's 100 characters."""
    return clip(" ".join(paper.display_title.split()), 100) or paper.key[:100]
