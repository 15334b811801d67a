"""A loopback HTTP server for a test: one handler for every GET, on a free port of 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import web
from aiohttp.test_utils import TestServer


@asynccontextmanager
async def serving(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]], path: str = "/{tail:.*}"
) -> AsyncIterator[TestServer]:
    """Serve ``handler`` at ``path`` until the block ends."""
    app = web.Application()
    app.router.add_get(path, handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()
