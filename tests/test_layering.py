"""The house rules: packages point one way (bot → schedules → storage), only bot/ talks to Discord, storage/
never does HTTP, and no cog is another cog's toolkit."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Alembic's environment script runs the migrations when it is loaded: Alembic loads it, nothing imports it.
NOT_IMPORTABLE = {"storage.migrations.env"}


def modules_of(package: str) -> list[str]:
    """Every module of a package, found on disk."""
    found = [package]
    for info in pkgutil.walk_packages([str(ROOT / package)], prefix=f"{package}."):
        found.append(info.name)
    return sorted(name for name in found if name not in NOT_IMPORTABLE)


def imports_of(path: Path) -> Iterator[tuple[int, str]]:
    """Every module a file imports, wherever the import is (top level, in a function, under TYPE_CHECKING)."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:  # ``from bot import heartbeat`` imports the module bot.heartbeat
                yield node.lineno, f"{node.module}.{alias.name}"


def imported_from(folder: str, banned: tuple[str, ...]) -> list[str]:
    """``file:line imports module`` for every import under ``folder`` of a module in (or under) ``banned``."""
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for line, module in imports_of(path):
            if any(module == b or module.startswith(f"{b}.") for b in banned):
                found.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return sorted(set(found))


def test_every_module_of_storage_and_schedules_imports_without_discord() -> None:
    modules = modules_of("storage") + modules_of("schedules")
    assert "storage.notes" in modules and "schedules.jobs" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "assert 'discord' not in sys.modules, sorted(m for m in sys.modules if m.startswith('discord'))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_storage_does_no_http_and_knows_nothing_above_it() -> None:
    assert imported_from("storage", ("aiohttp", "discord", "schedules", "bot")) == []


def test_schedules_knows_nothing_of_the_bot() -> None:
    assert imported_from("schedules", ("discord", "bot")) == []


COGS = sorted(path for path in (ROOT / "bot" / "cogs").glob("*.py") if path.name != "__init__.py")  # not the list


@pytest.mark.parametrize("path", COGS, ids=lambda p: p.name)
def test_no_cog_imports_another(path: Path) -> None:
    others = [f"line {line}: {module}" for line, module in imports_of(path) if module.startswith("bot.cogs.")]
    assert others == [], f"{path.name} imports from other cogs"


def test_only_the_command_line_starts_the_app() -> None:
    """bot.app is at the top: nothing in bot/ imports it but the command that runs the bot."""
    users = imported_from("bot", ("bot.app",))
    assert all(found.startswith("bot/cli/run.py:") for found in users), users


def test_cogs_open_no_http_session_of_their_own() -> None:
    """A cog translates: fetching goes through a service it is given (schedules/), never aiohttp of its own."""
    assert imported_from("bot/cogs", ("aiohttp",)) == []


def test_a_listing_read_apart_starts_a_process_with_no_http_and_no_database_code() -> None:
    """A large listing is parsed in a process of its own, started for it: it must not pay for the bot's imports."""
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, schedules.feed_answers; print(' '.join(sorted(sys.modules)))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    heavy = {"aiohttp", "sqlalchemy", "sqlmodel", "pydantic", "discord", "apscheduler", "storage.models", "yarl"}
    assert heavy.isdisjoint(loaded), sorted(heavy.intersection(loaded))
