"""Feed addresses never reach the host's own network: every spelling, every resolved name, every redirect hop.

Only loopback servers and a stub resolver are used; the connection spy refuses (and records) any connection
attempt, so a refusal is proven to happen before anything is sent.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer

from schedules.addresses import AddressGuard, is_forbidden, literal_address
from schedules.feed_answers import FetchResult, listing_from
from schedules.feed_formats import FeedError
from schedules.fetching import fetch_feed
from schedules.ratelimit import ArxivLimiter
from storage.feeds.sources import resolve_source, shown_url
from tests.feed_listings import generate_listing
from tests.loopback import serving

SECRET = b"<!doctype html><html><head><title>SECRET-TOKEN</title></head><body>SECRET-TOKEN</body></html>"
LISTING = generate_listing(3, seed=5)


@dataclass
class Site:
    """A loopback site: a feed under /rss, a secret page elsewhere, and redirects; it records every path asked."""

    hits: list[str] = field(default_factory=list)
    server: TestServer | None = None
    redirects: dict[str, str] = field(default_factory=dict)

    @property
    def port(self) -> int:
        assert self.server is not None and self.server.port is not None
        return self.server.port

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.hits.append(request.path)
        if request.path in self.redirects:
            raise web.HTTPFound(self.redirects[request.path])
        if request.path.startswith("/rss/"):
            return web.Response(body=LISTING, content_type="application/rss+xml")
        return web.Response(body=SECRET, content_type="text/html")


class StubResolver(AbstractResolver):
    """Names resolved from a table, as a DNS server would answer; nothing leaves the process."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table = table
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        address = self.table[host]
        kind = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
        return [ResolveResult(hostname=host, host=address, port=port, family=kind, proto=0, flags=0)]

    async def close(self) -> None:
        """Nothing to close."""


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    fake = Site()
    async with serving(fake.handle) as server:
        fake.server = server
        yield fake


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every connection aiohttp tries to a host other than 127.0.0.1; each is refused, so nothing is sent."""
    tried: list[Any] = []
    real = aiohttp.connector.aiohappyeyeballs.start_connection

    async def spy(addr_infos: Any, *args: Any, **kwargs: Any) -> Any:
        if any(info[4][0] != "127.0.0.1" for info in addr_infos):
            tried.append([info[4] for info in addr_infos])
            raise OSError("the test refuses to connect outside 127.0.0.1")
        return await real(addr_infos, *args, **kwargs)

    monkeypatch.setattr(aiohttp.connector.aiohappyeyeballs, "start_connection", spy)
    return tried


async def get(url: str, guard: AddressGuard, **options: Any) -> FetchResult:
    async with aiohttp.ClientSession() as session:
        return await fetch_feed(
            session, url, etag=None, last_modified=None, limiter=ArxivLimiter(0), timeout=5, guard=guard, **options
        )


async def refused(url: str, guard: AddressGuard) -> FeedError:
    with pytest.raises(FeedError) as caught:
        await get(url, guard)
    assert "not an address feeds may use" in caught.value.message, caught.value.message
    assert not caught.value.retryable
    assert "SECRET-TOKEN" not in caught.value.message
    return caught.value


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.255.0.9",
        "10.0.0.5",
        "172.16.3.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "100.127.255.254",
        "0.0.0.0",
        "224.0.0.1",
        "239.1.2.3",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fe80::1%2",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "ff0e::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.5",
        "::ffff:169.254.169.254",
        "::127.0.0.1",
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    ],
)
def test_private_local_and_special_addresses_are_forbidden(address: str) -> None:
    assert is_forbidden(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700::6810:85e5", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert not is_forbidden(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("[::ffff:7f00:1]", "::ffff:127.0.0.1"),
        ("localhost", None),
        ("feeds.example.org", None),
    ],
)
def test_every_spelling_of_an_address_is_read_as_one(host: str, address: str | None) -> None:
    expected = ipaddress.ip_address(address) if address else None
    assert literal_address(host) == expected


@pytest.mark.parametrize(
    "spelling",
    [
        "127.0.0.1:{port}",
        "localhost:{port}",
        "LocalHost:{port}",
        "2130706433:{port}",
        "0x7f.1:{port}",
        "[::ffff:127.0.0.1]:{port}",
        "[::1]:{port}",
        "user:hunter2@127.0.0.1:{port}",
    ],
)
async def test_loopback_in_any_spelling_is_refused_and_never_asked(site: Site, spelling: str) -> None:
    error = await refused(f"http://{spelling.format(port=site.port)}/secret", AddressGuard())
    assert site.hits == []
    assert "hunter2" not in error.message


async def test_the_metadata_address_is_refused_before_connecting(connections: list[Any]) -> None:
    stub = StubResolver({"metadata.test": "169.254.169.254", "news.example.org": "10.0.0.5"})
    guard = AddressGuard(resolver=stub)
    await refused("http://169.254.169.254/latest/meta-data/", guard)
    assert stub.asked == []  # a literal address is refused before any lookup
    await refused("http://metadata.test/latest/meta-data/", guard)
    await refused("http://news.example.org/feed.xml", guard)
    assert stub.asked == ["metadata.test", "news.example.org"]
    assert connections == [], "a connection was tried to a refused address"


async def test_a_name_with_one_private_answer_among_public_ones_is_refused(connections: list[Any]) -> None:
    class Mixed(StubResolver):
        async def resolve(
            self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
        ) -> list[ResolveResult]:
            return [*await super().resolve("public", port, family), *await super().resolve("private", port, family)]

    guard = AddressGuard(resolver=Mixed({"public": "93.184.215.14", "private": "10.0.0.5"}))
    await refused("http://mixed.example.org/feed", guard)
    assert connections == []


async def test_the_operators_arxiv_base_is_trusted_by_prefix_not_by_host(site: Site) -> None:
    guard = AddressGuard((site.url("/rss"),))
    fetched = await get(site.url("/rss/cs.LG"), guard)
    assert fetched.status == 200 and fetched.from_arxiv
    for path in ("/secret", "/rssx/cs.LG", "/rss/../secret", "/rss/%2e%2e/secret", "/rss/%2E%2E%2Fsecret", "/"):
        await refused(site.url(path), guard)
    await refused(f"http://localhost:{site.port}/rss/cs.LG", guard)  # same server, another host name
    assert site.hits == ["/rss/cs.LG"]


async def test_every_redirect_hop_is_checked(site: Site) -> None:
    guard = AddressGuard((site.url("/rss"),))
    site.redirects["/rss/moved"] = site.url("/rss/cs.LG")
    assert (await get(site.url("/rss/moved"), guard)).status == 200  # a hop that stays under the prefix is fine
    site.redirects["/rss/away"] = site.url("/secret")
    site.redirects["/rss/away6"] = f"http://[::ffff:127.0.0.1]:{site.port}/secret"
    site.redirects["/rss/relative"] = "/secret"
    for start in ("/rss/away", "/rss/away6", "/rss/relative"):
        await refused(site.url(start), guard)
    assert "/secret" not in site.hits
    for hop in range(7):
        site.redirects[f"/rss/loop{hop}"] = site.url(f"/rss/loop{hop + 1}")
    with pytest.raises(FeedError, match="redirected more than 5 times"):
        await get(site.url("/rss/loop0"), guard)
    assert "/rss/loop6" not in site.hits and "/rss/loop5" in site.hits


async def test_a_public_feed_that_redirects_into_the_network_is_refused(site: Site, connections: list[Any]) -> None:
    guard = AddressGuard(resolver=StubResolver({"feeds.example.org": "10.0.0.5"}), allow_private=False)
    trusted = AddressGuard((site.url("/rss"),), resolver=guard.resolver)
    site.redirects["/rss/out"] = "http://feeds.example.org/feed.xml"
    await refused(site.url("/rss/out"), trusted)
    assert connections == []


async def test_allowing_private_addresses_lets_an_intranet_feed_be_read(site: Site) -> None:
    guard = AddressGuard(allow_private=True)
    assert (await get(f"http://localhost:{site.port}/rss/cs.LG", guard)).status == 200
    assert (await get(site.url("/rss/cs.LG"), guard)).status == 200


async def test_fetch_feed_is_guarded_when_no_guard_is_named(site: Site) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(FeedError, match="not an address feeds may use"):
            await fetch_feed(session, site.url("/rss/cs.LG"), etag=None, last_modified=None, limiter=ArxivLimiter(0))
    assert site.hits == []


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, SECRET),
        (200, b"SECRET-TOKEN is the admin password"),
        (200, b"<?xml version='1.0'?><feed xmlns='http://www.w3.org/2005/Atom'><title>SECRET-TOKEN</title"),
        (
            400,
            b"<feed xmlns='http://www.w3.org/2005/Atom' xmlns:opensearch='http://a9.com/-/spec/opensearch/1.1/'>"
            b"<entry><id>http://arxiv.org/api/errors#x</id><title>Error</title><summary>SECRET-TOKEN</summary>"
            b"</entry></feed>",
        ),
        (
            200,
            b"<feed xmlns='http://www.w3.org/2005/Atom' xmlns:opensearch='http://a9.com/-/spec/opensearch/1.1/'>"
            b"<entry><id>http://arxiv.org/api/errors#x</id><title>Error</title><summary>SECRET-TOKEN</summary>"
            b"</entry></feed>",
        ),
    ],
)
def test_errors_about_a_web_feed_never_quote_what_it_sent(status: int, body: bytes) -> None:
    with pytest.raises(FeedError) as caught:
        listing_from(FetchResult(status, body, None, None, None, False))
    assert "SECRET-TOKEN" not in caught.value.message, caught.value.message


def test_credentials_in_a_feed_address_are_masked_wherever_it_is_shown() -> None:
    source = resolve_source(
        "https://reader:hunter2@feeds.example.org/private.xml",
        rss_base="https://rss.arxiv.org/rss",
        api_base="https://export.arxiv.org/api/query",
    )
    assert "hunter2" in source.url  # fetching needs them
    assert "hunter2" not in source.label and "reader" not in source.label
    assert source.label == "https://***@feeds.example.org/private.xml"
    assert shown_url("http://token@example.org/x") == "http://***@example.org/x"
    assert shown_url("https://example.org/a@b") == "https://example.org/a@b"
    assert shown_url('ti:"x" AND au:a@b') == 'ti:"x" AND au:a@b'
