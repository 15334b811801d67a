"""The command line: every command and its options, with usage errors as one line and exit code 2."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import NoReturn

from bot.cli.base import PROG, USAGE

SHAPES = ("log", "daily", "outline", "list", "json")  # storage.imports.plan.Shape.ALL, without importing it here


CHECK_TIMEOUT = 10.0  # seconds for the database to answer `check`


HEALTH_TIMEOUT = 1.5  # ... and `health`, which a container runtime calls every few seconds


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
