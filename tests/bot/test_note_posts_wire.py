"""Long notes, replacing every message a note was posted as, who may delete, and a note's history, through the
real discord.py client and the loopback Discord."""

from __future__ import annotations

import json

from sqlalchemy import text

from tests.bot.conftest import ANN, BOB, CHANNEL, GUILD, MANAGE_MESSAGES, MOD, OTHER_GUILD, Club

ATTENTION = "1111.2011"  # in the arXiv stand-in's catalog


def long_body(paragraphs: int, tag: str = "w") -> str:
    """A note of ``paragraphs`` paragraphs of about 750 characters each, every word unique."""
    return "\n\n".join(f"Paragraph {i}: " + " ".join(f"{tag}{i}_{j}" for j in range(100)) for i in range(paragraphs))


async def add_from_file(club: Club, body: str, *, user: int = ANN) -> None:
    file = club.discord.host_file("note.md", body.encode(), content_type="text/markdown")
    inter = await club.run("note add", user=user, paper=ATTENTION, attachments={"file": file})
    assert "Saved note" in inter.original.text()


async def edit_from_file(club: Club, body: str) -> None:
    file = club.discord.host_file("note.md", body.encode(), content_type="text/markdown")
    inter = await club.run("note edit", note="1", attachments={"file": file})
    assert "Updated note" in inter.original.text()


async def stored_ids(club: Club) -> list[int]:
    async with club.bot.services.sessions() as session:
        row = (await session.exec(text("SELECT message_ids FROM notes WHERE id = 1"))).one()  # type: ignore[call-overload]
    raw = row[0]
    return list(json.loads(raw) if isinstance(raw, str) else raw)


def shown_words(messages: list) -> list[str]:
    return "\n\n".join(e["description"] for m in messages for e in m.embeds).split()


async def test_a_long_note_is_posted_as_its_start_with_the_whole_note_attached(club: Club) -> None:
    body = long_body(130)
    assert len(body) > 90_000
    await add_from_file(club, body)
    posted = club.posted()
    assert len(posted) == 1  # not 17 messages
    assert "whole note is attached" in posted[0].content and "note-1.md" in posted[0].content
    attached = posted[0].attachment("note-1.md")["data"].decode()
    assert body in attached and "Note #1 by ann" in attached  # nothing cut: the whole text is in the file
    assert shown_words([posted[0]]) == body.split()[: len(shown_words([posted[0]]))]  # the start, in order

    show = await club.run("note show", note="1")
    assert show.ephemeral and 1 <= len(show.messages) <= 3
    assert body in show.messages[0].attachment("note-1.md")["data"].decode()
    assert len(club.posted()) == 1  # showing it did not post it again

    await edit_from_file(club, long_body(131, tag="v"))
    posted = club.posted()
    assert len(posted) == 1 and "v130_0" in posted[0].attachment("note-1.md")["data"].decode()
    assert await stored_ids(club) == [posted[0].id]


async def test_a_note_of_three_messages_is_posted_whole_without_a_file(club: Club) -> None:
    body = long_body(20)
    await add_from_file(club, body)
    posted = club.posted()
    assert len(posted) == 3 and all(not m.attachments for m in posted)
    assert shown_words(posted) == body.split()
    show = await club.run("note show", note="1")
    assert show.ephemeral and len(show.messages) == 3 and shown_words(show.messages) == body.split()


async def test_edit_and_delete_replace_every_message_the_note_was_posted_as(club: Club) -> None:
    await add_from_file(club, long_body(20))
    first = club.posted()
    assert len(first) == 3 and await stored_ids(club) == [m.id for m in first]

    short = await club.run("note edit", note="1", text="Now a short note.")
    assert "Updated note #1" in short.original.text()
    posted = club.posted()
    assert len(posted) == 1 and posted[0].embeds[0]["description"] == "Now a short note."  # none of the 3 left
    assert await stored_ids(club) == [posted[0].id]

    await edit_from_file(club, long_body(20, tag="x"))
    posted = club.posted()
    assert len(posted) == 3 and shown_words(posted) == long_body(20, tag="x").split()
    assert await stored_ids(club) == [m.id for m in posted]

    await club.discord._delete(posted[1])  # a moderator removed one part already: its 404 is fine
    ask = await club.run("note delete", note="1")
    done = await club.click(ask, "confirm")
    assert "Deleted note #1" in done.text()
    assert club.posted() == []  # every part is gone


async def test_a_channel_overwrite_does_not_let_a_member_delete_others_notes(club: Club) -> None:
    await club.run("note add", paper=ATTENTION, text="ann's")
    club.discord.set_member_overwrite(CHANNEL, BOB, allow=MANAGE_MESSAGES)
    await club.discord.settle()
    refused = await club.run("note delete", note="1", user=BOB)
    assert int(refused.payload["member"]["permissions"]) & MANAGE_MESSAGES  # Manage Messages here, not server-wide
    assert "only its author" in (refused.error or "")
    offered = await club.discord.autocomplete(
        "note delete", guild_id=GUILD, channel_id=CHANNEL, user_id=BOB, options={"note": ""}, focused="note"
    )
    assert offered == []  # not offered others' notes either
    ask = await club.run("note delete", note="1", user=MOD)  # Manage Messages in the server
    assert "ann's note" in ask.original.text()
    assert "Deleted" in (await club.click(ask, "confirm", user=MOD)).text()
    assert club.posted() == []


async def test_history_lists_every_earlier_version_with_its_date_and_editor(club: Club) -> None:
    await club.run("note add", paper=ATTENTION, tags="first", text="Version one text.")
    await club.run("note edit", note="1", text="Version two text.")
    await club.run("note edit", note="1", text="Version three text.", tags="third")

    history = await club.run("note history", note="1", user=BOB)  # any member may read it
    assert history.ephemeral
    page = history.original
    assert "Version two text." in page.text() and "version 2 of 3" in page.text()
    assert "ann" in page.text() and "<t:" in page.text()  # who wrote it, and when
    assert "page 1 of 2" in page.text()
    second = await club.click(history, "page:next", user=BOB)
    assert "Version one text." in second.text() and "version 1 of 3" in second.text() and "`first`" in second.text()
    assert "Version three text." not in history.text() + second.text()  # only earlier versions

    show = await club.run("note show", note="1")
    assert show.ephemeral and "Version three text." in show.text()
    pressed = await club.click(show, "note:history")
    assert pressed.ephemeral and "Version two text." in pressed.text()


async def test_history_of_a_long_version_is_paged_whole_and_an_unedited_note_has_none(club: Club) -> None:
    await club.run("note add", paper=ATTENTION, text="short")
    show = await club.run("note show", note="1")
    assert not any(b["custom_id"] == "note:history" for m in show.messages for b in m.buttons())
    none = await club.run("note history", note="1")
    assert none.ephemeral and "no earlier versions" in none.original.text()

    body = long_body(20)
    await edit_from_file(club, body)
    await club.run("note edit", note="1", text="short again")
    history = await club.run("note history", note="1")
    texts = [history.original.embeds[0]["description"]]
    while any(b["custom_id"] == "page:next" and not b.get("disabled") for b in history.original.buttons()):
        await club.click(history, "page:next")  # the page is edited in place
        texts.append(history.original.embeds[0]["description"])
    assert len(texts) > 3 and all(len(t) <= 4096 for t in texts)
    assert "\n\n".join(t for t in texts if "Paragraph" in t).split() == body.split()  # nothing cut, in order
    assert "short" in texts[-1]  # the first version comes last


async def test_history_of_another_servers_note_looks_like_no_note(club: Club) -> None:
    await club.run("note add", paper=ATTENTION, text="one")
    await club.run("note edit", note="1", text="two")
    other = await club.run("note history", guild=OTHER_GUILD, note="1")
    assert other.error and "no note" in other.error
