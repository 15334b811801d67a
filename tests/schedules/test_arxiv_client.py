"""The arXiv API client against real captured responses, served over loopback HTTP."""

from __future__ import annotations

import asyncio
import itertools
import re
import socket
import unicodedata
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schedules.arxiv import DEFAULT_USER_AGENT, ArxivClient, parse_retry_after, title_search_queries
from schedules.arxiv_answers import (
    ArxivQueryError,
    ArxivUnavailable,
    entry_to_metadata,
    is_arxiv_category,
    parse_api_feed,
)
from schedules.ratelimit import ArxivLimiter, default_limiter
from storage.metadata import MetadataSource, PaperMetadata
from tests.arxiv_standin import API_CAPTURES, Catalog, FakeArxiv, Reply, capture, raw_capture

INTERVAL = 0.05

EXPECTED_COUNTS = {
    "api2013_search_query_1301.7746.xml": 1,
    "api2016_idlist_1111.2011v2.xml": 1,
    "api2016_search_andnot.xml": 10,
    "api2016_search_au_del_maestro.xml": 10,
    "api2017_search_deep_dream_page0.xml": 10,
    "api2017_search_deep_dream_page1.xml": 10,
    "api2017_search_deep_dream_page2.xml": 10,
    "api2025_search_cs.AI_max10_2025-12-31.xml": 10,
    "api2026_idlist_0000.0000_empty.xml": 0,
    "api2026_idlist_1707.08567.xml": 1,
    "api2026_idlist_oldstyle_astro-ph_0601001.xml": 1,
    "api2026_idlist_oldstyle_quant-ph_0201082v1.xml": 1,
    "api2026_idlist_two_ids_max1.xml": 1,
    "api2026_search_cat_math.NT_OR_math.AG_max3.xml": 3,
    "api2026_search_cs.AI_max20_2026-02-05.xml": 20,
    "api2026_search_testing_100.xml": 100,
}
QUERY_ERRORS = ("api2018_error_malformed_id_INVALIDID_legacy.xml", "api2026_error_malformed_id_abc.xml")
NOT_FEEDS = (
    "api2026_error_503_html_2026-01-08.xml",
    "api2026_error_rate_exceeded_2026-01-08.txt.xml",
    "api2026_error_empty_body_2026-01-13.xml",
)


def make_client(fake: FakeArxiv, **options: Any) -> ArxivClient:
    """A client pointed at the fake arXiv, with short waits so the tests run fast."""
    settings: dict[str, Any] = {
        "api_base": fake.url,
        "limiter": ArxivLimiter(INTERVAL),
        "timeout": 5.0,
        "max_attempts": 3,
        "backoff": 0.01,
        "max_backoff": 0.05,
        "rate_exceeded_pause": 0.3,
    }
    settings.update(options)
    return ArxivClient(**settings)


@pytest.fixture
async def client(fake_arxiv: FakeArxiv) -> AsyncIterator[ArxivClient]:
    """A started client talking to the fake arXiv."""
    async with make_client(fake_arxiv) as started:
        yield started


def unused_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Parsing the captures


def test_every_api_capture_is_covered() -> None:
    assert set(API_CAPTURES) == set(EXPECTED_COUNTS) | set(QUERY_ERRORS) | set(NOT_FEEDS)


@pytest.mark.parametrize("name", sorted(EXPECTED_COUNTS))
def test_parses_capture(name: str) -> None:
    raw = raw_capture(name)
    papers = parse_api_feed(raw)
    assert len(papers) == EXPECTED_COUNTS[name] == raw.count(b"<entry>")
    text = raw.decode("utf-8")
    entry_ids = re.findall(r"<id>https?://arxiv\.org/abs/(.+?)</id>", text)
    primaries = re.findall(r'<arxiv:primary_category[^>]*term="([^"]+)"', text)
    for paper, entry_id, primary in zip(papers, entry_ids, primaries, strict=True):
        bare, version = re.fullmatch(r"(.+)v(\d+)", entry_id).groups()  # type: ignore[union-attr]
        assert paper.key == f"arxiv:{bare}"
        assert paper.version == int(version)
        assert paper.title and paper.title == " ".join(paper.title.split())
        assert paper.abstract and paper.abstract == " ".join(paper.abstract.split())
        assert paper.authors and all(name == " ".join(name.split()) for name in paper.authors)
        assert paper.categories[0] == primary
        assert len(set(paper.categories)) == len(paper.categories)
        assert all(is_arxiv_category(term) for term in paper.categories)
        assert paper.published is not None and paper.updated is not None
        for when in (paper.published, paper.updated):
            assert when.tzinfo is not None and when.utcoffset() == timedelta(0)
        assert paper.published <= paper.updated


def test_id_list_capture_in_full() -> None:
    (paper,) = parse_api_feed(raw_capture("api2016_idlist_1111.2011v2.xml"))
    assert paper.key == "arxiv:1111.2011"
    assert paper.version == 2
    assert paper.title == "Quantum Criticality for Extended Nodes on a Bethe Lattice in the Large Connectivity Limit"
    assert paper.authors == ("James M. Murray", "Adrian Del Maestro", "Zlatko Tesanovic")
    assert paper.abstract.startswith("Theoretical description of anisotropic systems, such as layered superconductors")
    assert paper.abstract.endswith("the theory describing a single node.")
    assert paper.categories == ("cond-mat.str-el", "cond-mat.stat-mech")
    assert paper.published == datetime(2011, 11, 8, 18, 48, 36, tzinfo=UTC)
    assert paper.updated == datetime(2012, 4, 2, 12, 38, 54, tzinfo=UTC)
    assert paper.doi == "10.1103/PhysRevB.85.115117"
    assert paper.journal_ref == "Phys. Rev. B 85, 115117 (2012)"
    assert paper.comment == "8 pages, 3 figures. Published version"


@pytest.mark.parametrize(
    ("name", "key", "version", "categories"),
    [
        ("api2026_idlist_oldstyle_astro-ph_0601001.xml", "arxiv:astro-ph/0601001", 1, ("astro-ph",)),
        ("api2026_idlist_oldstyle_quant-ph_0201082v1.xml", "arxiv:quant-ph/0201082", 1, ("quant-ph", "cs.PL")),
    ],
)
def test_old_style_ids(name: str, key: str, version: int, categories: tuple[str, ...]) -> None:
    (paper,) = parse_api_feed(capture(name))
    assert (paper.key, paper.version, paper.categories) == (key, version, categories)


def test_old_style_ids_in_a_search() -> None:
    papers = {p.key: p for p in parse_api_feed(raw_capture("api2026_search_cs.AI_max20_2026-02-05.xml"))}
    assert papers["arxiv:cs/9909009"].version == 1
    assert papers["arxiv:cs/0307048"].version == 2
    assert papers["arxiv:cond-mat/0408190"].version == 2
    assert "arxiv:2602.03969" in papers


def test_non_ascii_text() -> None:
    dream = [a for p in parse_api_feed(raw_capture("api2017_search_deep_dream_page0.xml")) for a in p.authors]
    assert "Ali Hürriyetoğlu" in dream and "Søren Hauberg" in dream
    math = parse_api_feed(raw_capture("api2026_search_cat_math.NT_OR_math.AG_max3.xml"))
    assert any(p.title.startswith("Étale and Quasicoherent") for p in math)
    assert any("Svala Sverrisdóttir" in p.authors for p in math)
    cs_ai = [a for p in parse_api_feed(raw_capture("api2026_search_cs.AI_max20_2026-02-05.xml")) for a in p.authors]
    assert "İsmail Tarım" in cs_ai and "Markus Bläser" in cs_ai


def test_recorded_captures_are_doubly_encoded() -> None:
    """The arxiv.py-derived captures hold mojibake; the bytes arXiv sent parse to the right names."""
    as_stored = [a for p in parse_api_feed(raw_capture("api2026_search_testing_100.xml")) for a in p.authors]
    as_sent = [a for p in parse_api_feed(capture("api2026_search_testing_100.xml")) for a in p.authors]
    assert "Oliver Wei\u00c3\u009fl" in as_stored
    assert "Oliver Weißl" in as_sent and "Sébastien Lafond" in as_sent and "Sólrún Einarsdóttir" in as_sent
    (paper,) = parse_api_feed(capture("api2026_idlist_1707.08567.xml"))
    assert "Dirk Wübben" in paper.authors


def test_msc_classes_are_not_categories() -> None:
    papers = {p.key: p for p in parse_api_feed(raw_capture("api2017_search_deep_dream_page0.xml"))}
    assert papers["arxiv:1304.8005"].categories == ("math.AG",)
    assert not is_arxiv_category("14C20, 14M99")
    assert not is_arxiv_category("05E99 (Primary), 05E05, 20B30 (Secondary)")
    assert not is_arxiv_category("I.2.6")
    for term in ("cs.AI", "cond-mat.str-el", "astro-ph", "q-bio.NC", "physics.soc-ph", "hep-th", "math-ph"):
        assert is_arxiv_category(term)


def test_entry_to_metadata_edge_cases() -> None:
    entry = {
        "id": "http://arxiv.org/abs/2403.17887v3",
        "title": "  A\n   title ",
        "summary": "\n  Line one\n line two  ",
        "authors": [{"name": " Ada  Lovelace "}, {"name": ""}, {}],
        "published": "2024-03-26T17:59:59-04:00",
        "updated_parsed": (2024, 4, 1, 12, 0, 0, 0, 92, 0),
        "arxiv_primary_category": {"term": "cs.LG"},
        "tags": [{"term": "stat.ML"}, {"term": "cs.LG"}, {"term": "68T05"}],
        "arxiv_doi": "10.1000/a 10.1000/b",
    }
    paper = entry_to_metadata(entry)
    assert paper is not None
    assert (paper.key, paper.version, paper.title) == ("arxiv:2403.17887", 3, "A title")
    assert paper.abstract == "Line one line two"
    assert paper.authors == ("Ada Lovelace",)
    assert paper.categories == ("cs.LG", "stat.ML")
    assert paper.published == datetime(2024, 3, 26, 21, 59, 59, tzinfo=UTC)
    assert paper.updated == datetime(2024, 4, 1, 12, 0, 0, tzinfo=UTC)
    assert paper.doi == "10.1000/a" and paper.extra == {"dois": "10.1000/a 10.1000/b"}
    assert paper.journal_ref is None and paper.comment is None
    assert entry_to_metadata({"id": "https://arxiv.org/api/errors#incorrect_id_format_for_abc"}) is None
    assert entry_to_metadata({"id": "http://arxiv.org/abs/9999.99999v1"}) is None  # month 99 does not exist
    assert entry_to_metadata({}) is None


@pytest.mark.parametrize(("name", "bad_id"), list(zip(QUERY_ERRORS, ["INVALIDID", "abc"], strict=True)))
def test_error_feeds_raise_query_error(name: str, bad_id: str) -> None:
    with pytest.raises(ArxivQueryError, match="incorrect id format for") as caught:
        parse_api_feed(raw_capture(name))
    assert caught.value.bad_id == bad_id


@pytest.mark.parametrize("name", NOT_FEEDS)
def test_non_feed_bodies_are_unavailable(name: str) -> None:
    with pytest.raises(ArxivUnavailable):
        parse_api_feed(raw_capture(name))


@pytest.mark.parametrize(
    "body",
    [b"", b"  \n", b"not xml at all", b"{}", b"<html><body>Bad gateway</body></html>", b"<?xml version='1.0'?>"],
)
def test_other_junk_is_unavailable(body: bytes) -> None:
    with pytest.raises(ArxivUnavailable):
        parse_api_feed(body)


def test_cut_off_feed_is_unavailable() -> None:
    body = raw_capture("api2026_search_testing_100.xml")
    with pytest.raises(ArxivUnavailable, match="malformed"):
        parse_api_feed(body[: len(body) // 2])


def test_body_is_never_taken_for_a_file_name(tmp_path: Path) -> None:
    """feedparser opens a bytes argument as a path if it can; a body naming a local feed must not be read."""
    feed = tmp_path / "feed.xml"
    feed.write_bytes(raw_capture("api2016_idlist_1111.2011v2.xml"))
    with pytest.raises(ArxivUnavailable):
        parse_api_feed(str(feed).encode())


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 8, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("1") == 1.0
    assert parse_retry_after(" 2.5 ") == 2.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=120), usegmt=True), now=now) == 120.0
    assert parse_retry_after("Thu, 08 Jan 2026 11:00:00 GMT", now=now) == 0.0
    for junk in (None, "", "soon", "nan", "inf"):
        assert parse_retry_after(junk) is None


# Title search queries

_OPERATORS = {"AND", "OR", "NOT", "ANDNOT"}


def _plain(char: str) -> bool:
    return char.isalnum() or char in " -" or unicodedata.category(char).startswith("M")


def _query_text(query: str) -> str:
    """The words of a title query with our own syntax (ti:, quotes, AND) taken out."""
    if query.startswith('ti:"'):
        assert query.endswith('"') and query.count('"') == 2
        return query[4:-1]
    parts = query.split(" AND ")
    assert all(part.startswith("ti:") for part in parts)
    return " ".join(part[3:] for part in parts)


def test_title_queries_escape_syntax() -> None:
    title = 'The "Unreasonable" Effectiveness: of (Deep) Features [as] a Perceptual Metric? AND Or ANDNOT'
    phrase, fallback = title_search_queries(title)
    assert phrase == 'ti:"The Unreasonable Effectiveness of Deep Features as a Perceptual Metric and or andnot"'
    assert (
        fallback == "ti:Unreasonable AND ti:Effectiveness AND ti:Deep AND ti:Features AND ti:Perceptual AND ti:Metric"
    )
    assert title_search_queries("Self-Supervised learning_rate") == [
        'ti:"Self-Supervised learning rate"',
        "ti:Self AND ti:Supervised AND ti:learning AND ti:rate",
    ]
    assert title_search_queries("Transformers") == ['ti:"Transformers"']
    assert title_search_queries("İsmail's Schro\u0308dinger") == [
        'ti:"İsmail s Schrödinger"',
        "ti:İsmail AND ti:Schrödinger",
    ]
    assert title_search_queries('"():[]{}*?') == []


@given(st.text(max_size=300))
def test_title_queries_never_carry_query_syntax(text: str) -> None:
    for query in title_search_queries(text):
        words = _query_text(query)
        assert words.strip() and all(map(_plain, words)), query
        assert not _OPERATORS.intersection(words.split()), query


# Lookups by id over HTTP


async def test_fetch_one_by_id(client: ArxivClient, fake_arxiv: FakeArxiv) -> None:
    paper = await client.fetch_one("arxiv:1111.2011")
    assert paper is not None
    assert (paper.key, paper.version) == ("arxiv:1111.2011", 2)
    (seen,) = fake_arxiv.seen
    assert seen.path == "/api/query"
    assert seen.query["id_list"] == "1111.2011" and seen.query["max_results"] == "1"
    assert seen.headers["User-Agent"] == DEFAULT_USER_AGENT


async def test_versioned_key_asks_for_the_latest(client: ArxivClient, fake_arxiv: FakeArxiv) -> None:
    result = await client.fetch(["arxiv:1111.2011v1", "arxiv:astro-ph/0601001v1"])
    assert [fake_arxiv.seen[0].ids] == [["1111.2011", "astro-ph/0601001"]]
    assert result["arxiv:1111.2011v1"] is not None and result["arxiv:1111.2011v1"].version == 2
    assert result["arxiv:astro-ph/0601001v1"] is not None
    assert result["arxiv:astro-ph/0601001v1"].key == "arxiv:astro-ph/0601001"


async def test_concurrent_lookups_share_one_request(
    client: ArxivClient, fake_arxiv: FakeArxiv, catalog: Catalog
) -> None:
    ids = catalog.ids(5)
    papers = await asyncio.gather(*(client.fetch_one(f"arxiv:{i}") for i in ids))
    assert [p.key if p else None for p in papers] == [f"arxiv:{i}" for i in ids]
    (seen,) = fake_arxiv.seen
    assert seen.ids == ids
    assert seen.query["max_results"] == "5"


async def test_lookups_made_while_waiting_join_the_next_request(
    client: ArxivClient, fake_arxiv: FakeArxiv, catalog: Catalog
) -> None:
    first, *rest = catalog.ids(5)
    fake_arxiv.then(Reply(body=catalog.feed([first]), delay=0.1))
    lead = asyncio.create_task(client.fetch_one(f"arxiv:{first}"))
    await fake_arxiv.wait_for(1)
    followers = [asyncio.create_task(client.fetch_one(f"arxiv:{i}")) for i in rest]
    results = await asyncio.gather(lead, *followers)
    assert all(results)
    assert [s.ids for s in fake_arxiv.seen] == [[first], rest]


async def test_batches_are_capped(fake_arxiv: FakeArxiv, catalog: Catalog) -> None:
    ids = catalog.ids(7)
    async with make_client(fake_arxiv, batch_size=3) as client:
        result = await client.fetch([f"arxiv:{i}" for i in ids])
    assert all(result.values())
    assert [s.ids for s in fake_arxiv.seen] == [ids[:3], ids[3:6], ids[6:]]
    assert [s.query["max_results"] for s in fake_arxiv.seen] == ["3", "3", "1"]


async def test_duplicates_are_asked_once(client: ArxivClient, fake_arxiv: FakeArxiv, catalog: Catalog) -> None:
    one, two = catalog.ids(2)
    keys = [f"arxiv:{one}", f"arxiv:{one}", f"arxiv:{two}v1", f"arxiv:{two}"]
    result, again = await asyncio.gather(client.fetch(keys), client.fetch_one(f"arxiv:{one}"))
    assert list(result) == [f"arxiv:{one}", f"arxiv:{two}v1", f"arxiv:{two}"]
    assert again == result[f"arxiv:{one}"]
    (seen,) = fake_arxiv.seen
    assert seen.ids == [one, two]


async def test_non_arxiv_and_impossible_keys_cost_no_request(client: ArxivClient, fake_arxiv: FakeArxiv) -> None:
    keys = ["doi:10.1038/nature14539", "url:https://example.org/p", "arxiv:abc", "arxiv:0808.05394", "2403.17887"]
    assert await client.fetch(keys) == dict.fromkeys(keys)
    assert await client.fetch([]) == {}
    assert fake_arxiv.seen == []


async def test_unknown_id_is_none(client: ArxivClient, fake_arxiv: FakeArxiv) -> None:
    assert await client.fetch_one("arxiv:2501.99999") is None
    fake_arxiv.then(Reply.of("api2026_idlist_0000.0000_empty.xml"))
    assert await client.fetch_one("arxiv:2502.99999") is None
    assert len(fake_arxiv.seen) == 2


async def test_two_ids_one_unknown(client: ArxivClient, fake_arxiv: FakeArxiv) -> None:
    fake_arxiv.then(Reply.of("api2026_idlist_two_ids_max1.xml"))
    result = await client.fetch(["arxiv:2501.99999", "arxiv:1707.08567"])
    assert result["arxiv:2501.99999"] is None
    paper = result["arxiv:1707.08567"]
    assert paper is not None and paper.title.startswith("Proceedings of Workshop AEW10")
    assert "Dirk Wübben" in paper.authors and len(paper.authors) == 34
    (seen,) = fake_arxiv.seen
    assert seen.ids == ["2501.99999", "1707.08567"]


async def test_refused_id_does_not_sink_its_batch(client: ArxivClient, fake_arxiv: FakeArxiv, catalog: Catalog) -> None:
    good = catalog.ids(5)
    fake_arxiv.refused_ids = {"2512.00001", "2512.00002"}
    keys = [f"arxiv:{i}" for i in [*good[:2], "2512.00001", *good[2:], "2512.00002"]]
    result = await client.fetch(keys)
    assert result.pop("arxiv:2512.00001") is None and result.pop("arxiv:2512.00002") is None
    assert all(paper is not None and paper.key == key for key, paper in result.items())
    # arXiv names the first bad id each time, so each costs one more request.
    assert [s.ids for s in fake_arxiv.seen] == [
        [*good[:2], "2512.00001", *good[2:], "2512.00002"],
        [*good, "2512.00002"],
        good,
    ]


async def test_refused_batch_without_a_named_id_is_halved(
    client: ArxivClient, fake_arxiv: FakeArxiv, catalog: Catalog
) -> None:
    good = catalog.ids(5)
    fake_arxiv.refused_ids = {"2512.00001"}
    fake_arxiv.name_refused_id = False  # the capture names "abc", which is not in the batch
    result = await client.fetch([f"arxiv:{i}" for i in [*good[:2], "2512.00001", *good[2:]]])
    assert result.pop("arxiv:2512.00001") is None
    assert all(result.values())
    asked = [s.ids for s in fake_arxiv.seen]
    assert asked[0] == [*good[:2], "2512.00001", *good[2:]]
    assert ["2512.00001"] in asked
    assert len(asked) <= 1 + 2 * 3  # halving six ids takes at most three levels


async def test_query_error_feed_raises(client: ArxivClient, fake_arxiv: FakeArxiv) -> None:
    fake_arxiv.then(Reply.of("api2026_error_malformed_id_abc.xml", status=400))
    with pytest.raises(ArxivQueryError, match="incorrect id format for abc"):
        await client.query("ti:(((")
    assert len(fake_arxiv.seen) == 1  # never retried


async def test_bare_400_raises_query_error(client: ArxivClient, fake_arxiv: FakeArxiv) -> None:
    fake_arxiv.then(Reply(status=400, body=b"Bad Request", content_type="text/plain"))
    with pytest.raises(ArxivQueryError, match="HTTP 400"):
        await client.query("all:x")
    assert len(fake_arxiv.seen) == 1


async def test_legacy_error_entry_with_200(client: ArxivClient, fake_arxiv: FakeArxiv) -> None:
    legacy = Reply.of("api2018_error_malformed_id_INVALIDID_legacy.xml")
    fake_arxiv.then(legacy)
    with pytest.raises(ArxivQueryError, match="INVALIDID"):
        await client.query("all:x")
    fake_arxiv.then(legacy)
    assert await client.fetch_one("arxiv:2501.00002") is None
    assert len(fake_arxiv.seen) == 2


# Transient failures


@pytest.mark.parametrize(
    "failure",
    [
        Reply.of("api2026_error_503_html_2026-01-08.xml", status=503),
        Reply.of("api2026_error_503_html_2026-01-08.xml", status=200),
        Reply.of("api2026_error_empty_body_2026-01-13.xml"),
        Reply(status=500, body=b"Internal Server Error", content_type="text/plain"),
        Reply(status=502, body=b"<html><body>Bad gateway</body></html>", content_type="text/html"),
        Reply(body=b"\x00\xff garbage", content_type="application/octet-stream"),
    ],
    ids=["503-html", "200-html", "empty-body", "500", "502", "binary"],
)
async def test_transient_failure_then_success(client: ArxivClient, fake_arxiv: FakeArxiv, failure: Reply) -> None:
    fake_arxiv.then(failure)
    paper = await client.fetch_one("arxiv:1111.2011")
    assert paper is not None and paper.key == "arxiv:1111.2011"
    assert [s.ids for s in fake_arxiv.seen] == [["1111.2011"], ["1111.2011"]]


async def test_retry_after_429_pauses(client: ArxivClient, fake_arxiv: FakeArxiv) -> None:
    fake_arxiv.then(Reply(status=429, headers={"Retry-After": "1"}, content_type="text/plain"))
    assert await client.fetch_one("arxiv:1111.2011") is not None
    first, second = fake_arxiv.seen
    assert second.at - first.at >= 1.0


async def test_retry_after_pauses_all_arxiv_traffic(client: ArxivClient, fake_arxiv: FakeArxiv) -> None:
    """A 503 with Retry-After also holds back the feed poller, which shares the limiter."""
    fake_arxiv.then(Reply.of("api2026_error_503_html_2026-01-08.xml", status=503, headers={"Retry-After": "0.4"}))
    lookup = asyncio.create_task(client.fetch_one("arxiv:1111.2011"))
    await fake_arxiv.wait_for(1, answered=True)
    await asyncio.sleep(0.05)
    async with client.limiter.slot():
        poller_started = client.limiter.last_start or 0.0
    assert poller_started - fake_arxiv.seen[0].done >= 0.4
    assert await lookup is not None


async def test_rate_exceeded_body_pauses(client: ArxivClient, fake_arxiv: FakeArxiv) -> None:
    fake_arxiv.then(Reply.of("api2026_error_rate_exceeded_2026-01-08.txt.xml"))
    assert await client.fetch_one("arxiv:1111.2011") is not None
    first, second = fake_arxiv.seen
    assert second.at - first.done >= 0.3  # rate_exceeded_pause


async def test_gives_up_after_max_attempts(client: ArxivClient, fake_arxiv: FakeArxiv) -> None:
    html = Reply.of("api2026_error_503_html_2026-01-08.xml", status=503)
    fake_arxiv.then(html, html, html)
    with pytest.raises(ArxivUnavailable) as caught:
        await client.fetch_one("arxiv:1111.2011")
    assert len(fake_arxiv.seen) == 3
    assert caught.value.status == 503 and caught.value.retry_after is None


async def test_gives_up_with_retry_after(client: ArxivClient, fake_arxiv: FakeArxiv) -> None:
    limited = Reply(status=429, headers={"Retry-After": "0.05"}, content_type="text/plain")
    fake_arxiv.then(limited, limited, limited)
    with pytest.raises(ArxivUnavailable) as caught:
        await client.query("cat:cs.AI")
    assert len(fake_arxiv.seen) == 3
    assert caught.value.status == 429 and caught.value.retry_after is not None


async def test_long_retry_after_fails_fast(fake_arxiv: FakeArxiv) -> None:
    fake_arxiv.then(Reply(status=503, headers={"Retry-After": "3600"}, content_type="text/plain"))
    async with make_client(fake_arxiv, max_retry_after=60) as client:
        with pytest.raises(ArxivUnavailable) as caught:
            await client.fetch_one("arxiv:1111.2011")
        assert caught.value.retry_after is not None and caught.value.retry_after > 3000
        assert client.limiter.paused_for() > 3000
        with pytest.raises(ArxivUnavailable):
            await client.query("cat:cs.AI")
        async with asyncio.timeout(2):  # lookups fail at once too, rather than waiting out the hour
            with pytest.raises(ArxivUnavailable):
                await client.fetch(["arxiv:1111.2011", "arxiv:1707.08567"])
    assert len(fake_arxiv.seen) == 1


async def test_timeout_then_success(fake_arxiv: FakeArxiv, catalog: Catalog) -> None:
    fake_arxiv.then(Reply(body=catalog.feed(["1111.2011"]), delay=0.5))
    async with make_client(fake_arxiv, timeout=0.1) as client:
        assert await client.fetch_one("arxiv:1111.2011") is not None
    assert len(fake_arxiv.seen) == 2


async def test_unreachable_arxiv() -> None:
    base = f"http://127.0.0.1:{unused_port()}/api/query"
    async with ArxivClient(api_base=base, limiter=ArxivLimiter(INTERVAL), max_attempts=2, backoff=0.01) as client:
        with pytest.raises(ArxivUnavailable, match="connection failed"):
            await client.fetch_one("arxiv:1111.2011")


async def test_other_4xx_is_not_retried(client: ArxivClient, fake_arxiv: FakeArxiv) -> None:
    fake_arxiv.then(Reply(status=403, body=b"Forbidden", content_type="text/plain"))
    with pytest.raises(ArxivUnavailable) as caught:
        await client.query("all:x")
    assert caught.value.status == 403
    assert len(fake_arxiv.seen) == 1


# Pace


async def test_requests_are_spaced_and_never_overlap(fake_arxiv: FakeArxiv) -> None:
    fake_arxiv.search_reply = lambda query: Reply.of("api2026_search_cat_math.NT_OR_math.AG_max3.xml", delay=0.02)
    async with make_client(fake_arxiv, limiter=ArxivLimiter(0.1)) as client:
        await asyncio.gather(*(client.query(f"all:topic{n}") for n in range(4)))
    seen = fake_arxiv.seen
    assert len(seen) == 4 and fake_arxiv.max_in_flight == 1
    for before, after in itertools.pairwise(seen):
        assert after.at >= before.done
        assert after.at - before.at >= 0.1 - 0.01  # the limiter spaces starts; allow loopback jitter


async def test_clients_sharing_a_limiter_take_turns(fake_arxiv: FakeArxiv, catalog: Catalog) -> None:
    """Two clients with their own connections still send one request at a time through one limiter."""
    fake_arxiv.search_reply = lambda query: Reply.of("api2026_search_cat_math.NT_OR_math.AG_max3.xml", delay=0.03)
    limiter = ArxivLimiter(INTERVAL)
    async with make_client(fake_arxiv, limiter=limiter) as one, make_client(fake_arxiv, limiter=limiter) as two:
        await asyncio.gather(
            one.query("all:a"),
            two.query("all:b"),
            one.fetch([f"arxiv:{i}" for i in catalog.ids(3)]),
            two.query("all:c"),
        )
    assert len(fake_arxiv.seen) == 4 and fake_arxiv.max_in_flight == 1


# Searches


async def test_search_title_phrase_then_words(client: ArxivClient, fake_arxiv: FakeArxiv) -> None:
    fake_arxiv.then(
        Reply.of("api2026_idlist_0000.0000_empty.xml"), Reply.of("api2026_search_cat_math.NT_OR_math.AG_max3.xml")
    )
    papers = await client.search_title('The "Unreasonable" Effectiveness: of (Deep) Features?', limit=3)
    expected = parse_api_feed(raw_capture("api2026_search_cat_math.NT_OR_math.AG_max3.xml"))
    assert [p.key for p in papers] == [p.key for p in expected]  # arXiv's ranking is kept
    phrase, words = fake_arxiv.seen
    assert phrase.query["search_query"] == 'ti:"The Unreasonable Effectiveness of Deep Features"'
    assert words.query["search_query"] == "ti:Unreasonable AND ti:Effectiveness AND ti:Deep AND ti:Features"
    for seen in (phrase, words):
        assert seen.query["max_results"] == "3" and seen.query["sortBy"] == "relevance"


async def test_search_title_stops_at_the_phrase(client: ArxivClient, fake_arxiv: FakeArxiv) -> None:
    papers = await client.search_title("Étale and Quasicoherent Cohomological Dimensions")
    assert len(papers) == 3
    (seen,) = fake_arxiv.seen
    assert seen.query["search_query"] == 'ti:"Étale and Quasicoherent Cohomological Dimensions"'
    assert seen.query["max_results"] == "5"


async def test_search_title_with_nothing_to_search(client: ArxivClient, fake_arxiv: FakeArxiv) -> None:
    assert await client.search_title('"():[]') == []
    assert fake_arxiv.seen == []


async def test_query_parameters(client: ArxivClient, fake_arxiv: FakeArxiv) -> None:
    papers = await client.query("cat:math.NT OR cat:math.AG", start=10, max_results=5000)
    assert len(papers) == 3
    (seen,) = fake_arxiv.seen
    assert seen.query == {
        "search_query": "cat:math.NT OR cat:math.AG",
        "start": "10",
        "max_results": "2000",
        "sortBy": "submittedDate",
        "sortOrder": "descending",
    }
    with pytest.raises(ValueError):
        await client.query("all:x", sort_by="newest")
    with pytest.raises(ValueError):
        await client.query("all:x", sort_order="down")
    assert await client.query("all:x", max_results=0) == []
    assert len(fake_arxiv.seen) == 1


# Lifecycle


async def test_own_session_uses_one_connection(fake_arxiv: FakeArxiv) -> None:
    client = make_client(fake_arxiv)
    await client.start()
    session = client._session
    assert session is not None and session.connector is not None and session.connector.limit == 1
    await client.close()
    assert session.closed


async def test_given_session_is_left_open(fake_arxiv: FakeArxiv) -> None:
    async with aiohttp.ClientSession() as session:
        async with make_client(fake_arxiv, session=session) as client:
            assert await client.fetch_one("arxiv:1111.2011") is not None
        assert not session.closed
    assert fake_arxiv.seen[0].headers["User-Agent"] == DEFAULT_USER_AGENT


async def test_close_fails_waiting_lookups(fake_arxiv: FakeArxiv) -> None:
    client = make_client(fake_arxiv)
    client.limiter.pause(30)
    lookup = asyncio.create_task(client.fetch_one("arxiv:1111.2011"))
    await asyncio.sleep(0.02)
    await client.close()
    with pytest.raises(ArxivUnavailable, match=r"closed|interrupted"):
        await lookup
    assert fake_arxiv.seen == []
    with pytest.raises(RuntimeError):
        await client.fetch_one("arxiv:1111.2011")


async def test_defaults() -> None:
    client = ArxivClient()
    assert client.limiter is default_limiter()
    assert client.limiter.min_interval == 3.0
    source: MetadataSource = client
    assert callable(source.fetch) and callable(source.search_title)
    await client.close()


async def test_results_are_paper_metadata(client: ArxivClient) -> None:
    result = await client.fetch(["arxiv:1111.2011"])
    assert isinstance(result["arxiv:1111.2011"], PaperMetadata)
