"""/feed add and /feed test refuse addresses on the host's own network, through the real client: a moderator of
any server can't make the bot read a loopback page back to them, however the address is spelled."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import func
from sqlmodel import select

from bot.settings import ConfigError, Settings
from storage.models import Feed, Subscription
from tests.arxiv_standin import FakeArxiv
from tests.bot.conftest import MOD, Club, running_club
from tests.feed_listings import generate_listing
from tests.loopback import serving

SECRET = b"<!doctype html><html><head><title>SECRET-TOKEN</title></head><body>SECRET-TOKEN inside</body></html>"
SPELLINGS = (
    "http://127.0.0.1:{port}/admin",
    "http://localhost:{port}/admin",
    "http://2130706433:{port}/admin",
    "http://0x7f.1:{port}/admin",
    "http://[::ffff:127.0.0.1]:{port}/admin",
    "http://[::1]:{port}/admin",
    "http://127.0.0.1:{port}/rss/../admin",
    "http://127.0.0.1:{port}/rss/away",  # a listing-looking path that redirects to the secret page
)


class Host:
    """The host's own loopback web server: arXiv listings under /rss, a secret page everywhere else."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.auth: list[str | None] = []
        self.port = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.hits.append(request.path)
        self.auth.append(request.headers.get("Authorization"))
        if request.path == "/rss/away":
            raise web.HTTPFound(f"http://127.0.0.1:{self.port}/admin")
        if request.path.startswith("/rss/") or request.path == "/feed.xml":
            return web.Response(body=generate_listing(3, seed=4), content_type="application/rss+xml")
        return web.Response(body=SECRET, content_type="text/html")


@asynccontextmanager
async def host_club(fake_arxiv: FakeArxiv, tmp_path: Path, **settings: str) -> AsyncIterator[tuple[Club, Host]]:
    host = Host()
    async with serving(host.handle) as server:
        assert server.port is not None
        host.port = server.port
        rss = f"http://127.0.0.1:{server.port}/rss"
        async with running_club(fake_arxiv, tmp_path, ARXIV_RSS_BASE=rss, **settings) as club:
            club.discord.quiet_period = 0.15
            yield club, host


async def mod(club: Club, command: str, **options: Any) -> Any:
    return await club.run(command, user=MOD, **options)


@pytest.mark.parametrize("command", ["feed add", "feed test"])
async def test_addresses_on_the_hosts_network_are_refused_without_reading_them(
    fake_arxiv: FakeArxiv, tmp_path: Path, command: str
) -> None:
    async with host_club(fake_arxiv, tmp_path) as (club, host):
        for spelling in SPELLINGS:
            inter = await mod(club, command, source=spelling.format(port=host.port))
            said = (inter.error or "") + inter.text()
            assert inter.ephemeral and "not an address feeds may use" in said, (spelling, said)
            assert "SECRET-TOKEN" not in said
        assert "/admin" not in host.hits  # refused before asking, on the first hop and on the redirect
        async with club.bot.services.sessions() as session:
            for table in (Feed, Subscription):
                assert (await session.exec(select(func.count()).select_from(table))).one() == 0


async def test_the_configured_arxiv_listing_base_is_trusted_but_only_under_its_path(
    fake_arxiv: FakeArxiv, tmp_path: Path
) -> None:
    async with host_club(fake_arxiv, tmp_path) as (club, host):
        added = await mod(club, "feed add", source="cs.LG")  # the operator's listing base, on loopback
        assert "Following cs.LG" in added.text(), added.error
        other = await mod(club, "feed add", source=f"http://127.0.0.1:{host.port}/feed.xml")
        assert "not an address feeds may use" in (other.error or "")
        assert host.hits == ["/rss/cs.LG"]


async def test_allowing_private_addresses_reads_an_intranet_feed_and_hides_its_password(
    fake_arxiv: FakeArxiv, tmp_path: Path
) -> None:
    async with host_club(fake_arxiv, tmp_path, FEEDS_ALLOW_PRIVATE="on") as (club, host):
        url = f"http://reader:hunter2@localhost:{host.port}/feed.xml"
        added = await mod(club, "feed add", source=url)
        assert "Following" in added.text(), added.error
        assert host.auth[-1] == "Basic " + base64.b64encode(b"reader:hunter2").decode()  # the feed still gets them
        listed = (await mod(club, "feed list")).text()
        for said in (added.text(), listed, (await mod(club, "feed test", source=url)).text()):
            assert "hunter2" not in said and "***@localhost" in said, said
        secret = await mod(club, "feed test", source=f"http://localhost:{host.port}/admin")
        assert "HTML page" in (secret.error or "") and "SECRET-TOKEN" not in (secret.error or "")


async def test_no_log_line_of_the_bot_carries_a_feed_password(
    fake_arxiv: FakeArxiv, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    async with host_club(fake_arxiv, tmp_path, FEEDS_ALLOW_PRIVATE="on") as (club, host):
        await mod(club, "feed add", source=f"http://reader:hunter2@localhost:{host.port}/feed.xml")
        await mod(club, "feed add", source=f"http://reader:hunter2@localhost:{host.port}/admin")
        await club.bot.services.feeds.poller.poll_once()
    # storage.feeds logs the stored address too; its owner masks it (storage can't use schedules' helper).
    ours = [r for r in caplog.records if r.name.split(".")[0] in ("bot", "schedules", "storage")]
    assert any("localhost" in r.getMessage() for r in ours)  # the feeds were logged, ...
    assert not [r.getMessage() for r in ours if "hunter2" in r.getMessage()]  # ... without their password


def test_private_addresses_are_off_unless_the_operator_turns_them_on() -> None:
    base = {"DISCORD_TOKEN": "x", "ARXIV_RSS_BASE": "http://10.0.0.7:8080/rss"}
    guard = Settings.from_mapping(base).feed_guard()
    assert not guard.allow_private and guard.trusts("http://10.0.0.7:8080/rss/cs.LG")
    assert guard.needs_guard("http://10.0.0.7:8080/admin")
    assert Settings.from_mapping({**base, "FEEDS_ALLOW_PRIVATE": "on"}).feed_guard().allow_private
    with pytest.raises(ConfigError, match="FEEDS_ALLOW_PRIVATE"):
        Settings.from_mapping({**base, "FEEDS_ALLOW_PRIVATE": "maybe"})
