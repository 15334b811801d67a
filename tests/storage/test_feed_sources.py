"""Reading a moderator's /feed source: categories, arXiv queries and feed URLs, each as one feed URL."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.errors import ValidationError
from storage.feeds.categories import CATEGORIES
from storage.feeds.sources import EXPECTED, QUERY_FIELDS, Source, normalise_query, resolve_source

RSS = "https://rss.arxiv.org/rss"
API = "https://export.arxiv.org/api/query"


def resolve(text: str, *, rss_base: str = RSS, api_base: str = API) -> Source:
    return resolve_source(text, rss_base=rss_base, api_base=api_base)


def searched(source: Source) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(source.url).query).items()}


@pytest.mark.parametrize(
    "text",
    ["cs.LG+cs.CL", "cs.CL+cs.LG", "cs.lg, cs.cl", "CS.LG cs.CL", " cs.CL ; cs.LG ", "cs.LG OR cs.CL", "`cs.CL cs.LG`"],
)
def test_the_same_categories_typed_any_way_are_one_listing(text: str) -> None:
    source = resolve(text)
    assert source == Source(
        url="https://rss.arxiv.org/rss/cs.CL+cs.LG",
        kind="arxiv-listing",
        label="cs.CL+cs.LG",
        categories=("cs.CL", "cs.LG"),
    )


def test_categories_use_the_configured_listing_base() -> None:
    assert resolve("quant-ph", rss_base="http://127.0.0.1:9/rss/").url == "http://127.0.0.1:9/rss/quant-ph"
    assert resolve("hep-th OR gr-qc").label == "gr-qc+hep-th"
    assert resolve("cs").url == f"{RSS}/cs"  # a whole archive has a listing too


def test_a_mistyped_category_gets_a_suggestion() -> None:
    with pytest.raises(ValidationError, match=r"`cs\.ML` is not an arXiv category\. Did you mean `stat\.ML`\?"):
        resolve("cs.ML")
    with pytest.raises(ValidationError, match=r"cs\.LGG"):
        resolve("cs.LG, cs.LGG")


def test_an_arxiv_query_is_a_newest_first_api_search() -> None:
    source = resolve('ti:"model  merging" and CAT:cs.lg')
    assert source.kind == "arxiv-query"
    assert source.label == source.query == 'ti:"model merging" AND cat:cs.LG'
    assert source.url.startswith(API + "?")
    assert searched(source) == {
        "search_query": 'ti:"model merging" AND cat:cs.LG',
        "sortBy": "submittedDate",
        "sortOrder": "descending",
        "max_results": "100",
    }


@pytest.mark.parametrize(
    ("text", "query"),
    [
        (
            "au:del_maestro ANDNOT (ti:checkerboard OR ti:Pyrochlore)",
            "au:del_maestro ANDNOT (ti:checkerboard OR ti:Pyrochlore)",
        ),
        ("\u201cdiffusion\u201d AND cs.CV", '"diffusion" AND cat:cs.CV'),  # phone keyboards type curly quotes
        ("ti: transformer OR abs:attention", "ti:transformer OR abs:attention"),
        ("cs.LG AND cs.CL", "cat:cs.LG AND cat:cs.CL"),  # both at once, unlike cs.LG+cs.CL
        ("transformers OR attention", "transformers OR attention"),
        ("id:2403.17887", "id:2403.17887"),
        ("( ti:a  OR ti:b ) AND au:smith", "(ti:a OR ti:b) AND au:smith"),
    ],
)
def test_queries_are_normalised(text: str, query: str) -> None:
    source = resolve(text)
    assert (source.kind, source.query) == ("arxiv-query", query)
    assert resolve(query).url == source.url


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("ti:", "needs a term right after it"),
        ("xx:merging AND ti:a", "`xx:` is not an arXiv search field"),
        ("ti:a AND", "needs a term on each side"),
        ("AND ti:a", "needs a term on each side"),
        ("ti:a AND OR ti:b", "needs a term on each side"),
        ("(ti:a OR ti:b", "never closes"),
        ("ti:a)", "never opened"),
        ('ti:"" AND au:x', "empty phrase"),
        ("ti:a AND ()", "empty group"),
    ],
)
def test_queries_arxiv_could_not_read_are_refused(text: str, needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        resolve(text)


def test_urls_are_followed_as_given_in_one_spelling() -> None:
    source = resolve("HTTPS://Blog.Example.COM:443/feed.xml?tag=ml#top")
    assert source == Source(
        url="https://blog.example.com/feed.xml?tag=ml", kind="web", label="https://blog.example.com/feed.xml?tag=ml"
    )
    assert resolve("<http://example.com>").url == "http://example.com/"
    assert resolve("http://example.com:8080/a").url == "http://example.com:8080/a"


def test_arxiv_urls_are_the_same_feed_as_their_category_or_query() -> None:
    assert resolve("http://rss.arxiv.org/rss/cs.lg+cs.CL").url == f"{RSS}/cs.CL+cs.LG"
    assert resolve("https://export.arxiv.org/rss/cs.LG").url == f"{RSS}/cs.LG"
    assert resolve("http://127.0.0.1:9/rss/cs.lg", rss_base="http://127.0.0.1:9/rss").label == "cs.LG"
    api = resolve("https://export.arxiv.org/api/query?search_query=ti:x+and+cat:cs.lg&max_results=5")
    assert api.url == resolve("ti:x AND cat:cs.LG").url
    atom = resolve("https://rss.arxiv.org/atom/cs.LG")  # a different format: fetched as it is
    assert (atom.kind, atom.url) == ("web", "https://rss.arxiv.org/atom/cs.LG")


@pytest.mark.parametrize("text", ["ftp://example.com/feed", "http://", "http://exa mple.com/x", "http://[::1/x"])
def test_bad_urls_are_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        resolve(text)


@pytest.mark.parametrize("text", ["", "   ", "``"])
def test_nothing_says_what_is_expected(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        resolve(text)
    assert caught.value.message == EXPECTED


def test_plain_words_are_shown_how_to_search_for_them() -> None:
    with pytest.raises(ValidationError) as caught:
        resolve('"model merging"')
    assert 'all:"model merging"' in caught.value.message and "\n" not in caught.value.message


# Properties

_SOURCE_TEXT = st.one_of(
    st.text(max_size=80),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC.-+:,()\" '|;ANDORT", max_size=60),
    st.builds(
        lambda field, word, op, rest: f"{field}:{word} {op} {rest}",
        st.sampled_from([*QUERY_FIELDS, "TI", "xx"]),
        st.text(alphabet='abc."()', max_size=8),
        st.sampled_from(["AND", "OR", "ANDNOT", "and", ""]),
        st.text(alphabet='abc:."() ', max_size=12),
    ),
    st.builds(lambda tail: f"https://{tail}", st.text(max_size=40)),
)


@settings(max_examples=400, deadline=None)
@given(_SOURCE_TEXT)
def test_any_text_gives_a_source_or_a_validation_error_and_sources_are_stable(text: str) -> None:
    try:
        source = resolve(text)
    except ValidationError as exc:
        assert exc.message and "\n" not in exc.message
        return
    assert source.url.startswith(("http://", "https://")) and len(source.url) <= 2000
    assert source.kind in ("arxiv-listing", "arxiv-query", "web")
    if source.label != source.url and "***@" in source.label:
        return  # a password in the address is masked in what /feed list shows, so the label can't name the feed
    again = resolve(source.label)  # what /feed list shows names the same feed
    assert again.url == source.url


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(sorted(CATEGORIES)), min_size=1, max_size=5, unique=True),
    st.sampled_from(["+", ", ", " ", " OR ", ";"]),
    st.booleans(),
)
def test_a_set_of_categories_is_one_feed_in_any_order_case_or_separator(
    names: list[str], separator: str, lower: bool
) -> None:
    typed = separator.join(name.lower() if lower else name for name in reversed(names))
    source = resolve(typed)
    assert source.url == resolve("+".join(sorted(names))).url
    assert set(source.categories) == set(names)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet='abcXY:."() ANDORti', max_size=40))
def test_query_normalising_is_idempotent(text: str) -> None:
    try:
        once = normalise_query(text)
    except ValidationError:
        return
    assert normalise_query(once) == once


def test_text_that_is_no_source_is_told_what_was_wrong_before_the_forms_to_use() -> None:
    with pytest.raises(ValidationError) as caught:
        resolve("definitely not a feed !!")
    message = caught.value.message
    assert message.startswith("`definitely not a feed !!` is not a source I can follow")
    assert message.endswith(EXPECTED)
