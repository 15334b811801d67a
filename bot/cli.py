"""``python -m bot``: the bot itself, and the commands an operator runs beside it.

Exit codes for every command: 0 done, 1 it failed (the database is unreachable, migrations are pending, the
heartbeat is stale, ...), 2 the command line or the configuration is wrong. Errors are one line on stderr that
says what to do; the Discord token is never printed. Only ``run`` (the default) needs DISCORD_TOKEN and only
``run`` connects to Discord.

Heavy imports (discord.py, the bot) happen inside the commands that need them, so that ``health`` stays quick.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    import discord

    from bot.settings import Settings
    from storage.migrations import MigrationStatus

log = logging.getLogger("bot")

PROG = "python -m bot"
SHAPES = ("log", "daily", "outline", "list", "json")  # storage.imports.plan.Shape.ALL, without importing it here
OK, FAILED, USAGE = 0, 1, 2
CHECK_TIMEOUT = 10.0  # seconds for the database to answer `check`
HEALTH_TIMEOUT = 1.5  # ... and `health`, which a container runtime calls every few seconds


class CommandError(Exception):
    """A command could not do its job; the message is one line for the operator."""

    def __init__(self, message: str, code: int = FAILED) -> None:
        super().__init__(message)
        self.code = code


# --- output ---------------------------------------------------------------------------------------------------

_secrets: list[str] = []


def _scrub(text: str) -> str:
    for secret in _secrets:
        if len(secret) >= 8:  # a real token is long; masking a one-letter test value would garble every word
            text = text.replace(secret, "***")
    return text


def say(text: str = "") -> None:
    """A line of a report, on stdout."""
    print(_scrub(text), flush=True)


def complain(text: str) -> None:
    """One line on stderr."""
    line = " ".join(_scrub(text).split())
    print(f"paperclub: {line}", file=sys.stderr, flush=True)


def reason(exc: BaseException) -> str:
    """What went wrong, on one line, without the SQL or the driver's boilerplate."""
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    orig = getattr(exc, "orig", None)  # SQLAlchemy wraps the driver's error
    if isinstance(orig, BaseException):
        exc = orig
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text.split(" (Background on this error at")[0]
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def database_label(url: str) -> str:
    """The database URL with any password hidden."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(DATABASE_URL)"


# --- arguments ------------------------------------------------------------------------------------------------


class Parser(argparse.ArgumentParser):
    """argparse, with usage errors as one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE, f"paperclub: {message} (see `{self.prog} --help`)\n")


def guild_id(text: str) -> int:
    """A Discord server id."""
    if not re.fullmatch(r"\d{1,20}", text.strip()) or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a server id (a number, like 500000000000000001)")
    return int(text)


def seconds(text: str) -> float:
    """A positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


def build_parser() -> Parser:
    """Every command and its options."""
    parser = Parser(
        prog=PROG,
        description="paperclub, a Discord bot for paper reading groups. Without a command, runs the bot.",
        epilog=(
            "Settings come from the environment and ./.env (DISCORD_TOKEN, DATABASE_URL, LOG_LEVEL, ...). "
            "Only `run` needs DISCORD_TOKEN. Exit codes: 0 done, 1 failed, 2 wrong command line or configuration."
        ),
    )
    commands = parser.add_subparsers(dest="command", metavar="command", title="commands")

    commands.add_parser(
        "run",
        help="run the bot (the default): apply migrations, connect to Discord, stop cleanly on SIGTERM",
        description=(
            "Apply the database migrations, then connect to Discord and run until stopped (SIGTERM or Ctrl-C "
            "stops it cleanly). Needs DISCORD_TOKEN. Exit 1 when Discord refuses the token or the database "
            "can't be migrated, 2 when the configuration is wrong."
        ),
    )

    check = commands.add_parser(
        "check",
        help="check the configuration, the database and its migrations (no Discord connection)",
        description=(
            "Validate the configuration, connect to the database, and report its migration state, without "
            "connecting to Discord. Exit 0 when all is well; 1 when the database can't be reached, migrations "
            "are pending (run `python -m bot migrate`) or DISCORD_TOKEN is not set; 2 when a setting is wrong."
        ),
    )
    check.add_argument(
        "--timeout",
        type=seconds,
        default=CHECK_TIMEOUT,
        help=f"seconds to wait for the database (default {CHECK_TIMEOUT:g})",
    )

    commands.add_parser(
        "migrate",
        help="apply the database migrations (the bot also does this when it starts)",
        description=(
            "Bring the database's schema up to date with this version, printing the revision before and after. "
            "Creates the SQLite file when there is none. Exit 1 when the migrations can't be applied."
        ),
    )

    health = commands.add_parser(
        "health",
        help="for the container HEALTHCHECK: the database answers and the bot's heartbeat is recent",
        description=(
            "Exit 0, silently, when the database answers and the running bot's heartbeat file (HEARTBEAT_FILE, "
            "touched every 30 s once the bot is ready) is recent; otherwise exit 1 with the reason on stderr."
        ),
    )
    health.add_argument(
        "--max-age", type=seconds, default=90.0, help="seconds after which the heartbeat is stale (default 90)"
    )
    health.add_argument(
        "--timeout",
        type=seconds,
        default=HEALTH_TIMEOUT,
        help=f"seconds to wait for the database (default {HEALTH_TIMEOUT:g})",
    )

    export = commands.add_parser(
        "export",
        help="write a server's notes as JSON, Markdown or BibTeX",
        description=(
            "Write every note of one server. json: everything, for backups and re-import (format version in "
            "the file); md: one section per note, to read; bibtex: one entry per paper noted, to cite."
        ),
    )
    export.add_argument("--guild", type=guild_id, required=True, metavar="ID", help="the server's id")
    export.add_argument("--format", choices=("json", "md", "bibtex"), required=True, help="what to write")
    export.add_argument(
        "--output", "-o", type=Path, metavar="FILE", help="write to FILE (replaced whole) instead of stdout"
    )

    importer = commands.add_parser(
        "import",
        help="bring a notes document or a JSON export into a server (a dry run with --dry-run)",
        description=(
            "Read a notes document (a running log, daily posts, a topic outline, a list of papers) or a JSON "
            "export made by `python -m bot export --format json`, and write its notes into one server, as /import "
            "does. Importing the same file twice creates nothing new. Titles without an arXiv id are looked up on "
            "arXiv by the running bot, in the background. Exit 1 when the database can't be written, 2 when the file "
            "or the command line is wrong."
        ),
    )
    importer.add_argument("--guild", type=guild_id, required=True, metavar="ID", help="the server to import into")
    importer.add_argument("file", type=Path, metavar="FILE", help="the document (.md, .txt) or JSON export (.json)")
    importer.add_argument(
        "--member",
        type=guild_id,
        metavar="ID",
        help="whose notes these are (a member's id); needed for every document but a JSON export",
    )
    importer.add_argument("--name", metavar="NAME", help="the member's name as notes show it (default: as last seen)")
    importer.add_argument("--shape", choices=SHAPES, help="what kind of document it is, when not recognised by itself")
    importer.add_argument("--dry-run", action="store_true", help="say what would be imported, change nothing")

    digest = commands.add_parser(
        "digest",
        help="the weekly digest: `digest preview`",
        description="The weekly digest, from the command line.",
    )
    digest_commands = digest.add_subparsers(dest="digest_command", metavar="command", title="commands", required=True)
    preview = digest_commands.add_parser(
        "preview",
        help="print this week's digest for a server as text",
        description=(
            "Print the digest of the week in progress for one server as plain text, with why each feed paper "
            "is in it, as `/digest preview` shows it. Nothing is posted. A server without a digest schedule is "
            "shown with the default one (Monday 09:00 in the server's time zone)."
        ),
    )
    preview.add_argument("--guild", type=guild_id, required=True, metavar="ID", help="the server's id")
    return parser


# --- settings and the database --------------------------------------------------------------------------------


def load_settings(*, require_token: bool) -> Settings:
    """Settings from the environment and ./.env; a wrong one is a usage error (exit 2)."""
    from bot.settings import ConfigError, Settings

    try:
        settings = Settings.load(require_token=require_token)
    except ConfigError as exc:
        raise CommandError(str(exc), USAGE) from None
    if settings.discord_token:
        _secrets.append(settings.discord_token)
    return settings


def configure_quiet_logging(settings: Settings) -> None:
    """Operator commands keep stdout for their output: warnings and errors go to stderr."""
    level = max(logging.WARNING, logging.getLevelName(settings.log_level))
    logging.basicConfig(
        level=level, format="paperclub: %(levelname)s %(name)s: %(message)s", stream=sys.stderr, force=True
    )


def missing_sqlite_file(url: str) -> Path | None:
    """The SQLite file a URL names, when it does not exist (opening it would create an empty one)."""
    from storage.sqlite_files import sqlite_file

    path = sqlite_file(url)
    return path if path is not None and not path.exists() else None


def engine_for(url: str) -> Any:
    """An engine for the configured database; a URL that names no database we can use is a usage error."""
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    from storage.db import make_engine

    try:
        return make_engine(url)
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise CommandError(
            f"DATABASE_URL is not a usable database URL ({reason(exc)}): use sqlite:///path/to/file.db or "
            "postgresql://user:password@host/database",
            USAGE,
        ) from None


async def ping(url: str, within: float) -> None:
    """A ``SELECT 1`` on the database; raises what went wrong (TimeoutError past ``within`` seconds)."""
    from sqlalchemy import text

    engine = engine_for(url)
    try:
        async with asyncio.timeout(within), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    finally:
        await engine.dispose()


def describe_status(status: MigrationStatus) -> tuple[str, bool]:
    """The migration state in words, and whether it is fine."""
    if status.up_to_date:
        return f"up to date at {status.head}", True
    if status.pending:
        n = len(status.pending)
        return f"{n} {'migration' if n == 1 else 'migrations'} pending: run {PROG} migrate", False
    return (
        f"the database is at revision {status.current}, which this version does not know (was it migrated by a "
        "newer version?)",
        False,
    )


# --- commands -------------------------------------------------------------------------------------------------


class StartupError(Exception):
    """The bot can't start; the message is one line for the log."""


async def run_bot(settings: Settings) -> None:
    """Claim the database (a SQLite file takes one bot process), apply migrations, build everything from the
    settings, and run until Discord closes the connection or a signal stops us."""
    from storage.sqlite_files import DatabaseInUse, only_process_on

    with ExitStack() as held:
        try:
            held.enter_context(only_process_on(settings.database_url))
        except DatabaseInUse as exc:
            raise StartupError(str(exc)) from None
        await _run_claimed(settings)


async def _run_claimed(settings: Settings) -> None:
    import aiohttp

    from bot.app import make_bot, point_at_api
    from storage import migrations

    try:
        status = await migrations.upgrade(settings.database_url)
    except Exception as exc:
        raise StartupError(
            f"could not apply the database migrations to {database_label(settings.database_url)}: {reason(exc)}"
        ) from exc
    log.info("database schema at revision %s", status.current)
    try:
        await point_at_api(settings)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise StartupError(f"could not reach the Discord API at {settings.discord_api_base}: {reason(exc)}") from exc
    bot = make_bot(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with bot:
        runner = asyncio.create_task(bot.start(settings.discord_token))
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            log.info("shutting down")
            await bot.close()
        stopper.cancel()
        await runner


def cmd_run(args: argparse.Namespace) -> int:
    """Run the bot."""
    settings = load_settings(require_token=True)
    settings.configure_logging()
    try:
        asyncio.run(run_bot(settings))
    except StartupError as exc:
        log.error("%s", _scrub(str(exc)))
        return FAILED
    except Exception as exc:
        import discord

        if isinstance(exc, discord.LoginFailure):
            log.error("Discord refused the token: check DISCORD_TOKEN in .env.")
            return FAILED
        raise
    return OK


def cmd_check(args: argparse.Namespace) -> int:
    """Configuration, database, migrations: a short report, and exit 1 on any problem."""
    settings = load_settings(require_token=False)
    configure_quiet_logging(settings)
    problems: list[str] = []
    extras = [f"log level {settings.log_level}", f"link cards {'on' if settings.link_cards else 'off'}"]
    if settings.dev_guild_id:
        extras.append(f"commands synced to server {settings.dev_guild_id}")
    if settings.discord_api_base:
        extras.append(f"Discord API at {settings.discord_api_base}")
    say(f"config:     ok ({', '.join(extras)})")
    if settings.discord_token:
        say("token:      DISCORD_TOKEN is set (not shown)")
    else:
        say("token:      DISCORD_TOKEN is not set")
        problems.append("DISCORD_TOKEN is not set: put the bot token in .env (see .env.example)")
    url = settings.database_url
    missing = missing_sqlite_file(url)
    if missing is not None:
        say(f"database:   {database_label(url)}: no file yet")
        problems.append(f"the database file {missing} does not exist yet: run {PROG} migrate (or start the bot)")
    else:
        try:
            asyncio.run(ping(url, args.timeout))
        except CommandError:
            raise
        except Exception as exc:
            say(f"database:   {database_label(url)}: unreachable")
            problems.append(f"the database {database_label(url)} can't be reached: {reason(exc)}")
        else:
            say(f"database:   {database_label(url)}: answers")
            try:
                status = asyncio.run(_status(url, args.timeout))
            except Exception as exc:
                say("migrations: unknown")
                problems.append(f"can't read the migration state: {reason(exc)}")
            else:
                words, fine = describe_status(status)
                say(f"migrations: {words}")
                if not fine:
                    problems.append(words)
    say(f"heartbeat:  {settings.heartbeat_file}")
    if problems:
        complain("check failed: " + "; ".join(problems))
        return FAILED
    say("check passed")
    return OK


async def _status(url: str, within: float) -> MigrationStatus:
    from storage import migrations

    async with asyncio.timeout(within):
        return await migrations.status(url)


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply migrations; say from which revision to which."""
    settings = load_settings(require_token=False)
    configure_quiet_logging(settings)
    engine_for(settings.database_url).sync_engine.dispose()  # refuses a URL that names no usable database

    async def migrate() -> tuple[MigrationStatus, MigrationStatus]:
        from storage import migrations

        before = await migrations.status(settings.database_url)
        after = await migrations.upgrade(settings.database_url)
        return before, after

    try:
        before, after = asyncio.run(migrate())
    except Exception as exc:
        raise CommandError(f"migrate failed on {database_label(settings.database_url)}: {reason(exc)}") from None
    if before.current == after.current:
        say(f"already up to date at {after.current}")
    else:
        n = len(before.pending)
        applied = f" ({n} {'migration' if n == 1 else 'migrations'})" if n else ""
        say(f"migrated {before.current or 'an empty database'} → {after.current}{applied}")
    return OK


def cmd_health(args: argparse.Namespace) -> int:
    """Silent and 0 when healthy; the reason on stderr and 1 when not."""
    from bot.heartbeat import age

    settings = load_settings(require_token=False)
    configure_quiet_logging(settings)
    beat = age(settings.heartbeat_file)
    if beat is None:
        raise CommandError(
            f"unhealthy: no heartbeat at {settings.heartbeat_file}: the bot has not become ready (or can't write "
            "there; see HEARTBEAT_FILE)"
        )
    if beat > args.max_age:
        raise CommandError(
            f"unhealthy: the heartbeat at {settings.heartbeat_file} is {beat:.0f} s old (limit {args.max_age:g} s): "
            "the bot is stopped or stuck"
        )
    missing = missing_sqlite_file(settings.database_url)
    if missing is not None:
        raise CommandError(f"unhealthy: the database file {missing} does not exist")
    try:
        asyncio.run(ping(settings.database_url, args.timeout))
    except CommandError:
        raise
    except Exception as exc:
        raise CommandError(f"unhealthy: the database does not answer: {reason(exc)}") from None
    return OK


def _write(text: str, output: Path | None) -> None:
    """The export to stdout, or whole into a file (written aside, then moved in place: never half a file)."""
    data = text.encode("utf-8")
    if output is None:
        try:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        except BrokenPipeError:  # `... | head`: the reader has seen enough
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(FAILED) from None
        return
    temporary: str | None = None
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(temporary, output)
    except OSError as exc:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
        raise CommandError(f"can't write {output}: {exc.strerror or exc}") from None


def cmd_export(args: argparse.Namespace) -> int:
    """A server's notes, to stdout or a file."""
    from storage.db import make_sessions
    from storage.exports import ExportService, render

    settings = load_settings(require_token=False)
    configure_quiet_logging(settings)
    missing = missing_sqlite_file(settings.database_url)
    if missing is not None:
        raise CommandError(f"the database file {missing} does not exist: check DATABASE_URL")

    async def snapshot() -> Any:
        engine = engine_for(settings.database_url)
        try:
            return await ExportService(make_sessions(engine)).snapshot(guild_id=args.guild)
        finally:
            await engine.dispose()

    try:
        export = asyncio.run(snapshot())
    except CommandError:
        raise
    except Exception as exc:
        raise CommandError(f"export failed: {reason(exc)} (is the database set up? `{PROG} check` says)") from None
    _write(render(export, args.format), args.output)
    if not export.notes:
        complain(f"server {args.guild} has no notes here: the export is empty (is the id right?)")
    elif args.output is not None:
        say(f"wrote {len(export.notes):,} notes on {len(export.papers):,} papers to {args.output}")
    return OK


def progress_bar(done: int, total: int) -> None:
    """``applying [#####.....] 400/1,000`` on stderr: redrawn in place on a terminal, a line per step elsewhere."""
    width = 30
    filled = width * done // max(total, 1)
    line = f"applying [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,}"
    if sys.stderr.isatty():
        print(f"\r{line}", end="\n" if done >= total else "", file=sys.stderr, flush=True)
    else:
        print(line, file=sys.stderr, flush=True)


def cmd_import(args: argparse.Namespace) -> int:
    """A document into a server: the dry run's report, or the notes written with a progress bar."""
    from bot.import_render import preview_embed, report_text
    from storage.db import make_sessions
    from storage.errors import UserFacingError
    from storage.imports.importer import Author, ImportService, read_document
    from storage.imports.plan import Shape
    from storage.leases import LeaseService
    from storage.notes import NoteService

    settings = load_settings(require_token=False)
    configure_quiet_logging(settings)
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        raise CommandError(f"can't read {args.file}: {exc.strerror or exc}", USAGE) from None
    try:
        preview = read_document(args.file.name, data, shape=args.shape)
    except UserFacingError as exc:
        raise CommandError(plain(exc.message), USAGE) from None
    if preview.plan.shape != Shape.EXPORT and args.member is None:
        raise CommandError("whose notes are these? give --member ID (a JSON export keeps its own authors)", USAGE)
    missing = missing_sqlite_file(settings.database_url)
    if missing is not None:
        raise CommandError(f"the database file {missing} does not exist: run {PROG} migrate first")

    async def run() -> Any:
        engine = engine_for(settings.database_url)
        try:
            sessions = make_sessions(engine)
            member = args.member or 0
            name = args.name
            if name is None and args.member is not None:
                page = await NoteService(sessions).page(guild_id=args.guild, author_id=args.member, limit=1)
                name = page.notes[0].author_name if page.notes else f"member {args.member}"
            author = Author(id=member, name=name or "")
            if args.dry_run:
                return author, None
            imports = ImportService(sessions, leases=LeaseService(sessions))  # the bot rolls back one stopped mid-way
            return author, await imports.apply(
                preview, guild_id=args.guild, member_id=member, author=author, progress=progress_bar
            )
        finally:
            await engine.dispose()

    try:
        author, outcome = asyncio.run(run())
    except CommandError:
        raise
    except Exception as exc:
        raise CommandError(f"import failed: {reason(exc)} (is the database set up? `{PROG} check` says)") from None
    who = author.name or "their original authors"
    shown = preview_embed(preview.plan, file_name=preview.file_name, author=who)
    if outcome is not None:
        shown.set_footer(text=None)  # "nothing has been changed yet" is the dry run's
    say(embed_text(shown))
    report = report_text(preview.plan, file_name=preview.file_name)
    if report:
        say()
        say(report.rstrip("\n"))
    if outcome is None:
        say()
        say("Dry run: nothing was changed. Run again without --dry-run to import.")
        return OK
    say()
    say(f"Imported into server {args.guild}: {outcome.notes_created:,} new notes, {outcome.notes_kept:,} already here.")
    for refused in outcome.notes_refused:
        say(f"  not saved: {refused}")
    if outcome.titles_queued:
        say(f"{outcome.titles_queued:,} titles are queued for arXiv: the running bot looks them up in the background.")
    return OK


_MARKDOWN = re.compile(
    r"(?P<code>`[^`\n]*`)"
    r"|\[(?P<text>(?:\\.|[^\\\]])*)\]\((?P<url>[^)\s]*)\)"
    r"|\\(?P<escaped>.)"
    r"|(?P<mark>\*\*|\*|__|~~|\|\|)",
    re.DOTALL,
)


def plain(markdown: str) -> str:
    """Discord markdown as plain text: links as ``text (url)``, emphasis dropped, escapes undone."""

    def replace(match: re.Match[str]) -> str:
        if match["code"] is not None:
            return match["code"]
        if match["url"] is not None:
            return f"{plain(match['text'])} ({match['url']})"
        if match["escaped"] is not None:
            return match["escaped"]
        return ""

    text = _MARKDOWN.sub(replace, markdown.replace("\u200b", ""))
    return re.sub(r"(?m)^> ", "    ", text)


def embed_text(embed: discord.Embed) -> str:
    """An embed as text: its title, description, fields and footer."""
    parts = []
    if embed.title:
        title = plain(embed.title)
        parts.append(f"{title}\n{'=' * min(len(title), 80)}")
    if embed.description:
        parts.append(plain(embed.description))
    for field in embed.fields:
        parts.append(f"{plain(field.name or '')}\n{plain(field.value or '')}")
    if embed.footer and embed.footer.text:
        parts.append(plain(embed.footer.text))
    return "\n\n".join(parts)


def cmd_digest(args: argparse.Namespace) -> int:
    """``digest preview``: the week in progress, as text."""
    from bot.digest_render import render_digest
    from schedules.digest_time import format_time, period_label
    from schedules.digests import DigestRunner
    from schedules.interests import choose
    from storage.db import make_sessions
    from storage.digests import DigestService, ScheduleView
    from storage.time_zones import zone

    settings = load_settings(require_token=False)
    configure_quiet_logging(settings)
    missing = missing_sqlite_file(settings.database_url)
    if missing is not None:
        raise CommandError(f"the database file {missing} does not exist: check DATABASE_URL")

    async def build() -> tuple[Any, ScheduleView, bool]:
        engine = engine_for(settings.database_url)
        try:
            sessions = make_sessions(engine)
            digests = DigestService(sessions)
            schedule = await digests.schedule(guild_id=args.guild)
            assumed = schedule is None
            schedule = await digests.schedule_or_default(guild_id=args.guild, channel_id=0)
            start, end = await DigestRunner(digests).upcoming_period(schedule)
            data = await digests.collect(guild_id=args.guild, start=start, end=end, timezone=schedule.timezone)
            return data, schedule, assumed
        finally:
            await engine.dispose()

    try:
        data, schedule, assumed = asyncio.run(build())
    except CommandError:
        raise
    except Exception as exc:
        raise CommandError(f"digest preview failed: {reason(exc)} (is the database set up? `{PROG} check`)") from None
    messages = render_digest(data, choose(data), explain=True)
    days = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
    when = f"{days[schedule.weekday]}s at {format_time(schedule.hour, schedule.minute)} ({schedule.timezone})"
    if assumed:
        when = f"no schedule set, so the default: {when}"
    elif not schedule.enabled:
        when = f"turned off; it was {when}"
    label = period_label(data.start, data.end, zone(schedule.timezone))
    say(f"Digest preview for server {args.guild}, the week {label} (schedule: {when})")
    for number, embeds in enumerate(messages, 1):
        say()
        if len(messages) > 1:
            say(f"--- message {number} of {len(messages)} ---")
            say()
        say("\n\n".join(embed_text(embed) for embed in embeds))
    return OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": cmd_run,
    "check": cmd_check,
    "migrate": cmd_migrate,
    "health": cmd_health,
    "export": cmd_export,
    "import": cmd_import,
    "digest": cmd_digest,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    args = build_parser().parse_args(argv)
    command = COMMANDS[args.command or "run"]
    started = time.monotonic()
    try:
        return command(args)
    except CommandError as exc:
        complain(str(exc))
        return exc.code
    except KeyboardInterrupt:
        complain(f"interrupted after {time.monotonic() - started:.0f} s")
        return FAILED
