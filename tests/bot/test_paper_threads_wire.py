"""One discussion thread per paper (`/settings threads`), through the real discord.py client and the loopback
Discord: the first note opens it, later notes go in it with one line in the channel, /paper links to it, racing
first notes share one thread, a thread gone is replaced, and nothing crosses groups."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlalchemy import text

from tests.arxiv_standin import entry_xml
from tests.bot.conftest import ANN, BOB, CHANNEL, GUILD, MOD, OTHER_CHANNEL, OTHER_GUILD, OWNER, Club

ATTENTION = "1111.2011"  # in the arXiv stand-in's catalog
OTHER_PAPER = "2202.12139"
TRAP = "2301.00001"  # a paper a test gives a title of its own
READING = 600_000_000_000_000_077  # a second channel in the first server
CREATE_PUBLIC_THREADS = 1 << 35


async def threads_on(club: Club, guild: int = GUILD) -> None:
    done = await club.run("settings threads", enabled=True, user=MOD, guild=guild)
    assert "One discussion thread per paper, its notes in it: **on**" in done.original.text()


def only_thread(club: Club, guild: int = GUILD) -> int:
    threads = club.discord.threads(guild)
    assert len(threads) == 1, threads
    return int(threads[0]["id"])


def notes_in(club: Club, thread_id: int) -> list[str]:
    """The note texts posted in a thread, in order."""
    return [m.embeds[0]["description"] for m in club.discord.channel_messages(thread_id) if m.embeds]


async def rows(club: Club, query: str) -> list[Any]:
    async with club.bot.services.sessions() as session:
        return list((await session.exec(text(query))).all())  # type: ignore[call-overload]


async def until_gone(club: Club, thread_id: int) -> None:
    """Wait until the bot has marked the paper's thread gone (the deletion reaches it through the gateway)."""
    for _ in range(200):
        if await rows(club, f"SELECT 1 FROM paper_threads WHERE thread_id = {thread_id} AND gone") != []:
            return
        await asyncio.sleep(0.03)
    raise AssertionError(f"thread {thread_id} was never marked gone")


def lines(club: Club, channel: int = CHANNEL) -> list[Any]:
    """The short lines about notes in a channel."""
    return [m for m in club.posted(channel) if m.content and m.content.startswith("📝")]


def assert_line(message: Any, author: str, thread_id: int) -> None:
    """The one short line a channel gets: who, which paper, a link to the thread the note is in; no pings."""
    assert message.content.startswith(f"📝 **{author}** added a note on **")
    assert message.content.endswith(f"→ https://discord.com/channels/{GUILD}/{thread_id}")
    assert not message.embeds and message.allowed_mentions["parse"] == []


async def test_first_note_opens_the_thread_and_later_notes_go_in_it(club: Club) -> None:
    await threads_on(club)
    first = await club.run("note add", paper=ATTENTION, text="opening the discussion")
    thread_id = only_thread(club)
    thread = club.discord.threads(GUILD)[0]
    assert thread["parent_id"] == str(CHANNEL) and "Comparative" not in thread["name"] and len(thread["name"]) <= 100
    assert notes_in(club, thread_id) == ["opening the discussion"]
    [line] = club.posted()  # the channel: one line, the thread hanging off it
    assert line.thread is not None and int(line.thread["id"]) == thread_id
    ann_note = club.discord.channel_messages(thread_id)[0]
    assert_line(line, "ann", thread_id)
    assert f"/{thread_id}/{ann_note.id}" in first.original.text()  # the member's confirmation links to the note

    second = await club.run("note add", paper=ATTENTION, text="a reply @everyone", user=BOB)
    assert only_thread(club) == thread_id
    assert notes_in(club, thread_id) == ["opening the discussion", "a reply @everyone"]
    bob_note = club.discord.channel_messages(thread_id)[1]
    assert bob_note.allowed_mentions["parse"] == []
    both = club.posted()
    assert len(both) == 2 and both[1].thread is None
    assert_line(both[1], "bob", thread_id)
    assert f"/{thread_id}/{bob_note.id}" in second.original.text()
    stored = await rows(club, "SELECT author_id, channel_id, thread_id, message_id FROM notes ORDER BY id")
    assert stored == [(ANN, thread_id, thread_id, ann_note.id), (BOB, thread_id, thread_id, bob_note.id)]
    assert await rows(club, "SELECT guild_id, channel_id, thread_id FROM paper_threads") == [
        (GUILD, CHANNEL, thread_id)
    ]

    card = await club.run("paper", query=ATTENTION, user=OWNER)
    assert f"[The group's thread on it](https://discord.com/channels/{GUILD}/{thread_id})" in card.original.text()
    other_card = await club.run("paper", query=OTHER_PAPER, user=OWNER)
    assert "The group's thread" not in other_card.original.text()

    edited = await club.run("note edit", note="2", text="a better reply", user=BOB)  # replaced where it was
    assert "Updated" in edited.original.text()
    assert notes_in(club, thread_id) == ["opening the discussion", "a better reply"]
    assert len(lines(club)) == 2  # an edit adds no line
    await club.run("note edit", note="1", text="a better opening")
    ask = await club.run("note delete", note="2", user=BOB)
    await club.click(ask, "confirm", user=BOB)
    assert notes_in(club, thread_id) == ["a better opening"]
    for line in lines(club):  # the lines still lead to the notes' thread: the messages they named were replaced
        assert line.content.endswith(f"→ https://discord.com/channels/{GUILD}/{thread_id}")


async def test_a_note_from_another_channel_goes_in_the_paper_thread(club: Club) -> None:
    club.discord.add_channel(GUILD, READING, name="reading")
    await threads_on(club)
    await club.run("note add", paper=ATTENTION, text="first, in #papers")
    thread_id = only_thread(club)
    await club.run("note add", paper=ATTENTION, text="second, from #reading", user=BOB, channel=READING)
    assert only_thread(club) == thread_id
    assert notes_in(club, thread_id) == ["first, in #papers", "second, from #reading"]
    [line] = club.posted(READING)
    assert_line(line, "bob", thread_id)
    assert len(club.posted()) == 1  # #papers only has the first note's line


async def test_deleting_a_note_takes_its_line_away_and_rewords_the_line_that_opened_the_thread(club: Club) -> None:
    club.discord.add_channel(GUILD, READING, name="reading")
    await threads_on(club)
    await club.run("note add", paper=ATTENTION, text="opening the discussion")
    thread_id = only_thread(club)
    [opening] = lines(club)
    await club.run("note add", paper=ATTENTION, text="a reply", user=BOB)
    await club.run("note add", paper=ATTENTION, text="from #reading", user=MOD, channel=READING)
    assert len(lines(club)) == 2 and len(lines(club, READING)) == 1

    ask = await club.run("note delete", note="2", user=BOB)
    await club.click(ask, "confirm", user=BOB)
    assert lines(club) == [opening] and notes_in(club, thread_id) == ["opening the discussion", "from #reading"]

    club.discord.remove_channel(READING)  # its line cannot be taken back: the note goes all the same
    ask = await club.run("note delete", note="3", user=MOD)
    done = await club.click(ask, "confirm", user=MOD)
    assert "Deleted note #3" in done.text() and notes_in(club, thread_id) == ["opening the discussion"]

    ask = await club.run("note delete", note="1")
    await club.click(ask, "confirm")
    assert notes_in(club, thread_id) == [] and lines(club) == [opening] and only_thread(club) == thread_id
    assert "added a note" not in opening.content and "was deleted" in opening.content  # the way into the thread
    assert opening.content.endswith(f"→ https://discord.com/channels/{GUILD}/{thread_id}")
    assert opening.allowed_mentions["parse"] == [] and not opening.deleted


async def test_a_long_note_goes_in_the_thread_whole(club: Club) -> None:
    await threads_on(club)
    await club.run("note add", paper=ATTENTION, text="short first note")
    thread_id = only_thread(club)
    body = "\n\n".join(f"Paragraph {i}: " + " ".join(f"w{i}_{j}" for j in range(120)) for i in range(16))
    file = club.discord.host_file("notes.md", body.encode(), content_type="text/markdown")
    await club.run("note add", paper=ATTENTION, user=BOB, attachments={"file": file})
    in_thread = club.discord.channel_messages(thread_id)
    [(message_ids,)] = await rows(club, f"SELECT message_ids FROM notes WHERE author_id = {BOB}")
    ids = message_ids if isinstance(message_ids, list) else json.loads(message_ids)
    assert len(ids) >= 3 and ids == [m.id for m in in_thread[1:]]  # every part, in order, in the thread
    assert len(lines(club)) == 2  # and one line for it in the channel
    ask = await club.run("note delete", note="2", user=BOB)
    await club.click(ask, "confirm", user=BOB)
    assert len(club.discord.channel_messages(thread_id)) == 1


async def test_racing_first_notes_share_one_thread(club: Club) -> None:
    club.discord.add_channel(GUILD, READING, name="reading")
    await threads_on(club)
    # Both notes' threads are opened at the same moment: each was asked for before either was recorded.
    club.discord.hold_requests("POST", r"/channels/\d+/messages/\d+/threads", parties=2)
    await asyncio.gather(
        club.run("note add", paper=ATTENTION, text="ann's take"),
        club.run("note add", paper=ATTENTION, text="bob's take", user=BOB, channel=READING),
    )
    thread_id = only_thread(club)  # the other thread was deleted before anything was posted in it
    deleted = [path for method, path in club.discord.requests if method == "DELETE" and path.count("/") == 2]
    assert len(deleted) == 1 and deleted[0] != f"/channels/{thread_id}"
    assert sorted(notes_in(club, thread_id)) == ["ann's take", "bob's take"]
    assert await rows(club, "SELECT thread_id FROM paper_threads") == [(thread_id,)]
    assert await rows(club, "SELECT DISTINCT channel_id, thread_id FROM notes") == [(thread_id, thread_id)]
    posted = club.posted() + club.posted(READING)
    assert len(posted) == 2  # one line a note: the loser's first line went with its thread
    assert [int(m.thread["id"]) for m in posted if m.thread] == [thread_id]

    # Notes racing in one channel, on another paper, share one thread too.
    await asyncio.gather(
        *(club.run("note add", paper=OTHER_PAPER, text=f"take {n}", user=user) for n, user in enumerate((ANN, BOB)))
    )
    assert len(club.discord.threads(GUILD)) == 2
    assert await rows(club, "SELECT count(*) FROM paper_threads") == [(2,)]


async def test_an_archived_thread_opens_again_and_a_gone_one_is_replaced(club: Club) -> None:
    await threads_on(club)
    await club.run("note add", paper=ATTENTION, text="one")
    first = only_thread(club)
    club.discord.archive_thread(first)  # a week without messages: Discord archived it
    await club.run("note add", paper=ATTENTION, text="two", user=BOB)
    assert only_thread(club) == first and notes_in(club, first) == ["one", "two"]
    assert club.discord.threads(GUILD)[0]["thread_metadata"]["archived"] is False

    club.discord.remove_channel(first)  # a moderator deleted it
    await club.run("note add", paper=ATTENTION, text="three", user=MOD)
    second = only_thread(club)
    assert second != first and notes_in(club, second) == ["three"]
    assert await rows(club, "SELECT thread_id FROM paper_threads") == [(second,)]

    club.discord.archive_thread(second, locked=True)  # a moderator closed it for good
    await club.run("note add", paper=ATTENTION, text="four", user=OWNER)
    third = next(int(t["id"]) for t in club.discord.threads(GUILD) if int(t["id"]) != second)
    assert notes_in(club, third) == ["four"] and notes_in(club, second) == ["three"]
    assert await rows(club, "SELECT thread_id FROM paper_threads") == [(third,)]
    card = await club.run("paper", query=ATTENTION)
    assert f"/channels/{GUILD}/{third})" in card.original.text()


async def test_a_thread_deleted_on_discord_is_linked_no_more_and_the_next_note_opens_another(club: Club) -> None:
    await threads_on(club)
    await club.run("note add", paper=ATTENTION, text="one")
    first = only_thread(club)
    link = f"[The group's thread on it](https://discord.com/channels/{GUILD}/{first})"
    assert link in (await club.run("paper", query=ATTENTION)).original.text()

    club.discord.remove_channel(first)  # a moderator deleted it: Discord says so to the bot
    await until_gone(club, first)
    assert "The group's thread" not in (await club.run("paper", query=ATTENTION)).original.text()

    club.discord.bot_permissions &= ~CREATE_PUBLIC_THREADS  # no new thread to be had: the note stays in the channel
    await club.run("note add", paper=ATTENTION, text="two", user=BOB)
    assert club.discord.threads(GUILD) == [] and "two" in club.posted()[-1].text()
    assert "The group's thread" not in (await club.run("paper", query=ATTENTION)).original.text()

    club.discord.bot_permissions |= CREATE_PUBLIC_THREADS
    await club.run("note add", paper=ATTENTION, text="three", user=MOD)
    second = only_thread(club)
    assert second != first and notes_in(club, second) == ["three"]
    assert [(t, bool(g)) for t, g in await rows(club, "SELECT thread_id, gone FROM paper_threads")] == [(second, False)]
    card = (await club.run("paper", query=ATTENTION)).original.text()
    assert f"[The group's thread on it](https://discord.com/channels/{GUILD}/{second})" in card


async def test_a_thread_found_deleted_when_a_note_is_posted_is_linked_no_more(club: Club) -> None:
    await threads_on(club)
    await club.run("note add", paper=ATTENTION, text="one")
    first = only_thread(club)
    club.discord.remove_channel(first, notify=False)  # deleted while the bot was away: it learns on posting there
    club.discord.bot_permissions &= ~CREATE_PUBLIC_THREADS
    done = await club.run("note add", paper=ATTENTION, text="two", user=BOB)
    assert "Saved" in done.original.text() and "two" in club.posted()[-1].text()
    assert [(t, bool(g)) for t, g in await rows(club, "SELECT thread_id, gone FROM paper_threads")] == [(first, True)]
    assert "The group's thread" not in (await club.run("paper", query=ATTENTION)).original.text()


async def test_with_the_setting_off_notes_stay_in_the_channel(club: Club) -> None:
    await club.run("note add", paper=ATTENTION, text="in the channel please")
    await club.run("note add", paper=ATTENTION, text="nor here", user=BOB)
    assert club.discord.threads(GUILD) == []
    assert [m.embeds[0]["description"] for m in club.posted()] == ["in the channel please", "nor here"]
    assert await rows(club, "SELECT count(*) FROM paper_threads") == [(0,)]
    card = await club.run("paper", query=ATTENTION)
    assert "The group's thread" not in card.original.text()


async def test_another_groups_notes_never_reach_this_groups_thread(club: Club) -> None:
    await threads_on(club)
    await club.run("note add", paper=ATTENTION, text="first server")
    thread_id = only_thread(club)
    await club.run("note add", paper=ATTENTION, text="second server, threads off", guild=OTHER_GUILD)
    assert [m.embeds[0]["description"] for m in club.posted(OTHER_CHANNEL)] == ["second server, threads off"]
    await threads_on(club, OTHER_GUILD)
    await club.run("note add", paper=ATTENTION, text="second server, threads on", user=BOB, guild=OTHER_GUILD)
    other_thread = only_thread(club, OTHER_GUILD)
    assert other_thread != thread_id
    assert notes_in(club, thread_id) == ["first server"]
    assert notes_in(club, other_thread) == ["second server, threads on"]
    card = await club.run("paper", query=ATTENTION, guild=OTHER_GUILD)
    assert f"/{other_thread})" in card.original.text() and str(thread_id) not in card.original.text()


async def test_a_note_written_inside_the_thread_needs_no_line_and_another_papers_gets_its_own_thread(
    club: Club,
) -> None:
    await threads_on(club)
    await club.run("note add", paper=ATTENTION, text="first")
    thread_id = only_thread(club)
    done = await club.run("note add", paper=ATTENTION, text="from inside", user=BOB, channel=thread_id)
    assert "Saved" in done.original.text()
    assert notes_in(club, thread_id) == ["first", "from inside"]
    assert len(lines(club)) == 1 and lines(club, thread_id) == []  # only the line that opened the thread

    # A note on another paper written in this thread opens that paper's thread from the group's channel.
    done = await club.run("note add", paper=OTHER_PAPER, text="on the other paper", user=MOD, channel=thread_id)
    assert "Saved" in done.original.text()
    [other_thread] = [int(t["id"]) for t in club.discord.threads(GUILD) if int(t["id"]) != thread_id]
    assert club.discord.channel(other_thread)["parent_id"] == str(CHANNEL)
    assert notes_in(club, other_thread) == ["on the other paper"]
    assert notes_in(club, thread_id) == ["first", "from inside"]
    assert len(lines(club)) == 2 and lines(club, thread_id) == []


async def test_where_no_thread_may_be_opened_the_note_stays_in_the_channel(club: Club) -> None:
    await threads_on(club)
    club.discord.bot_permissions &= ~CREATE_PUBLIC_THREADS  # the server took the permission away
    done = await club.run("note add", paper=ATTENTION, text="in the channel after all")
    assert "Saved" in done.original.text()
    assert club.discord.threads(GUILD) == []
    assert [m.embeds[0]["description"] for m in club.posted()] == ["in the channel after all"]  # no stray line
    assert await rows(club, "SELECT count(*) FROM paper_threads") == [(0,)]
    club.discord.bot_permissions |= CREATE_PUBLIC_THREADS
    await club.run("note add", paper=ATTENTION, text="now a thread", user=BOB)
    assert notes_in(club, only_thread(club)) == ["now a thread"]


async def test_a_paper_title_with_markdown_mentions_and_4000_characters_stays_plain_and_within_limits(
    club: Club,
) -> None:
    title = "[Claim your prize](https://evil.example) @everyone <@123> **loud** " + "x" * 4000
    club.arxiv.revised[TRAP] = entry_xml(TRAP, title, authors=["A. Author"], published="2023-01-01T00:00:00Z")
    await threads_on(club)
    done = await club.run("note add", paper=TRAP, text="first")
    [thread] = club.discord.threads(GUILD)
    assert thread["name"].startswith("[Claim your prize]") and len(thread["name"]) == 100  # names show no markdown
    [line] = lines(club)
    assert "\\[Claim your prize\\](" in line.content and "@everyone" not in line.content and len(line.content) < 500
    assert line.allowed_mentions["parse"] == []
    for said in (done.original.text(), (await club.run("note add", paper=TRAP, text="again")).original.text()):
        assert "\\[Claim your prize\\](" in said and "@everyone" not in said and "\\*\\*loud" in said


async def test_a_note_in_an_archived_thread_is_deleted_and_replaced_there_not_left_behind(club: Club) -> None:
    """Discord refuses to delete or edit a message in an archived thread: the bot opens the thread again first, as
    Discord's app does, so a note deleted or edited a week on leaves no old copy behind."""
    await threads_on(club)
    await club.run("note add", paper=ATTENTION, text="one")
    await club.run("note add", paper=ATTENTION, text="two", user=BOB)
    thread_id = only_thread(club)
    club.discord.archive_thread(thread_id)  # a week without messages: Discord archived it

    await club.run("note edit", note="2", text="two, better", user=BOB)
    assert notes_in(club, thread_id) == ["one", "two, better"]

    club.discord.archive_thread(thread_id)
    ask = await club.run("note delete", note="1")
    await club.click(ask, "confirm")
    assert notes_in(club, thread_id) == ["two, better"]


async def test_a_deleted_notes_line_in_an_archived_thread_is_taken_away(club: Club) -> None:
    await threads_on(club)
    await club.run("note add", paper=OTHER_PAPER, text="on the other paper")
    await club.run("note add", paper=ATTENTION, text="first")
    other, attention = (int(t["id"]) for t in club.discord.threads(GUILD))
    # Written inside the first paper's thread: the note goes in its own paper's thread, its line in this one.
    await club.run("note add", paper=OTHER_PAPER, text="from the attention thread", user=BOB, channel=attention)
    assert notes_in(club, other) == ["on the other paper", "from the attention thread"]
    assert len(lines(club, attention)) == 1

    club.discord.archive_thread(attention)  # a week on, Discord archived the thread the line is in
    ask = await club.run("note delete", note="3", user=BOB)
    await club.click(ask, "confirm", user=BOB)
    assert notes_in(club, other) == ["on the other paper"]
    assert lines(club, attention) == []


async def test_a_deleted_threads_opening_line_goes_with_its_note_not_left_linking_nowhere(club: Club) -> None:
    await threads_on(club)
    await club.run("note add", paper=ATTENTION, text="one")
    first = only_thread(club)
    [opening] = lines(club)
    club.discord.remove_channel(first)  # a moderator deleted the thread: its opening line stays in the channel
    await until_gone(club, first)
    await club.run("note add", paper=ATTENTION, text="two", user=BOB)
    second = only_thread(club)
    assert second != first and len(lines(club)) == 2

    ask = await club.run("note delete", note="1")
    await club.click(ask, "confirm")
    assert opening.deleted  # its thread is gone: reworded, it would lead nowhere
    [standing] = lines(club)
    assert standing.content.endswith(f"→ https://discord.com/channels/{GUILD}/{second}")


async def test_a_deleted_channels_paper_threads_go_with_it_though_discord_tells_of_no_thread_deleted(
    club: Club,
) -> None:
    club.discord.add_channel(GUILD, READING, name="reading")
    await threads_on(club)
    await club.run("note add", paper=ATTENTION, text="in #reading", channel=READING)
    doomed = only_thread(club)
    club.discord.archive_thread(doomed)  # a week without messages: Discord archived it, out of the bot's view
    await club.run("note add", paper=OTHER_PAPER, text="in #papers")
    [kept] = [int(t["id"]) for t in club.discord.threads(GUILD) if int(t["id"]) != doomed]

    club.discord.remove_channel(READING)  # a moderator deleted #reading, and its threads with it
    await until_gone(club, doomed)
    assert "The group's thread" not in (await club.run("paper", query=ATTENTION)).original.text()
    kept_link = f"[The group's thread on it](https://discord.com/channels/{GUILD}/{kept})"
    assert kept_link in (await club.run("paper", query=OTHER_PAPER)).original.text()
    marked = await rows(club, "SELECT thread_id, gone FROM paper_threads ORDER BY thread_id")
    assert [(t, bool(g)) for t, g in marked] == [(doomed, True), (kept, False)]

    await club.run("note add", paper=ATTENTION, text="in #papers now", user=BOB)
    [fresh] = [int(t["id"]) for t in club.discord.threads(GUILD) if int(t["id"]) != kept]
    assert notes_in(club, fresh) == ["in #papers now"] and club.discord.channel(fresh)["parent_id"] == str(CHANNEL)


async def test_an_edited_note_whose_thread_was_deleted_leaves_no_line_leading_to_it(club: Club) -> None:
    await threads_on(club)
    await club.run("note add", paper=ATTENTION, text="one")
    first = only_thread(club)
    await club.run("note add", paper=ATTENTION, text="two", user=BOB)
    opening, bobs = lines(club)
    club.discord.remove_channel(first)  # a moderator deleted the thread: its lines stay in the channel
    await until_gone(club, first)

    edited = await club.run("note edit", note="2", text="two, better", user=BOB)
    second = only_thread(club)
    assert second != first and notes_in(club, second) == ["two, better"]
    assert f"/{second}/" in edited.original.text()
    assert bobs.deleted  # it led to the deleted thread
    assert not opening.deleted  # another note's line: that note was not edited
    [new_line] = [line for line in lines(club) if line.id not in (opening.id, bobs.id)]
    assert new_line.content.endswith(f"→ https://discord.com/channels/{GUILD}/{second}")

    await club.run("note edit", note="1", text="one, better")  # the line that opened the deleted thread goes too
    assert opening.deleted and notes_in(club, second) == ["two, better", "one, better"]
    assert lines(club) == [new_line]  # into the standing thread: an edit adds no line

    ask = await club.run("note delete", note="2", user=BOB)  # the new line is the note's now: it opened the thread
    await club.click(ask, "confirm", user=BOB)
    assert not new_line.deleted and "was deleted; the paper's thread →" in new_line.content
