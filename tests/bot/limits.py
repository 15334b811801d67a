"""Discord's limits on what the bot sends, checked in one place, and the check that no masked link was planted."""

from __future__ import annotations

import re

import discord

from bot.render import embed_size

TITLE, DESCRIPTION, FIELD_NAME, FIELD_VALUE, FIELDS = 256, 4096, 256, 1024, 25
FOOTER, AUTHOR, EMBEDS, TOTAL, CONTENT = 2048, 256, 10, 6000, 2000
EVIL = "https://evil.example"
EVIL_TITLE = f"[Click me]({EVIL}) x"
_PLANTED = re.compile(r"(?<!\\)\]\(\s*<?" + re.escape(EVIL))  # "](https://evil" whose bracket is not escaped


def problems(messages: list[list[discord.Embed]], *, content: str | None = None) -> list[str]:
    """Every way these messages break Discord's limits; empty when Discord accepts them all."""
    found = []
    if content is not None and len(content) > CONTENT:
        found.append(f"content of {len(content)} characters")
    for m, message in enumerate(messages):
        if not 1 <= len(message) <= EMBEDS:
            found.append(f"message {m}: {len(message)} embeds")
        if sum(embed_size(e) for e in message) > TOTAL:
            found.append(f"message {m}: {sum(embed_size(e) for e in message)} characters across its embeds")
        for e, embed in enumerate(message):
            where = f"message {m} embed {e}"
            for what, text, limit in (
                ("title", embed.title, TITLE),
                ("description", embed.description, DESCRIPTION),
                ("footer", embed.footer.text, FOOTER),
                ("author", embed.author.name, AUTHOR),
            ):
                if len(text or "") > limit:
                    found.append(f"{where}: {what} of {len(text or '')} characters")
            if len(embed.fields) > FIELDS:
                found.append(f"{where}: {len(embed.fields)} fields")
            for f, field in enumerate(embed.fields):
                if not field.name or len(field.name) > FIELD_NAME:
                    found.append(f"{where} field {f}: name of {len(field.name or '')} characters")
                if not field.value or len(field.value) > FIELD_VALUE:
                    found.append(f"{where} field {f}: value of {len(field.value or '')} characters")
    return found


def assert_fits(messages: list[list[discord.Embed]], *, content: str | None = None) -> None:
    """Discord would accept every one of these messages."""
    assert messages
    assert problems(messages, content=content) == []


def markdown_of(messages: list[list[discord.Embed]]) -> str:
    """Every text Discord renders as markdown: descriptions and field values (titles and footers are plain)."""
    embeds = [e for message in messages for e in message]
    return "\n".join(part for e in embeds for part in (e.description or "", *(f.value or "" for f in e.fields)))


def assert_no_planted_link(text: str) -> None:
    """``EVIL_TITLE`` shows as text, never as a clickable masked link."""
    assert not _PLANTED.search(text), text
