"""/feed add, list, test, pause, resume and remove: following arXiv categories, searches and RSS feeds."""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime

import discord
from discord import app_commands
from discord.ext import commands

from bot.channels import check_can_post, target_channel
from bot.interactions import MODERATORS_ONLY, NO_MENTIONS, MemberCooldown, guild_of
from bot.render import COLOUR, EMBED_TITLE, FIELD_VALUE, clip
from bot.views import send_pages
from schedules.feed_formats import Listing
from schedules.source_check import Preview, PreviewRow, SourceChecker
from storage.errors import NotFoundError, ValidationError
from storage.feeds.filters import keyword_terms
from storage.feeds.plans import POSTED_TYPES
from storage.feeds.polls import PollRecords, StuckPapers
from storage.feeds.sources import Source, shown_url
from storage.feeds.subscriptions import MAX_FILTER_CHARS, SubscriptionService, SubscriptionView
from storage.models import FeedKind

__all__ = [
    "Feeds",
    "added_embed",
    "list_embed",
    "parse_subscription_id",
    "preview_embed",
    "stuck_line",
    "subscription_block",
]

FEED_TESTS_PER_MINUTE = 10  # per member: each /feed test fetches its source once, and arXiv takes one request per 3 s
PREVIEW_ITEMS = 20
LIST_PER_PAGE = 8
DESCRIPTION_ROOM = 3900  # of Discord's 4,096 per embed description, with room to spare
KIND_NAMES = {
    FeedKind.ARXIV_LISTING: "arXiv listing",
    FeedKind.ARXIV_QUERY: "arXiv search",
    FeedKind.WEB: "RSS/Atom feed",
}
MODE_CHOICES = [
    app_commands.Choice(name="post: each new paper in the channel", value="post"),
    app_commands.Choice(name="digest: keep papers for the weekly digest only", value="digest"),
]
_SUBSCRIPTION_ID = re.compile(r"\s*#?(\d{1,18})\b.*", re.DOTALL)


# Text helpers


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


def parse_subscription_id(text: str, views: Sequence[SubscriptionView] = ()) -> int:
    """A subscription id from what was typed or picked (``3``, ``#3``, an autocomplete value, or its source)."""
    if (found := _SUBSCRIPTION_ID.fullmatch(text or "")) is not None:
        return int(found[1])
    wanted = " ".join((text or "").split()).lower()
    named = [view.id for view in views if view.source.lower() == wanted]
    if len(named) == 1:
        return named[0]
    raise ValidationError("Pick a subscription from the list as you type, or give its number (`3` or `#3`).")


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


# The cog


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class Feeds(commands.GroupCog, group_name="feed", group_description="Follow arXiv categories, searches and RSS feeds"):
    """Moderators' feeds: what the server follows, where it is posted, and how each feed is doing."""

    def __init__(
        self, bot: commands.Bot, *, feeds: SubscriptionService, polls: PollRecords, sources: SourceChecker
    ) -> None:
        super().__init__()
        self.bot = bot
        self.feeds = feeds
        self.polls = polls
        self.sources = sources  # fetches and reads a source for /feed add and /feed test
        self.test_cooldown = MemberCooldown(FEED_TESTS_PER_MINUTE, 60.0)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Back up the default permission: only members with Manage Server manage feeds."""
        if not interaction.permissions.manage_guild:
            raise app_commands.MissingPermissions(["manage_guild"])
        return True

    async def find(self, guild_id: int, text: str) -> SubscriptionView:
        """The group's subscription a member picked or typed."""
        views = await self.feeds.list(guild_id=guild_id)
        wanted = parse_subscription_id(text, views)
        for view in views:
            if view.id == wanted:
                return view
        raise NotFoundError(f"There is no subscription #{wanted} in this server. See `/feed list`.")

    # --- /feed add -------------------------------------------------------------------------------------------

    @app_commands.command(name="add", description="Follow an arXiv category, an arXiv search or an RSS/Atom feed")
    @app_commands.describe(
        source='cs.LG, cs.LG+cs.CL, an arXiv search like ti:"model merging" AND cat:cs.LG, or a feed URL',
        channel="Where new papers go (default: this channel)",
        keywords='Only papers whose title or abstract has one of these ("quoted phrases", commas between)',
        exclude="Skip papers whose title or abstract has any of these",
        mode="post: each new paper in the channel; digest: only in the weekly digest",
    )
    @app_commands.choices(mode=MODE_CHOICES)
    async def add(
        self,
        interaction: discord.Interaction,
        source: app_commands.Range[str, 1, 1000],
        channel: discord.TextChannel | None = None,
        keywords: app_commands.Range[str, 1, MAX_FILTER_CHARS] | None = None,
        exclude: app_commands.Range[str, 1, MAX_FILTER_CHARS] | None = None,
        mode: str = "post",
    ) -> None:
        """Check the source by fetching it once, then subscribe, holding back what it lists now."""
        guild_id = guild_of(interaction)
        target = target_channel(interaction, channel)
        if mode == "post":
            check_can_post(target)
        added = await self.sources.subscribe(
            guild_id=guild_id,
            source=source,
            channel_id=target.id,
            created_by=interaction.user.id,
            keywords=keywords,
            exclude=exclude,
            mode=mode,
            before_fetch=functools.partial(interaction.response.defer, ephemeral=True, thinking=True),
        )
        embed = added_embed(
            added.view, source=added.source, listing=added.listing, channel=target, max_posts=self.sources.max_posts
        )
        await interaction.followup.send(embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS)

    # --- /feed test ------------------------------------------------------------------------------------------

    @app_commands.command(name="test", description="Preview what a feed would post now, and why (saves nothing)")
    @app_commands.describe(
        source='cs.LG, cs.LG+cs.CL, an arXiv search like ti:"model merging" AND cat:cs.LG, or a feed URL',
        keywords='Only papers whose title or abstract has one of these ("quoted phrases", commas between)',
        exclude="Skip papers whose title or abstract has any of these",
        mode="post: each new paper in the channel; digest: only in the weekly digest",
        channel="The channel it would post to, for papers already posted there (default: this one)",
    )
    @app_commands.choices(mode=MODE_CHOICES)
    async def test(
        self,
        interaction: discord.Interaction,
        source: app_commands.Range[str, 1, 1000],
        keywords: app_commands.Range[str, 1, MAX_FILTER_CHARS] | None = None,
        exclude: app_commands.Range[str, 1, MAX_FILTER_CHARS] | None = None,
        mode: str = "post",
        channel: discord.TextChannel | None = None,
    ) -> None:
        """Fetch the source and show, item by item, what the poller would do with it."""
        guild_id = guild_of(interaction)
        channel_id = channel.id if channel is not None else (interaction.channel_id or 0)
        found = self.sources.resolve(source)
        self.test_cooldown.check(interaction)  # a source that names no feed costs no use
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await self.sources.preview(
            found, guild_id=guild_id, channel_id=channel_id, keywords=keywords, exclude=exclude, mode=mode
        )
        embed = preview_embed(result, source=found, mode=mode, keywords=keywords, exclude=exclude)
        await interaction.followup.send(embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS)

    # --- /feed list ------------------------------------------------------------------------------------------

    @app_commands.command(name="list", description="This server's feeds and how each is doing")
    async def list_feeds(self, interaction: discord.Interaction) -> None:
        """Every subscription with its health, a page at a time."""
        guild_id = guild_of(interaction)

        async def fetch(page: int) -> tuple[discord.Embed, int, int]:
            views = await self.feeds.list(guild_id=guild_id)
            return list_embed(views, page, await self.polls.stuck_papers(guild_id=guild_id))

        await send_pages(interaction, fetch, ephemeral=True)

    # --- /feed pause, resume, remove -------------------------------------------------------------------------

    @app_commands.command(name="pause", description="Stop posting from a feed for now")
    @app_commands.describe(subscription="The subscription: start typing its source or number")
    async def pause(self, interaction: discord.Interaction, subscription: app_commands.Range[str, 1, 100]) -> None:
        """Pause one subscription."""
        guild_id = guild_of(interaction)
        view = await self.find(guild_id, subscription)
        if view.paused:
            why = plain(view.pause_reason or "paused", 200)
            await self._reply(
                interaction, f"#{view.id} is already paused ({why}). `/feed resume {view.id}` restarts it."
            )
            return
        who = clip(interaction.user.display_name, 80)
        view = await self.feeds.set_paused(
            guild_id=guild_id, subscription_id=view.id, paused=True, reason=f"paused by {who}"
        )
        await self._reply(
            interaction,
            f"Paused #{view.id} {code(view.source, 120)} → <#{view.channel_id}>. "
            f"Nothing is posted from it until `/feed resume {view.id}`.",
        )

    @app_commands.command(name="resume", description="Start posting from a paused feed again")
    @app_commands.describe(subscription="The subscription: start typing its source or number")
    async def resume(self, interaction: discord.Interaction, subscription: app_commands.Range[str, 1, 100]) -> None:
        """Resume one subscription, once its channel can take posts again."""
        guild_id = guild_of(interaction)
        view = await self.find(guild_id, subscription)
        if not view.paused:
            await self._reply(interaction, f"#{view.id} isn't paused. `/feed list` shows how it is doing.")
            return
        if view.mode == "post":
            channel = interaction.guild.get_channel(view.channel_id) if interaction.guild else None
            if channel is None:
                raise NotFoundError(
                    f"The channel of #{view.id} is gone or hidden from me. Remove it with `/feed remove {view.id}` "
                    "and add the feed again in another channel."
                )
            check_can_post(channel)
        view = await self.feeds.set_paused(guild_id=guild_id, subscription_id=view.id, paused=False)
        await self._reply(interaction, f"Resumed #{view.id} {code(view.source, 120)} → <#{view.channel_id}>.")

    @app_commands.command(name="remove", description="Stop following a feed")
    @app_commands.describe(subscription="The subscription: start typing its source or number")
    async def remove(self, interaction: discord.Interaction, subscription: app_commands.Range[str, 1, 100]) -> None:
        """Remove one subscription; what it posted stays in the channel."""
        guild_id = guild_of(interaction)
        views = await self.feeds.list(guild_id=guild_id)
        view = await self.feeds.remove(guild_id=guild_id, subscription_id=parse_subscription_id(subscription, views))
        await self._reply(
            interaction,
            f"Removed #{view.id} {code(view.source, 120)} → <#{view.channel_id}>. "
            "Papers it already posted stay in the channel.",
        )

    async def _reply(self, interaction: discord.Interaction, text: str) -> None:
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)

    # --- autocomplete ----------------------------------------------------------------------------------------

    @pause.autocomplete("subscription")
    @MODERATORS_ONLY
    async def running_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        """Subscriptions that are running."""
        return await self._choices(interaction, current, paused=False)

    @resume.autocomplete("subscription")
    @MODERATORS_ONLY
    async def paused_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        """Subscriptions that are paused."""
        return await self._choices(interaction, current, paused=True)

    @remove.autocomplete("subscription")
    @MODERATORS_ONLY
    async def any_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        """Every subscription."""
        return await self._choices(interaction, current, paused=None)

    async def _choices(
        self, interaction: discord.Interaction, current: str, *, paused: bool | None
    ) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None:
            return []
        typed = " ".join(current.split()).lower().lstrip("#")
        choices = []
        for view in await self.feeds.list(guild_id=interaction.guild_id):
            if paused is not None and view.paused != paused:
                continue
            name = subscription_name(view, interaction.guild)
            if typed and typed != str(view.id) and typed not in name.lower():
                continue
            choices.append(app_commands.Choice(name=name, value=str(view.id)))
            if len(choices) == 25:
                break
        return choices
