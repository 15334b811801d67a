"""The entry point: parse the command line, run the command, turn its failure into one line and an exit code."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from bot.cli.base import FAILED, CommandError, complain
from bot.cli.database import cmd_check, cmd_health, cmd_migrate
from bot.cli.digest import cmd_digest
from bot.cli.notes import cmd_export, cmd_import
from bot.cli.run import cmd_run

if TYPE_CHECKING:
    import argparse

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
    words = sys.argv[1:] if argv is None else list(argv)
    if not words:  # the bot itself, as the container starts it: no parser to build (bench/idle_memory.py)
        return _guarded(cmd_run)
    from bot.cli.parser import build_parser  # argparse: only a command line that says something needs it

    args = build_parser().parse_args(words)
    command = COMMANDS[args.command or "run"]
    return _guarded(lambda: command(args))


def _guarded(command: Callable[[], int]) -> int:
    """Run the command; its failure becomes one line and an exit code."""
    started = time.monotonic()
    try:
        return command()
    except CommandError as exc:
        complain(str(exc))
        return exc.code
    except KeyboardInterrupt:
        complain(f"interrupted after {time.monotonic() - started:.0f} s")
        return FAILED
