"""Reading what a member typed or attached in a command's options: note and subscription numbers, dates, note
files."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import discord

from bot.render import clip
from storage.errors import UserFacingError, ValidationError
from storage.feeds.subscriptions import SubscriptionView
from storage.note_text import MAX_FILE_BYTES, decode_note_file, parse_tags


def parse_note_id(text: str) -> int:
    """A note id from what was typed or picked (``12``, ``#12``, or an autocomplete value)."""
    m = re.fullmatch(r"\s*#?(\d{1,18})\b.*", text or "", re.DOTALL)
    if not m:
        raise ValidationError("Pick a note from the list as you type, or give its number (`12` or `#12`).")
    return int(m[1])


def parse_since(text: str | None, *, now: datetime | None = None) -> datetime | None:
    """A start date from ``2025-01-31``, ``7d``, ``2w``, ``3m``, ``today`` or ``yesterday``."""
    if not text or not text.strip():
        return None
    value = text.strip().lower()
    now = now or datetime.now(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if value in ("today", "yesterday"):
        return today - timedelta(days=1 if value == "yesterday" else 0)
    if m := re.fullmatch(r"(\d{1,4})\s*(d|w|m|y)", value):
        days = int(m[1]) * {"d": 1, "w": 7, "m": 30, "y": 365}[m[2]]
        return now - timedelta(days=days)
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError:
        pass
    raise ValidationError(f"`{clip(text, 40)}` is not a date: use `2025-01-31`, or `7d`, `2w`, `3m` for “since”.")


def tag_filter(text: str | None) -> str | None:
    """The one tag a listing is filtered by (the first, when several are typed), or None."""
    tags = parse_tags(text)
    return tags[0] if tags else None


async def read_attachment(file: discord.Attachment) -> str:
    """The text of an attached note file, checked before and after download."""
    if file.size > MAX_FILE_BYTES:
        raise ValidationError(f"`{file.filename}` is {file.size / 1e6:.1f} MB; note files can be at most 1 MB.")
    try:
        data = await file.read()
    except discord.HTTPException as exc:
        raise UserFacingError(f"I couldn't download `{file.filename}` ({exc.status}). Attach it again.") from exc
    return decode_note_file(file.filename, data)


async def note_text(text: str | None, file: discord.Attachment | None) -> str:
    """A note's text from the ``text`` option and the attached file, in that order."""
    parts = [text] if text else []
    if file is not None:
        parts.append(await read_attachment(file))
    return "\n\n".join(parts)


_SUBSCRIPTION_ID = re.compile(r"\s*#?(\d{1,18})\b.*", re.DOTALL)


def parse_subscription_id(text: str, views: Sequence[SubscriptionView] = ()) -> int:
    """A subscription id from what was typed or picked (``3``, ``#3``, an autocomplete value, or its source)."""
    if (found := _SUBSCRIPTION_ID.fullmatch(text or "")) is not None:
        return int(found[1])
    wanted = " ".join((text or "").split()).lower()
    named = [view.id for view in views if view.source.lower() == wanted]
    if len(named) == 1:
        return named[0]
    raise ValidationError("Pick a subscription from the list as you type, or give its number (`3` or `#3`).")
