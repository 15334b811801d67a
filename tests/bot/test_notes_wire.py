"""What members do with notes, through the real discord.py client and the loopback Discord."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from schedules.jobs import register_jobs
from tests.arxiv_standin import Reply
from tests.bot.conftest import ANN, BOB, CHANNEL, GUILD, MOD, OTHER_CHANNEL, OTHER_GUILD, Club
from tests.fakediscord import CommandUnavailable

ATTENTION = "1111.2011"  # in the arXiv stand-in's catalog (a real 2011 entry)
KNOWN_TITLE = "Testing Deep Learning Models: A First Comparative Study of Multiple Testing Techniques"
KNOWN_ID = "2202.12139"


def form_inputs(modal: dict) -> dict[str, dict]:
    """The text inputs of a form by custom id, whichever layout (action rows or labels) it uses."""
    found = {}
    for row in modal["components"]:
        for component in row.get("components") or [row.get("component") or {}]:
            if component.get("type") == 4:
                found[component["custom_id"]] = {**component, "label": component.get("label") or row.get("label")}
    return found


async def count(club: Club, table: str) -> int:
    async with club.bot.services.sessions() as session:
        return (await session.exec(text(f"SELECT count(*) FROM {table}"))).one()[0]  # type: ignore[call-overload]


async def test_commands_are_synced_with_descriptions(club: Club) -> None:
    synced = {c["name"]: c for c in club.discord.commands[None]}
    assert {"note", "notes", "help", "settings"} <= set(synced)
    subcommands = {o["name"] for o in synced["note"]["options"]}
    assert subcommands == {"add", "edit", "delete", "show", "history"}
    for command in synced.values():
        assert command["description"]
        for option in command.get("options", []):
            assert option["description"]
    assert synced["note"]["contexts"] == [0] or synced["note"].get("dm_permission") is False


async def test_help_lists_every_command(club: Club) -> None:
    inter = await club.run("help")
    shown = inter.original.text()
    assert inter.ephemeral
    for command in ("/note add", "/note edit", "/note delete", "/note show", "/notes", "/help"):
        assert command in shown


async def test_add_with_text_posts_the_note_and_stores_it(club: Club) -> None:
    inter = await club.run(
        "note add",
        paper=f"https://arxiv.org/abs/{ATTENTION}v1",
        tags="llms, eval",
        text="Loved it @everyone <@&123> — $\\alpha^2$ and **bold**",
    )
    assert inter.ephemeral and "Saved note #1" in inter.original.text()
    posted = club.posted()
    assert len(posted) == 1
    embed = posted[0].embeds[0]
    assert embed["url"] == f"https://arxiv.org/abs/{ATTENTION}"
    assert embed["title"] and ATTENTION not in embed["title"]  # the real title, from arXiv
    assert "$\\alpha^2$ and **bold**" in embed["description"] and "@everyone" in embed["description"]
    assert "`llms` `eval`" in posted[0].text()
    assert posted[0].allowed_mentions == {"parse": []} or posted[0].allowed_mentions["parse"] == []
    assert str(posted[0].id) in inter.original.text()  # the confirmation links to the message
    async with club.bot.services.sessions() as session:
        row = (await session.exec(text("SELECT guild_id, author_id, message_id FROM notes"))).one()  # type: ignore[call-overload]
    assert row == (GUILD, ANN, posted[0].id)


async def test_add_without_text_opens_the_form_and_saves_its_sections(club: Club) -> None:
    inter = await club.run("note add", paper=ATTENTION, tags="rl")
    assert inter.response_type == 9
    inputs = form_inputs(inter.modal)
    assert [i["label"] for i in inputs.values()] == ["Summary", "Method", "Results", "Questions", "Tags"]
    assert all(i["max_length"] == 4000 for i in list(inputs.values())[:4])
    assert inputs["note:tags"]["value"] == "rl"
    done = await club.submit(
        inter,
        summary="A new *thing*.",
        method="- LoRA\n- $W = BA$",
        results="",
        questions="Why?",
        tags="rl, llms/prompting",
    )
    assert "Saved note" in done.original.text()
    body = club.posted()[0].embeds[0]["description"]
    assert body == "## Summary\nA new *thing*.\n\n## Method\n- LoRA\n- $W = BA$\n\n## Questions\nWhy?"
    assert "`rl` `llms/prompting`" in club.posted()[0].text()


async def test_empty_form_is_refused_and_nothing_is_stored(club: Club) -> None:
    inter = await club.run("note add", paper=ATTENTION)
    done = await club.submit(inter, summary="  ", method="", results="", questions="")
    assert done.error and "empty" in done.error
    assert await count(club, "notes") == 0 and club.posted() == []


async def test_second_note_on_same_paper_offers_update(club: Club) -> None:
    await club.run("note add", paper=ATTENTION, text="first take")
    again = await club.run("note add", paper=f"arXiv:{ATTENTION}v2", text="second take")
    assert again.ephemeral and "already have a note" in again.original.text()
    assert await count(club, "notes") == 1
    updated = await club.click(again, "confirm")
    assert "Updated note #1" in updated.text()
    assert club.posted()[-1].embeds[0]["description"] == "second take"
    assert "edited (version 2)" in club.posted()[-1].text()
    assert len(club.posted()) == 1  # the old message was replaced, not left behind
    assert await count(club, "note_revisions") == 1


async def test_add_form_on_already_noted_paper_offers_the_prefilled_edit_form(club: Club) -> None:
    await club.run("note add", paper=ATTENTION, text="## Summary\nold summary\n## Questions\nq1")
    offer = await club.run("note add", paper=ATTENTION)
    assert "already have a note" in offer.original.text()
    form = await club.click(offer, "confirm")
    assert form.response_type == 9
    defaults = {key: c.get("value") for key, c in form_inputs(form.modal).items()}
    assert defaults["note:summary"] == "old summary" and defaults["note:questions"] == "q1"
    done = await club.submit(form, summary="new summary", method="", results="", questions="q1", tags="")
    assert "Updated note #1" in done.original.text()


async def test_long_note_from_a_file_spans_messages_in_order(club: Club) -> None:
    paragraphs = [f"Paragraph {i}: " + " ".join(f"w{i}_{j}" for j in range(120)) for i in range(16)]
    body = "\n\n".join(paragraphs)
    assert len(body) > 12_000
    file = club.discord.host_file("notes.md", body.encode(), content_type="text/markdown")
    inter = await club.run("note add", paper=ATTENTION, attachments={"file": file})
    assert "Saved note" in inter.original.text()
    posted = club.posted()
    assert len(posted) >= 3
    shown = "\n\n".join(e["description"] for m in posted for e in m.embeds)
    assert shown.split() == body.split()  # nothing cut, in order
    show = await club.run("note show", note="1")
    assert show.ephemeral  # shown to the member alone: the channel already has it
    assert "\n\n".join(e["description"] for m in show.messages for e in m.embeds).split() == body.split()


async def test_bad_files_are_refused_and_nothing_is_stored(club: Club) -> None:
    cases = [
        ("empty.md", b"", "empty"),
        ("image.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        ("latin.txt", "résumé".encode("latin-1"), "UTF-8"),
        ("big.md", b"x" * 1_000_001, "1 MB"),
        ("long.md", b"x" * 100_001, "100,000"),
        ("paper.pdf", b"%PDF-1.7", ".md"),
    ]
    for name, data, needle in cases:
        inter = await club.run("note add", paper=ATTENTION, attachments={"file": club.discord.host_file(name, data)})
        assert inter.ephemeral and inter.error and needle in inter.error, (name, inter.error)
    assert await count(club, "notes") == 0 and club.posted() == []


async def test_bad_paper_and_tags_are_refused_with_what_was_expected(club: Club) -> None:
    for paper, tags, needle in [
        ("2413.99999", None, "Expected"),
        ("!!", None, "Expected"),
        ("https://arxiv.org/list/cs.LG/recent", None, "arXiv link"),
        (ATTENTION, ",".join(f"t{i}" for i in range(11)), "at most 10"),
        (ATTENTION, "x" * 41, "too long"),
    ]:
        inter = await club.run("note add", paper=paper, tags=tags, text="hello")
        assert inter.ephemeral and needle in (inter.error or ""), (paper, inter.error)
    assert await count(club, "notes") == 0


async def test_unknown_arxiv_id_is_refused(club: Club) -> None:
    inter = await club.run("note add", paper="2401.00001", text="hello")
    assert "arXiv has no paper" in (inter.error or "")
    assert await count(club, "notes") == 0


async def test_arxiv_down_saves_note_with_details_pending_then_fills_them(club: Club) -> None:
    club.arxiv.then(*[Reply.of("api2026_error_503_html_2026-01-08.xml", status=503)] * 8)
    inter = await club.run("note add", paper=ATTENTION, text="saved anyway")
    assert "Saved note" in inter.original.text() and "filled in later" in inter.original.text()
    assert "pending" in club.posted()[0].embeds[0]["title"]
    club.arxiv.script.clear()
    assert await club.bot.services.papers.fill_pending() == 1
    show = await club.run("note show", note="1")
    assert "pending" not in show.original.embeds[0]["title"]


async def test_title_words_offer_candidates_to_pick_from(club: Club, catalog: object) -> None:
    club.arxiv.search_reply = lambda query: Reply.of("api2026_search_testing_100.xml")
    inter = await club.run("note add", paper="testing deep learning", text="picked by title")
    assert "Pick the one you mean" in inter.original.text()
    options = inter.original.selects()[0]["options"]
    assert 1 < len(options) <= 5
    chosen = next(o for o in options if KNOWN_ID in o["value"])
    picked = await club.discord.select(inter.original, "pick-paper", [chosen["value"]], user_id=ANN)
    await picked.wait_done()
    assert "Saved note" in picked.text()
    assert club.posted()[0].embeds[0]["title"].startswith("Testing Deep Learning Models")
    # the group now knows the paper: its exact title needs no picking and no arXiv search
    searches = len([s for s in club.arxiv.seen if "search_query" in s.query])
    again = await club.run("note add", paper=KNOWN_TITLE, text="second", user=BOB)
    assert "Saved note #2" in again.original.text()
    assert len([s for s in club.arxiv.seen if "search_query" in s.query]) == searches


async def test_edit_form_is_prefilled_and_keeps_the_old_version(club: Club) -> None:
    await club.run("note add", paper=ATTENTION, text="## Summary\nfirst\n\n## Results\nok", tags="rl")
    form = await club.run("note edit", note="1")
    values = {key: c.get("value") for key, c in form_inputs(form.modal).items()}
    assert (values["note:summary"], values["note:results"], values["note:tags"]) == ("first", "ok", "rl")
    done = await club.submit(form, summary="second", method="", results="ok", questions="", tags="rl, eval")
    assert "Updated note #1" in done.original.text()
    assert "version 2" in club.posted()[-1].text() and "`eval`" in club.posted()[-1].text()
    async with club.bot.services.sessions() as session:
        old = (await session.exec(text("SELECT body FROM note_revisions"))).one()[0]  # type: ignore[call-overload]
    assert old == "## Summary\nfirst\n\n## Results\nok"


async def test_edit_with_text_replaces_and_another_member_cannot_edit(club: Club) -> None:
    await club.run("note add", paper=ATTENTION, text="mine")
    refused = await club.run("note edit", note="1", text="hijacked", user=BOB)
    assert "only its author" in (refused.error or "")
    done = await club.run("note edit", note="#1", text="better")
    assert "Updated" in done.original.text()
    assert club.posted()[-1].embeds[0]["description"] == "better"


async def test_delete_asks_first_and_cancel_keeps_the_note(club: Club) -> None:
    await club.run("note add", paper=ATTENTION, text="keep me")
    ask = await club.run("note delete", note="1")
    assert ask.ephemeral and "Delete your note #1" in ask.original.text()
    cancelled = await club.click(ask, "cancel")
    assert "nothing was changed" in cancelled.text()
    assert await count(club, "notes") == 1 and len(club.posted()) == 1
    ask = await club.run("note delete", note="1")
    done = await club.click(ask, "confirm")
    assert "Deleted note #1" in done.text()
    assert await count(club, "notes") == 0 and club.posted() == []  # the posted message is gone too


async def test_only_the_author_or_a_moderator_deletes(club: Club) -> None:
    await club.run("note add", paper=ATTENTION, text="ann's")
    refused = await club.run("note delete", note="1", user=BOB)
    assert "only its author" in (refused.error or "")
    ask = await club.run("note delete", note="1", user=MOD)
    assert "ann's note" in ask.original.text()
    done = await club.click(ask, "confirm", user=MOD)
    assert "Deleted" in done.text() and await count(club, "notes") == 0


async def test_note_of_another_server_looks_like_no_note(club: Club) -> None:
    await club.run("note add", paper=ATTENTION, text="private to the first server")
    answers = []
    for note in ("1", "424242"):
        for command, extra in (("note show", {}), ("note edit", {"text": "x"}), ("note delete", {})):
            inter = await club.run(command, guild=OTHER_GUILD, note=note, **extra)
            answers.append((inter.error or "").replace(note, "N"))
    assert len(set(answers)) == 1 and "no note" in answers[0]
    listing = await club.run("notes", guild=OTHER_GUILD)
    assert "No notes" in listing.original.text()


async def test_notes_lists_newest_first_with_filters_and_pages(club: Club, catalog: object) -> None:
    ids = list(club.arxiv.catalog.ids(12))
    for i, ident in enumerate(ids):
        await club.run(
            "note add",
            paper=ident,
            text=f"note number {i}",
            tags="even" if i % 2 == 0 else "odd/x",
            user=ANN if i < 9 else BOB,
        )
    first = await club.run("notes")
    assert first.ephemeral and "Page 1 of 2" in first.original.text()
    shown = first.original.text()
    assert shown.index("note number 11") < shown.index("note number 10")
    page2 = await club.click(first, "page:next")
    assert "Page 2 of 2" in page2.text() and "note number 0" in page2.text()
    by_bob = await club.run("notes", member=BOB)
    assert "note number 9" in by_bob.original.text() and "note number 8" not in by_bob.original.text()
    odd = await club.run("notes", tag="odd")
    assert "6 notes" in odd.original.text()
    bad = await club.run("notes", since="last tuesday")
    assert "not a date" in (bad.error or "")
    recent = await club.run("notes", since="7d", paper=ids[3])
    assert "1 notes" in recent.original.text() or "note number 3" in recent.original.text()


async def test_autocomplete_offers_papers_notes_and_tags(club: Club) -> None:
    await club.run("note add", paper=ATTENTION, text="x", tags="llms/prompting, rl")
    await club.run("note add", paper=KNOWN_ID, text="y", user=BOB, tags="llms")
    papers = await club.discord.autocomplete(
        "note add", guild_id=GUILD, channel_id=CHANNEL, user_id=ANN, options={"paper": "testing deep"}, focused="paper"
    )
    assert papers[0]["value"] == f"arxiv:{KNOWN_ID}" and len(papers[0]["name"]) <= 100
    own = await club.discord.autocomplete(
        "note edit", guild_id=GUILD, channel_id=CHANNEL, user_id=ANN, options={"note": ""}, focused="note"
    )
    assert [c["value"] for c in own] == ["1"]  # only Ann's own note
    tags = await club.discord.autocomplete(
        "note add",
        guild_id=GUILD,
        channel_id=CHANNEL,
        user_id=ANN,
        options={"paper": ATTENTION, "tags": "rl, ll"},
        focused="tags",
    )
    assert [c["value"] for c in tags] == ["rl, llms", "rl, llms/prompting"]
    elsewhere = await club.discord.autocomplete(
        "note show", guild_id=OTHER_GUILD, channel_id=OTHER_CHANNEL, user_id=ANN, options={"note": ""}, focused="note"
    )
    assert elsewhere == []


async def test_threads_setting_is_for_moderators(club: Club) -> None:
    with pytest.raises(CommandUnavailable):  # hidden from members without Manage Server
        await club.run("settings threads", enabled=True, user=ANN)
    done = await club.run("settings threads", enabled=True, user=MOD)
    assert "One discussion thread per paper, its notes in it: **on**" in done.original.text()
    await club.run("note add", paper=ATTENTION, text="discuss me")
    await club.run("note add", paper=ATTENTION, text="and me", user=BOB)
    threads = club.discord.threads(GUILD)  # one per paper, not one per note (tests/bot/test_paper_threads_wire.py)
    assert len(threads) == 1 and threads[0]["name"]


async def test_background_job_fills_in_pending_details(club: Club) -> None:
    down = Reply.of("api2026_error_503_html_2026-01-08.xml", status=503, headers={"Retry-After": "0"})
    club.arxiv.then(*[down] * 4)  # every attempt of the first lookup fails
    inter = await club.run("note add", paper=ATTENTION, text="while arXiv is down")
    assert "filled in later" in inter.original.text()
    assert not club.arxiv.script
    register_jobs(
        club.bot.services.scheduler,
        papers=club.bot.services.papers,
        poller=club.bot.services.feeds.poller,
        settings=SimpleNamespace(metadata_retry_interval=0.2, feed_poll_interval=1800),
    )
    paper = None
    for _ in range(100):
        paper = await club.bot.services.papers.get_by_key(f"arxiv:{ATTENTION}")
        if not paper.pending:
            break
        await asyncio.sleep(0.1)
    assert paper is not None and not paper.pending and paper.title


async def test_note_is_kept_when_the_bot_cannot_post_in_the_channel(club: Club) -> None:
    club.discord.forbid_channel(CHANNEL)
    inter = await club.run("note add", paper=ATTENTION, text="still saved")
    assert "Saved note #1" in inter.original.text() and "couldn't post it" in inter.original.text()
    assert await count(club, "notes") == 1
    club.discord.rejected.clear()
