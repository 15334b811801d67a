"""/import and /export as moderators and members use them, through the real discord.py client and the loopback
Discord."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

import storage.imports.importer as importer
from storage.exports import ExportService
from storage.imports import parse_document
from tests.arxiv_standin import FakeArxiv
from tests.bot.conftest import ANN, BOB, CHANNEL, GUILD, MOD, OTHER_GUILD, OWNER, Club, bot_on, running_club
from tests.fakediscord import CommandUnavailable, Interaction

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "imports"


async def rows(club: Club, query: str) -> list[tuple]:
    async with club.bot.services.sessions() as session:
        return [tuple(r) for r in (await session.exec(text(query))).all()]  # type: ignore[call-overload]


async def count(club: Club, table: str) -> int:
    return (await rows(club, f"SELECT count(*) FROM {table}"))[0][0]


def sample(club: Club, name: str) -> dict:
    return club.discord.host_file(name, (SAMPLES / name).read_bytes(), content_type="text/markdown")


async def test_import_and_export_are_synced_with_their_permissions(club: Club) -> None:
    synced = {c["name"]: c for c in club.discord.commands[None]}
    assert int(synced["import"]["default_member_permissions"]) == 1 << 5  # Manage Server
    assert synced["export"].get("default_member_permissions") is None
    options = {o["name"] for o in synced["import"]["options"]}
    assert options == {"file", "dry_run", "member", "shape"}
    help_text = (await club.run("help")).original.text()
    assert "/import" in help_text and "/export" in help_text


async def test_a_member_without_manage_server_cannot_import(club: Club) -> None:
    with pytest.raises(CommandUnavailable, match="default_member_permissions"):  # Discord hides it from them
        await club.run("import", user=ANN, attachments={"file": sample(club, "running_log.md")})
    assert await count(club, "notes") == 0


async def test_bad_files_get_a_clear_error_and_nothing_is_stored(club: Club) -> None:
    cases = [
        ("empty.md", b"", "empty"),
        ("blank.md", b"\n \n", "empty"),
        ("notes.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        ("notes.txt", "Résumé (Wei et al., 2025)".encode("latin-1"), "UTF-8"),
        ("notes.pdf", b"%PDF-1.7", ".md"),
        ("huge.md", b"x" * 5_000_001, "5 MB"),
        ("nothing.md", b"just one line that is no document at all\n", "can't tell"),
    ]
    for n, (name, data, needle) in enumerate(cases):
        file = club.discord.host_file(name, data)
        inter = await club.run("import", user=MOD if n < 5 else OWNER, attachments={"file": file})
        assert inter.ephemeral and needle in inter.text(), (name, inter.text())
    assert await count(club, "notes") == 0 and await count(club, "imports") == 0
    sixth = await club.run("import", user=MOD, attachments={"file": sample(club, "running_log.md")})
    assert "Slow down" in sixth.text()  # five a minute per member: each import reads and parses up to 5 MB
    assert club.posted() == []


async def test_the_dry_run_shows_what_would_be_imported_and_changes_nothing(club: Club) -> None:
    plan = parse_document((SAMPLES / "daily_posts.md").read_text())
    inter = await club.run("import", user=MOD, attachments={"file": sample(club, "daily_posts.md")})
    preview = inter.messages[-1]
    assert preview.ephemeral
    shown = preview.text()
    assert "daily posts" in shown and f"{len(plan.notes)} notes" in shown
    assert f"{plan.duplicates_merged} duplicate" in shown
    if plan.flagged:
        assert "Dates to check" in shown and f"line {plan.flagged[0].line}" in shown
    assert "Not understood" in shown and f"line {plan.leftovers[0].line}" in shown
    report = preview.attachment("import-report.txt")
    assert report["size"] > 0
    assert [b["label"] for b in preview.buttons()] == [
        f"Import {len(plan.notes)} notes",
        "Cancel",
        "Import with the suggested dates",  # the sample has a date that breaks its sequence
    ]
    assert await count(club, "notes") == 0 and club.posted() == []


async def test_confirming_imports_once_with_one_summary_and_again_creates_nothing(club: Club) -> None:
    plan = parse_document((SAMPLES / "running_log.md").read_text())
    inter = await club.run("import", user=MOD, member=BOB, attachments={"file": sample(club, "running_log.md")})
    pressed = await club.click(inter, "confirm", user=MOD)
    await applied(pressed)
    assert pressed.acknowledged
    assert await count(club, "notes") == len(plan.notes)
    assert {r[0] for r in await rows(club, "SELECT DISTINCT author_id FROM notes")} == {BOB}
    posted = club.posted()
    assert len(posted) == 1  # one summary, never a message per note
    summary = posted[0].text()
    assert f"{len(plan.notes)} new notes" in summary and f"<@{BOB}>" in summary
    assert posted[0].allowed_mentions is not None and posted[0].allowed_mentions.get("parse") == []
    told = pressed.messages[-1].text()
    assert f"{len(plan.notes)} new notes" in told
    assert f"https://discord.com/channels/{GUILD}/{CHANNEL}/{posted[0].id}" in told

    wip = (await rows(club, "SELECT id FROM notes WHERE status = 'wip'"))[0][0]
    shown = await club.run("note show", user=ANN, note=str(wip))
    assert "(WIP, imported)" in shown.text()
    listing = await club.run("notes", user=ANN)
    assert "undated" in listing.text()  # the log's undated block: never given today's date

    again = await club.run(
        "import", user=MOD, member=BOB, dry_run=False, attachments={"file": sample(club, "running_log.md")}
    )
    await applied(again)
    assert "0 new notes" in again.messages[-1].text() and f"{len(plan.notes)} already here" in again.messages[-1].text()
    assert await count(club, "notes") == len(plan.notes)
    assert await count(club, "imports") == 2


async def test_cancel_changes_nothing(club: Club) -> None:
    inter = await club.run("import", user=MOD, attachments={"file": sample(club, "outline.md")})
    cancelled = await club.click(inter, "cancel", user=MOD)
    assert "nothing was changed" in cancelled.text()
    assert await count(club, "notes") == 0 and club.posted() == []


async def test_a_paper_list_becomes_papers_the_group_finds_at_once(club: Club) -> None:
    plan = parse_document((SAMPLES / "paper_list.md").read_text())
    inter = await club.run("import", user=MOD, dry_run=False, attachments={"file": sample(club, "paper_list.md")})
    await applied(inter)
    assert inter.messages and await count(club, "notes") == 0
    assert await count(club, "guild_papers") == len(plan.papers)
    first = next(paper for paper in plan.papers if paper.key is None)  # arXiv's own papers get arXiv's metadata
    words = " ".join((first.title or "").split()[:4])
    found = await club.run("search", query=words)
    assert f"**{first.title}**" in found.text() or f"[{first.title}]" in found.text(), found.text()
    elsewhere = await club.run("search", guild=OTHER_GUILD, query=words)
    assert "Nothing found" in elsewhere.text()


async def test_export_json_reimports_into_an_empty_group_with_identical_notes(club: Club) -> None:
    imported = await club.run(
        "import", user=MOD, member=ANN, dry_run=False, attachments={"file": sample(club, "running_log.md")}
    )
    await applied(imported)
    await club.run("note add", user=BOB, paper="1111.2011", tags="transformers", text="Posted on Discord, then edited.")
    note_id = (await rows(club, f"SELECT id FROM notes WHERE author_id = {BOB}"))[0][0]
    await club.run("note edit", user=BOB, note=str(note_id), text="The edited text.")

    exported = await club.run("export", user=ANN, format="json")
    message = exported.messages[-1]
    assert message.ephemeral
    attachment = next(a for a in message.attachments if a["filename"].endswith(".json"))
    data = club.discord._files[int(attachment["id"])]["data"]  # the bytes the member downloads
    assert json.loads(data)["format"] == "paperclub-notes"

    file = club.discord.host_file("backup.json", data, content_type="application/json")
    restored = await club.run("import", user=MOD, guild=OTHER_GUILD, dry_run=False, attachments={"file": file})
    await applied(restored)
    assert "by their original authors" in restored.messages[0].text()
    assert "new notes" in restored.messages[-1].text(), restored.text()

    service = ExportService(club.bot.services.sessions)
    before, after = await service.snapshot(guild_id=GUILD), await service.snapshot(guild_id=OTHER_GUILD)

    def shape(snapshot):  # what a group sees of its notes: who, what, when, tags, every earlier version
        return sorted(
            (
                n.author_id,
                n.author_name,
                n.body,
                n.tags,
                n.revision,
                n.created_at,
                n.updated_at,
                n.paper.key.replace(str(GUILD), "G").replace(str(OTHER_GUILD), "G"),
                tuple((r.revision, r.body, r.tags, r.editor_id, r.written_at) for r in n.revisions),
            )
            for n in snapshot.notes
        )

    assert len(after.notes) == len(before.notes) > 1
    assert shape(after) == shape(before)
    assert any(n.revisions for n in after.notes)


async def test_export_formats_arrive_as_files_only_to_the_member(club: Club) -> None:
    await club.run("note add", user=ANN, paper="1111.2011", tags="llms", text="Notes with $x_1$ & 100% of it.")
    for fmt, suffix, needle in (
        ("md", ".md", b"# Paper notes"),
        ("bibtex", ".bib", b"@misc{"),
        ("json", ".json", b"{"),
    ):
        inter = await club.run("export", user=BOB, format=fmt)
        message = inter.messages[-1]
        assert message.ephemeral and "1 notes on 1 papers" in message.text()
        attachment = next(a for a in message.attachments if a["filename"].endswith(suffix))
        assert needle in club.discord._files[int(attachment["id"])]["data"]
    again = await club.run("export", user=BOB, format="md")  # a fourth within the minute
    assert again.ephemeral and "Slow down" in again.text()


async def test_titles_are_matched_to_arxiv_in_the_background_and_the_summary_follows(club: Club) -> None:
    club.arxiv.search_reply = club.arxiv.title_search
    club.arxiv.add_paper(
        "2201.11903",
        "Chain-of-Thought Prompting Elicits Reasoning in Large Language Models",
        authors=["Jason Wei", "Xuezhi Wang"],
        published="2022-01-28T02:33:07Z",
    )
    club.arxiv.add_paper(  # the same title, another year and other authors: never linked
        "2309.99999",
        "Train Short, Test Long: Attention with Linear Biases Enables Input Length Extrapolation",
        authors=["Someone Else"],
        published="2023-09-01T00:00:00Z",
    )
    plan = parse_document((SAMPLES / "running_log.md").read_text())
    titles = len({p.identity for p in plan.all_papers if p.key is None})
    inter = await club.run("import", user=MOD, dry_run=False, attachments={"file": sample(club, "running_log.md")})
    await applied(inter)
    assert f"{titles} titles are being looked up" in inter.messages[-1].text()
    summary = club.posted()[0]
    assert f"0 of {titles}" in summary.text()

    job = club.bot.services.scheduler.get_job("imports:resolve")
    assert job is not None
    await job.func(*job.args)  # the job as the scheduler runs it

    edited = club.posted()[0]
    assert f"{titles} of {titles}" in edited.text() and "1 found" in edited.text(), edited.text()
    assert len(club.posted()) == 1  # edited in place, not posted again
    assert len(club.arxiv.title_searches()) <= max(1, titles // 10)  # at most 0.1 requests per title

    keys = {r[0] for r in await rows(club, "SELECT p.key FROM notes n JOIN papers p ON p.id = n.paper_id")}
    assert "arxiv:2201.11903" in keys and "arxiv:2309.99999" not in keys
    card = await club.run("paper", user=ANN, query="2201.11903")
    assert "The group's note (1)" in card.text()


async def test_a_flagged_date_is_kept_as_read_unless_the_suggested_dates_are_chosen(club: Club) -> None:
    plan = parse_document((SAMPLES / "daily_posts.md").read_text())
    flag = plan.flagged[0]
    stored = "SELECT count(*) FROM notes WHERE created_at >= '{day}' AND created_at < '{day} 23:59:59'"

    kept = await club.run("import", user=MOD, attachments={"file": sample(club, "daily_posts.md")})
    assert "Import with the suggested dates" in [b["label"] for b in kept.messages[-1].buttons()]
    confirmed = await club.click(kept, "confirm", user=MOD)
    await applied(confirmed)
    assert (await rows(club, stored.format(day=flag.read_as)))[0][0] == 1
    assert (await rows(club, stored.format(day=flag.proposed)))[0][0] == 0

    fixed = await club.run("import", user=MOD, guild=OTHER_GUILD, attachments={"file": sample(club, "daily_posts.md")})
    pressed = await club.click(fixed, "fixed", user=MOD)
    await applied(pressed)
    assert "new notes" in pressed.messages[-1].text()
    query = stored.format(day=flag.proposed) + f" AND guild_id = {OTHER_GUILD}"
    assert (await rows(club, query))[0][0] == 1
    assert (await rows(club, stored.format(day=flag.read_as) + f" AND guild_id = {OTHER_GUILD}"))[0][0] == 0


async def test_a_note_imported_by_title_is_linked_with_note_edit_and_a_reimport_finds_it(club: Club) -> None:
    imported = await club.run(
        "import", user=MOD, member=ANN, dry_run=False, attachments={"file": sample(club, "running_log.md")}
    )
    await applied(imported)
    note_id, title_key = (
        await rows(
            club,
            "SELECT n.id, p.key FROM notes n JOIN papers p ON p.id = n.paper_id "
            "WHERE p.title LIKE 'Auto-Regressive Next-Token Predictors%'",
        )
    )[0]
    assert title_key.startswith(f"title:{GUILD}/")
    refused = await club.run("note edit", user=BOB, note=str(note_id), paper="1111.2011")
    assert refused.ephemeral and "only its author" in refused.text()

    linked = await club.run("note edit", user=ANN, note=str(note_id), paper="https://arxiv.org/abs/1111.2011v2")
    assert "Updated" in linked.text()
    key = await rows(club, f"SELECT p.key FROM notes n JOIN papers p ON p.id = n.paper_id WHERE n.id = {note_id}")
    assert key == [("arxiv:1111.2011",)]
    assert await rows(club, f"SELECT count(*) FROM papers WHERE key = '{title_key}'") == [(0,)]

    before = await count(club, "notes")
    again = await club.run(
        "import", user=MOD, member=ANN, dry_run=False, attachments={"file": sample(club, "running_log.md")}
    )
    await applied(again)
    assert "0 new notes" in again.messages[-1].text()
    assert await count(club, "notes") == before


async def applied(inter: Interaction) -> None:
    """Wait until the moderator is told the import is in: the bot says so once every note is written and the
    channel's summary is shown, which a busy machine may take longer over than the fake Discord's quiet period."""
    await until(lambda: "Imported: " in inter.text())


async def until(condition: Callable[[], bool]) -> None:
    """Let the bot work until ``condition`` holds (a guard, not a measure of time)."""
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110 - a message edit has no event to wait on
            await asyncio.sleep(0.01)


async def test_an_import_stopped_mid_way_is_rolled_back_on_restart_and_its_message_says_so(
    fake_arxiv: FakeArxiv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = parse_document((SAMPLES / "running_log.md").read_text())
    async with running_club(fake_arxiv, tmp_path) as club:
        await club.run("note add", user=BOB, paper="1111.2011", tags="transformers", text="Posted on Discord.")
        known = await rows(club, "SELECT guild_id, paper_id, source FROM guild_papers")
        imports = club.bot.services.imports.importer
        imports.chunk = 2
        written = importer.write_notes
        calls = 0

        async def killed_on_the_third_chunk(*args: Any, **kwargs: Any) -> None:
            nonlocal calls
            calls += 1
            if calls == 3:
                raise RuntimeError("the process was killed")
            await written(*args, **kwargs)

        async def gives_nothing_back(name: str) -> None:  # a killed process runs nothing on its way out
            return None

        monkeypatch.setattr(importer, "write_notes", killed_on_the_third_chunk)
        monkeypatch.setattr(imports.leases, "release", gives_nothing_back)
        await club.run(
            "import", user=MOD, member=ANN, dry_run=False, attachments={"file": sample(club, "running_log.md")}
        )
        await until(lambda: calls == 3)  # the import got as far as its third chunk (two were written before it)
        assert await count(club, "notes") == 1 + 4  # Bob's, and two chunks of the import
        posted = club.posted()
        message = posted[-1]  # after Bob's note
        assert "Importing running_log.md" in message.text()
        await club.bot.close()

        async with bot_on(club.discord, fake_arxiv, tmp_path) as again:
            await until(lambda: "stopped" in again.posted()[-1].text())
            told = again.posted()
            assert [m.id for m in told] == [m.id for m in posted]  # the import's own message, edited
            shown = told[-1].text()
            assert "restart" in shown and "nothing of it was kept" in shown
            assert "`/import` again with the same file" in shown and f"<@{MOD}>" in shown
            assert await rows(club, "SELECT count(*), min(author_id) FROM notes") == [(1, BOB)]
            assert await rows(club, "SELECT state FROM imports") == [("stopped",)]
            assert await rows(club, "SELECT guild_id, paper_id, source FROM guild_papers") == known
            assert await count(club, "title_lookups") == 0

            done = await again.run(
                "import", user=MOD, member=ANN, dry_run=False, attachments={"file": sample(again, "running_log.md")}
            )
            await applied(done)
            assert f"{len(plan.notes)} new notes, 0 already here" in done.messages[-1].text()
            assert await count(again, "notes") == 1 + len(plan.notes)  # whole, this time
            summary = again.posted()[-1]
            assert summary.id != message.id and f"{len(plan.notes)} new notes" in summary.text()
