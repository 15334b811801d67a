"""The reading queue as members use it, through the real client against the loopback Discord: proposals and their
cards, votes (twice, taken back, many at once, after a restart), the ranked list, 📌 reactions, removal, read
papers leaving the queue, and the digest's top three."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from storage.models import Paper, QueueEntry, QueueVote, ReadingSession, utcnow
from tests.arxiv_standin import FakeArxiv, entry_xml
from tests.bot.conftest import ANN, BOB, CHANNEL, GUILD, MOD, OTHER_CHANNEL, OTHER_GUILD, Club, bot_on, running_club

ATTENTION = "1111.2011"  # in the arXiv stand-in's catalog
KNOWN_ID = "2202.12139"
PIN = "📌"


def card_of(club: Club, channel: int = CHANNEL) -> Any:
    """The one proposal card in a channel (a message with vote buttons)."""
    (card,) = [m for m in club.discord.channel_messages(channel) if any(b["custom_id"] for b in m.buttons())]
    return card


def button(card: Any, kind: str) -> str:
    return next(b["custom_id"] for b in card.buttons() if b["custom_id"].startswith(f"queue:{kind}:"))


async def press(club: Club, card: Any, kind: str, user: int) -> Any:
    pressed = await club.discord.click(card, button(card, kind), user_id=user)
    await pressed.wait_done()
    return pressed


async def entries(club: Club, guild: int = GUILD) -> list[QueueEntry]:
    async with club.bot.services.sessions() as session:
        return list((await session.exec(select(QueueEntry).where(QueueEntry.guild_id == guild))).all())


async def votes(club: Club) -> int:
    async with club.bot.services.sessions() as session:
        return len((await session.exec(select(QueueVote))).all())


async def until(check: Any, *, tries: int = 200) -> None:
    for _ in range(tries):
        if await check():
            return
        await asyncio.sleep(0.03)
    raise AssertionError("it never happened")


async def test_a_proposal_card_takes_one_vote_per_member_which_they_can_take_back(club: Club) -> None:
    why = "It explains @everyone's favourite <@700000000000000002> trick, **really**"
    inter = await club.run("queue propose", paper=ATTENTION, why=why)
    card = card_of(club)
    shown = card.text()
    assert not inter.ephemeral and card in inter.messages
    assert "Proposed by **ann**" in shown and "0 votes" in shown
    assert "@everyone" not in shown and "<@700000000000000002>" not in shown and "\\*\\*really\\*\\*" in shown
    assert card.allowed_mentions == {"parse": []}

    await press(club, card, "vote", BOB)
    assert "1 vote" in card.text() and "Vote · 1" in [b["label"] for b in card.buttons()]
    again = await press(club, card, "vote", BOB)
    assert "already voted" in again.error and "1 vote" in card.text()
    await press(club, card, "vote", ANN)
    assert "2 votes" in card.text()
    await press(club, card, "unvote", BOB)
    assert "1 vote" in card.text() and await votes(club) == 1
    none = await press(club, card, "unvote", BOB)
    assert "no vote" in none.error and await votes(club) == 1
    assert len(club.posted()) == 1  # edited in place, nothing new in the channel


async def test_proposing_a_queued_paper_again_links_its_card(club: Club) -> None:
    await club.run("queue propose", paper=ATTENTION)
    card = card_of(club)
    again = await club.run("queue propose", paper=f"https://arxiv.org/abs/{ATTENTION}v2", user=BOB)
    assert "already on the reading queue" in again.text() and f"/{card.id})" in again.text()
    assert len(await entries(club)) == 1 and card_of(club) is card

    long = await club.run("queue propose", paper=KNOWN_ID, why="x" * 301)
    assert long.ephemeral and "301 characters" in long.error and "300" in long.error
    assert len(await entries(club)) == 1


async def test_twenty_members_voting_at_once_are_all_counted(fake_arxiv: FakeArxiv, tmp_path: Path) -> None:
    async with running_club(fake_arxiv, tmp_path) as club:
        members = [800_000_000_000_000_000 + n for n in range(20)]
        for member in members:
            club.discord.add_member(GUILD, member, name=f"member{member % 100}")
        await club.run("queue propose", paper=ATTENTION)
        card = card_of(club)
        queue = club.bot.services.queue
        counted, voted = queue.item, queue.vote
        first_count = asyncio.Event()

        async def vote_later(**kwargs: Any) -> Any:  # the other votes arrive after the first vote was counted
            if kwargs["member_id"] != members[0]:
                await first_count.wait()
            return await voted(**kwargs)

        async def slow_to_show(**kwargs: Any) -> Any:  # ... and that first count is slow to reach the card
            item = await counted(**kwargs)
            if not first_count.is_set():
                first_count.set()
                await asyncio.sleep(0.5)
            return item

        queue.vote, queue.item = vote_later, slow_to_show  # type: ignore[method-assign]
        clicks = await asyncio.gather(
            *(club.discord.click(card, button(card, "vote"), user_id=member) for member in members)
        )
        await asyncio.gather(*(click.wait_done() for click in clicks))
        assert await votes(club) == 20
        assert "20 votes" in card.text()  # the last edit shows every vote, whichever count was slow


async def test_vote_buttons_work_after_a_restart(fake_arxiv: FakeArxiv, tmp_path: Path) -> None:
    async with running_club(fake_arxiv, tmp_path) as club:
        await club.run("queue propose", paper=ATTENTION)
        card = card_of(club)
        await press(club, card, "vote", ANN)
        await club.bot.close()
        async with bot_on(club.discord, fake_arxiv, tmp_path) as again:
            await press(again, card, "vote", BOB)
            assert "2 votes" in card.text() and await votes(again) == 2


async def test_the_queue_is_ranked_by_votes_then_age_a_page_at_a_time(club: Club) -> None:
    for n in range(12):
        await club.run("queue propose", paper=f"https://example.org/papers/{n}", user=ANN if n % 2 else BOB)
    cards = [m for m in club.posted() if m.buttons()]
    assert len(cards) == 12
    await press(club, cards[5], "vote", ANN)
    await press(club, cards[5], "vote", BOB)
    await press(club, cards[9], "vote", MOD)

    listed = await club.run("queue list", user=ANN)
    first = listed.original.text()
    order = [int(n) for n in re.findall(r"example\.org/papers/(\d+)\)", first)]
    assert order == [5, 9, 0, 1, 2, 3, 4, 6]
    assert "Reading queue · 12 papers" in first and "2 votes" in first and "[vote on its card]" in first
    assert [b["label"] for b in listed.original.buttons()][2:] == [f"👍 {rank}" for rank in range(1, 9)]
    not_yours = await club.click(listed, "page:next", user=BOB)
    assert "someone else's" in not_yours.error
    from_list = await club.click(listed, button(cards[0], "vote"), user=BOB)  # anyone votes from the list
    assert "Voted for" in from_list.error and "1 vote now" in from_list.error
    await club.discord.settle()
    assert "1 vote" in cards[0].text()  # and the paper's card shows it
    nxt = await club.click(listed, "page:next", user=ANN)
    second = listed.original.text()
    assert nxt.error is None
    assert [b["label"] for b in listed.original.buttons()][2:] == [f"👍 {rank}" for rank in range(9, 13)]
    assert [int(n) for n in re.findall(r"example\.org/papers/(\d+)\)", second)] == [7, 8, 10, 11]


async def test_read_papers_leave_the_queue_keeping_their_votes(club: Club) -> None:
    await club.run("queue propose", paper=ATTENTION)
    read_card = card_of(club)
    await press(club, read_card, "vote", BOB)
    await club.run("queue propose", paper=KNOWN_ID, user=BOB)
    async with club.bot.services.sessions() as session:
        papers = {p.key: p.id for p in (await session.exec(select(Paper))).all()}
        now = utcnow()
        for key, at in (
            (f"arxiv:{ATTENTION}", now - timedelta(hours=1)),
            (f"arxiv:{KNOWN_ID}", now + timedelta(days=2)),
        ):
            session.add(
                ReadingSession(guild_id=GUILD, paper_id=papers[key], starts_at=at, channel_id=CHANNEL, created_by=MOD)
            )
        await session.commit()
    listed = (await club.run("queue list")).original.text()
    assert "Reading queue · 1 paper" in listed and "📅 Session <t:" in listed
    assert ATTENTION not in listed
    late = await press(club, read_card, "vote", ANN)
    assert "no longer on the reading queue" in late.error and "read it on" in late.error
    assert "Read on <t:" in read_card.text() and read_card.buttons() == []  # the press shows it on the card too
    assert await votes(club) == 1 and len(await entries(club)) == 2  # its history is kept
    again = await club.run("queue propose", paper=ATTENTION)
    assert "already read this paper" in again.text()


async def test_remove_is_for_the_proposer_or_a_moderator(club: Club) -> None:
    await club.run("queue propose", paper=ATTENTION)
    await club.run("queue propose", paper=KNOWN_ID)
    choices = await club.discord.autocomplete(
        "queue remove", guild_id=GUILD, channel_id=CHANNEL, user_id=BOB, options={"paper": ""}, focused="paper"
    )
    assert {c["value"] for c in choices} == {f"arxiv:{ATTENTION}", f"arxiv:{KNOWN_ID}"}

    listed = await club.run("queue list", user=BOB)  # shown before the removals below
    refused = await club.run("queue remove", user=BOB, paper=f"arxiv:{ATTENTION}")
    assert refused.ephemeral and "only they or a moderator" in refused.error
    done = await club.run("queue remove", user=ANN, paper=f"arxiv:{ATTENTION}")
    assert done.ephemeral and "off the reading queue" in done.text()
    by_mod = await club.run("queue remove", user=MOD, paper=f"arxiv:{KNOWN_ID}")
    assert "off the reading queue" in by_mod.text()
    await club.discord.settle()
    for card in [m for m in club.posted() if m.embeds and m is not listed.original]:
        assert "Taken off the reading queue" in card.text() and card.buttons() == []
    late = await club.discord.click(listed.original, listed.original.buttons()[2]["custom_id"], user_id=BOB)
    await late.wait_done()
    assert "no longer on the reading queue (it was taken off)" in late.error  # to the member alone
    gone = await club.run("queue remove", user=ANN, paper=f"arxiv:{ATTENTION}")
    assert "not on this server's reading queue" in gone.error
    assert all(e.removed_at is not None for e in await entries(club))

    # a removed paper may be proposed again, as a new proposal
    back = await club.run("queue propose", paper=ATTENTION, user=BOB)
    assert "Proposed by **bob**" in back.text() and "0 votes" in back.text()
    assert len(await entries(club)) == 2


async def test_remove_by_words_matching_several_queued_papers_removes_none(club: Club) -> None:
    for arxiv_id, topic in ("2301.00011", "graph"), ("2301.00012", "speech"):
        title = f"Attention for {topic} networks"
        club.arxiv.catalog.entries[arxiv_id] = entry_xml(arxiv_id, title, authors=["Ann"], published="2023-01-01")
        await club.run("queue propose", paper=arxiv_id)
    vague = await club.run("queue remove", paper="attention networks")
    assert vague.ephemeral and "Several papers on the reading queue match" in vague.error
    assert all(e.removed_at is None for e in await entries(club))
    exact = await club.run("queue remove", paper="attention for speech networks")
    assert "Took **Attention for speech networks** off" in exact.text()
    assert [e.removed_at is None for e in sorted(await entries(club), key=lambda e: e.id or 0)] == [True, False]


async def test_remove_offers_this_groups_queued_papers_each_named_with_its_id(club: Club) -> None:
    title = "Attention, **again**: a survey of everything " * 20
    club.arxiv.catalog.entries["2301.00021"] = entry_xml("2301.00021", title, authors=["Ann"], published="2023-01-01")
    await club.run("queue propose", paper="2301.00021")
    await club.run("queue propose", paper=KNOWN_ID, guild=OTHER_GUILD)
    choices = await club.discord.autocomplete(
        "queue remove", guild_id=GUILD, channel_id=CHANNEL, user_id=ANN, options={"paper": "att"}, focused="paper"
    )
    assert [c["value"] for c in choices] == ["arxiv:2301.00021"]
    assert choices[0]["name"].startswith("Attention, **again**") and choices[0]["name"].endswith("… (2301.00021)")

    link = "https://example.org/papers/" + "long-name-" * 20  # a paper by its link alone, the link 200 characters
    await club.run("queue propose", paper=link)
    choices = await club.discord.autocomplete(
        "queue remove", guild_id=GUILD, channel_id=CHANNEL, user_id=ANN, options={"paper": ""}, focused="paper"
    )
    assert len(choices) == 2 and all(len(c["name"]) <= 100 for c in choices)
    picked = next(c["value"] for c in choices if c["value"].startswith("url:"))  # cut to Discord's 100 characters
    gone = await club.run("queue remove", paper=picked)
    assert "off the reading queue" in gone.text()


async def test_a_vote_counted_while_the_paper_is_removed_leaves_its_card_without_buttons(club: Club) -> None:
    await club.run("queue propose", paper=ATTENTION)
    card = card_of(club)
    queue = club.bot.services.queue
    counted, read, go = queue.item, asyncio.Event(), asyncio.Event()

    async def slow_to_show(**kwargs: Any) -> Any:  # the vote's count reaches the card after the removal's
        item = await counted(**kwargs)
        read.set()
        await go.wait()
        return item

    queue.item = slow_to_show  # type: ignore[method-assign]
    vote = await club.discord.click(card, button(card, "vote"), user_id=BOB)
    await read.wait()
    removing = asyncio.create_task(club.run("queue remove", paper=f"arxiv:{ATTENTION}"))
    await until(lambda: _removed(club))
    await asyncio.sleep(0.2)  # the removal would edit the card now, if nothing held it back
    go.set()
    await asyncio.gather(removing, vote.wait_done())
    await club.discord.settle()
    assert "Taken off the reading queue" in card.text() and card.buttons() == []


async def test_a_pin_proposes_the_linked_paper_once_however_many_pins(club: Club) -> None:
    message = await club.discord.post_message(
        CHANNEL, user_id=BOB, content=f"this one looks good: https://arxiv.org/abs/{ATTENTION}v1"
    )
    await club.discord.react(message, PIN, user_id=ANN)
    await until(lambda: _has_entries(club, 1))
    await club.discord.react(message, PIN, user_id=BOB)
    await club.discord.unreact(message, PIN, user_id=ANN)
    await club.discord.react(message, PIN, user_id=ANN)  # the same member again
    await club.discord.settle()
    await asyncio.sleep(0.3)
    await club.discord.settle()
    (entry,) = await entries(club)
    assert entry.source == "pin" and entry.proposed_by == ANN and entry.channel_id is None
    assert message.reactors.get("✅") == [club.discord.bot_user_id]  # the bot's one quiet answer
    assert quiet(club)  # nothing said in the channel (a link card for the link, as ever)
    listed = await club.run("queue list", user=BOB)
    assert "Proposed by **ann** with 📌" in listed.original.text()
    voted = await club.discord.click(listed.original, f"queue:vote:{entry.id}", user_id=ANN)  # from the list
    await voted.wait_done()
    assert "Voted for" in voted.error and "1 vote now" in voted.error and await votes(club) == 1

    card = await club.run("queue propose", paper=ATTENTION, user=BOB)  # it had no card: now it has one
    assert "Already on the reading queue: here is its card." in card.text() and "1 vote" in card.text()
    assert "Proposed by **ann** with 📌" in card.text() and len(await entries(club)) == 1


async def test_a_pin_proposes_the_paper_a_message_is_about_not_a_code_link_or_an_id_arxiv_lacks(club: Club) -> None:
    message = await club.discord.post_message(
        CHANNEL,
        user_id=BOB,
        content=f"code at https://github.com/someone/repo, not arXiv:2501.99999 but https://arxiv.org/abs/{ATTENTION}",
    )
    await club.discord.react(message, PIN, user_id=ANN)
    await until(lambda: _has_entries(club, 1))
    (entry,) = await entries(club)
    async with club.bot.services.sessions() as session:
        paper = await session.get(Paper, entry.paper_id)
    assert paper is not None and paper.key == f"arxiv:{ATTENTION}"


async def test_a_pin_on_a_message_with_a_thread_answers_there_with_a_card(club: Club) -> None:
    message = await club.discord.post_message(CHANNEL, user_id=BOB, content=f"doi https://arxiv.org/pdf/{KNOWN_ID}")
    channel = club.bot.get_channel(CHANNEL)
    thread = await channel.get_partial_message(message.id).create_thread(name="discussion")  # type: ignore[union-attr]
    await club.discord.react(message, PIN, user_id=ANN)
    await until(lambda: _has_card(club))
    card = card_of(club, thread.id)
    assert "put this paper on the reading queue" in card.text() and "with 📌" in card.text()
    assert quiet(club) and "✅" not in message.reactions
    await press(club, card, "vote", BOB)
    assert "1 vote" in card.text()


async def test_a_pin_without_a_paper_link_queues_nothing_and_says_why_once_quietly(club: Club) -> None:
    message = await club.discord.post_message(CHANNEL, user_id=BOB, content="anyone up for lunch? 2024.")
    await club.discord.react(message, PIN, user_id=ANN)
    reply = await club.discord.wait_for_message(CHANNEL, after=message)
    assert "Nothing to queue here" in reply.text() and "/queue propose" in reply.text() and "ann" in reply.text()
    assert reply.message_reference is not None and reply.message_reference["message_id"] == str(message.id)
    assert reply.allowed_mentions == {"parse": [], "replied_user": False}
    await club.discord.unreact(message, PIN, user_id=ANN)
    await club.discord.react(message, PIN, user_id=ANN)  # the same member again: told once is enough
    await club.discord.settle()
    await asyncio.sleep(0.3)
    await club.discord.settle()
    assert await entries(club) == [] and message.reactions == [PIN]
    assert [m for m in club.posted() if m.message_reference] == [reply]


async def test_the_answer_to_a_pin_that_queued_nothing_deletes_itself(club: Club) -> None:
    flows = club.bot.get_cog("Queue").flows  # type: ignore[union-attr]
    flows.notice_lasts = 0.0  # it stays half a minute for members; here it goes at once
    message = await club.discord.post_message(CHANNEL, user_id=BOB, content="no link, just words")
    await club.discord.react(message, PIN, user_id=ANN)

    async def deleted() -> bool:
        return bool(club.discord.dispatched("MESSAGE_DELETE"))

    await until(deleted)
    (gone,) = [club.discord.message(int(d["id"])) for d in club.discord.dispatched("MESSAGE_DELETE")]
    assert gone.author_id == club.discord.bot_user_id and "Nothing to queue here" in gone.text()
    assert gone.message_reference is not None and gone.message_reference["message_id"] == str(message.id)
    assert not message.deleted


async def test_a_pin_in_another_server_stays_in_that_server(club: Club) -> None:
    message = await club.discord.post_message(OTHER_CHANNEL, user_id=BOB, content=f"https://arxiv.org/abs/{ATTENTION}")
    await club.discord.react(message, PIN, user_id=ANN)
    await until(lambda: _has_entries(club, 1, OTHER_GUILD))
    assert await entries(club, GUILD) == []
    listed = (await club.run("queue list")).original.text()
    assert "The queue is empty" in listed


async def test_without_message_content_a_pin_is_not_read_and_logged_once(
    fake_arxiv: FakeArxiv, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_club(fake_arxiv, tmp_path, LINK_CARDS="off") as club:
        caplog.set_level(logging.WARNING, logger="bot.cogs.queue")
        for n in range(2):
            message = await club.discord.post_message(CHANNEL, user_id=BOB, content=f"https://example.org/{n}")
            await club.discord.react(message, PIN, user_id=ANN)
        await club.discord.settle()
        await asyncio.sleep(0.3)
        assert await entries(club) == []
        assert len([r for r in caplog.records if "Message Content" in r.getMessage()]) == 1


async def test_the_digest_shows_the_top_three(club: Club) -> None:
    for n in range(4):
        await club.run("queue propose", paper=f"https://example.org/papers/{n}")
    cards = [m for m in club.posted() if m.buttons()]
    await press(club, cards[3], "vote", BOB)
    await club.run("digest schedule", user=MOD)
    preview = await club.run("digest preview", user=MOD)
    seen = "\n".join(m.text() for m in preview.messages)
    assert "Reading queue · top three" in seen
    top = seen[seen.index("Reading queue · top three") :]
    assert [int(n) for n in re.findall(r"example\.org/papers/(\d+)\)", top)] == [3, 0, 1]
    assert "1 vote · proposed by ann" in top


def quiet(club: Club) -> bool:
    """Nothing about the queue in the channel: no card, no word of it."""
    return not [m for m in club.posted() if m.buttons() or "queue" in m.text().lower()]


async def _has_entries(club: Club, count: int, guild: int = GUILD) -> bool:
    return len(await entries(club, guild)) >= count


async def _removed(club: Club) -> bool:
    return all(e.removed_at is not None for e in await entries(club))


async def _has_card(club: Club) -> bool:
    return any(e.message_id for e in await entries(club))
