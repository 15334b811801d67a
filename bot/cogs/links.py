"""Link cards: a pasted arXiv link gets a compact card saying what the group has written about the paper."""

from __future__ import annotations

import asyncio
import logging

import discord
from discord.ext import commands

from bot.interactions import NO_MENTIONS, MemberCooldown
from bot.render import COLOUR, notes_command, paper_title, people, safe_url
from bot.requesters import ask_as
from storage.errors import NotFoundError
from storage.group_settings import GroupSettingsService
from storage.identity import PaperKey, find_arxiv_keys
from storage.notes import NoteService
from storage.papers import PaperService, PaperView

log = logging.getLogger(__name__)

MAX_CARDS = 5  # papers answered per message; a reading list pasted in one go should not bury the channel
MEMBER_MESSAGES = (discord.MessageType.default, discord.MessageType.reply)
CARD_MESSAGES_PER_MINUTE = 6  # per member: each message's cards may ask arXiv about up to MAX_CARDS papers


def notes_line(count: int, paper: PaperView) -> str:
    """How many notes the group has on the paper, and the command that goes with it."""
    if count == 0:
        return "No notes from the group yet — `/note add`"
    noun = "note" if count == 1 else "notes"
    return f"**{count} {noun} from the group** — {notes_command(paper)}"


def link_card(paper: PaperView, count: int) -> discord.Embed:
    """One paper as a compact card: title linked to its page, first authors, the group's note count."""
    embed = discord.Embed(title=paper_title(paper), url=safe_url(paper.url), colour=COLOUR)
    lines = [people(paper.authors, 300, shown=2)] if paper.authors else []
    lines.append(notes_line(count, paper))
    embed.description = "\n".join(lines)
    return embed


class LinkCards(commands.Cog):
    """Answers arXiv links posted in the group's channels with paper cards."""

    def __init__(
        self, bot: commands.Bot, *, papers: PaperService, notes: NoteService, guilds: GroupSettingsService
    ) -> None:
        self.bot = bot
        self.papers = papers
        self.notes = notes
        self.guilds = guilds
        self.cooldown = MemberCooldown(CARD_MESSAGES_PER_MINUTE, 60.0)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """Reply to a member's arXiv links with one card per paper; never let a failure escape."""
        ask_as(message.guild.id if message.guild else None, message.author.id)  # arXiv lookups take its server's turn
        try:
            await self.answer(message)
        except Exception:
            log.exception("link card for message %s in channel %s failed", message.id, message.channel.id)

    async def answer(self, message: discord.Message) -> None:
        """The cards for one message, if it should get any."""
        if message.guild is None or message.author.bot or message.webhook_id is not None:
            return
        if message.type not in MEMBER_MESSAGES or not self.bot.intents.message_content:
            return
        keys = find_arxiv_keys(message.content)[:MAX_CARDS]
        if not keys:
            return
        if not (await self.guilds.get(message.guild.id)).link_cards:
            return
        if waiting := self.cooldown.spend(message.guild.id, message.author.id):  # no reply at all: nobody to tell
            log.debug(
                "guild=%s no link card for member %s for %.0f s more", message.guild.id, message.author.id, waiting
            )
            return
        found = await asyncio.gather(*(self.card(message.guild.id, key) for key in keys))
        cards = [card for card in found if card is not None]
        if not cards:
            return
        try:
            await message.reply(embeds=cards, mention_author=False, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:  # no permission to post here, or the message is already gone
            log.info("no link card in channel %s: %s %s", message.channel.id, exc.status, exc.text)

    async def card(self, guild_id: int, key: PaperKey) -> discord.Embed | None:
        """The card for one paper, or None when there is none to show (arXiv has no such paper, or it failed)."""
        try:
            paper = await self.papers.ensure(key)
            count = (await self.notes.page(guild_id=guild_id, paper_id=paper.id, limit=1)).total
        except NotFoundError:
            return None
        except Exception:
            log.exception("link card for %s failed", key.key)
            return None
        return link_card(paper, count)
