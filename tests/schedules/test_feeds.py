"""Feed parsing, filtering and fetching, against the real arXiv captures and a loopback HTTP server."""

from __future__ import annotations

import asyncio
import collections
import random
import re
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schedules.addresses import AddressGuard
from schedules.arxiv_calendar import ARXIV_TZ, DEFAULT_POLL_INTERVAL, backoff_seconds, next_poll_delay
from schedules.feed_answers import IN_PROCESS_FROM, FetchResult, listing_from, read_listing
from schedules.feed_formats import FeedError, FeedItem, parse_listing
from schedules.fetching import RATE_LIMIT_PAUSE, fetch_feed
from schedules.ratelimit import ArxivLimiter
from storage.errors import ValidationError
from storage.feeds.categories import ARCHIVES, CATEGORIES, canonical_category, category_feed_url, parse_category_source
from storage.feeds.filters import keyword_terms, matches
from tests.arxiv_standin import capture
from tests.feed_listings import generate_listing, listing_papers, render_listing
from tests.loopback import serving

QUANT_PH = "rss2_rss.arxiv.org_quant-ph_2025-04-28_81items.xml"
RSS1 = "rss1_export.arxiv.org_cs_2018-08-30_185items.rdf.xml"
TRUNCATED_ATOM = "atom_rss.arxiv.org_cs.AI_2025-08-20_truncated87.xml"
EMPTY_RSS = "rss2_rss.arxiv.org_cs_2025-04-27_sunday_empty_DEDENTED_FROM_TEST.xml"
EMPTY_ATOM = "atom_rss.arxiv.org_cs_2025-11-23_weekend_empty.xml"
INTERVAL = 0.2


def at_et(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A moment given in US Eastern time, as an aware UTC datetime."""
    return datetime(year, month, day, hour, minute, tzinfo=ARXIV_TZ).astimezone(UTC)


# Parsing arXiv's listings


def test_quant_ph_listing_has_every_announce_type_in_arxiv_numbers() -> None:
    listing = parse_listing(capture(QUANT_PH))
    counts = collections.Counter(item.announce_type for item in listing.items)
    assert counts == {"new": 40, "cross": 10, "replace": 22, "replace-cross": 9}
    assert listing.title == "quant-ph updates on arXiv.org"
    assert listing.built == datetime(2025, 4, 28, 4, 0, tzinfo=UTC)
    assert listing.kind == "arxiv-listing"
    assert not listing.partial
    first = listing.items[0]
    assert first == FeedItem(
        key="arxiv:2504.17830",
        version=1,
        title="Self-Adjoint Time Operator in a Weighted Energy Space",
        abstract=first.abstract,
        authors=("Radmir Kokoulin",),
        categories=("quant-ph",),
        announce_type="new",
        link="https://arxiv.org/abs/2504.17830",
        published=datetime(2025, 4, 28, 4, 0, tzinfo=UTC),
    )
    assert first.abstract.startswith("We introduce a self-adjoint time operator \\(T_w = i\\hbar")
    assert first.abstract.endswith("leaves the Hamiltonian spectrum unbounded.")
    assert "Announce Type" not in first.abstract


def test_versions_stay_out_of_the_key() -> None:
    items = parse_listing(capture(QUANT_PH)).items
    assert all(re.fullmatch(r"arxiv:\d{4}\.\d{5}", item.key) for item in items)
    assert all(item.version == 1 for item in items if item.announce_type in ("new", "cross"))
    replaced = [item for item in items if item.is_replacement]
    assert replaced and all(item.version is not None and item.version >= 2 for item in replaced)
    last = items[-1]
    assert (last.key, last.version, last.announce_type) == ("arxiv:2504.16424", 2, "replace-cross")


def test_cross_lists_name_their_own_primary_category_first() -> None:
    items = parse_listing(capture(QUANT_PH)).items
    for item in items:
        home = item.categories[0] == "quant-ph"
        assert home == (item.announce_type in ("new", "replace")), item
        assert "quant-ph" in item.categories
    cross = next(item for item in items if item.key == "arxiv:2504.18156")
    assert cross.categories == ("physics.chem-ph", "quant-ph")


def test_author_lines_are_split_without_affiliations_and_latex_becomes_unicode() -> None:
    items = {item.key: item for item in parse_listing(capture(QUANT_PH)).items}
    assert items["arxiv:2504.18156"].authors == (
        "Pawan Sharma Poudel",
        "Kenji Sugisaki",
        "Michal Hajdušek",
        "Rodney Van Meter",
    )
    everyone = {name for item in items.values() for name in item.authors}
    assert {"M. R. Nirmal", "Sharma S. R. K. C. Yamijala", "Søren Stobbe", "Stanisław Świerczewski"} <= everyone
    assert {"Dorival Gonçalves", "Juan Ramón Muñoz de Nova", "Raphaël Menu"} <= everyone
    assert not any("(" in name or "\\" in name or "{" in name for name in everyone)


def test_doi_and_journal_reference_reach_the_metadata() -> None:
    items = parse_listing(capture(QUANT_PH)).items
    assert sum(1 for item in items if item.doi) == 10
    assert sum(1 for item in items if item.journal_ref) == 9
    with_doi = next(item for item in items if item.doi == "10.1016/j.ppnp.2025.104174")
    meta = with_doi.to_metadata()
    assert (meta.key, meta.doi, meta.journal_ref) == (with_doi.key, with_doi.doi, with_doi.journal_ref)


def test_metadata_dates_a_paper_only_when_the_listing_is_its_first() -> None:
    items = parse_listing(capture(QUANT_PH)).items
    new = next(item for item in items if item.announce_type == "new")
    replaced = next(item for item in items if item.announce_type == "replace")
    assert new.to_metadata().published == new.published is not None
    assert replaced.to_metadata().published is None
    meta = new.to_metadata()
    assert (meta.title, meta.version, meta.authors, meta.categories) == (
        new.title,
        new.version,
        new.authors,
        new.categories,
    )


def test_truncated_atom_gives_its_complete_entries_and_says_it_is_partial() -> None:
    body = capture(TRUNCATED_ATOM)
    listing = parse_listing(body)
    # The file holds 87 <entry> openings but only 86 closings: the 87th (2508.13435) stops after its <link>.
    assert body.count(b"<entry>") == 87 and body.count(b"</entry>") == 86
    assert len(listing.items) == 86
    assert listing.partial
    assert collections.Counter(item.announce_type for item in listing.items) == {"new": 41, "cross": 45}
    assert listing.items[-1].key == "arxiv:2508.13434"
    assert "arxiv:2508.13435" not in {item.key for item in listing.items}
    assert listing.items[0].categories == ("cs.AI", "cs.CL")
    assert listing.kind == "arxiv-listing"


def test_old_rss1_listing_marks_updated_items_as_replacements() -> None:
    listing = parse_listing(capture(RSS1))
    assert len(listing.items) == 185
    counts = collections.Counter(item.announce_type for item in listing.items)
    assert counts["replace"] + counts["replace-cross"] == 74
    assert counts["new"] + counts["cross"] == 111
    assert not any("(arXiv:" in item.title or item.title.endswith(".") for item in listing.items)
    first = listing.items[0]
    assert first.title == "QuasarNET: Human-level spectral classification and redshifting with Deep Neural Networks"
    assert (first.key, first.version, first.categories) == ("arxiv:1808.09955", 1, ("astro-ph.IM",))
    assert first.announce_type == "cross"  # an astro-ph paper in the cs listing
    assert first.authors == ("Nicolas Busca", "Christophe Balland")
    assert first.abstract.startswith("We introduce QuasarNET") and "<p>" not in first.abstract
    spectral = next(item for item in listing.items if item.key == "arxiv:1301.1107")
    assert (spectral.version, spectral.announce_type) == (6, "replace")
    assert listing.built == datetime(2018, 8, 31, 1, 30, tzinfo=UTC)
    assert all(item.published == listing.built for item in listing.items)


@pytest.mark.parametrize("name", [EMPTY_RSS, EMPTY_ATOM])
def test_weekend_listing_is_empty_not_an_error(name: str) -> None:
    listing = parse_listing(capture(name))
    assert listing.items == ()
    assert not listing.partial
    assert listing.kind == "arxiv-listing"
    assert listing.title == "cs updates on arXiv.org"
    assert listing.built is not None and listing.built.tzinfo is not None


def test_empty_listings_share_a_fingerprint_and_a_changed_listing_does_not() -> None:
    assert parse_listing(capture(EMPTY_RSS)).fingerprint == parse_listing(capture(EMPTY_ATOM)).fingerprint
    body = capture(QUANT_PH)
    first, again = parse_listing(body), parse_listing(body)
    assert first.fingerprint == again.fingerprint and len(first.fingerprint) == 64
    other_type = parse_listing(body.replace(b"<arxiv:announce_type>new<", b"<arxiv:announce_type>cross<", 1))
    assert other_type.fingerprint != first.fingerprint
    newer = parse_listing(body.replace(b"2504.17830v1", b"2504.17830v2"))
    assert newer.fingerprint != first.fingerprint


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("api2016_search_au_del_maestro.xml", 10),
        ("api2026_search_cs.AI_max20_2026-02-05.xml", 20),
        ("api2026_search_testing_100.xml", 100),
        ("api2026_idlist_0000.0000_empty.xml", 0),
    ],
)
def test_arxiv_api_feeds_are_read_with_the_api_parser(name: str, count: int) -> None:
    listing = parse_listing(capture(name))
    assert len(listing.items) == count
    assert listing.kind == "arxiv-query"
    assert all(item.announce_type is None and item.key.startswith("arxiv:") for item in listing.items)
    assert all(item.link == f"https://arxiv.org/abs/{item.key[6:]}" for item in listing.items)
    if listing.items:
        assert listing.items[0].to_metadata().published == listing.items[0].published is not None


@pytest.mark.parametrize(
    ("name", "retryable", "says"),
    [
        ("api2026_error_503_html_2026-01-08.xml", True, "HTML page ('503')"),
        ("api2026_error_rate_exceeded_2026-01-08.txt.xml", True, "Rate exceeded"),
        ("api2026_error_empty_body_2026-01-13.xml", True, "empty"),
        ("api2026_error_malformed_id_abc.xml", False, "incorrect id format for abc"),
        ("api2018_error_malformed_id_INVALIDID_legacy.xml", False, "incorrect id format for INVALIDID"),
    ],
)
def test_failure_bodies_raise_feed_errors(name: str, retryable: bool, says: str) -> None:
    with pytest.raises(FeedError) as caught:
        parse_listing(capture(name), quote=True)  # arXiv's own answers: its error text is quoted
    assert caught.value.retryable is retryable
    assert says in caught.value.message


def test_a_cut_off_feed_with_no_complete_item_is_an_error() -> None:
    body = capture(QUANT_PH)
    for cut in (300, body.index(b"</item>")):
        with pytest.raises(FeedError) as caught:
            parse_listing(body[:cut])
        assert caught.value.retryable
    assert len(parse_listing(body[: body.index(b"</item>") + 7]).items) == 1


@pytest.mark.parametrize(
    ("body", "retryable"),
    [
        (b"<!DOCTYPE html><html><head><title>My blog</title></head><body>hi</body></html>", False),
        (b"<html><head><title>Service Unavailable</title></head></html>", True),
        (b'{"error": "not found"}', False),
        (b"<?xml version='1.0'?><note>not a feed</note>", False),
        (b"/etc/passwd", False),  # feedparser would open a local file named by bytes; we never let it
        (b"   \n\t ", True),
    ],
)
def test_bodies_that_are_not_feeds(body: bytes, retryable: bool) -> None:
    with pytest.raises(FeedError) as caught:
        parse_listing(body)
    assert caught.value.retryable is retryable


GENERIC_RSS = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>A reading list</title><link>https://example.org/</link>
<lastBuildDate>Tue, 03 Jun 2025 10:00:00 GMT</lastBuildDate>
<item><title>A paper on arXiv</title><link>https://arxiv.org/abs/2403.17887v2</link>
<description>&lt;p&gt;Model &lt;b&gt;merging&lt;/b&gt; &amp;amp; friends.&lt;/p&gt;</description>
<pubDate>Mon, 02 Jun 2025 09:30:00 GMT</pubDate><category>cs.LG</category><category>news</category>
<author>someone@example.org (Someone)</author></item>
<item><title>A journal article</title><link>https://doi.org/10.1038/nature14539</link></item>
<item><title>A blog post</title><link>https://Example.org/posts/merging/?utm_source=rss&amp;id=4</link>
<description>Plain text, no markup.</description></item>
<item><title>No link at all</title><description>Nothing to open.</description></item>
</channel></rss>"""

GENERIC_ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Lab news</title><id>urn:x</id>
<updated>2025-06-03T10:00:00+02:00</updated>
<entry><title>Our new preprint</title><id>urn:1</id><link href="http://export.arxiv.org/pdf/2501.00001v3"/>
<updated>2025-06-02T08:00:00Z</updated><summary>Short.</summary><author><name>Smith, Jane</name></author></entry>
</feed>"""


def test_generic_feeds_key_items_by_arxiv_doi_or_url() -> None:
    listing = parse_listing(GENERIC_RSS)
    assert listing.kind == "web" and listing.title == "A reading list"
    assert listing.built == datetime(2025, 6, 3, 10, 0, tzinfo=UTC)
    arxiv, journal, blog = listing.items  # the item without a link is left out
    assert (arxiv.key, arxiv.version, arxiv.announce_type) == ("arxiv:2403.17887", 2, None)
    assert arxiv.abstract == "Model merging & friends."
    assert arxiv.categories == ("cs.LG",)
    assert arxiv.published == datetime(2025, 6, 2, 9, 30, tzinfo=UTC)
    assert journal.key == "doi:10.1038/nature14539"
    assert blog.key == "url:https://example.org/posts/merging?id=4"
    assert blog.abstract == "Plain text, no markup."

    atom = parse_listing(GENERIC_ATOM)
    (entry,) = atom.items
    assert (entry.key, entry.version, entry.authors) == ("arxiv:2501.00001", 3, ("Smith, Jane",))
    assert atom.built == datetime(2025, 6, 3, 8, 0, tzinfo=UTC)


def test_generated_listing_reads_back_exactly() -> None:
    papers = listing_papers(400, category="cs.LG", start_id=100, seed=7)
    listing = parse_listing(render_listing(papers, category="cs.LG"))
    assert not listing.partial and listing.kind == "arxiv-listing"
    got = [
        (i.key, i.version, i.title, i.abstract, i.authors, i.categories, i.announce_type, i.doi, i.journal_ref)
        for i in listing.items
    ]
    expected = [
        (p.key, p.version, p.title, p.abstract, p.authors, p.categories, p.announce_type, p.doi, p.journal_ref)
        for p in papers
    ]
    assert got == expected
    counts = collections.Counter(p.announce_type for p in papers)
    assert counts == {"new": 196, "cross": 48, "replace": 108, "replace-cross": 48}
    assert any("(" in p.written_authors for p in papers) and any("\\" in p.written_authors for p in papers)
    assert any("<" in p.abstract for p in papers) and any("&" in p.abstract for p in papers)
    assert 600 <= min(len(p.abstract) for p in papers) and max(len(p.abstract) for p in papers) <= 1920


def test_generated_listings_are_deterministic_and_distinct() -> None:
    assert generate_listing(30, seed=1) == generate_listing(30, seed=1)
    assert generate_listing(30, seed=1) != generate_listing(30, seed=2)
    first = {item.key for item in parse_listing(generate_listing(50, start_id=0)).items}
    later = {item.key for item in parse_listing(generate_listing(50, start_id=50)).items}
    assert len(first) == 50 and not first & later


# Keywords and excludes


@dataclass
class Paper:
    """Just the text a filter reads."""

    title: str
    abstract: str = ""


MERGING = Paper("Model Merging at Scale", "We merge fine-tuned LLMs with task arithmetic; a survey follows.")


@pytest.mark.parametrize(
    ("item", "keywords", "exclude", "expected"),
    [
        (MERGING, "merging", None, (True, "matches “merging”")),
        (MERGING, "MERGING", None, (True, "matches “MERGING”")),
        (MERGING, "diffusion merging", None, (True, "matches “merging”")),
        (MERGING, "merging", "survey", (False, "excluded by “survey”")),
        (MERGING, None, "survey", (False, "excluded by “survey”")),
        (MERGING, "diffusion", None, (False, "no keyword in title or abstract")),
        (MERGING, None, None, (True, "no keyword filter")),
        (MERGING, "", "", (True, "no keyword filter")),
        (MERGING, '"task arithmetic"', None, (True, "matches “task arithmetic”")),
        (MERGING, '"arithmetic task"', None, (False, "no keyword in title or abstract")),
        (MERGING, "“model merging”", None, (True, "matches “model merging”")),
        (MERGING, "model merging, distillation", None, (True, "matches “model merging”")),
        (MERGING, "LLM", None, (True, "matches “LLM”")),  # plural
        (MERGING, "merg*", None, (True, "matches “merg*”")),
        (MERGING, "erging", None, (False, "no keyword in title or abstract")),  # word boundary
        (Paper("Emerging trends"), "merging", None, (False, "no keyword in title or abstract")),
        (Paper("Self-attention everywhere"), "self attention", None, (True, "matches “self”")),
        (Paper("Self-attention everywhere"), '"self attention"', None, (True, "matches “self attention”")),
        (Paper("Selfattention"), '"self-attention"', None, (False, "no keyword in title or abstract")),
        (Paper('On Schr\\"odinger bridges'), "schrödinger", None, (True, "matches “schrödinger”")),
        (Paper("Schrödinger bridges"), "Schrodinger", None, (True, "matches “Schrodinger”")),
        (Paper("An $\\alpha$-divergence bound"), '"alpha divergence"', None, (True, "matches “alpha divergence”")),
        (Paper("C++ and R&D"), "c++", None, (True, "matches “c++”")),
        (Paper("Merging OR not"), "merging OR distillation", None, (True, "matches “merging”")),
        (Paper("A NOTE"), "OR", None, (True, "no keyword filter")),  # an operator alone is no keyword
        (Paper("NAND and AND gates"), None, '"AND"', (False, "excluded by “AND”")),  # quoted, it is a word
    ],
)
def test_keyword_filters(item: Paper, keywords: str | None, exclude: str | None, expected: tuple[bool, str]) -> None:
    assert matches(item, keywords, exclude) == expected


def test_keyword_terms_read_quotes_commas_and_words() -> None:
    assert keyword_terms('"model merging" distillation') == ("model merging", "distillation")
    assert keyword_terms("model merging, task arithmetic;  pruning ") == (
        "model merging",
        "task arithmetic",
        "pruning",
    )
    assert keyword_terms('unbalanced "quote here') == ("quote here", "unbalanced")
    assert keyword_terms('"" , ;  $$ ') == ()
    assert keyword_terms(None) == ()


def test_filters_read_feed_items_and_stored_metadata_alike() -> None:
    item = parse_listing(capture(QUANT_PH)).items[1]
    assert matches(item, "reservoir", None) == (True, "matches “reservoir”")
    assert matches(item.to_metadata(), "reservoir", "entanglement") == (False, "excluded by “entanglement”")


WORDS = st.text(alphabet=st.characters(categories=("Ll", "Lu")), min_size=1, max_size=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    title=st.text(max_size=200),
    abstract=st.text(max_size=400),
    keywords=st.one_of(st.none(), st.text(max_size=80)),
    exclude=st.one_of(st.none(), st.text(max_size=80)),
)
def test_filters_never_raise(title: str, abstract: str, keywords: str | None, exclude: str | None) -> None:
    kept, reason = matches(Paper(title, abstract), keywords, exclude)
    assert isinstance(kept, bool) and reason


@settings(max_examples=150, deadline=None)
@given(before=st.text(max_size=60), word=WORDS, after=st.text(max_size=60), keywords=st.text(max_size=40))
def test_exclude_always_wins(before: str, word: str, after: str, keywords: str) -> None:
    title = f"{before} {word} {after}"
    kept, reason = matches(Paper(title, ""), keywords or word, f'"{word}"')
    assert not kept
    assert reason.startswith("excluded by")


# Categories


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cs.LG", ("cs.LG",)),
        ("cs.LG+cs.CL", ("cs.LG", "cs.CL")),
        ("cs.lg", ("cs.LG",)),
        (" cs.lg , cs.CL  math.oc", ("cs.LG", "cs.CL", "math.OC")),
        ("cs.LG+cs.LG", ("cs.LG",)),
        ("COND-MAT.STAT-MECH", ("cond-mat.stat-mech",)),
        ("quant-ph hep-th", ("quant-ph", "hep-th")),
        ("astro-ph.CO", ("astro-ph.CO",)),
        ("cs", ("cs",)),
        ('ti:"model merging" AND cat:cs.LG', None),
        ("https://rss.arxiv.org/rss/cs.LG", None),
        ("model merging", None),
        ("transformers", None),
        ("example.com", None),
        ("", None),
    ],
)
def test_category_sources(text: str, expected: tuple[str, ...] | None) -> None:
    assert parse_category_source(text) == expected


@pytest.mark.parametrize(
    ("text", "named", "suggested"),
    [
        ("cs.LGG", "cs.LGG", "cs.LG"),
        ("cs.ML", "cs.ML", "stat.ML"),
        ("cz.LG", "cz.LG", "cs.LG"),
        ("quant-phh", "quant-phh", "quant-ph"),
        ("cs.LG+cs.XYZQ", "cs.XYZQ", None),
        ("cs.LG+transformers", "transformers", None),
    ],
)
def test_unknown_categories_are_named_with_a_suggestion(text: str, named: str, suggested: str | None) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_category_source(text)
    assert f"`{named}` is not an arXiv category" in caught.value.message
    if suggested:
        assert f"Did you mean `{suggested}`?" in caught.value.message
    else:
        assert "Did you mean" not in caught.value.message


def test_category_list_covers_every_group() -> None:
    for name in ("cs.LG", "math.AG", "physics.optics", "astro-ph.GA", "cond-mat.str-el", "hep-th", "q-bio.NC"):
        assert name in CATEGORIES
    for name in ("q-fin.ST", "stat.ML", "eess.SP", "econ.EM", "nlin.CD", "gr-qc", "quant-ph", "nucl-th", "math-ph"):
        assert name in CATEGORIES
    assert {"cs", "math", "physics", "astro-ph", "cond-mat", "q-bio", "q-fin", "stat", "eess", "econ"} <= ARCHIVES
    assert len(CATEGORIES) > 150
    assert all(canonical_category(name.lower()) == name for name in CATEGORIES)
    assert category_feed_url(("cs.LG", "cs.CL")) == "https://rss.arxiv.org/rss/cs.LG+cs.CL"


# Timing


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Friday 22:00 EDT: nothing until Monday 00:05 EDT.
        (at_et(2025, 4, 25, 22), timedelta(hours=50, minutes=5)),
        # Saturday noon EDT.
        (at_et(2025, 4, 26, 12), timedelta(hours=36, minutes=5)),
        # Sunday 23:00 EDT: Monday's listing is an hour away.
        (at_et(2025, 4, 27, 23), timedelta(minutes=65)),
        # Saturday before the autumn change (EDT -> EST on Sunday 2 November 2025): an hour longer.
        (at_et(2025, 11, 1, 12), timedelta(hours=37, minutes=5)),
        # Saturday before the spring change (EST -> EDT on Sunday 9 March 2025): an hour shorter.
        (at_et(2025, 3, 8, 12), timedelta(hours=35, minutes=5)),
        # Sunday 23:50 EST in winter.
        (at_et(2025, 1, 12, 23, 50), timedelta(minutes=15)),
    ],
)
def test_poll_delay_waits_out_arxiv_weekends(now: datetime, expected: timedelta) -> None:
    assert next_poll_delay(now, interval=DEFAULT_POLL_INTERVAL) == expected.total_seconds()


def test_poll_delay_on_weekdays_is_the_interval_landing_on_the_nightly_listing() -> None:
    tuesday_morning = at_et(2025, 4, 29, 10)
    assert next_poll_delay(tuesday_morning, interval=DEFAULT_POLL_INTERVAL) == DEFAULT_POLL_INTERVAL
    assert next_poll_delay(tuesday_morning, interval=3 * 3600) == 3 * 3600
    tuesday_late = at_et(2025, 4, 29, 23, 50)
    assert next_poll_delay(tuesday_late, interval=DEFAULT_POLL_INTERVAL) == 15 * 60
    friday_morning = at_et(2025, 4, 25, 9)
    assert next_poll_delay(friday_morning, interval=DEFAULT_POLL_INTERVAL) == DEFAULT_POLL_INTERVAL
    # Across the spring change: Sunday 9 March 2025, 23:00 EDT.
    assert next_poll_delay(at_et(2025, 3, 9, 23), interval=DEFAULT_POLL_INTERVAL) == 65 * 60
    naive_utc = datetime(2025, 4, 29, 14, 0)  # taken as UTC: Tuesday 10:00 EDT
    assert next_poll_delay(naive_utc, interval=DEFAULT_POLL_INTERVAL) == DEFAULT_POLL_INTERVAL


@pytest.mark.parametrize("now", [at_et(2025, 4, 26, 12), at_et(2025, 4, 29, 23, 59), at_et(2025, 4, 25, 22)])
def test_a_short_interval_is_honoured_as_given(now: datetime) -> None:
    assert next_poll_delay(now, interval=5) == 5.0


@pytest.mark.parametrize("interval", [0, -1, float("nan"), float("inf")])
def test_poll_interval_must_be_positive(interval: float) -> None:
    with pytest.raises(ValueError):
        next_poll_delay(at_et(2025, 4, 29, 10), interval=interval)


def test_backoff_grows_with_full_jitter_up_to_the_cap() -> None:
    rng = random.Random(4)
    assert backoff_seconds(0, rng=rng) == 0.0
    for failures in range(1, 12):
        ceiling = min(6 * 3600, 60 * 2 ** (failures - 1))
        samples = [backoff_seconds(failures, rng=rng) for _ in range(300)]
        assert all(0 <= s <= ceiling for s in samples)
        assert max(samples) > 0.8 * ceiling  # full jitter reaches up to the ceiling ...
        assert min(samples) < 0.2 * ceiling  # ... and down towards zero
    assert backoff_seconds(10_000, base=1, cap=30, rng=rng) <= 30
    assert backoff_seconds(3, base=2, cap=100, rng=random.Random(1)) == backoff_seconds(
        3, base=2, cap=100, rng=random.Random(1)
    )


# Fetching, through a loopback HTTP server


@dataclass
class Seen:
    """A request as the server received it."""

    path: str
    headers: dict[str, str]
    at: float


@dataclass
class FeedServer:
    """A loopback web server whose answers each test scripts by path."""

    routes: dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    server: TestServer | None = None

    def url(self, path: str) -> str:
        """The address of ``path`` on this server."""
        assert self.server is not None
        return str(self.server.make_url(path))

    def serve(
        self,
        path: str,
        body: bytes,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        content_type: str = "application/rss+xml",
    ) -> str:
        """Answer ``path`` with a fixed response; returns its URL."""

        async def handler(request: web.Request) -> web.StreamResponse:
            if delay:
                await asyncio.sleep(delay)
            return web.Response(status=status, body=body, headers=headers or {}, content_type=content_type)

        self.routes[path] = handler
        return self.url(path)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Record the request, then answer it from the script."""
        self.seen.append(Seen(request.path, dict(request.headers), time.monotonic()))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            handler = self.routes.get(request.path)
            if handler is None:
                return web.Response(status=404, text="no such feed")
            return await handler(request)
        finally:
            self.in_flight -= 1


@pytest.fixture
async def feeds() -> AsyncIterator[FeedServer]:
    """A running loopback feed server."""
    fake = FeedServer()
    async with serving(fake.handle) as server:
        fake.server = server
        yield fake


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """One HTTP session, as the poller holds one."""
    async with aiohttp.ClientSession() as client:
        yield client


class RecordingLimiter(ArxivLimiter):
    """The real limiter, noting when each slot began."""

    def __init__(self, min_interval: float) -> None:
        super().__init__(min_interval)
        self.starts: list[float] = []

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for the slot as usual, then note the time."""
        async with super().slot():
            self.starts.append(self.now())
            yield


async def fetch(session: aiohttp.ClientSession, url: str, limiter: ArxivLimiter, **options: Any) -> FetchResult:
    settings_: dict[str, Any] = {"etag": None, "last_modified": None, "limiter": limiter, "timeout": 5.0}
    settings_["guard"] = AddressGuard(allow_private=True)  # the loopback feed server stands for public hosts
    settings_.update(options)
    return await fetch_feed(session, url, **settings_)


async def test_fetch_then_parse_a_real_listing(feeds: FeedServer, session: aiohttp.ClientSession) -> None:
    url = feeds.serve("/rss/quant-ph", capture(QUANT_PH))
    result = await fetch(session, url, ArxivLimiter(INTERVAL))
    assert (result.status, result.not_modified, result.retry_after) == (200, False, None)
    assert result.body == capture(QUANT_PH)
    listing = await asyncio.to_thread(listing_from, result)
    assert listing is not None and len(listing.items) == 81
    assert "paperclub" in feeds.seen[0].headers["User-Agent"]


async def test_a_large_listing_is_read_in_a_process_of_its_own_as_in_a_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[tuple[Any, ...]] = []
    start = asyncio.create_subprocess_exec

    async def starting(*args: Any, **kwargs: Any) -> asyncio.subprocess.Process:
        started.append(args)
        return await start(*args, **kwargs)

    monkeypatch.setattr(asyncio, "create_subprocess_exec", starting)
    small = FetchResult(200, generate_listing(20, seed=5), None, None, None, False)
    assert await read_listing(small) == listing_from(small)
    assert started == []  # a small body: a worker thread
    body = generate_listing(300, seed=5)
    assert len(body) >= IN_PROCESS_FROM
    result = FetchResult(200, body, None, None, None, False)
    apart = await read_listing(result)
    assert len(started) == 1 and started[0][1:] == ("-m", "schedules.feed_answers")
    assert apart == listing_from(result)
    assert apart is not None and len(apart.items) == 300


async def test_a_large_page_that_is_no_feed_comes_back_from_its_process_as_the_same_error() -> None:
    page = b"<html><head><title>Maintenance</title></head><body>" + b"<p>soon</p>" * 30_000 + b"</body></html>"
    assert len(page) >= IN_PROCESS_FROM
    result = FetchResult(200, page, None, None, 30.0, False, from_arxiv=True)
    with pytest.raises(FeedError) as here:
        listing_from(result)
    with pytest.raises(FeedError) as apart:
        await read_listing(result)
    assert (apart.value.message, apart.value.retryable, apart.value.retry_after, apart.value.status) == (
        here.value.message,
        here.value.retryable,
        here.value.retry_after,
        here.value.status,
    )
    assert "Maintenance" in apart.value.message


async def test_etag_and_last_modified_make_the_second_fetch_conditional(
    feeds: FeedServer, session: aiohttp.ClientSession
) -> None:
    body = capture(QUANT_PH)
    modified = "Mon, 28 Apr 2025 04:00:00 GMT"

    async def conditional(request: web.Request) -> web.StreamResponse:
        headers = {"ETag": '"v1"', "Last-Modified": modified}
        if request.headers.get("If-None-Match") == '"v1"':
            return web.Response(status=304, headers=headers)
        return web.Response(body=body, headers=headers, content_type="application/rss+xml")

    feeds.routes["/rss/quant-ph"] = conditional
    url = feeds.url("/rss/quant-ph")
    limiter = ArxivLimiter(0)
    first = await fetch(session, url, limiter)
    assert (first.status, first.etag, first.last_modified, first.not_modified) == (200, '"v1"', modified, False)
    second = await fetch(session, url, limiter, etag=first.etag, last_modified=first.last_modified)
    assert feeds.seen[1].headers["If-None-Match"] == '"v1"'
    assert feeds.seen[1].headers["If-Modified-Since"] == modified
    assert "If-None-Match" not in feeds.seen[0].headers
    assert (second.status, second.not_modified, second.body) == (304, True, None)
    assert (second.etag, second.last_modified) == ('"v1"', modified)
    assert listing_from(second) is None


async def test_retry_after_on_429_pauses_every_arxiv_request(feeds: FeedServer, session: aiohttp.ClientSession) -> None:
    url = feeds.serve("/rss/cs", b"slow down", status=429, headers={"Retry-After": "2"}, content_type="text/plain")
    limiter = ArxivLimiter(INTERVAL)
    before = limiter.now()
    result = await fetch(session, url, limiter, arxiv=True)
    assert (result.status, result.retry_after) == (429, 2.0)
    assert limiter.paused_until >= before + 2.0
    with pytest.raises(FeedError) as caught:
        listing_from(result)
    assert caught.value.retryable and caught.value.retry_after == 2.0 and caught.value.status == 429


async def test_503_with_retry_after_pauses_and_is_retryable(feeds: FeedServer, session: aiohttp.ClientSession) -> None:
    name = "api2026_error_503_html_2026-01-08.xml"
    url = feeds.serve("/rss/cs", capture(name), status=503, headers={"Retry-After": "30"}, content_type="text/html")
    limiter = ArxivLimiter(INTERVAL)
    before = limiter.now()
    result = await fetch(session, url, limiter, arxiv=True)
    assert result.retry_after == 30.0 and limiter.paused_until >= before + 30
    with pytest.raises(FeedError) as caught:
        listing_from(result)
    assert caught.value.retryable and "503" in caught.value.message


async def test_rate_exceeded_without_retry_after_still_pauses_arxiv(
    feeds: FeedServer, session: aiohttp.ClientSession
) -> None:
    url = feeds.serve(
        "/api/query", capture("api2026_error_rate_exceeded_2026-01-08.txt.xml"), content_type="text/plain"
    )
    limiter = ArxivLimiter(INTERVAL)
    before = limiter.now()
    result = await fetch(session, url, limiter, arxiv=True)
    assert result.retry_after == RATE_LIMIT_PAUSE and limiter.paused_until >= before + RATE_LIMIT_PAUSE
    with pytest.raises(FeedError) as caught:
        listing_from(result)
    assert caught.value.retryable


async def test_other_hosts_never_touch_the_arxiv_limiter(feeds: FeedServer, session: aiohttp.ClientSession) -> None:
    url = feeds.serve("/blog.rss", b"busy", status=429, headers={"Retry-After": "60"}, content_type="text/plain")
    limiter = ArxivLimiter(INTERVAL)
    result = await fetch(session, url, limiter)  # a loopback URL is not arXiv unless told so
    assert result.retry_after == 60.0
    assert limiter.last_start is None and limiter.paused_for() == 0.0


async def test_arxiv_requests_are_spaced_and_one_at_a_time(feeds: FeedServer, session: aiohttp.ClientSession) -> None:
    feeds.serve("/rss/cs.LG", generate_listing(20), delay=0.05)
    feeds.serve("/rss/cs.CL", generate_listing(20, category="cs.CL"), delay=0.05)
    limiter = RecordingLimiter(INTERVAL)
    results = await asyncio.gather(
        fetch(session, feeds.url("/rss/cs.LG"), limiter, arxiv=True),
        fetch(session, feeds.url("/rss/cs.CL"), limiter, arxiv=True),
        fetch(session, feeds.url("/rss/cs.LG"), limiter, arxiv=True),
    )
    assert [r.status for r in results] == [200, 200, 200]
    arrivals = [seen.at for seen in feeds.seen]
    assert len(arrivals) == 3 and feeds.max_in_flight == 1
    for earlier, later in zip(limiter.starts, limiter.starts[1:], strict=False):
        assert later - earlier >= INTERVAL
    for slot_start, arrival in zip(limiter.starts[:-1], arrivals[1:], strict=True):
        assert arrival - slot_start >= INTERVAL  # each request reached the server a full interval after the last


async def test_a_long_arxiv_pause_fails_fast_without_a_request(
    feeds: FeedServer, session: aiohttp.ClientSession
) -> None:
    url = feeds.serve("/rss/cs", capture(EMPTY_RSS))
    limiter = ArxivLimiter(INTERVAL)
    limiter.pause(600)
    with pytest.raises(FeedError) as caught:
        await fetch(session, url, limiter, arxiv=True, max_wait=60)
    assert caught.value.retryable and caught.value.retry_after is not None and caught.value.retry_after > 60
    assert feeds.seen == []


async def test_a_slow_server_times_out_as_retryable(feeds: FeedServer, session: aiohttp.ClientSession) -> None:
    url = feeds.serve("/slow.rss", capture(EMPTY_RSS), delay=10)

    async def dribble(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        await response.prepare(request)
        await response.write(capture(QUANT_PH)[:500])
        await asyncio.sleep(10)
        return response

    feeds.routes["/dribble.rss"] = dribble
    for target in (url, feeds.url("/dribble.rss")):
        with pytest.raises(FeedError) as caught:
            await fetch(session, target, ArxivLimiter(0), timeout=0.3)
        assert caught.value.retryable and "0.3 s" in caught.value.message


async def test_a_huge_body_is_cut_off_without_being_read(feeds: FeedServer, session: aiohttp.ClientSession) -> None:
    total = 200 * 1024 * 1024
    written = 0

    async def endless(request: web.Request) -> web.StreamResponse:
        nonlocal written
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        await response.prepare(request)
        chunk = b"<!-- padding -->" * 4096
        try:
            while written < total:
                await response.write(chunk)
                written += len(chunk)
        except (ConnectionError, RuntimeError):
            pass
        return response

    feeds.routes["/huge.rss"] = endless
    with pytest.raises(FeedError) as caught:
        await fetch(session, feeds.url("/huge.rss"), ArxivLimiter(0), max_bytes=1_000_000)
    assert "larger than 1,000,000 bytes" in caught.value.message and not caught.value.retryable
    await asyncio.sleep(0.05)
    assert written < total // 4

    declared = feeds.serve("/declared.rss", b"x" * 2_000_001)
    with pytest.raises(FeedError) as caught:
        await fetch(session, declared, ArxivLimiter(0), max_bytes=2_000_000)
    assert "2,000,001 declared" in caught.value.message


async def test_unreachable_and_unusable_addresses(session: aiohttp.ClientSession) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FeedError) as caught:
        await fetch(session, f"http://127.0.0.1:{port}/rss", ArxivLimiter(0))
    assert caught.value.retryable
    with pytest.raises(FeedError) as caught:
        await fetch(session, "ftp://example.org/feed", ArxivLimiter(0))
    assert not caught.value.retryable


@pytest.mark.parametrize(
    ("status", "name", "retryable", "says"),
    [
        (200, "api2026_error_503_html_2026-01-08.xml", True, "HTML page"),
        (200, "api2026_error_empty_body_2026-01-13.xml", True, "empty"),
        (400, "api2026_error_malformed_id_abc.xml", False, "incorrect id format for abc"),
        (404, "api2026_error_empty_body_2026-01-13.xml", False, "HTTP 404"),
        (410, "api2026_error_503_html_2026-01-08.xml", False, "HTTP 410"),
        (500, "api2026_error_empty_body_2026-01-13.xml", True, "HTTP 500"),
        (502, "api2026_error_503_html_2026-01-08.xml", True, "HTTP 502"),
    ],
)
def test_the_status_decides_whether_an_answer_is_worth_retrying(
    status: int, name: str, retryable: bool, says: str
) -> None:
    result = FetchResult(status, capture(name), None, None, None, False, from_arxiv=True)
    with pytest.raises(FeedError) as caught:
        listing_from(result)
    assert caught.value.retryable is retryable
    assert caught.value.status == status
    assert says in caught.value.message
