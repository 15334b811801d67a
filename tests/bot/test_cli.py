"""The operator commands as an operator runs them: ``python -m bot <command>`` in a real process.

Each process takes about half a second to start, so the checks are grouped and the processes of a group run
at once. Every run is checked for the Discord token: it must never be printed.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot import heartbeat
from storage.db import Sessions
from storage.exports import ExportService, to_json
from tests.arxiv_standin import FakeArxiv
from tests.bot.conftest import running_club
from tests.storage.test_exports import GUILD, seed_group

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "Mtoken-MARKER.never.printed"
UNREACHABLE = "postgresql+asyncpg://postgres@127.0.0.1:1/x"
COMMANDS = ("run", "check", "migrate", "health", "export", "import", "digest")


@dataclass
class Ran:
    """A finished ``python -m bot`` process."""

    args: tuple[str, ...]
    code: int
    out: str
    err: str
    seconds: float

    @property
    def error_line(self) -> str:
        """stderr, which must be exactly one line."""
        lines = self.err.splitlines()
        assert len(lines) == 1, f"{self.args}: stderr is not one line: {self.err!r}"
        return lines[0]


def environment(cwd: Path, *, database: str | None = None, **extra: str | None) -> dict[str, str]:
    """The process environment: this one without any paperclub setting, then ours (None removes one)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DISCORD_", "DATABASE_", "DEV_GUILD", "HEARTBEAT_", "LOG_LEVEL"))
    }
    env.update(
        PYTHONPATH=str(ROOT),
        DISCORD_TOKEN=TOKEN,
        DATABASE_URL=database or f"sqlite:///{cwd}/data/paperclub.db",
    )
    for name, value in extra.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


async def bot(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Ran:
    """Run ``python -m bot *args`` to its end."""
    await asyncio.to_thread(cwd.mkdir, parents=True, exist_ok=True)
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env=env or environment(cwd),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    ran = Ran(args, proc.returncode or 0, out.decode(), err.decode(), time.monotonic() - started)
    assert TOKEN not in ran.out and TOKEN not in ran.err, f"{args} printed the token"
    assert "Traceback" not in ran.err, ran.err
    return ran


async def test_every_command_has_help_and_usage_errors_exit_2(tmp_path: Path) -> None:
    helps = await asyncio.gather(
        bot("--help", cwd=tmp_path),
        *(bot(command, "--help", cwd=tmp_path) for command in COMMANDS),
        bot("digest", "preview", "--help", cwd=tmp_path),
    )
    for ran in helps:
        assert ran.code == 0 and ran.err == "", ran
        assert ran.out.startswith("usage: python -m bot"), ran.out
    top, run, check, migrate, health, export, importer, digest, preview = (" ".join(r.out.split()) for r in helps)
    for command in COMMANDS:
        assert command in top
    assert "Exit codes: 0 done, 1 failed, 2" in top
    assert "SIGTERM" in run and "DISCORD_TOKEN" in run
    assert "without connecting to Discord" in check and "python -m bot migrate" in check
    assert "--timeout" in check
    assert "revision before and after" in migrate
    assert "HEARTBEAT_FILE" in health and "--max-age" in health
    assert "--guild ID" in export and "{json,md,bibtex}" in export and "--output FILE" in export
    assert "--dry-run" in importer and "FILE" in importer and "--member" in importer and "--shape" in importer
    assert "preview" in digest
    assert "--guild ID" in preview and "Nothing is posted" in preview

    wrong = await asyncio.gather(
        bot("export", "--guild", "nope", "--format", "json", cwd=tmp_path),
        bot("export", "--guild", "1", "--format", "pdf", cwd=tmp_path),
        bot("frobnicate", cwd=tmp_path),
        bot("digest", cwd=tmp_path),
        bot("check", cwd=tmp_path, env=environment(tmp_path, LOG_LEVEL="LOUD")),
        bot("run", cwd=tmp_path, env=environment(tmp_path, DISCORD_TOKEN=None)),
        bot(cwd=tmp_path, env=environment(tmp_path, DISCORD_TOKEN=" ")),
    )
    for ran in wrong:
        assert ran.code == 2 and ran.out == "", ran
        assert ran.error_line.startswith("paperclub: "), ran
    assert "'nope' is not a server id" in wrong[0].err and "python -m bot export --help" in wrong[0].err
    assert "invalid choice: 'pdf'" in wrong[1].err
    assert "invalid choice: 'frobnicate'" in wrong[2].err
    assert "python -m bot digest --help" in wrong[3].err
    assert "LOG_LEVEL must be one of" in wrong[4].err
    assert "DISCORD_TOKEN is not set" in wrong[5].err and "DISCORD_TOKEN is not set" in wrong[6].err
    assert not (tmp_path / "data").exists()  # nothing above touched a database


# Modules only some paths need, each imported where it is first used (bench/idle_memory.py).
LOADED_WHEN_USED = (
    "argparse",  # the command line's parser: `python -m bot` alone has nothing to parse
    "gzip",  # a large /export
    "storage.imports.json_export",  # importing a paperclub export
    "storage.digests.picks",  # a digest built or previewed
    "bot.digest_render",
    "feedparser",
    "rapidfuzz",
    "difflib",
    "tenacity",
    "html",
    "alembic",
    "asyncpg",
)


async def test_the_bot_started_without_a_command_holds_only_what_running_needs(tmp_path: Path) -> None:
    """`python -m bot`, as the container starts it (here stopping at the missing token), having loaded the bot's
    modules: none of the above is loaded."""
    code = (
        "import sys\n"
        "import bot.app\n"
        "from bot.cli.main import main\n"
        "sys.argv = ['bot']\n"
        "assert main() == 2\n"
        f"print(' '.join(name for name in {LOADED_WHEN_USED!r} if name in sys.modules))\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        cwd=tmp_path,
        env=environment(tmp_path, DISCORD_TOKEN=None),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert "DISCORD_TOKEN is not set" in err.decode()
    assert out.decode().split() == []


async def test_check_says_to_migrate_then_passes_after_migrate(empty_db_url: str, tmp_path: Path) -> None:
    main, empty_file, missing, unreachable = (tmp_path / name for name in ("main", "file", "missing", "unreachable"))
    (empty_file / "data").mkdir(parents=True)
    (empty_file / "data" / "paperclub.db").touch()  # an empty SQLite database: every migration pending
    before, pending, no_file, no_server, no_start = await asyncio.gather(
        bot("check", cwd=main, env=environment(main, database=empty_db_url)),  # the run's backend, empty
        bot("check", cwd=empty_file),
        bot("check", cwd=missing),
        bot("check", cwd=unreachable, env=environment(unreachable, database=UNREACHABLE)),
        bot("run", cwd=unreachable, env=environment(unreachable, database=UNREACHABLE)),
    )
    assert before.code == 1 and "token:      DISCORD_TOKEN is set (not shown)" in before.out, before
    assert "python -m bot migrate" in before.error_line and before.error_line.startswith("paperclub: check failed: ")

    assert pending.code == 1 and ": answers" in pending.out
    assert re.search(r"migrations: \d+ migrations? pending: run python -m bot migrate\n", pending.out), pending.out
    assert re.fullmatch(
        r"paperclub: check failed: \d+ migrations? pending: run python -m bot migrate", pending.error_line
    )

    assert no_file.code == 1
    assert "does not exist yet: run python -m bot migrate" in no_file.error_line
    assert not (missing / "data" / "paperclub.db").exists()  # a check creates nothing

    assert no_server.code == 1
    assert "postgresql+asyncpg://postgres@127.0.0.1:1/x: unreachable" in no_server.out
    assert no_server.error_line.startswith("paperclub: check failed: the database postgresql+asyncpg://")
    assert "Connect" in no_server.error_line or "refused" in no_server.error_line

    # The bot migrates before it connects to Discord: with no database, it says so in its log and stops.
    assert no_start.code == 1, no_start
    [logged] = [line for line in no_start.out.splitlines() if "ERROR" in line]
    assert "could not apply the database migrations to postgresql+asyncpg://postgres@127.0.0.1:1/x: " in logged

    env = environment(main, database=empty_db_url)
    migrated = await bot("migrate", cwd=main, env=env)
    assert migrated.code == 0 and migrated.err == "", migrated
    found = re.fullmatch(r"migrated an empty database → (\S+) \(\d+ migrations?\)\n", migrated.out)
    assert found, migrated.out
    head = found.group(1)

    after, again, tokenless = await asyncio.gather(
        bot("check", cwd=main, env=env),
        bot("migrate", cwd=main, env=env),
        bot("check", cwd=main, env=environment(main, database=empty_db_url, DISCORD_TOKEN=None)),
    )
    assert after.code == 0 and after.err == "", after
    assert f"migrations: up to date at {head}\n" in after.out and after.out.endswith("check passed\n")
    assert again.code == 0 and again.out == f"already up to date at {head}\n"
    # check runs without a token, and says that the bot won't.
    assert tokenless.code == 1 and f"up to date at {head}" in tokenless.out
    assert "DISCORD_TOKEN is not set" in tokenless.error_line


async def test_health_wants_a_recent_heartbeat_and_a_database(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "paperclub.db").touch()
    beats = tmp_path / "beats"
    beats.mkdir()
    fresh, old = beats / "fresh", beats / "old"
    for path in (fresh, old):
        heartbeat.touch(path)
    os.utime(old, (time.time() - 200, time.time() - 200))
    heartbeat.touch(tmp_path / "data" / "heartbeat")  # where the bot writes it by default: next to the database

    def env(beat: Path | None, **extra: str) -> dict[str, str]:
        return environment(tmp_path, HEARTBEAT_FILE=str(beat) if beat else None, **extra)

    runs = await asyncio.gather(
        bot("health", cwd=tmp_path, env=env(fresh)),
        bot("health", cwd=tmp_path, env=env(beats / "none")),
        bot("health", cwd=tmp_path, env=env(old)),
        bot("health", "--max-age", "500", cwd=tmp_path, env=env(old)),
        bot("health", cwd=tmp_path, env=env(fresh, DATABASE_URL=f"sqlite:///{tmp_path}/gone/paperclub.db")),
        bot("health", cwd=tmp_path, env=env(fresh, DATABASE_URL=UNREACHABLE)),
    )
    ok, none, stale, tolerant, no_file, no_server = runs
    for ran in (ok, tolerant):
        assert ran.code == 0 and ran.out == "" and ran.err == "", ran  # quiet when healthy
    assert none.code == 1 and f"no heartbeat at {beats / 'none'}" in none.error_line
    assert stale.code == 1 and re.search(r"heartbeat at .* is 2\d\d s old \(limit 90 s\)", stale.error_line)
    assert no_file.code == 1 and "database file" in no_file.error_line and "does not exist" in no_file.error_line
    assert not (tmp_path / "gone").exists()
    assert no_server.code == 1 and "the database does not answer" in no_server.error_line
    # From another folder, with the heartbeat where the bot writes it by default (next to the database file, not
    # in the working folder), and no token (health needs none).
    elsewhere = environment(tmp_path, DISCORD_TOKEN="")
    alone, listed = await asyncio.gather(
        bot("health", cwd=tmp_path / "elsewhere", env=elsewhere),
        bot("health", cwd=tmp_path / "elsewhere", env={**elsewhere, "PYTHONPROFILEIMPORTTIME": "1"}),
    )
    assert alone.code == 0 and alone.out == alone.err == "", alone
    # Quick, as a container's health check wants it, however busy the machine: it loads neither discord.py nor
    # the bot (the modules Python lists as it imports them).
    loaded = {line.rsplit("|", 1)[-1].strip() for line in listed.err.splitlines() if line.startswith("import time:")}
    assert listed.code == 0 and "bot.heartbeat" in loaded, listed
    heavy = {m for m in loaded if m.split(".")[0] in ("discord", "apscheduler", "feedparser")}
    assert not heavy and not loaded & {"bot.app", "bot.services"}, sorted(heavy)


async def test_export_digest_preview_and_import(sessions: Sessions, db_url: str, tmp_path: Path) -> None:
    seeded = await seed_group(sessions)
    work = tmp_path / "work"
    env = environment(work, database=db_url)
    as_json, as_md, as_bibtex, to_file, preview, empty = await asyncio.gather(
        bot("export", "--guild", str(GUILD), "--format", "json", cwd=work, env=env),
        bot("export", "--guild", str(GUILD), "--format", "md", cwd=work, env=env),
        bot("export", "--guild", str(GUILD), "--format", "bibtex", cwd=work, env=env),
        bot("export", "--guild", str(GUILD), "--format", "bibtex", "--output", "notes.bib", cwd=work, env=env),
        bot("digest", "preview", "--guild", str(GUILD), cwd=work, env=env),
        bot("export", "--guild", "42", "--format", "json", cwd=work, env=env),
    )
    for ran in (as_json, as_md, as_bibtex, preview):
        assert ran.code == 0 and ran.err == "", ran

    document = json.loads(as_json.out)
    expected = json.loads(to_json(await ExportService(sessions).snapshot(guild_id=GUILD)))
    assert document.pop("exported_at") and expected.pop("exported_at")
    assert document == expected
    assert [note["body"] for note in document["notes"]] == [note.body for note in seeded.notes.values()]

    assert len(re.findall(r"^## ", as_md.out, flags=re.MULTILINE)) == 5
    assert "## [Attention Is All You Need](https://arxiv.org/abs/1706.03762)" in as_md.out
    assert "Ünïcödé ✓ and a {brace}" in as_md.out  # UTF-8 on stdout whatever the locale

    assert as_bibtex.out.count("@misc{") == 4
    assert "@misc{vaswani2017attention,\n" in as_bibtex.out and "eprint        = {1706.03762}" in as_bibtex.out
    assert to_file.code == 0 and to_file.out == "wrote 5 notes on 4 papers to notes.bib\n"
    # Two exports a moment apart, so their header's time (to the minute) may differ, as exported_at does above.
    stamp = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC")
    assert stamp.sub("(time) UTC", (work / "notes.bib").read_text(), count=1) == stamp.sub(
        "(time) UTC", as_bibtex.out, count=1
    )
    assert stamp.search(as_bibtex.out.splitlines()[0])

    for line in ("Self-attention replaces recurrence entirely.", "Agree.", "Deep learning, the review."):
        assert line in preview.out, preview.out
    assert preview.out.startswith(f"Digest preview for server {GUILD}, the week ")
    assert "(schedule: no schedule set, so the default: Mondays at 09:00 (UTC))" in preview.out
    assert "Weekly digest · " in preview.out and "Notes this week (5)" in preview.out
    assert "Attention Is All You Need (https://arxiv.org/abs/1706.03762)" in preview.out  # links as text
    # Member text as written: Discord's escapes undone, emphasis markers dropped.
    assert "• Merging {LoRA} Models: 100% of $\\alpha$ & the_rest #1 ~ ^ \\ end (https://arxiv.org/abs/2403.17887)" in (
        preview.out
    )
    assert "\nbob *the* [builder] · 2 notes\n" in preview.out and "**" not in preview.out
    assert "Why does it scale? — ann, Attention Is All You Need" in preview.out

    assert empty.code == 0 and json.loads(empty.out)["notes"] == []
    assert "server 42 has no notes" in empty.error_line

    gone = environment(work, database=f"sqlite:///{tmp_path}/gone.db")
    missing = await asyncio.gather(
        bot("export", "--guild", str(GUILD), "--format", "md", cwd=work, env=gone),
        bot("digest", "preview", "--guild", str(GUILD), cwd=work, env=gone),
        bot("export", "--guild", str(GUILD), "--format", "md", "-o", "no/such/folder.md", cwd=work, env=env),
    )
    for ran in missing:
        assert ran.code == 1 and ran.out == "" and ran.error_line, ran
    assert "does not exist" in missing[0].err and "does not exist" in missing[1].err
    assert "can't write no/such/folder.md: No such file or directory" in missing[2].err
    assert not (tmp_path / "gone.db").exists()


async def test_the_running_bot_keeps_a_heartbeat_that_health_accepts(
    fake_arxiv: FakeArxiv, db_url: str, tmp_path: Path
) -> None:
    beat = tmp_path / "beat" / "heartbeat"  # its folder does not exist yet
    env = environment(tmp_path, database=db_url, HEARTBEAT_FILE=str(beat))
    async with running_club(fake_arxiv, tmp_path, HEARTBEAT_FILE=str(beat)) as club:
        job = club.bot.services.scheduler.get_job(heartbeat.JOB_ID)
        assert job is not None and job.trigger.interval.total_seconds() == heartbeat.INTERVAL
        job.pause()  # the test beats in its place, below: a beat of its own would make the file fresh meanwhile
        for _ in range(100):  # touched once the bot is ready, off the event loop; there once the beat is done
            if beat.exists():
                break
            await asyncio.sleep(0.05)
        age = heartbeat.age(beat)
        assert age is not None and age < 10
        made_stale = time.time()
        os.utime(beat, (made_stale - 120, made_stale - 120))
        stale = await bot("health", cwd=tmp_path, env=env)
        since = time.time() - made_stale  # health read the age within this, whatever the machine's load
        shown = re.search(r"is (\d+) s old", stale.error_line) if stale.code == 1 else None
        assert shown is not None and 120 <= int(shown[1]) <= 120 + since + 0.5, (stale, since)
        await job.func()  # the scheduled beat
        healthy = await bot("health", cwd=tmp_path, env=env)
        assert healthy.code == 0 and healthy.out == healthy.err == "", healthy


async def test_a_heartbeat_that_cannot_be_written_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "file").write_text("not a folder")
    await heartbeat.beat(tmp_path / "file" / "heartbeat")
    assert "can't write the heartbeat file" in caplog.text
    assert heartbeat.default_file("postgresql://db/x") == "./data/heartbeat"
    assert heartbeat.default_file("sqlite+aiosqlite:////data/paperclub.db") == "/data/heartbeat"
    assert heartbeat.default_file("sqlite:///:memory:") == "./data/heartbeat"


async def test_import_from_the_command_line(sessions: Sessions, db_url: str, tmp_path: Path) -> None:
    await seed_group(sessions)
    work = tmp_path / "work"
    work.mkdir()
    env = environment(work, database=db_url)
    log = ROOT / "tests" / "data" / "imports" / "running_log.md"
    (work / "backup.json").write_text(to_json(await ExportService(sessions).snapshot(guild_id=GUILD)))
    (work / "binary.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    dry, no_member, binary, restored = await asyncio.gather(
        bot("import", "--guild", "42", str(log), "--member", "7", "--dry-run", cwd=work, env=env),
        bot("import", "--guild", "42", str(log), cwd=work, env=env),
        bot("import", "--guild", "42", "binary.md", "--member", "7", cwd=work, env=env),
        bot("import", "--guild", "43", "backup.json", cwd=work, env=env),
    )
    assert dry.code == 0 and "running log" in dry.out and "Dry run: nothing was changed." in dry.out, dry
    assert no_member.code == 2 and "--member" in no_member.error_line
    assert binary.code == 2 and "binary" in binary.error_line
    assert restored.code == 0 and "5 new notes" in restored.out, restored
    assert (await ExportService(sessions).snapshot(guild_id=42)).notes == ()  # the dry run wrote nothing

    applied = await bot("import", "--guild", "42", str(log), "--member", "7", "--name", "ann", cwd=work, env=env)
    assert applied.code == 0, applied
    notes = (await ExportService(sessions).snapshot(guild_id=42)).notes
    assert len(notes) > 20 and {n.author_name for n in notes} == {"ann"}
    assert f"{len(notes)} new notes, 0 already here" in applied.out
    assert f"applying [{'#' * 30}] {len(notes)}/" in applied.err  # the progress bar, on stderr
    again = await bot("import", "--guild", "42", str(log), "--member", "7", cwd=work, env=env)
    assert again.code == 0 and f"0 new notes, {len(notes)} already here" in again.out


def _gone(pid: int) -> bool:
    """The process has ended (or is a zombie waiting to be reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith(("Z", "X"))
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the child dies with the bot on Linux only")
async def test_the_migrating_process_ends_with_the_bot(tmp_path: Path) -> None:
    # A stand-in for `python -m bot` starts the process that migrates, as bot/cli/schema.py does, on a database
    # server that takes the connection and never answers, and is killed with SIGKILL meanwhile. The migrating
    # process must end with it, not go on by itself (it would wait a minute for this server).
    silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    parent = (
        "import os, subprocess, sys, time\n"
        "read, write = os.pipe()\n"
        "child = subprocess.Popen([sys.executable, '-m', 'bot.cli.schema', str(os.getpid()), str(write)],\n"
        "                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, pass_fds=(write,))\n"
        "child.stdin.write(sys.argv[1].encode())\n"
        "child.stdin.close()\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/x"
    async with silent:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", parent, url, cwd=tmp_path, env=environment(tmp_path), stdout=asyncio.subprocess.PIPE
        )
        assert proc.stdout is not None
        child = int(await proc.stdout.readline())
        await asyncio.sleep(1)  # it is connecting now (a bug that ended it early would show here)
        assert not _gone(child), "the migrating process ended before its bot"
        proc.kill()
        await proc.wait()
        for _ in range(500):  # the kernel kills it as its parent ends; reaping it takes a moment
            if _gone(child):
                break
            await asyncio.sleep(0.02)
        assert _gone(child), "the migrating process outlived the bot"
