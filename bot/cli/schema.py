"""The migrations applied at start in a short-lived process of their own, so the bot never holds Alembic.

Alembic, Mako and the revision scripts cost the bot about 20 MB for as long as it runs, for work done once at
start. ``python -m bot`` runs ``python -m bot.cli.schema`` instead and waits for it: the URL goes in on stdin, the
log lines go to the same stdout as the bot's, and the outcome comes back as one JSON object on a pipe of its own.
On Linux the child dies with the bot, so a bot killed mid-migration leaves no process finishing it behind (the
migration is one transaction: it applies whole or not at all either way).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import sys

from bot.cli.base import FAILED, OK, load_settings, reason
from storage.migrations import MigrationStatus


class MigrationFailed(Exception):
    """The migrations could not be applied; the message is the reason, on one line."""


async def upgrade_apart(url: str) -> MigrationStatus:
    """Apply the migrations to the database at ``url`` in a child process; where the database stands after."""
    read, write = os.pipe()
    try:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli.schema",
            str(os.getpid()),
            str(write),
            stdin=asyncio.subprocess.PIPE,
            pass_fds=(write,),
        )
    except BaseException:
        os.close(read)
        raise
    finally:
        os.close(write)
    try:
        await child.communicate(url.encode())  # the URL on stdin: a password never shows in the process list
        answer = json.loads(_read_all(read) or b"{}")  # the child has ended: what it wrote is all there
    finally:
        os.close(read)
    if child.returncode != OK or "head" not in answer:
        raise MigrationFailed(answer.get("reason") or f"the migrating process exited with code {child.returncode}")
    return MigrationStatus(current=answer["current"], head=answer["head"], pending=tuple(answer["pending"]))


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _die_with(parent: int) -> None:
    """On Linux, be killed when the bot process ends, however it ends."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return  # not Linux: the migration still applies whole or not at all
    if os.getppid() != parent:  # the bot ended before the line above: nobody waits for us
        os._exit(FAILED)


def main(parent: int, result_fd: int) -> int:
    """Apply the migrations to the URL read on stdin; write the outcome to ``result_fd``."""
    from storage import migrations

    _die_with(parent)
    load_settings(require_token=False).configure_logging()
    url = sys.stdin.read()
    try:
        status = asyncio.run(migrations.upgrade(url))
    except Exception as exc:
        outcome, code = {"reason": reason(exc)}, FAILED
    else:
        outcome, code = dataclasses.asdict(status), OK
    with open(result_fd, "w") as result:
        json.dump(outcome, result)
    return code


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), int(sys.argv[2])))
