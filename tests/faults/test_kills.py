"""The fault suite, short and with fixed seeds: real bot processes killed with SIGKILL at chosen and random
moments, restarted, and checked for anything lost or doubled. ``python -m tests.faults`` runs it long."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.scenarios import (
    digest_under_kills,
    feeds_under_kills,
    imports_under_kills,
    migration_under_kills,
    two_processes_under_kills,
)
from tests.faults.world import world

SEED = 20261204


async def test_feed_papers_are_posted_once_in_each_channel_however_often_the_bot_is_killed(
    db_url: str, tmp_path: Path
) -> None:
    if db_url.startswith("postgresql"):
        pytest.skip("one bot on its own SQLite file: the SQLite pass runs this")
    async with world(tmp_path, seed=SEED) as w:
        outcome = await feeds_under_kills(w, rounds=6)
    print(outcome.summary())
    assert outcome.kills >= 6 and not outcome.problems, outcome.summary()


async def test_a_digest_killed_while_it_is_posted_is_completed_once(db_url: str, tmp_path: Path) -> None:
    if db_url.startswith("postgresql"):
        pytest.skip("one bot on its own SQLite file: the SQLite pass runs this")
    async with world(tmp_path, seed=SEED) as w:
        outcome = await digest_under_kills(w, notes=40, rounds=4)
    print(outcome.summary())
    assert outcome.kills >= 2 and outcome.checked >= 4 and not outcome.problems, outcome.summary()


async def test_a_start_killed_during_its_migrations_leaves_the_database_whole(db_url: str, tmp_path: Path) -> None:
    if db_url.startswith("postgresql"):
        pytest.skip("the migrations of a SQLite file: the SQLite pass runs this (PostgreSQL's DDL is transactional)")
    async with world(tmp_path, seed=SEED) as w:
        outcome = await migration_under_kills(w, rounds=6)
    print(outcome.summary())
    assert outcome.kills >= 6 and not outcome.problems, outcome.summary()


async def test_two_processes_on_postgresql_killed_in_turn_post_each_paper_once(db_url: str, tmp_path: Path) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("several processes share PostgreSQL: the --db postgresql pass runs this")
    async with world(tmp_path, database_url=db_url, seed=SEED) as w:
        outcome = await two_processes_under_kills(w, rounds=6)
    print(outcome.summary())
    assert outcome.kills >= 6 and not outcome.problems, outcome.summary()


async def test_an_import_killed_while_it_writes_is_whole_or_absent(db_url: str, tmp_path: Path) -> None:
    if db_url.startswith("postgresql"):
        pytest.skip("one bot on its own SQLite file: the SQLite pass runs this")
    async with world(tmp_path, seed=SEED) as w:
        outcome = await imports_under_kills(w, rounds=4)
    print(outcome.summary())
    assert outcome.kills >= 4 and not outcome.problems, outcome.summary()
