"""Paper identity: every written form of a paper turns into one canonical key."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.errors import PaperInputError
from storage.identity import PaperKey, TitleQuery, find_arxiv_keys, paper_key, parse_paper

REAL_FORMS = [
    ("2403.17887", "arxiv:2403.17887", None),
    ("2403.17887v2", "arxiv:2403.17887", 2),
    ("arXiv:2403.17887", "arxiv:2403.17887", None),
    ("arxiv: 2403.17887v11", "arxiv:2403.17887", 11),
    ("1501.00001", "arxiv:1501.00001", None),
    ("0704.0001", "arxiv:0704.0001", None),
    ("1412.8999", "arxiv:1412.8999", None),
    ("hep-th/9901001", "arxiv:hep-th/9901001", None),
    ("hep-th/9901001v3", "arxiv:hep-th/9901001", 3),
    ("math.GT/0309136", "arxiv:math/0309136", None),
    ("cond-mat/0408190v2", "arxiv:cond-mat/0408190", 2),
    ("https://arxiv.org/abs/2403.17887", "arxiv:2403.17887", None),
    ("https://arxiv.org/abs/2403.17887v4/", "arxiv:2403.17887", 4),
    ("https://arxiv.org/pdf/2403.17887", "arxiv:2403.17887", None),
    ("https://arxiv.org/pdf/2403.17887v2.pdf", "arxiv:2403.17887", 2),
    ("https://arxiv.org/html/2403.17887v1", "arxiv:2403.17887", 1),
    ("http://www.arxiv.org/abs/2403.17887?context=cs.LG", "arxiv:2403.17887", None),
    ("https://export.arxiv.org/abs/2403.17887#section", "arxiv:2403.17887", None),
    ("arxiv.org/abs/hep-th/9901001", "arxiv:hep-th/9901001", None),
    ("https://arxiv.org/pdf/math.GT/0309136v1", "arxiv:math/0309136", 1),
    ("<https://arxiv.org/abs/1706.03762>", "arxiv:1706.03762", None),
    ("10.1038/nature14539", "doi:10.1038/nature14539", None),
    ("doi:10.1145/3292500.3330701", "doi:10.1145/3292500.3330701", None),
    ("https://doi.org/10.1038/Nature14539", "doi:10.1038/nature14539", None),
    ("http://dx.doi.org/10.1103/PhysRevLett.116.061102", "doi:10.1103/physrevlett.116.061102", None),
    ("https://doi.org/10.48550/arXiv.2403.17887", "arxiv:2403.17887", None),
    ("https://openreview.net/forum?id=abc123&utm_source=x", "url:https://openreview.net/forum?id=abc123", None),
    ("HTTPS://Example.ORG:443/Paper/", "url:https://example.org/Paper", None),
    ("https://aclanthology.org/2023.acl-long.1.pdf", "url:https://aclanthology.org/2023.acl-long.1.pdf", None),
]


@pytest.mark.parametrize(("text", "key", "version"), REAL_FORMS)
def test_real_world_forms_normalise(text: str, key: str, version: int | None) -> None:
    parsed = parse_paper(text)
    assert isinstance(parsed, PaperKey)
    assert (parsed.key, parsed.version) == (key, version)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "2413.12345",
        "2403.1788",
        "1412.12345",
        "1501.0001",
        "0612.0001",
        "foo/9901001",
        "hep-th/9913001",
        "https://arxiv.org/list/cs.LG/recent",
        "ftp://example.org/paper",
        "!!",
        "12345",
        "arXiv:99",
        "10.12/x",
        "v2",
    ],
)
def test_unrecognisable_input_says_what_was_expected(text: str) -> None:
    with pytest.raises(PaperInputError) as caught:
        parse_paper(text)
    assert "Expected" in caught.value.message or "empty" in caught.value.message


def test_free_text_is_a_title_query() -> None:
    assert parse_paper("  Attention   is all you need ") == TitleQuery("Attention is all you need")
    with pytest.raises(PaperInputError):
        paper_key("Attention is all you need")


new_ids = st.builds(
    lambda y, m, n, five: (f"{y:02d}{m:02d}", f"{n % 10**5:05d}" if five else f"{n % 10**4:04d}"),
    st.integers(7, 30),
    st.integers(1, 12),
    st.integers(0, 99999),
    st.booleans(),
).filter(lambda t: (t[0] >= "0704") and ((len(t[1]) == 5) == (t[0] >= "1501")))
versions = st.one_of(st.none(), st.integers(1, 40))
url_forms = st.sampled_from(
    [
        "{id}",
        "arXiv:{id}",
        "arxiv:{id}",
        "https://arxiv.org/abs/{id}",
        "http://arxiv.org/abs/{id}/",
        "https://www.arxiv.org/pdf/{id}",
        "https://arxiv.org/pdf/{id}.pdf",
        "https://export.arxiv.org/html/{id}",
        "arxiv.org/abs/{id}?foo=bar",
        "https://arxiv.org/abs/{id}#x",
    ]
)


@given(new_ids, versions, url_forms)
def test_every_form_of_a_new_style_id_gives_one_key(ident: tuple[str, str], version: int | None, form: str) -> None:
    base = f"{ident[0]}.{ident[1]}"
    written = base + (f"v{version}" if version else "")
    parsed = parse_paper(form.format(id=written))
    assert parsed == PaperKey(f"arxiv:{base}", version)
    assert parse_paper(parsed.key) == PaperKey(parsed.key)  # a key parses back to itself


@given(
    st.sampled_from(["hep-th", "astro-ph", "math", "cond-mat", "quant-ph", "cs"]),
    st.integers(91, 99),
    st.integers(1, 12),
    st.integers(0, 999),
    versions,
)
def test_old_style_ids_keep_their_archive(archive: str, yy: int, mm: int, num: int, version: int | None) -> None:
    ident = f"{archive}/{yy:02d}{mm:02d}{num:03d}"
    parsed = paper_key(f"https://arxiv.org/abs/{ident}" + (f"v{version}" if version else ""))
    assert parsed == PaperKey(f"arxiv:{ident}", version)


@given(st.text(max_size=300))
def test_any_text_gives_a_result_or_a_paper_input_error(text: str) -> None:
    try:
        parsed = parse_paper(text)
    except PaperInputError as exc:
        assert exc.message and len(exc.message) < 300
    else:
        assert isinstance(parsed, PaperKey | TitleQuery)


def test_links_in_a_message_are_found_once_each() -> None:
    text = (
        "see https://arxiv.org/abs/2403.17887v2 and arxiv.org/pdf/2403.17887 "
        "plus <https://arxiv.org/html/hep-th/9901001> and not arxiv.org/abs/2413.00001"
    )
    assert [k.key for k in find_arxiv_keys(text)] == ["arxiv:2403.17887", "arxiv:hep-th/9901001"]


def test_only_real_arxiv_links_are_found() -> None:
    assert find_arxiv_keys("https://notarxiv.org/abs/1111.2011 and https://arxiv.org.evil.com/abs/1111.2011") == []
    assert find_arxiv_keys("arxiv.org/abs/2403.178876 is too long") == []
    assert [
        k.key for k in find_arxiv_keys("(https://arxiv.org/abs/2403.17887v3). Also arxiv.org/pdf/2403.17888.pdf")
    ] == ["arxiv:2403.17887", "arxiv:2403.17888"]


def test_a_link_too_long_to_be_a_key_is_refused_with_a_reason() -> None:
    with pytest.raises(PaperInputError, match="too long to name a paper"):
        parse_paper("https://example.org/" + "p" * 300)
    assert parse_paper("https://example.org/" + "p" * 200).key.startswith("url:")  # type: ignore[union-attr]


def test_find_paper_keys_reads_every_link_form_in_a_message() -> None:
    from storage.identity import find_paper_keys

    text = (
        "look at https://arxiv.org/abs/2403.17887v2 and arxiv.org/pdf/1706.03762, doi:10.1038/nature14539, "
        "<https://example.org/paper?utm_source=x>. (see https://doi.org/10.1000/xyz) and [a](https://openreview.net/"
        "forum?id=abc) and again arXiv:2403.17887"
    )
    assert [k.key for k in find_paper_keys(text)] == [
        "arxiv:2403.17887",
        "arxiv:1706.03762",
        "doi:10.1038/nature14539",
        "url:https://example.org/paper",
        "doi:10.1000/xyz",
        "url:https://openreview.net/forum?id=abc",
    ]
    assert find_paper_keys("no paper here, just words and 2024.") == []
