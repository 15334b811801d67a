"""What every command shares: exit codes, one-line errors, output without secrets, settings, the database."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from bot.settings import Settings
    from storage.db import Sessions
    from storage.migrations import MigrationStatus

T = TypeVar("T")

PROG = "python -m bot"
OK, FAILED, USAGE = 0, 1, 2


class CommandError(Exception):
    """A command could not do its job; the message is one line for the operator."""

    def __init__(self, message: str, code: int = FAILED) -> None:
        super().__init__(message)
        self.code = code


# --- output ---------------------------------------------------------------------------------------------------

_secrets: list[str] = []


def scrub(text: str) -> str:
    """The text with the Discord token masked."""
    for secret in _secrets:
        if len(secret) >= 8:  # a real token is long; masking a one-letter test value would garble every word
            text = text.replace(secret, "***")
    return text


def say(text: str = "") -> None:
    """A line of a report, on stdout."""
    print(scrub(text), flush=True)


def complain(text: str) -> None:
    """One line on stderr."""
    line = " ".join(scrub(text).split())
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


def operator_settings() -> Settings:
    """Settings for a command beside the bot: no token needed, warnings and errors on stderr."""
    settings = load_settings(require_token=False)
    configure_quiet_logging(settings)
    return settings


def missing_sqlite_file(url: str) -> Path | None:
    """The SQLite file a URL names, when it does not exist (opening it would create an empty one)."""
    from storage.sqlite_files import sqlite_file

    path = sqlite_file(url)
    return path if path is not None and not path.exists() else None


def require_database_file(settings: Settings, hint: str) -> None:
    """Refuse to go on when the SQLite file does not exist (opening it would create an empty one)."""
    missing = missing_sqlite_file(settings.database_url)
    if missing is not None:
        raise CommandError(f"the database file {missing} does not exist: {hint}")


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


async def with_sessions(url: str, work: Callable[[Sessions], Awaitable[T]]) -> T:
    """``work`` on a fresh engine for the database, disposed of afterwards."""
    from storage.db import make_sessions

    engine = engine_for(url)
    try:
        return await work(make_sessions(engine))
    finally:
        await engine.dispose()


def on_database(settings: Settings, work: Callable[[Sessions], Awaitable[T]], *, failed: str) -> T:
    """Run ``work`` on the database; any failure but a :class:`CommandError` is one line, ``failed`` with
    ``{reason}`` filled in."""
    try:
        return asyncio.run(with_sessions(settings.database_url, work))
    except CommandError:
        raise
    except Exception as exc:
        raise CommandError(failed.format(reason=reason(exc))) from None


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
