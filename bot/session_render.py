"""How reading sessions look: the announcement, reminders, notices of a move or a cancellation, the upcoming list.

Times are Discord timestamps (``<t:unix:F>``, ``<t:unix:R>``), which every reader sees in their own time zone;
choices and the event's name are in the group's zone. Member text (where, names) is escaped and pings nobody.
"""

from __future__ import annotations

import re
from datetime import datetime

import discord

from bot.render import COLOUR, EMBED_TITLE, clip, fitting, md_link, plain
from schedules.digest_time import discord_timestamp
from storage.reading_sessions import Presenter, SessionView
from storage.time_zones import zone_or_utc

TITLE_CHARS = 200
DESCRIPTION = 4096  # Discord's limit on an embed's description
WHERE_CHARS = 100  # Discord's limit on an event's location
EVENT_NAME = 100  # Discord's limit on an event's name
REMINDER_WORDS = {"24h": "in 24 hours", "1h": "in one hour"}
OPEN = "open: `/session volunteer` joins the rotation"
CANCELLED_COLOUR = discord.Colour.dark_grey()


def when_text(moment: datetime) -> str:
    """``<t:…:F> (<t:…:R>)``: the date and time, and how far away, in each reader's own zone."""
    return f"{discord_timestamp(moment, 'F')} ({discord_timestamp(moment, 'R')})"


def presenter_text(presenter: Presenter | None) -> str:
    """The presenter as a mention (mentions are off wherever it is sent), or open."""
    return f"<@{presenter.member_id}>" if presenter is not None else OPEN


CHANNEL_MENTION = re.compile(r"<#([0-9]{15,20})>")  # a channel named in ``where`` (``#reading-room`` as typed)


def where_text(session: SessionView) -> str:
    """Where the group meets: the place given (channels named in it stay links, the rest is shown as typed), or
    the channel it was announced in."""
    if not session.location:
        return f"<#{session.channel_id}>"
    parts = CHANNEL_MENTION.split(clip(" ".join(session.location.split()), WHERE_CHARS))
    return "".join(f"<#{part}>" if n % 2 else plain(part) for n, part in enumerate(parts))  # odd: a channel's id


def paper_link(session: SessionView) -> str:
    """The paper's title, linked to its page."""
    return md_link(session.paper.display_title, session.paper.url, TITLE_CHARS)


def _lines(session: SessionView) -> list[str]:
    lines = [
        f"**When:** {when_text(session.starts_at)}",
        f"**Paper:** {paper_link(session)}",
        f"**Presenter:** {presenter_text(session.presenter)}",
        f"**Where:** {where_text(session)}",
    ]
    if session.thread_id is not None:
        lines.append(f"**Discussion:** <#{session.thread_id}>")
    return lines


def announcement_embed(session: SessionView) -> discord.Embed:
    """The session's announcement: when, the paper, the presenter, where; marked when cancelled."""
    title = clip(f"Reading session: {session.paper.display_title}", EMBED_TITLE)
    lines = _lines(session)
    if session.cancelled:
        title = clip(f"Cancelled: {session.paper.display_title}", EMBED_TITLE)
        lines[0] = f"~~{when_text(session.starts_at)}~~ **cancelled**"
    embed = discord.Embed(
        title=title, description="\n".join(lines), colour=CANCELLED_COLOUR if session.cancelled else COLOUR
    )
    embed.set_footer(text=f"Session {session.id} · reminders 24 h and 1 h before")
    return embed


def reminder_embed(kind: str, session: SessionView) -> discord.Embed:
    """A reminder, the same text every time it is built (a restart looks for it in the channel by its text)."""
    embed = discord.Embed(
        title=clip(f"⏰ Reading session {REMINDER_WORDS[kind]}: {session.paper.display_title}", EMBED_TITLE),
        description="\n".join(_lines(session)),
        colour=COLOUR,
    )
    embed.set_footer(text=f"Session {session.id} · {kind} reminder")
    return embed


def moved_text(session: SessionView) -> str:
    """Telling the channel a session moved."""
    return f"📅 The reading session on {paper_link(session)} moved to {when_text(session.starts_at)}."


def cancelled_text(session: SessionView) -> str:
    """Telling the channel a session is off."""
    return f"📅 The reading session on {paper_link(session)} on {discord_timestamp(session.starts_at)} is cancelled."


def upcoming_embed(sessions: list[SessionView]) -> discord.Embed:
    """The group's next sessions."""
    embed = discord.Embed(title="Upcoming reading sessions", colour=COLOUR)
    if not sessions:
        embed.description = "Nothing is scheduled. A moderator schedules one with `/session schedule`."
        return embed
    blocks = []
    for session in sessions:
        who = presenter_text(session.presenter)
        blocks.append(
            f"• {when_text(session.starts_at)} — {paper_link(session)}\n  presenter: {who} · {where_text(session)}"
        )
    shown = fitting(blocks, DESCRIPTION - 60, sep="\n")  # whole sessions (one always fits), and room to say more
    more = [f"…and {len(blocks) - shown} more: `/session move` lists them as you type."] if shown < len(blocks) else []
    embed.description = "\n".join(blocks[:shown] + more)
    return embed


def rotation_line(presenters: list[Presenter]) -> str:
    """The rotation in turn order, as names (not mentions)."""
    if not presenters:
        return "The rotation is empty."
    return "Rotation, next first: " + ", ".join(plain(clip(p.name, 80)) for p in presenters[:20])


def session_label(session: SessionView) -> str:
    """A session as an autocomplete choice: its local time in the group's zone and its paper, within 100 chars."""
    local = session.starts_at.astimezone(zone_or_utc(session.timezone))
    return clip(f"{local:%a %d %b %H:%M} · {session.paper.display_title}", 100)


def event_name(session: SessionView) -> str:
    """The Discord event's name."""
    return clip(f"Reading session: {session.paper.display_title}", EVENT_NAME)


def event_description(session: SessionView) -> str:
    """The Discord event's description: presenter and paper (plain text, within 1,000 characters)."""
    presenter = session.presenter.name if session.presenter else "open"
    return clip(f"Presenter: {presenter}\nPaper: {session.paper.url}", 1000)
