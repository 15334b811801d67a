"""Embeds as plain text, for commands that print what the bot would post."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import discord

_MARKDOWN = re.compile(
    r"(?P<code>`[^`\n]*`)"
    r"|\[(?P<text>(?:\\.|[^\\\]])*)\]\((?P<url>[^)\s]*)\)"
    r"|\\(?P<escaped>.)"
    r"|(?P<mark>\*\*|\*|__|~~|\|\|)",
    re.DOTALL,
)


def plain(markdown: str) -> str:
    """Discord markdown as plain text: links as ``text (url)``, emphasis dropped, escapes undone."""

    def replace(match: re.Match[str]) -> str:
        if match["code"] is not None:
            return match["code"]
        if match["url"] is not None:
            return f"{plain(match['text'])} ({match['url']})"
        if match["escaped"] is not None:
            return match["escaped"]
        return ""

    text = _MARKDOWN.sub(replace, markdown.replace("\u200b", ""))
    return re.sub(r"(?m)^> ", "    ", text)


def embed_text(embed: discord.Embed) -> str:
    """An embed as text: its title, description, fields and footer."""
    parts = []
    if embed.title:
        title = plain(embed.title)
        parts.append(f"{title}\n{'=' * min(len(title), 80)}")
    if embed.description:
        parts.append(plain(embed.description))
    for field in embed.fields:
        parts.append(f"{plain(field.name or '')}\n{plain(field.value or '')}")
    if embed.footer and embed.footer.text:
        parts.append(plain(embed.footer.text))
    return "\n\n".join(parts)
