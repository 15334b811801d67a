"""``check``, ``migrate`` and ``health``: the configuration, the database's schema, and whether the bot is alive."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from bot.cli.base import (
    FAILED,
    OK,
    PROG,
    CommandError,
    complain,
    database_label,
    describe_status,
    engine_for,
    missing_sqlite_file,
    operator_settings,
    ping,
    reason,
    say,
)

if TYPE_CHECKING:
    import argparse

    from storage.migrations import MigrationStatus


def cmd_check(args: argparse.Namespace) -> int:
    """Configuration, database, migrations: a short report, and exit 1 on any problem."""
    settings = operator_settings()
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
    settings = operator_settings()
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

    settings = operator_settings()
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
