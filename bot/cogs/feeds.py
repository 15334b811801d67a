"""/feed add, list, test, pause, resume and remove: following arXiv categories, searches and RSS feeds."""

from __future__ import annotations

import functools

import discord
from discord import app_commands
from discord.ext import commands

from bot.channels import check_can_post, target_channel
from bot.feed_render import added_embed, code, list_embed, plain, preview_embed, subscription_name
from bot.interactions import MODERATORS_ONLY, NO_MENTIONS, MemberCooldown, answer, guild_of
from bot.options import parse_subscription_id
from bot.render import clip
from bot.views import send_pages
from schedules.source_check import SourceChecker
from storage.errors import NotFoundError
from storage.feeds.polls import PollRecords
from storage.feeds.subscriptions import MAX_FILTER_CHARS, SubscriptionService, SubscriptionView

__all__ = ["Feeds"]

FEED_TESTS_PER_MINUTE = 10  # per member: each /feed test fetches its source once, and arXiv takes one request per 3 s
MODE_CHOICES = [
    app_commands.Choice(name="post: each new paper in the channel", value="post"),
    app_commands.Choice(name="digest: keep papers for the weekly digest only", value="digest"),
]


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

        await interaction.response.defer(ephemeral=True, thinking=True)  # acknowledged before the database is read
        await send_pages(interaction, fetch, ephemeral=True)

    # --- /feed pause, resume, remove -------------------------------------------------------------------------

    @app_commands.command(name="pause", description="Stop posting from a feed for now")
    @app_commands.describe(subscription="The subscription: start typing its source or number")
    async def pause(self, interaction: discord.Interaction, subscription: app_commands.Range[str, 1, 100]) -> None:
        """Pause one subscription."""
        guild_id = guild_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)  # acknowledged before the database is read
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
        await interaction.response.defer(ephemeral=True, thinking=True)  # acknowledged before the database is read
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
        await interaction.response.defer(ephemeral=True, thinking=True)  # acknowledged before the database is read
        views = await self.feeds.list(guild_id=guild_id)
        view = await self.feeds.remove(guild_id=guild_id, subscription_id=parse_subscription_id(subscription, views))
        await self._reply(
            interaction,
            f"Removed #{view.id} {code(view.source, 120)} → <#{view.channel_id}>. "
            "Papers it already posted stay in the channel.",
        )

    async def _reply(self, interaction: discord.Interaction, text: str) -> None:
        await answer(interaction, content=text, ephemeral=True, allowed_mentions=NO_MENTIONS)

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
