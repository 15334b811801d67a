"""The BibTeX export read back by a real parser (bibtexparser): valid keys, escaped specials, one entry a paper."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

import bibtexparser
from bibtexparser import middlewares
from bibtexparser.model import Entry
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.exports import ExportedPaper, GroupExport, bibtex_keys, to_bibtex
from tests.storage.test_exports import exported_note as _note

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
ANN, BOB = 700_000_000_000_000_001, 700_000_000_000_000_002
SPECIALS = "$&%#_{}"
KEY = re.compile(r"[A-Za-z0-9.\-]+")  # what BibTeX, biber and every style accept in a citation key

BASE = ExportedPaper(
    key="arxiv:1706.03762",
    version=7,
    title="Attention Is All You Need",
    authors=("Ashish Vaswani", "Noam Shazeer"),
    abstract=None,
    categories=("cs.CL", "cs.LG"),
    published=datetime(2017, 6, 12, tzinfo=UTC),
    updated=None,
    doi=None,
    journal_ref=None,
    comment=None,
    metadata_status="ok",
)
TRICKY = replace(
    BASE,
    key="arxiv:2403.17887",
    version=None,
    title=r"Merging {LoRA}: 100% of $\alpha$ & the_rest #1, {unbalanced",
    authors=("Jürgen Müller", "Research and Development Team", "Zoë O'Brien"),
    categories=("cs.LG",),
    published=datetime(2024, 3, 26, tzinfo=UTC),
    doi="10.1234/merge_{1}%",
    journal_ref="Proc. Merging & Friends #2, 50% off_",
)
AGAIN = replace(BASE, key="arxiv:1711.00001", title="Attention, Again", authors=("Ashish Vaswani",))
BARE_DOI = replace(
    BASE, key="doi:10.1038/nature14539", version=None, title=None, authors=(), categories=(), published=None
)
LINK = replace(
    BASE, key="url:https://example.org/paper?id=5%20x", title="A Paper on a Web Page", authors=(), categories=()
)


def _export(*papers: ExportedPaper) -> GroupExport:
    return GroupExport(
        guild_id=1, exported_at=NOW, notes=tuple(_note(n, paper) for n, paper in enumerate(papers)), tags=()
    )


def _parse(text: str, *extra: middlewares.Middleware) -> list[Entry]:
    library = bibtexparser.parse_string(text, append_middleware=list(extra))
    assert library.failed_blocks == [], [block.error for block in library.failed_blocks]
    assert library.strings == [] and library.preambles == []
    return list(library.entries)


def _fields(entry: Entry) -> dict[str, str]:
    return {name: field.value for name, field in entry.fields_dict.items()}


def test_every_paper_is_one_entry_with_its_key_even_when_noted_twice() -> None:
    export = GroupExport(
        guild_id=1,
        exported_at=NOW,
        notes=(
            _note(1, BASE),
            _note(2, BASE, BOB),  # a second note on the same paper
            _note(3, TRICKY),
            _note(4, BARE_DOI),
            _note(5, AGAIN),
            _note(6, LINK),
        ),
        tags=(),
    )
    entries = _parse(to_bibtex(export))
    assert [entry.key for entry in entries] == [
        "vaswani2017attention",
        "muller2024merging",
        "doi-10.1038-nature14539",
        "vaswani2017attentionb",
        "url-https-example.org-paper-id-5-20x",
    ]
    assert list(bibtex_keys(export.papers).values()) == [entry.key for entry in entries]
    assert {entry.entry_type for entry in entries} == {"misc"}
    assert all(KEY.fullmatch(entry.key) for entry in entries)
    assert len({entry.key.lower() for entry in entries}) == len(entries)  # BibTeX compares keys case-blind


def test_arxiv_doi_and_url_fields_read_back_as_written() -> None:
    attention, tricky, bare, link = (
        _fields(entry) for entry in _parse(to_bibtex(_export(BASE, TRICKY, BARE_DOI, LINK)))
    )
    assert attention == {
        "title": "{Attention Is All You Need}",
        "author": "Ashish Vaswani and Noam Shazeer",
        "year": "2017",
        "eprint": "1706.03762",
        "archivePrefix": "arXiv",
        "primaryClass": "cs.CL",
        "url": "https://arxiv.org/abs/1706.03762",
    }
    assert tricky["doi"] == "10.1234/merge_%7B1%7D%25"  # verbatim fields: only what would break the entry
    assert bare == {"doi": "10.1038/nature14539", "url": "https://doi.org/10.1038/nature14539"}
    assert link["url"] == "https://example.org/paper?id=5%2520x"


def test_latex_specials_are_escaped_and_decode_to_the_text() -> None:
    text = to_bibtex(_export(TRICKY))
    [raw] = _parse(text)
    title = _fields(raw)["title"]
    unescaped = re.sub(r"\\textbackslash\{\}|\\[$&%#_{}]", "", title[1:-1])  # the outer braces keep capitals
    assert not set(unescaped) & set(SPECIALS), unescaped  # no special is left bare
    assert r"\textbackslash{}alpha" in title
    [decoded] = _parse(text, middlewares.LatexDecodingMiddleware())
    assert _fields(decoded)["title"] == TRICKY.title
    assert _fields(decoded)["note"] == TRICKY.journal_ref
    # A name holding "and" stays one author.
    [split] = _parse(text, middlewares.SeparateCoAuthors())
    assert split.fields_dict["author"].value == ["Jürgen Müller", "{Research and Development Team}", "Zoë O'Brien"]


# The decoder makes "--" a dash, "''" a quote and "\~{}" an accent; these characters come back as they were.
plain = st.text(alphabet=st.sampled_from(list("aZé9 ,.:" + SPECIALS + "\\")), max_size=30)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(plain, st.lists(plain, max_size=3)), min_size=1, max_size=8))
def test_any_titles_and_authors_parse_to_one_entry_each(specs: list[tuple[str, list[str]]]) -> None:
    papers = [
        replace(TRICKY, key=f"arxiv:2403.{10000 + n}", title=title or None, authors=tuple(authors), journal_ref=None)
        for n, (title, authors) in enumerate(specs)
    ]
    text = to_bibtex(_export(*papers))
    entries = _parse(text, middlewares.LatexDecodingMiddleware())
    assert [entry.key for entry in entries] == list(bibtex_keys(papers).values())
    assert all(KEY.fullmatch(entry.key) for entry in entries)
    for paper, entry in zip(papers, entries, strict=True):
        fields = _fields(entry)
        if paper.title and paper.title.strip():
            assert fields["title"] == " ".join(paper.title.split())
        else:
            assert "title" not in fields or not fields["title"].strip()
