"""An import whose process stopped mid-way is rolled back once its claim is gone: whole or absent, never half.

What a rolled-back import wrote goes (its notes with their tags and earlier versions, the group's links to papers
it made known, its title lookups and title-only papers); the group's notes from Discord, an earlier finished
import, notes the import found already there and other groups stay exactly as they were.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

import storage.imports.importer as importer
from storage.db import Sessions
from storage.exports import ExportService
from storage.imports.importer import CLAIM_TTL, Author, ImportPreview, ImportService, ImportStopped
from storage.imports.plan import ImportPlan, PlannedNote, PlannedPaper, Shape
from storage.leases import LeaseService
from storage.models import ImportRun, ImportState, Paper, utcnow
from storage.notes import NoteService
from storage.search import SearchService

GUILD, OTHER, THIRD = 500_000_000_000_000_001, 500_000_000_000_000_002, 500_000_000_000_000_003
ANN = Author(id=700_000_000_000_000_001, name="ann")
BOB = 700_000_000_000_000_002
MOD = 700_000_000_000_000_003
NOW = datetime(2025, 10, 1, 15, 0, tzinfo=UTC)
ELSEWHERE = "another-host:4242:0a0b0c0d"  # a process on another host: alive as far as this one can tell
ROOT = Path(__file__).resolve().parents[3]

# What a group holds, as members and the search see it (the imports table itself is left out: it records the
# stopped import). Papers arXiv describes are shared metadata and stay; a group's title-only papers are its own.
STATE = {
    "notes": "SELECT n.guild_id, p.key, n.author_id, n.body, n.revision, n.import_id FROM notes n "
    "JOIN papers p ON p.id = n.paper_id",
    "tags": "SELECT guild_id, name FROM tags",
    "note_tags": "SELECT nt.guild_id, n.author_id, p.key, t.name FROM note_tags nt JOIN notes n ON n.id = nt.note_id "
    "JOIN papers p ON p.id = n.paper_id JOIN tags t ON t.id = nt.tag_id",
    "note_revisions": "SELECT guild_id, revision, body FROM note_revisions",
    "title_papers": "SELECT key FROM papers WHERE key LIKE 'title:%'",
    "guild_papers": "SELECT gp.guild_id, p.key, gp.source FROM guild_papers gp JOIN papers p ON p.id = gp.paper_id",
    "title_lookups": "SELECT guild_id, title_key, import_id, state FROM title_lookups",
}


async def state(sessions: Sessions) -> dict[str, list[tuple[Any, ...]]]:
    async with sessions() as session:
        return {
            name: sorted(tuple(row) for row in (await session.exec(text(query))).all())  # type: ignore[call-overload]
            for name, query in STATE.items()
        }


async def scalar(sessions: Sessions, query: str) -> Any:
    async with sessions() as session:
        return (await session.exec(text(query))).one()[0]  # type: ignore[call-overload]


def note(title: str, body: str, *, key: str | None = None, tags: tuple[str, ...] = ()) -> PlannedNote:
    return PlannedNote(
        paper=PlannedPaper(title=title, key=key, line=1), body=body, tags=list(tags), written_on=date(2025, 9, 1)
    )


def earlier_plan() -> ImportPlan:
    """A document the group imported before: two notes and a listed paper."""
    return ImportPlan(
        shape=Shape.RUNNING_LOG,
        notes=[
            note("Earlier arXiv Paper", "Read in September.", key="arxiv:2301.00002", tags=("earlier",)),
            note("Earlier Title Paper", "A paper known only by its title."),
        ],
        papers=[PlannedPaper(title="Listed Earlier Paper")],
    )


def wombat_plan() -> ImportPlan:
    """Seven notes by Ann, two a chunk: two she has already (kept), one on a paper Bob noted on Discord, new
    arXiv and title-only papers, tags old and new, and a listed paper at the end."""
    return ImportPlan(
        shape=Shape.RUNNING_LOG,
        notes=[
            note("Earlier arXiv Paper", "Ann's note from before, again.", key="arxiv:2301.00002"),
            note("Quokka Routing", "Wombat thoughts on routing.", key="arxiv:2301.00001", tags=("routing", "wombats")),
            note("Wombat Transformers", "Wombat attention.", key="arxiv:2502.00001", tags=("wombats",)),
            note("Wombat Burrow Acoustics", "Wombat burrows echo.", tags=("wombats/burrows",)),
            note("Wombat Sleep Cycles", "Wombats sleep a lot.", key="arxiv:2502.00002"),
            note("Wombat Diet Survey", "Wombats eat grass."),
            note("Earlier Title Paper", "Ann on the earlier title paper: wombat angle."),
        ],
        papers=[PlannedPaper(title="Listed Wombat Paper")],
    )


def preview(plan: ImportPlan, file_name: str) -> ImportPreview:
    return ImportPreview(file_name=file_name, digest="0" * 64, plan=plan)


async def seed(sessions: Sessions) -> None:
    """Bob's note from Discord, and a document imported before into this group and into another one."""
    async with sessions() as session:
        paper = Paper(key="arxiv:2301.00001", title="Quokka Routing", metadata_status="ok")
        session.add(paper)
        await session.commit()
        assert paper.id is not None
    await NoteService(sessions).add(
        guild_id=GUILD, paper_id=paper.id, author_id=BOB, author_name="bob", body="Quokka routing.", tags=["routing"]
    )
    earlier = ImportService(sessions)
    for guild in (GUILD, OTHER):
        await earlier.apply(preview(earlier_plan(), "earlier.md"), guild_id=guild, member_id=MOD, author=ANN, now=NOW)


def dies_on_chunk(monkeypatch: pytest.MonkeyPatch, chunk: int, name: str = "write_notes") -> None:
    """The process applying an import dies while writing its ``chunk``-th chunk (the chunks before are in)."""
    original: Callable[..., Awaitable[None]] = getattr(importer, name)
    calls = 0

    async def write(*args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == chunk:
            raise RuntimeError("the process was killed")
        await original(*args, **kwargs)

    monkeypatch.setattr(importer, name, write)


class Killed(LeaseService):
    """The claims of a process that is killed: it gives nothing back on its way out."""

    async def release(self, name: str) -> None:
        return None


class Stalls:
    """The sessions of a live process that stalls before opening its ``at``-th transaction, until let go."""

    def __init__(self, sessions: Sessions, *, at: int) -> None:
        self.sessions, self.at, self.opened = sessions, at, 0
        self.stalled, self.go = asyncio.Event(), asyncio.Event()

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[AsyncSession]:
        self.opened += 1
        if self.opened == self.at:
            self.stalled.set()
            await self.go.wait()
        async with self.sessions() as session:
            yield session


def later() -> datetime:
    """A moment when a claim nobody renewed has run out."""
    return utcnow() + CLAIM_TTL + timedelta(seconds=1)


async def half_applied(sessions: Sessions, monkeypatch: pytest.MonkeyPatch, leases: LeaseService) -> dict[str, Any]:
    """The seeded groups as they were before an import whose process dies on its third chunk, two notes a chunk;
    the import is written up to there."""
    await seed(sessions)
    before = await state(sessions)
    dies_on_chunk(monkeypatch, 3)
    dying = ImportService(sessions, leases=leases, chunk=2)
    with pytest.raises(RuntimeError, match="killed"):
        await dying.apply(preview(wombat_plan(), "wombats.md"), guild_id=GUILD, member_id=MOD, author=ANN, now=NOW)
    assert await state(sessions) != before
    return before


async def test_an_import_whose_process_died_after_two_chunks_is_rolled_back_once_its_claim_runs_out(
    sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = await half_applied(sessions, monkeypatch, Killed(sessions, holder=ELSEWHERE))
    run_id = await scalar(sessions, "SELECT max(id) FROM imports")
    assert await scalar(sessions, f"SELECT count(*) FROM notes WHERE import_id = {run_id}") == 3  # half of it
    assert await scalar(sessions, f"SELECT state FROM imports WHERE id = {run_id}") == ImportState.APPLYING

    bot = ImportService(sessions, leases=LeaseService(sessions))
    assert await bot.roll_back_stopped() == []  # claimed, and its process may still be running on its host
    stopped = await bot.roll_back_stopped(now=later())
    assert [(s.import_id, s.guild_id, s.member_id, s.file_name) for s in stopped] == [
        (run_id, GUILD, MOD, "wombats.md")
    ]
    assert await state(sessions) == before
    assert (await SearchService(sessions).search(guild_id=GUILD, query="wombat")).hits == ()  # the index followed
    async with sessions() as session:
        run = await session.get(ImportRun, run_id)
        assert run is not None and run.state == ImportState.STOPPED
        assert set(run.counts.values()) == {0} and run.finished_at is not None
    assert await bot.roll_back_stopped(now=later()) == []  # rolled back once

    again = await bot.apply(preview(wombat_plan(), "wombats.md"), guild_id=GUILD, member_id=MOD, author=ANN, now=NOW)
    assert (again.notes_created, again.notes_kept, again.titles_queued) == (5, 2, 3)  # the same file, whole
    assert len((await SearchService(sessions).search(guild_id=GUILD, query="wombat")).hits) > 0


async def test_an_import_a_live_process_is_applying_is_left_to_it_and_one_stalled_past_its_claim_writes_no_more(
    sessions: Sessions,
) -> None:
    await seed(sessions)
    before = await state(sessions)
    stalls = Stalls(sessions, at=4)  # the import's row, two chunks, then the third chunk's transaction
    applying = ImportService(stalls, leases=LeaseService(sessions, holder=ELSEWHERE), chunk=2)  # type: ignore[arg-type]
    task = asyncio.create_task(
        applying.apply(preview(wombat_plan(), "wombats.md"), guild_id=GUILD, member_id=MOD, author=ANN, now=NOW)
    )
    await stalls.stalled.wait()
    half = await state(sessions)
    assert half != before

    assert await applying.roll_back_stopped() == []  # its own import, in this process
    other = ImportService(sessions, leases=LeaseService(sessions))
    assert await other.roll_back_stopped() == []  # another process's, claimed
    assert await state(sessions) == half

    (stopped,) = await other.roll_back_stopped(now=later())  # it stalled past its claim
    assert await state(sessions) == before
    stalls.go.set()
    with pytest.raises(ImportStopped):
        await task
    assert await state(sessions) == before  # nothing written after the roll-back
    assert await scalar(sessions, f"SELECT state FROM imports WHERE id = {stopped.import_id}") == ImportState.STOPPED


async def test_an_import_that_failed_mid_way_in_a_live_process_is_rolled_back_at_once(
    sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = await half_applied(sessions, monkeypatch, LeaseService(sessions, holder=ELSEWHERE))
    (stopped,) = await ImportService(sessions).roll_back_stopped()  # its claim was given back: no wait
    assert stopped.file_name == "wombats.md"
    assert await state(sessions) == before


async def test_a_json_export_restored_half_way_is_rolled_back_and_notes_already_there_stay(
    sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(sessions)
    notes = NoteService(sessions)
    async with sessions() as session:
        papers = [Paper(key=f"arxiv:2503.0000{n}", title=f"Wombat Paper {n}", metadata_status="ok") for n in range(5)]
        session.add_all(papers)
        await session.commit()
    for n, paper in enumerate(papers):
        assert paper.id is not None
        made = await notes.add(
            guild_id=OTHER, paper_id=paper.id, author_id=BOB, author_name="bob", body=f"Wombat {n}.", tags=["wombats"]
        )
        if n == 0:
            await notes.edit(guild_id=OTHER, note_id=made.id, editor_id=BOB, body="Wombat 0, edited.")
    export = await ExportService(sessions).snapshot(guild_id=OTHER)
    assert papers[4].id is not None
    await notes.add(  # already in the group restoring the export: kept as it is
        guild_id=THIRD, paper_id=papers[4].id, author_id=BOB, author_name="bob", body="Mine.", tags=["mine"]
    )
    before = await state(sessions)
    dies_on_chunk(monkeypatch, 3, name="restore_notes")
    dying = ImportService(sessions, leases=Killed(sessions, holder=ELSEWHERE), chunk=2)
    backup = ImportPreview(file_name="backup.json", digest="1" * 64, plan=ImportPlan(shape=Shape.EXPORT), export=export)
    with pytest.raises(RuntimeError):
        await dying.apply(backup, guild_id=THIRD, member_id=MOD, author=ANN, now=NOW)
    assert await scalar(sessions, f"SELECT count(*) FROM notes WHERE guild_id = {THIRD}") > 1

    (stopped,) = await ImportService(sessions).roll_back_stopped(now=later())
    assert stopped.guild_id == THIRD
    assert await state(sessions) == before  # the edited note's earlier version went with it; "Mine." stayed


KILLED_ON_THIRD_CHUNK = """
import os, runpy, signal, sys
import storage.imports.importer as importer
original, calls = importer.write_notes, 0
async def write_notes(*args, **kwargs):
    global calls
    calls += 1
    if calls == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    await original(*args, **kwargs)
importer.write_notes = write_notes
sys.argv = ["bot", *sys.argv[1:]]
runpy.run_module("bot", run_name="__main__", alter_sys=True)
"""


async def test_a_command_line_import_killed_mid_way_is_rolled_back_by_the_bot_on_its_host(
    sessions: Sessions, db_url: str, tmp_path: Path
) -> None:
    await seed(sessions)
    before = await state(sessions)
    entries = "".join(
        f"Wombat Study Number {n} (Smith et al., 2025)\nA careful note on wombat study {n}.\nKeywords: wombats\n\n"
        for n in range(120)
    )
    document = tmp_path / "log.md"
    document.write_text(f"Paper reading log\n\n10/26/2025~11/1/2025\n{entries}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "DATABASE_", "DEV_GUILD"))}
    env.update(PYTHONPATH=str(ROOT), DATABASE_URL=db_url)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        KILLED_ON_THIRD_CHUNK,
        *("import", "--guild", str(GUILD), str(document), "--member", str(ANN.id)),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert await asyncio.wait_for(proc.wait(), 60) == -signal.SIGKILL
    assert (
        await scalar(sessions, "SELECT count(*) FROM notes WHERE import_id IS NOT NULL AND body LIKE '%wombat%'") == 100
    )

    (stopped,) = await ImportService(sessions).roll_back_stopped()  # its process ended on this host: no wait
    assert stopped.file_name == "log.md" and stopped.channel_id is None
    assert await state(sessions) == before
