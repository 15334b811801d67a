"""Link cards: what members see when they paste arXiv links, through the real discord.py client."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.settings import ConfigError, Settings
from tests.arxiv_standin import FakeArxiv, Reply
from tests.bot.conftest import (
    ANN,
    BOB,
    CHANNEL,
    GUILD,
    MOD,
    OTHER_CHANNEL,
    OTHER_GUILD,
    Club,
    running_club,
)
from tests.fakediscord import CommandUnavailable, Message

ATTENTION = "1111.2011"  # in the arXiv stand-in's catalog; three authors
TESTING = "2202.12139"  # "Testing Deep Learning Models: ...", three authors
FUZZING = "2005.14124"  # five authors
UNKNOWN = "2501.00001"  # a well-formed id that arXiv has no paper for
FEED_BOT = 700_000_000_000_000_050
MESSAGE_CONTENT = 1 << 15


def replies_to(club: Club, message: Message, channel: int = CHANNEL) -> list[Message]:
    """The bot's messages in the channel that reply to ``message``."""
    return [
        m
        for m in club.posted(channel)
        if m.author_id == club.discord.bot_user_id and (m.message_reference or {}).get("message_id") == str(message.id)
    ]


def bot_replies(club: Club, channel: int = CHANNEL) -> list[Message]:
    """Every reply the bot posted in the channel."""
    return [m for m in club.posted(channel) if m.author_id == club.discord.bot_user_id and m.message_reference]


async def post(club: Club, content: str, *, user: int = ANN, channel: int = CHANNEL, bot: bool = False) -> Message:
    """A member (or another bot) posts a message in a channel."""
    return await club.discord.post_message(channel, user_id=user, content=content, bot=bot)


async def card_reply(club: Club, message: Message, channel: int = CHANNEL) -> Message:
    """The one card reply to ``message``, once the bot has gone quiet."""
    await club.discord.wait_for_message(channel, after=message, check=lambda m: m in replies_to(club, message, channel))
    await club.discord.settle()
    replies = replies_to(club, message, channel)
    assert len(replies) == 1, replies
    return replies[0]


async def test_pasted_abs_link_gets_one_card_with_the_groups_note_count(club: Club) -> None:
    await club.run("note add", paper=ATTENTION, text="ann's take", user=ANN)
    await club.run("note add", paper=ATTENTION, text="bob's take", user=BOB)
    message = await post(club, f"has anyone read https://arxiv.org/abs/{ATTENTION} ? @everyone", user=BOB)
    reply = await card_reply(club, message)
    assert len(reply.embeds) == 1
    card = reply.embeds[0]
    assert card["url"] == f"https://arxiv.org/abs/{ATTENTION}"
    assert card["title"] and ATTENTION not in card["title"]  # the real title, from arXiv
    assert "2 notes from the group" in card["description"]
    assert f"/notes paper:{ATTENTION}" in card["description"]
    assert reply.message_reference["message_id"] == str(message.id)
    assert reply.allowed_mentions == {"parse": [], "replied_user": False}


async def test_one_note_and_no_notes_read_naturally(club: Club) -> None:
    await club.run("note add", paper=ATTENTION, text="only me")
    one = await card_reply(club, await post(club, f"arxiv.org/abs/{ATTENTION}v2"))
    assert "**1 note from the group**" in one.embeds[0]["description"]
    none = await card_reply(club, await post(club, f"https://arxiv.org/abs/{FUZZING}"))
    assert "No notes from the group yet — `/note add`" in none.embeds[0]["description"]
    assert "and 3 more" in none.embeds[0]["description"]  # five authors: the first two, and a count


async def test_same_paper_linked_three_ways_gets_one_card(club: Club) -> None:
    message = await post(
        club,
        f"abs https://arxiv.org/abs/{TESTING}, pdf <https://arxiv.org/pdf/{TESTING}v2.pdf> "
        f"and html http://www.arxiv.org/html/{TESTING}v1",
    )
    reply = await card_reply(club, message)
    assert len(reply.embeds) == 1
    assert reply.embeds[0]["title"].startswith("Testing Deep Learning Models")
    assert len(bot_replies(club)) == 1


async def test_two_papers_get_one_reply_with_two_cards_in_order(club: Club) -> None:
    await club.run("note add", paper=TESTING, text="read it")
    message = await post(club, f"compare https://arxiv.org/abs/{FUZZING} with https://arxiv.org/pdf/{TESTING}")
    reply = await card_reply(club, message)
    assert [e["url"] for e in reply.embeds] == [f"https://arxiv.org/abs/{FUZZING}", f"https://arxiv.org/abs/{TESTING}"]
    assert "No notes from the group yet" in reply.embeds[0]["description"]
    assert "1 note from the group" in reply.embeds[1]["description"]


async def test_at_most_five_cards_for_a_long_reading_list(club: Club) -> None:
    ids = club.arxiv.catalog.ids(7)
    message = await post(club, "reading list:\n" + "\n".join(f"https://arxiv.org/abs/{i}" for i in ids))
    reply = await card_reply(club, message)
    assert [e["url"] for e in reply.embeds] == [f"https://arxiv.org/abs/{i}" for i in ids[:5]]


async def test_paper_arxiv_does_not_have_gets_no_card(club: Club) -> None:
    message = await post(club, f"https://arxiv.org/abs/{UNKNOWN} and https://arxiv.org/abs/{ATTENTION}")
    reply = await card_reply(club, message)
    assert [e["url"] for e in reply.embeds] == [f"https://arxiv.org/abs/{ATTENTION}"]


async def test_card_shows_the_id_while_arxiv_is_down(club: Club) -> None:
    down = Reply.of("api2026_error_503_html_2026-01-08.xml", status=503, headers={"Retry-After": "0"})
    club.arxiv.then(*[down] * 4)  # every attempt of the lookup fails
    reply = await card_reply(club, await post(club, f"https://arxiv.org/abs/{ATTENTION}"))
    card = reply.embeds[0]
    assert card["title"] == f"{ATTENTION} (details pending from arXiv)"
    assert card["url"] == f"https://arxiv.org/abs/{ATTENTION}"
    assert "No notes from the group yet" in card["description"]


async def test_messages_from_bots_get_no_card(club: Club) -> None:
    club.discord.add_member(GUILD, FEED_BOT, name="feedbot")
    from_bot = await post(club, f"new: https://arxiv.org/abs/{ATTENTION}", user=FEED_BOT, bot=True)
    from_member = await post(club, f"new: https://arxiv.org/abs/{ATTENTION}")
    await card_reply(club, from_member)
    assert replies_to(club, from_bot) == []
    assert len(bot_replies(club)) == 1


async def test_messages_without_arxiv_links_get_no_card(club: Club) -> None:
    quiet = [
        f"I read {ATTENTION} yesterday",  # an id alone is talk, not a link
        "see https://example.org/abs/1111.2011 and https://arxiv.org/list/cs.LG/recent",
        "no links at all",
    ]
    for content in quiet:
        await post(club, content)
    control = await post(club, f"https://arxiv.org/abs/{ATTENTION}")
    await card_reply(club, control)
    assert bot_replies(club) == replies_to(club, control)


async def test_cards_turned_off_by_a_moderator_stay_off(club: Club) -> None:
    with pytest.raises(CommandUnavailable):  # hidden from members without Manage Server
        await club.run("settings link-cards", enabled=False, user=ANN)
    done = await club.run("settings link-cards", enabled=False, user=MOD)
    assert done.ephemeral and "arXiv link members post: **off**" in done.original.text()
    silenced = await post(club, f"https://arxiv.org/abs/{ATTENTION}")
    await club.discord.settle()
    assert replies_to(club, silenced) == []
    shown = await club.run("settings show", user=MOD)
    assert "arXiv link members post: **off**" in shown.original.text()
    await club.run("settings link-cards", enabled=True, user=MOD)
    control = await post(club, f"https://arxiv.org/abs/{ATTENTION}")
    await card_reply(club, control)
    assert bot_replies(club) == replies_to(club, control)


async def test_other_groups_notes_are_not_counted(club: Club) -> None:
    await club.run("note add", paper=ATTENTION, text="ann here", user=ANN, guild=GUILD)
    await club.run("note add", paper=ATTENTION, text="bob here", user=BOB, guild=GUILD)
    await club.run("note add", paper=ATTENTION, text="ann there", user=ANN, guild=OTHER_GUILD)
    here = await card_reply(club, await post(club, f"https://arxiv.org/abs/{ATTENTION}"))
    there = await card_reply(
        club, await post(club, f"https://arxiv.org/abs/{ATTENTION}", channel=OTHER_CHANNEL), OTHER_CHANNEL
    )
    assert "2 notes from the group" in here.embeds[0]["description"]
    assert "1 note from the group" in there.embeds[0]["description"]


# --- the Message Content intent -------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "on"), [(None, True), ("on", True), ("OFF", False), ("false", False), ("0", False)])
def test_link_cards_setting_is_on_unless_turned_off(value: str | None, on: bool) -> None:
    values = {"DISCORD_TOKEN": "t"} | ({"LINK_CARDS": value} if value is not None else {})
    assert Settings.from_mapping(values).link_cards is on


def test_link_cards_setting_must_be_on_or_off() -> None:
    with pytest.raises(ConfigError, match="LINK_CARDS must be on or off"):
        Settings.from_mapping({"DISCORD_TOKEN": "t", "LINK_CARDS": "sometimes"})


async def test_without_the_message_content_intent_the_bot_warns_and_works_without_cards(
    fake_arxiv: FakeArxiv, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot")
    async with running_club(fake_arxiv, tmp_path, allowed_intents=0) as club:
        assert not club.bot.intents.message_content
        help_ = await club.run("help")
        assert "/note add" in help_.original.text()
        saved = await club.run("note add", paper=ATTENTION, text="still works")
        assert "Saved note #1" in saved.original.text()
        shown = await club.run("settings show", user=MOD)
        assert "not allowed to read messages" in shown.original.text()
        message = await post(club, f"https://arxiv.org/abs/{ATTENTION}")
        await club.discord.settle()
        assert replies_to(club, message) == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "Message Content Intent" in warnings[0] and "LINK_CARDS=off" in warnings[0]


async def test_link_cards_off_asks_for_no_privileged_intent(
    fake_arxiv: FakeArxiv, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot")
    async with running_club(fake_arxiv, tmp_path, allowed_intents=0, LINK_CARDS="off") as club:
        help_ = await club.run("help")
        assert "/note add" in help_.original.text()
        message = await post(club, f"https://arxiv.org/abs/{ATTENTION}")
        await club.discord.settle()
        assert replies_to(club, message) == []
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_with_the_message_content_intent_allowed_cards_are_posted(fake_arxiv: FakeArxiv, tmp_path: Path) -> None:
    async with running_club(fake_arxiv, tmp_path, allowed_intents=MESSAGE_CONTENT) as club:
        assert club.bot.intents.message_content
        await card_reply(club, await post(club, f"https://arxiv.org/abs/{ATTENTION}"))
