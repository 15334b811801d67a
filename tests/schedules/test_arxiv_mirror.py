"""An operator's arXiv mirror or proxy (ARXIV_RSS_BASE, ARXIV_API_BASE) keeps arXiv's rules: the shared limiter
and ``Retry-After``; another address on the same host does not get them, nor the trust."""

from __future__ import annotations

from aiohttp import ClientSession, web

from schedules.addresses import AddressGuard
from schedules.fetching import fetch_feed
from schedules.ratelimit import ArxivLimiter
from tests.loopback import serving


async def test_a_429_from_the_operators_arxiv_mirror_pauses_every_arxiv_request() -> None:
    async def rate_limited(request: web.Request) -> web.Response:
        return web.Response(status=429, text="Rate exceeded.", headers={"Retry-After": "12"})

    async with serving(rate_limited) as server:
        base = str(server.make_url("/rss/"))
        guard = AddressGuard(trusted=(base,))
        limiter = ArxivLimiter(min_interval=0.0)
        async with ClientSession() as http:
            result = await fetch_feed(http, base + "cs.LG", etag=None, last_modified=None, limiter=limiter, guard=guard)
        assert result.status == 429
        assert 11 < limiter.paused_for() <= 12  # every arXiv request now waits, as arXiv asked


async def test_the_same_host_outside_the_mirrors_prefix_is_not_arxiv() -> None:
    async def rate_limited(request: web.Request) -> web.Response:
        return web.Response(status=429, text="Rate exceeded.", headers={"Retry-After": "12"})

    async with serving(rate_limited) as server:
        guard = AddressGuard(trusted=(str(server.make_url("/rss/")),), allow_private=True)
        limiter = ArxivLimiter(min_interval=0.0)
        async with ClientSession() as http:
            result = await fetch_feed(
                http,
                str(server.make_url("/elsewhere/feed.xml")),
                etag=None,
                last_modified=None,
                limiter=limiter,
                guard=guard,
            )
        assert result.status == 429 and limiter.paused_for() == 0  # a web feed's 429 is its own business
