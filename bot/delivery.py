"""Feed papers posted to channels: compact embeds, batched within Discord's limits, paced, each message recorded.

This is the Discord side of :mod:`schedules.poller`: :class:`DiscordDeliverer` implements its ``Deliverer``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import aiohttp
import cachetools
import discord

from bot.interactions import NO_MENTIONS
from bot.render import COLOUR, clip, pack, paper_title, people, plain, trim_sentences
from schedules.catch_up import CaughtUp
from schedules.poller import Batch, ChannelUnavailable, OnSent, SendFailed
from storage.feeds.polls import PlannedDelivery
from storage.locks import KeyedLocks
from storage.papers import PaperView

log = logging.getLogger(__name__)

ABSTRACT = 350  # characters of abstract on a card: about two sentences
AUTHORS = 200
CATEGORIES = 100
CONTENT = 2000  # Discord's limit for a message's text
FEED_MARK = "via /feed"  # ends every feed card's footer: how start-up recovery tells feed posts from other cards
HISTORY_LIMIT = 500  # messages read back per channel when checking what a stopped process had already posted
CLOCK_SKEW = timedelta(minutes=5)  # read history from a little before ``since``: our clock and Discord's may differ
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[\"'$\\])")
_HTTP_URL = re.compile(r"^https?://\S+$")


def abstract_preview(text: str, limit: int = ABSTRACT) -> str:
    """The first two sentences of an abstract, markdown escaped, within ``limit`` characters, marked when cut."""
    sentences = _SENTENCE_END.split(" ".join(text.split()))
    short = " ".join(sentences[:2])
    cut = len(sentences) > 2
    room = limit
    while True:
        if len(short) > room:
            shown = trim_sentences(short, room)
        else:
            shown = short + (" …" if cut and len(short) + 2 <= room else "")
        escaped = plain(shown)  # LaTeX like $x_i$ would turn italic, and a feed's [text](link) must stay text
        if len(escaped) <= limit or room <= 20:
            return escaped[:limit]
        room -= len(escaped) - limit


def paper_embed(paper: PaperView) -> discord.Embed:
    """One paper as a compact feed card: linked title, first authors, two sentences, categories."""
    url = paper.url if _HTTP_URL.match(paper.url) else None
    embed = discord.Embed(title=paper_title(paper), url=url, colour=COLOUR)
    lines = []
    if paper.authors:
        lines.append(f"*{people(paper.authors, AUTHORS)}*")
    if paper.abstract:
        lines.append(abstract_preview(paper.abstract))
    elif paper.pending:
        lines.append("arXiv hasn't sent this paper's details yet; the title opens its page.")
    if lines:
        embed.description = "\n".join(lines)
    categories = clip(" · ".join(paper.categories), CATEGORIES)
    embed.set_footer(text=f"{categories} · {FEED_MARK}" if categories else FEED_MARK)
    return embed


def held_back_line(held_back: Mapping[str, int]) -> str:
    """What waits for the digest because a feed listed more than one poll posts, and how to narrow it."""
    counts = sorted(((n, source) for source, n in held_back.items() if n > 0), key=lambda c: -c[0])
    if not counts:
        return ""

    def name(source: str) -> str:
        return "`" + clip(source.replace("`", "'"), 80) + "`"

    total = sum(n for n, _ in counts)
    noun = "paper" if total == 1 else "papers"
    if len(counts) == 1:
        head = f"…and {total} more new {noun} from {name(counts[0][1])}"
        hint = "Narrow this feed with keywords: `/feed remove` it and `/feed add … keywords:`."
    else:
        shown = ", ".join(f"{n} from {name(source)}" for n, source in counts[:5])
        others = f", {len(counts) - 5} other feeds" if len(counts) > 5 else ""
        head = f"…and {total} more new {noun} ({shown}{others})"
        hint = "Narrow these feeds with keywords: `/feed remove` them and `/feed add … keywords:`."
    return clip(f"{head}, kept for the weekly digest. {hint}", CONTENT)


def caught_up_line(note: CaughtUp) -> str:
    """The line closing a channel's papers from listing days a feed missed: how many, which days, and why."""

    def day(when: date) -> str:
        return f"{when:%a} {when.day} {when:%b}"

    days = day(note.first_day) if note.first_day == note.last_day else f"{day(note.first_day)} – {day(note.last_day)}"
    noun = "paper" if note.papers == 1 else "papers"
    source = clip(note.source.replace("`", "'"), 80)
    why = "the feed could not be read" if note.feed_failed else "the bot was offline"
    skipped = " Older days were skipped." if note.skipped else ""
    text = f"↻ Caught up: {note.papers} {noun} from {days} that the `{source}` feed missed while {why}.{skipped}"
    return clip(text, CONTENT)


class DiscordDeliverer:
    """Posts feed papers to channels, and finds what was posted when a stopped process left it unrecorded."""

    def __init__(
        self, client: discord.Client, *, pause: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.client = client
        self.pause = pause  # seconds between two messages to one channel
        self.clock = clock
        self._locks: KeyedLocks[int] = KeyedLocks()  # one channel's messages go one after another
        # channel id -> clock time the next message may go, forgotten once it has passed
        self._next_send: cachetools.TTLCache[int, float] = cachetools.TTLCache(math.inf, ttl=pause, timer=clock)

    async def deliver(self, batch: Batch, on_sent: OnSent) -> None:
        """Post the batch in order, awaiting ``on_sent(delivery ids, message id)`` after each message.

        Raises :class:`ChannelUnavailable` when the channel is gone or forbidden, and :class:`SendFailed` when
        Discord refused or could not be reached for now; messages already posted have been reported through
        ``on_sent`` by then.
        """
        note = held_back_line(batch.held_back)
        if not batch.papers and not note:
            return
        ids = iter([planned.id for planned, _ in batch.papers])
        # pack keeps the order, so each message's deliveries are the next ones in the batch
        cards = pack([paper_embed(paper) for _, paper in batch.papers])
        messages = [(embeds, [next(ids) for _ in embeds]) for embeds in cards] or [([], [])]
        async with self._locks[batch.channel_id]:
            with _for_now():
                channel = await self._channel(batch.channel_id)
            for i, (embeds, delivery_ids) in enumerate(messages):
                content = (note or None) if i == len(messages) - 1 else None
                with _for_now():
                    message = await self._send(batch.channel_id, channel, content, embeds)
                if delivery_ids:
                    await on_sent(delivery_ids, message.id)  # its own failures (the database) are not Discord's

    async def find_posted(
        self, channel_id: int, since: datetime, papers: Sequence[tuple[PlannedDelivery, PaperView]]
    ) -> dict[int, int]:
        """Which of these deliveries the bot already posted in the channel since ``since``: delivery id -> message id.

        Only the bot's own feed cards count (not members' links, link cards or notes about the same paper).
        Raises :class:`ChannelUnavailable` and :class:`SendFailed` like :meth:`deliver`.
        """
        wanted: dict[str, list[int]] = defaultdict(list)
        for planned, paper in papers:
            wanted[paper.url].append(planned.id)
        if not wanted:
            return {}
        assert self.client.user is not None, "the client is not logged in"
        me = self.client.user.id
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)  # the database keeps UTC without a zone
        after = discord.Object(id=discord.utils.time_snowflake(since - CLOCK_SKEW))
        found: dict[int, int] = {}
        with _for_now():
            channel = await self._channel(channel_id)
            try:
                async for message in channel.history(limit=HISTORY_LIMIT, after=after, oldest_first=True):
                    if message.author.id != me:
                        continue
                    for embed in message.embeds:
                        if embed.url in wanted and (embed.footer.text or "").endswith(FEED_MARK):
                            for delivery_id in wanted[embed.url]:
                                found.setdefault(delivery_id, message.id)
            except discord.HTTPException as exc:
                _raise_if_unavailable(exc, channel_id, channel, "read the history of")
                raise
        return found

    async def find_message(
        self, channel_id: int, embeds: Sequence[discord.Embed], *, after: int | None, since: datetime
    ) -> int | None:
        """The bot's own message in the channel whose embeds are exactly these (titles and texts, in order), posted
        after message ``after``, or since ``since`` when that is None: what a stopped process may have sent
        without recording it. None when there is none. Raises :class:`ChannelUnavailable` like :meth:`deliver`.
        """
        wanted = [_shown(embed) for embed in embeds]
        assert self.client.user is not None, "the client is not logged in"
        me = self.client.user.id
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)  # the database keeps UTC without a zone
        start = after if after is not None else discord.utils.time_snowflake(since - CLOCK_SKEW)
        channel = await self._channel(channel_id)
        try:
            async for message in channel.history(
                limit=HISTORY_LIMIT, after=discord.Object(id=start), oldest_first=True
            ):
                if message.author.id == me and [_shown(embed) for embed in message.embeds] == wanted:
                    return message.id
        except discord.HTTPException as exc:
            _raise_if_unavailable(exc, channel_id, channel, "read the history of")
            raise
        return None

    async def caught_up(self, note: CaughtUp) -> None:
        """Close a channel's caught-up papers with :func:`caught_up_line`, paced like the papers before it."""
        async with self._locks[note.channel_id]:
            channel = await self._channel(note.channel_id)
            await self._send(note.channel_id, channel, caught_up_line(note), [])

    async def post_messages(
        self, channel_id: int, messages: Sequence[list[discord.Embed]], on_posted: Callable[[int], Awaitable[None]]
    ) -> None:
        """Post messages of embeds in order, paced, awaiting ``on_posted(message id)`` after each.

        Raises :class:`ChannelUnavailable` when the channel is gone or forbidden.
        """
        async with self._locks[channel_id]:
            channel = await self._channel(channel_id)
            for embeds in messages:
                message = await self._send(channel_id, channel, None, embeds)
                await on_posted(message.id)

    async def _channel(self, channel_id: int) -> discord.abc.Messageable:
        channel = self.client.get_channel(channel_id)
        if channel is None:
            try:
                channel = await self.client.fetch_channel(channel_id)
            except discord.HTTPException as exc:
                _raise_if_unavailable(exc, channel_id, None, "see")
                raise
        if not isinstance(channel, discord.abc.Messageable):
            raise ChannelUnavailable(f"{_where(channel_id, channel)} is not a channel the bot can post in")
        return channel

    async def _send(
        self, channel_id: int, channel: discord.abc.Messageable, content: str | None, embeds: list[discord.Embed]
    ) -> discord.Message:
        wait = self._next_send.get(channel_id, 0.0) - self.clock()
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            return await channel.send(content, embeds=embeds, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            _raise_if_unavailable(exc, channel_id, channel, "post in")
            raise
        finally:
            self._next_send[channel_id] = self.clock() + self.pause


@contextmanager
def _for_now() -> Iterator[None]:
    """Discord refusing (a 5xx, after discord.py's own retries) or out of reach, as :class:`SendFailed` with a
    reason moderators can read; the papers are tried again later."""
    try:
        yield
    except discord.HTTPException as exc:
        raise SendFailed(f"Discord refused: HTTP {exc.status}") from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SendFailed("Discord could not be reached") from exc


def _shown(embed: discord.Embed) -> tuple[str, str, str]:
    """What tells one embed from another as members see it: title, text and footer."""
    return ((embed.title or "").strip(), (embed.description or "").strip(), (embed.footer.text or "").strip())


def _where(channel_id: int, channel: object) -> str:
    name = getattr(channel, "name", None)
    return f"#{name}" if name else f"<#{channel_id}>"


def _raise_if_unavailable(exc: discord.HTTPException, channel_id: int, channel: object, action: str) -> None:
    """Raise a 403/404 as :class:`ChannelUnavailable` with a member-readable reason; other failures are left be."""
    where = _where(channel_id, channel)
    if isinstance(exc, discord.NotFound):
        reason = "the channel was deleted"
    elif isinstance(exc, discord.Forbidden):
        if exc.code == 50001:  # Missing Access: the bot can no longer see the channel at all
            reason = f"the bot can no longer see {where}"
        elif exc.code == 50083:  # Thread is archived
            reason = f"{where} is an archived thread"
        else:
            reason = f"the bot may not {action} {where}"
    else:
        return  # a 5xx after discord.py's own retries, or a refused payload: not the channel's fault
    log.info("channel %s unavailable (%s %s): %s", channel_id, exc.status, exc.code, reason)
    raise ChannelUnavailable(reason) from exc
