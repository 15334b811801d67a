"""Shared fixtures: a fresh SQLite database file (WAL) per test, and the loopback arXiv."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest

from storage.db import Sessions, create_schema, make_engine, make_sessions
from tests.arxiv_standin import Catalog, FakeArxiv
from tests.loopback import serving

DATA = Path(__file__).parent / "data"
ARXIV_CAPTURES = DATA / "arxiv"


POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
# one template per xdist worker: a template being copied for one worker's test cannot be rebuilt by another (and
# per checkout, named by PAPERCLUB_TEST_CHECKOUT, when runs from several checkouts share the server)
TEMPLATE = (
    "paperclub_template" + os.environ.get("PAPERCLUB_TEST_CHECKOUT", "") + os.environ.get("PYTEST_XDIST_WORKER", "")
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="the database every test runs on (postgresql: the server at 127.0.0.1:5432, user postgres)",
    )


def _admin_url() -> str:
    return os.environ.get("PAPERCLUB_TEST_POSTGRES", POSTGRES_ADMIN)


@pytest.fixture(scope="session")
def postgres_template(request: pytest.FixtureRequest) -> str | None:
    """On PostgreSQL runs: a database migrated to head once, copied for each test (None on SQLite runs)."""
    if request.config.getoption("--db") != "postgresql":
        return None
    admin = _admin_url()

    async def prepare() -> None:
        try:
            conn = await asyncpg.connect(admin.replace("postgresql+asyncpg://", "postgresql://"), timeout=5)
        except (OSError, asyncpg.PostgresError) as exc:
            message = f"PostgreSQL is not reachable at {admin} ({exc.__class__.__name__}: {exc})"
            if os.environ.get("PAPERCLUB_REQUIRE_POSTGRES"):
                pytest.exit(message, returncode=3)
            pytest.skip(f"{message}; the PostgreSQL run is skipped")
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")
            await conn.execute(f"CREATE DATABASE {TEMPLATE}")
        finally:
            await conn.close()
        engine = make_engine(_database(admin, TEMPLATE))
        await create_schema(engine)
        await engine.dispose()

    asyncio.run(prepare())
    return TEMPLATE


def _database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only(reason): checks something only SQLite has; skipped on PostgreSQL")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--db") != "postgresql":
        return
    for item in items:
        marker = item.get_closest_marker("sqlite_only")
        if marker is not None:
            item.add_marker(pytest.mark.skip(reason=f"SQLite only: {marker.args[0] if marker.args else ''}"))


@asynccontextmanager
async def _postgres_database(template: str | None) -> AsyncIterator[str]:
    admin = _admin_url().replace("postgresql+asyncpg://", "postgresql://")
    name = f"t_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
    finally:
        await conn.close()
    try:
        yield _database(_admin_url(), name)
    finally:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await conn.close()


@pytest.fixture
async def empty_db_url(tmp_path: Path, postgres_template: str | None) -> AsyncIterator[str]:
    """A database with nothing in it, on the backend of the run: for migration tests."""
    if postgres_template is None:
        yield f"sqlite:///{tmp_path}/empty/paperclub.db"
        return
    async with _postgres_database(None) as url:
        yield url


@pytest.fixture
async def db_url(tmp_path: Path, postgres_template: str | None) -> AsyncIterator[str]:
    """A database URL for a new, empty-but-migrated database: a SQLite file in the test's own folder, or (with
    ``--db postgresql``) a fresh PostgreSQL database copied from the migrated template and dropped after."""
    if postgres_template is None:
        yield f"sqlite:///{tmp_path}/db/paperclub.db"
        return
    async with _postgres_database(postgres_template) as url:
        yield url


@pytest.fixture
async def sessions(db_url: str) -> AsyncIterator[Sessions]:
    """A session factory over a fresh, migrated database."""
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
