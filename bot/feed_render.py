"""How /feed looks in Discord: a source's preview, what following it starts with, and the server's feeds."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime

import discord

from bot.render import COLOUR, EMBED_TITLE, FIELD_VALUE, clip
from schedules.feed_formats import Listing
from schedules.source_check import Preview, PreviewRow
from storage.feeds.filters import keyword_terms
from storage.feeds.kinds import FeedKind
from storage.feeds.plans import POSTED_TYPES
from storage.feeds.polls import StuckPapers
from storage.feeds.sources import Source, shown_url
from storage.feeds.subscriptions import SubscriptionView

__all__ = [
    "added_embed",
    "filters_line",
    "list_embed",
    "preview_embed",
    "stuck_line",
    "subscription_block",
    "subscription_name",
]

PREVIEW_ITEMS = 20
LIST_PER_PAGE = 8
DESCRIPTION_ROOM = 3900  # of Discord's 4,096 per embed description, with room to spare
KIND_NAMES = {
    FeedKind.ARXIV_LISTING: "arXiv listing",
    FeedKind.ARXIV_QUERY: "arXiv search",
    FeedKind.WEB: "RSS/Atom feed",
}


# Text


def code(text: str, limit: int = 200) -> str:
    """``text`` as inline code, clipped, with no backtick that could end it early."""
    return f"`{clip(' '.join(text.split()).replace('`', 'ʹ'), limit)}`"


def plain(text: str, limit: int) -> str:
    """Text from a feed or a server, clipped and with markdown escaped (titles carry LaTeX like ``$x_i$``)."""
    return discord.utils.escape_markdown(clip(" ".join(text.split()), limit))


def when(moment: datetime | None, *, never: str = "never") -> str:
    """A Discord timestamp that each reader sees in their own time, relative (``3 hours ago``)."""
    return f"<t:{int(moment.timestamp())}:R>" if moment is not None else never


def filters_line(keywords: str | None, exclude: str | None) -> str:
    """The filters of a subscription, as a member reads them."""
    parts = []
    if keywords:
        parts.append(f"keywords {code(keywords, 150)}")
    if exclude:
        parts.append(f"exclude {code(exclude, 150)}")
    return "Filters: " + " · ".join(parts) if parts else "No filters: every new paper."


# Previews


_MARKS = {"post": "✅", "digest": "🗂️", "skip": "⏭️", "posted": "↩️"}
_ORDER = {"post": 0, "digest": 1, "posted": 2, "skip": 3}


def _item_line(row: PreviewRow) -> str:
    title = plain(row.item.title or row.item.key, 90).replace("[", "(").replace("]", ")")
    link = row.item.link if row.item.link.startswith(("http://", "https://")) else ""
    shown = f"[{title}]({link})" if link and len(link) < 300 and ")" not in link else title
    return f"{_MARKS[row.verdict]} {shown} — {plain(row.reason, 90)}"


def preview_embed(
    result: Preview, *, source: Source, mode: str, keywords: str | None, exclude: str | None
) -> discord.Embed:
    """The /feed test answer: totals, why papers were skipped, and the first items one by one."""
    total = len(result.rows)
    embed = discord.Embed(title=clip(f"Preview: {source.label}", EMBED_TITLE), colour=COLOUR)
    if mode == "digest":
        head = f"Would keep **{result.count('digest')}** of {total} papers for the digest (digest mode posts nothing)."
    else:
        head = f"Would post **{result.count('post')}** of {total} papers"
        head += (
            f"; {result.over_cap} over the per-poll cap of {result.max_posts} go to the digest."
            if result.over_cap
            else "."
        )
    lines = [head, filters_line(keywords, exclude)]
    skipped = Counter(row.reason for row in result.rows if row.verdict == "skip")
    if skipped:
        why = " · ".join(f"{count} × {plain(reason, 60)}" for reason, count in skipped.most_common(4))
        more = sum(skipped.values()) - sum(count for _, count in skipped.most_common(4))
        lines.append(f"Skipped: {why}" + (f" · {more} for other reasons" if more else ""))
    if (posted := result.count("posted")) > 0:
        lines.append(f"Already posted in this channel: {posted}.")
    if not total:
        lines.append(
            "The feed lists nothing right now"
            + (" (arXiv announces nothing on Saturday and Sunday)." if source.kind == FeedKind.ARXIV_LISTING else ".")
        )
    text = "\n".join(lines) + "\n"
    shown = 0
    # What would be posted first, then examples of the rest; each group in listing order.
    ordered = sorted(result.rows, key=lambda row: _ORDER[row.verdict])
    for row in ordered[:PREVIEW_ITEMS]:
        line = _item_line(row)
        if len(text) + len(line) + 1 > DESCRIPTION_ROOM:
            break
        text += "\n" + line
        shown += 1
    embed.description = text
    rest = total - shown
    footer = f"{shown} of {total} shown" + (f", {rest} more not shown" if rest else "") + ". Nothing was saved."
    footer += " A new subscription starts from now: it posts from the next listing on, not these."
    embed.set_footer(text=footer)
    return embed


# Replies


def added_embed(
    view: SubscriptionView, *, source: Source, listing: Listing, channel: discord.abc.GuildChannel, max_posts: int
) -> discord.Embed:
    """What /feed add set up: source, channel, filters, mode, and what was held back."""
    embed = discord.Embed(title=clip(f"Following {source.label}", EMBED_TITLE), colour=COLOUR)
    if view.mode == "post":
        lines = [f"New papers will be posted in {channel.mention}."]
    else:
        lines = [f"Digest mode: new papers are kept for the weekly digest; nothing is posted in {channel.mention}."]
    lines.append(filters_line(view.keywords, view.exclude))
    listed = len(listing.items)
    if listed:
        noun = "paper" if listed == 1 else "papers"
        lines.append(
            f"Held back: the {listed} {noun} listed right now were not posted, since a new subscription starts "
            "from now (the digest may still list them)."
        )
    elif view.feed.kind == FeedKind.ARXIV_LISTING:
        lines.append(
            "The listing is empty right now, which is normal: arXiv announces nothing on Saturday and Sunday. "
            "Papers come with the next announcement."
        )
    else:
        lines.append("The feed lists nothing right now; new items will come as they appear.")
    if listing.partial:
        lines.append("The feed was cut off part-way this time; only its complete items were read.")
    postable = sum(1 for item in listing.items if item.announce_type in POSTED_TYPES)
    if view.mode == "post" and not keyword_terms(view.keywords) and postable > max_posts:
        lines.append(
            f"💡 Busy days list more than {max_posts} new papers (this one {postable}): each check posts at most "
            f"{max_posts} here and the rest go to the digest. `keywords` narrow it down."
        )
    embed.description = "\n".join(lines)
    kind = KIND_NAMES.get(view.feed.kind, view.feed.kind)
    embed.add_field(name="Feed", value=clip(f"{kind} · {shown_url(view.feed.url)}", FIELD_VALUE), inline=False)
    embed.set_footer(text=f"Subscription #{view.id} · /feed list shows it · /feed pause or /feed remove to stop")
    return embed


def stuck_line(stuck: StuckPapers) -> str:
    """Papers whose send failed, waiting to be tried again: how many, since when, why, and the next try."""
    noun = "paper" if stuck.count == 1 else "papers"
    since = f"<t:{int(stuck.since.timestamp())}:f>"
    why = f" ({plain(stuck.reason, 200)})" if stuck.reason else ""
    again = when(stuck.retry_at, never="at the next check")
    return f"⚠️ {stuck.count} {noun} waiting to be posted since {since}{why}; trying again {again}"


def subscription_block(view: SubscriptionView, stuck: StuckPapers | None = None) -> str:
    """One subscription in /feed list: what, where, filters, health, papers stuck, and why it is paused."""
    mode = "posts each paper" if view.mode == "post" else "digest only"
    lines = [f"**#{view.id}** {code(shown_url(view.source), 120)} → <#{view.channel_id}> · {mode}"]
    if view.keywords or view.exclude:
        lines.append(filters_line(view.keywords, view.exclude))
    feed = view.feed
    delivered = f"Delivered {view.delivered}"
    if view.last_delivered_at is not None:
        delivered += f" (last {when(view.last_delivered_at)})"
    lines.append(f"{delivered} · last success: {when(feed.last_success_at, never='not fetched yet')}")
    if feed.last_error:
        streak = f" ({feed.failures} in a row)" if feed.failures > 1 else ""
        lines.append(f"⚠️ Last error{streak} {when(feed.last_fetch_at, never='')}: {plain(feed.last_error, 200)}")
    if stuck is not None and stuck.count > 0:
        lines.append(stuck_line(stuck))
    if view.paused:
        lines.append(f"⏸️ Paused: {plain(view.pause_reason or 'paused', 200)} · `/feed resume {view.id}`")
    if feed.stale:
        lines.append("🕸️ Stale: the listing has not changed for several weekdays; the source may be wrong or retired.")
    return "\n".join(lines)


def list_pages(views: Sequence[SubscriptionView], stuck: Mapping[int, StuckPapers] | None = None) -> list[str]:
    """Subscription blocks grouped into pages that fit an embed description: as many as fit, at most eight."""
    stuck = stuck or {}
    pages: list[str] = []
    current: list[str] = []
    # Each part of a block is clipped, so a block is far below a page; clipping it again keeps that true by
    # construction if a part ever grows, rather than leaving Discord to refuse the whole answer.
    for block in (clip(subscription_block(view, stuck.get(view.id)), DESCRIPTION_ROOM) for view in views):
        size = sum(len(b) + 2 for b in current) + len(block)
        if current and (len(current) >= LIST_PER_PAGE or size > DESCRIPTION_ROOM):
            pages.append("\n\n".join(current))
            current = []
        current.append(block)
    if current:
        pages.append("\n\n".join(current))
    return pages


def list_embed(
    views: Sequence[SubscriptionView], page: int, stuck: Mapping[int, StuckPapers] | None = None
) -> tuple[discord.Embed, int, int]:
    """One page of /feed list (``stuck``: papers waiting by subscription id); the page number is clamped."""
    embed = discord.Embed(title=f"Feeds in this server ({len(views)})", colour=COLOUR)
    if not views:
        embed.description = (
            "This server follows no feeds yet. Add one with `/feed add` and an arXiv category (`cs.LG`), "
            'an arXiv search (`ti:"model merging"`) or a feed address; `/feed test` previews first.'
        )
        return embed, 1, 1
    pages = list_pages(views, stuck)
    page = min(max(page, 1), len(pages))
    embed.description = pages[page - 1]
    embed.set_footer(text=f"Page {page} of {len(pages)} · /feed add to follow more · /feed test to preview")
    return embed, page, len(pages)


def subscription_name(view: SubscriptionView, guild: discord.Guild | None) -> str:
    """How autocomplete names a subscription: ``#3 cs.LG → #papers``."""
    channel = guild.get_channel(view.channel_id) if guild else None
    where = f"#{channel.name}" if channel is not None else "a deleted channel"
    paused = " (paused)" if view.paused else ""
    head = f"#{view.id} "
    tail = f" → {where}{paused}"
    return head + clip(" ".join(view.source.split()), max(10, 100 - len(head) - len(tail))) + tail
