"""The SQLite file a database URL names, and the claim one bot process holds on it while it runs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

__all__ = ["DatabaseInUse", "only_process_on", "sqlite_file"]


class DatabaseInUse(Exception):
    """Another bot process runs on this SQLite file; the message is one line for the operator."""


def sqlite_file(database_url: str) -> Path | None:
    """The SQLite database file a URL names (relative paths are from the working folder), or None."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(database_url)
    except ArgumentError:
        return None
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser()


@contextmanager
def only_process_on(database_url: str) -> Iterator[None]:
    """Run the bot as the only bot process on a SQLite file, or raise :class:`DatabaseInUse` at once.

    Two bots on one file would both poll the feeds and both post the digests: SQLite has no leases across
    processes that survive a crash the way PostgreSQL's rows do. The claim is an OS lock on ``<file>.lock``,
    which the kernel lets go when the process ends, however it ends. PostgreSQL needs no claim (see
    storage/leases.py), and operator commands (``migrate``, ``export``, ``import``) may run beside the bot.
    """
    path = sqlite_file(database_url)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    claim = FileLock(f"{path}.lock", blocking=False)
    try:
        claim.acquire()
    except Timeout:
        raise DatabaseInUse(
            f"another paperclub process is already running on {path}. Run one process per SQLite file: stop the "
            "other one, or move to PostgreSQL (DATABASE_URL) to run several."
        ) from None
    try:
        yield
    finally:
        claim.release()
