"""The reading queue's steps on Discord: a proposal's card posted and kept up to date, a vote recorded and shown,
and a 📌 reaction read as a proposal."""

from __future__ import annotations

import logging
from typing import Any

import cachetools
import discord

from bot.errors import handle_error
from bot.interactions import NO_MENTIONS, MemberCooldown, guild_of
from bot.queue_render import card_view, proposal_card, vote_buttons, votes_text
from bot.render import clip, plain
from storage.errors import NotFoundError, UserFacingError, ValidationError
from storage.identity import PaperKey, find_paper_keys
from storage.locks import KeyedLocks
from storage.message_links import jump_url
from storage.papers import PaperService, PaperView
from storage.queue import QueueItem, QueueService

log = logging.getLogger(__name__)

PINNED = "✅"  # the bot's answer to a 📌 on a message without a thread: no message in the channel
PIN_TRIES = 3  # papers of one pinned message looked up at most, when arXiv does not know the first
PINS_PER_MINUTE = 6  # per member: each 📌 reads the message and may ask arXiv about its paper
NOTHING_TO_QUEUE = (
    "Nothing to queue here: this message links no paper I could find (an arXiv link or id, a DOI, or another "
    "link). Use `/queue propose` to propose one."
)
NOTICE_SECONDS = 30.0  # how long the answer to a 📌 that queued nothing stays before it deletes itself
TOLD_FOR = 3600.0  # seconds a member is told once about one message, however often they pin it


class QueueFlows:
    """Proposals, votes and pins, for /queue and the cards' buttons alike."""

    def __init__(self, client: discord.Client, *, queue: QueueService, papers: PaperService) -> None:
        self.client = client
        self.queue = queue
        self.papers = papers
        self.buttons = vote_buttons(self.vote)  # registered with the client by the queue's cog
        self.pins = MemberCooldown(PINS_PER_MINUTE, 60.0)
        self._cards: KeyedLocks[int] = KeyedLocks()  # one card's edits take turns: the last shows the latest state
        self._told_no_content = False
        self.notice_lasts = NOTICE_SECONDS
        self._told: cachetools.TTLCache[tuple[int, int], bool] = cachetools.TTLCache(maxsize=4096, ttl=TOLD_FOR)

    async def propose(self, interaction: discord.Interaction, paper: PaperView, why: str | None) -> None:
        """Put the paper on the queue and post its card, or say where the paper already is."""
        proposal = await self.queue.propose(
            guild_id=guild_of(interaction),
            paper_id=paper.id,
            member_id=interaction.user.id,
            member_name=interaction.user.display_name,
            why=why,
        )
        item = proposal.item
        card = jump_url(item.guild_id, item.channel_id, item.message_id)
        if proposal.outcome == "queued" and card:
            await interaction.followup.send(
                f"**{plain(clip(paper.display_title, 200))}** is already on the reading queue, proposed by "
                f"{plain(clip(item.proposer_name, 100))} ({votes_text(item.votes)}): vote on [its card]({card}).",
                allowed_mentions=NO_MENTIONS,
            )
            return
        head = "Already on the reading queue: here is its card." if proposal.outcome == "queued" else None
        await self._post_card(interaction, item, content=head)

    async def _post_card(self, interaction: discord.Interaction, item: QueueItem, *, content: str | None) -> None:
        view = card_view(self.buttons, item)
        sent = await interaction.followup.send(
            content or discord.utils.MISSING,
            embed=proposal_card(item),
            view=view or discord.utils.MISSING,
            allowed_mentions=NO_MENTIONS,
            wait=True,
        )
        await self.queue.set_card(
            guild_id=item.guild_id, entry_id=item.id, channel_id=sent.channel.id, message_id=sent.id
        )

    async def show_card(self, item: QueueItem) -> None:
        """Show a proposal as it is now on its card, wherever that is (a card may be gone: then nothing). It waits
        for a vote's edit under way, so a paper taken off never gets its buttons back from an older count."""
        async with self._cards[item.id]:
            await self._show(item)

    async def _show(self, item: QueueItem) -> None:
        if not (item.channel_id and item.message_id):
            return
        channel = self.client.get_partial_messageable(item.channel_id, guild_id=item.guild_id)
        try:
            await channel.get_partial_message(item.message_id).edit(
                embed=proposal_card(item), view=card_view(self.buttons, item), allowed_mentions=NO_MENTIONS
            )
        except discord.HTTPException as exc:  # the card was deleted, or the channel is gone
            log.info("guild=%s queue card %s not updated: %s", item.guild_id, item.message_id, exc)

    async def vote(self, interaction: discord.Interaction, entry_id: int, wanted: bool) -> None:
        """Record or take back the member's vote, then show the card with its votes counted again."""
        try:
            guild_id = guild_of(interaction)
            await interaction.response.defer()  # a card is edited below; elsewhere the member is told
            record = self.queue.vote if wanted else self.queue.unvote
            try:
                changed = await record(guild_id=guild_id, entry_id=entry_id, member_id=interaction.user.id)
            except ValidationError:  # it left the queue (read, or taken off): its card shows so, the member is told
                await self._refresh(interaction, guild_id, entry_id)
                raise
            item, on_card = await self._refresh(interaction, guild_id, entry_id)
            if changed and on_card:
                return
            title = f"**{plain(clip(item.paper.display_title, 200))}**"
            if not changed:
                text = (
                    f"You already voted for {title}: one vote each. **Take back my vote** on its card removes it."
                    if wanted
                    else f"You have no vote on {title} to take back."
                )
            else:
                text = f"{'Voted for' if wanted else 'Took back your vote for'} {title}: {votes_text(item.votes)} now."
            await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
        except Exception as exc:
            await handle_error(interaction, exc, where=f"queue vote {entry_id}")

    async def _refresh(self, interaction: discord.Interaction, guild_id: int, entry_id: int) -> tuple[QueueItem, bool]:
        """Edit the card with its votes read now, and say whether the member pressed the card itself (or the
        queue's list). One card's edits take turns, so the last shows every vote."""
        async with self._cards[entry_id]:
            item = await self.queue.item(guild_id=guild_id, entry_id=entry_id)
            on_card = interaction.message is not None and interaction.message.id == item.message_id
            if on_card:
                await interaction.edit_original_response(
                    embed=proposal_card(item), view=card_view(self.buttons, item), allowed_mentions=NO_MENTIONS
                )
            else:
                await self._show(item)
            return item, on_card

    async def pinned(self, payload: discord.RawReactionActionEvent, *, guild_id: int) -> None:
        """Propose the first paper the message links to, once; answer in its thread, or with a ✅."""
        member = payload.member
        if member is None or member.bot:
            return
        if not self.client.intents.message_content:
            if not self._told_no_content:
                self._told_no_content = True
                log.warning(
                    "a 📌 reaction was not read: the bot runs without the Message Content intent (LINK_CARDS=off, or "
                    "not enabled in the developer portal), so it cannot see the links in members' messages"
                )
            return
        if waiting := self.pins.spend(guild_id, member.id):
            log.debug("guild=%s pin by %s ignored for %.0f s more", guild_id, member.id, waiting)
            return
        channel = self.client.get_channel(payload.channel_id) or self.client.get_partial_messageable(
            payload.channel_id, guild_id=guild_id
        )
        assert isinstance(channel, discord.abc.Messageable)
        message = await channel.fetch_message(payload.message_id)
        try:
            paper = await self._paper_of(find_paper_keys(message_text(message)))
            if paper is None:
                raise UserFacingError(NOTHING_TO_QUEUE)
            proposal = await self.queue.propose(
                guild_id=guild_id, paper_id=paper.id, member_id=member.id, member_name=member.display_name, source="pin"
            )
        except UserFacingError as exc:
            await self._tell_nothing_queued(message, member, exc.message, guild_id=guild_id)
            return
        if proposal.outcome == "queued":
            return  # pinned before, or proposed otherwise: once is enough
        thread = channel if isinstance(channel, discord.Thread) else message.thread
        try:
            if thread is not None:
                sent = await thread.send(
                    f"📌 {plain(clip(member.display_name, 100))} put this paper on the reading queue.",
                    embed=proposal_card(proposal.item),
                    view=card_view(self.buttons, proposal.item) or discord.utils.MISSING,
                    allowed_mentions=NO_MENTIONS,
                )
                await self.queue.set_card(
                    guild_id=guild_id, entry_id=proposal.item.id, channel_id=thread.id, message_id=sent.id
                )
            else:
                await message.add_reaction(PINNED)
        except discord.HTTPException as exc:  # no permission to post or react there: the paper is queued anyway
            log.info("guild=%s no answer to a pin in channel %s: %s", guild_id, payload.channel_id, exc)

    async def _tell_nothing_queued(
        self, message: discord.Message, member: discord.Member, why: str, *, guild_id: int
    ) -> None:
        """Why a pin queued nothing, as a reply to the message that pings no one and deletes itself soon; a member is
        told once per message."""
        log.info("guild=%s pin by %s on message %s queued nothing: %s", guild_id, member.id, message.id, why)
        if (message.id, member.id) in self._told:
            return
        self._told[message.id, member.id] = True
        try:
            await message.reply(
                f"📌 {plain(clip(member.display_name, 100))}: {why}",
                mention_author=False,
                allowed_mentions=NO_MENTIONS,
                delete_after=self.notice_lasts,
            )
        except discord.HTTPException as exc:  # no permission to post there: the log has it
            log.info("guild=%s no answer to a pin in channel %s: %s", guild_id, message.channel.id, exc)

    async def _paper_of(self, keys: list[PaperKey]) -> PaperView | None:
        """The paper a message is about: its first arXiv id or DOI (a code or slides link beside it is not the
        paper), else its first link; one arXiv says does not exist is passed over, for the next few."""
        for key in sorted(keys, key=lambda key: key.scheme not in ("arxiv", "doi"))[:PIN_TRIES]:
            try:
                return await self.papers.ensure(key)
            except NotFoundError:
                continue
        return None


def message_text(message: discord.Message) -> str:
    """Where a message may link a paper: its text, and its embeds' links and text (feed posts, link cards)."""
    parts: list[Any] = [message.content]
    for embed in message.embeds:
        parts.extend((embed.url, embed.title, embed.description))
    return "\n".join(str(part) for part in parts if part)
