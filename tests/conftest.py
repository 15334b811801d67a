"""Shared fixtures: a fresh SQLite database file (WAL) per test, and the loopback arXiv."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.db import Sessions, create_schema, make_engine, make_sessions
from tests.arxiv_standin import Catalog, FakeArxiv
from tests.loopback import serving

DATA = Path(__file__).parent / "data"
ARXIV_CAPTURES = DATA / "arxiv"


@pytest.fixture
async def db_url(tmp_path: Path) -> str:
    """A database URL for a new SQLite file in the test's own folder."""
    return f"sqlite:///{tmp_path}/db/paperclub.db"


@pytest.fixture
async def sessions(db_url: str) -> AsyncIterator[Sessions]:
    """A session factory over a fresh, migrated database file."""
    engine = make_engine(db_url)
    await create_schema(engine)
    yield make_sessions(engine)
    await engine.dispose()


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    """Entries from the real captures, by id."""
    return Catalog()


@pytest.fixture
async def fake_arxiv(catalog: Catalog) -> AsyncIterator[FakeArxiv]:
    """A running loopback arXiv API."""
    fake = FakeArxiv(catalog)
    async with serving(fake.handle, "/api/query") as server:
        fake.server = server
        yield fake
