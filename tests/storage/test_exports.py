"""Exports of a group's notes on a real SQLite file: JSON (lossless), Markdown, BibTeX (escaping by hypothesis)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.db import Sessions
from storage.exports import (
    FORMAT_NAME,
    FORMAT_VERSION,
    ExportedNote,
    ExportedPaper,
    ExportService,
    GroupExport,
    bibtex_escape,
    bibtex_keys,
    to_bibtex,
    to_json,
    to_markdown,
)
from storage.identity import PaperKey
from storage.metadata import PaperMetadata
from storage.models import MetadataStatus
from storage.notes import NoteService, NoteView
from storage.papers import PaperService

GUILD, OTHER_GUILD = 500_000_000_000_000_001, 500_000_000_000_000_002
ANN, BOB = 700_000_000_000_000_001, 700_000_000_000_000_002
NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)

TRICKY_TITLE = "Merging {LoRA} Models: 100% of $\\alpha$ & the_rest #1 ~ ^ \\ end"
ANN_FIRST = "## Summary\nAttention replaces recurrence entirely.\n\n## Questions\n- Why does it scale?"
ANN_EDITED = "## Summary\nSelf-attention replaces recurrence entirely.\n\n## Questions\n- Why does it scale?"


@dataclass
class Seeded:
    """What :func:`seed_group` wrote."""

    notes: dict[str, NoteView]  # by a short name: ann_attention, bob_attention, ann_merging, bob_doi, ann_again


async def seed_group(sessions: Sessions) -> Seeded:
    """A group with five notes on four papers (one noted twice, one edited, one posted), and a second group."""
    papers = PaperService(sessions, None)
    notes = NoteService(sessions)
    attention = await papers.ensure(
        PaperKey("arxiv:1706.03762", 7),
        metadata=PaperMetadata(
            key="arxiv:1706.03762",
            title="Attention Is All You Need",
            version=7,
            authors=("Ashish Vaswani", "Noam Shazeer", "Niki Parmar"),
            abstract="The dominant sequence transduction models are based on complex recurrent networks.",
            categories=("cs.CL", "cs.LG"),
            published=datetime(2017, 6, 12, 17, 57, 34, tzinfo=UTC),
            updated=datetime(2023, 8, 2, tzinfo=UTC),
        ),
    )
    merging = await papers.ensure(
        PaperKey("arxiv:2403.17887"),
        metadata=PaperMetadata(
            key="arxiv:2403.17887",
            title=TRICKY_TITLE,
            authors=("Jürgen Müller", "Research and Development Team", "Zoë O'Brien"),
            categories=("cs.LG",),
            published=datetime(2024, 3, 26, tzinfo=UTC),
            doi="10.1234/merge_{1}%",
            journal_ref="Proc. Merging & Friends 2024",
            comment="12 pages",
        ),
    )
    doi = await papers.ensure(PaperKey("doi:10.1038/nature14539"))  # no metadata source: stays MISSING
    again = await papers.ensure(  # same first author, year and first title word as Attention: a key collision
        PaperKey("arxiv:1711.00001"),
        metadata=PaperMetadata(
            key="arxiv:1711.00001",
            title="Attention, Again",
            authors=("Ashish Vaswani",),
            categories=("cs.LG",),
            published=datetime(2017, 11, 1, tzinfo=UTC),
        ),
    )
    made = {}
    made["ann_attention"] = await notes.add(
        guild_id=GUILD,
        paper_id=attention.id,
        author_id=ANN,
        author_name="ann",
        body=ANN_FIRST,
        tags=["llms", "nlp/attention"],
    )
    await notes.edit(guild_id=GUILD, note_id=made["ann_attention"].id, editor_id=ANN, body=ANN_EDITED)
    await notes.set_message(
        guild_id=GUILD, note_id=made["ann_attention"].id, channel_id=600_000_000_000_000_001, message_id=9
    )
    made["ann_attention"] = await notes.get(guild_id=GUILD, note_id=made["ann_attention"].id)
    made["bob_attention"] = await notes.add(
        guild_id=GUILD, paper_id=attention.id, author_id=BOB, author_name="bob *the* [builder]", body="Agree.", tags=[]
    )
    made["ann_merging"] = await notes.add(
        guild_id=GUILD,
        paper_id=merging.id,
        author_id=ANN,
        author_name="ann",
        body="# Big idea\nAverage the weights.\n```\n# not a heading\n```\nÜnïcödé ✓ and a {brace}",
        tags=["merging"],
    )
    made["bob_doi"] = await notes.add(
        guild_id=GUILD, paper_id=doi.id, author_id=BOB, author_name="bob", body="Deep learning, the review.", tags=[]
    )
    made["ann_again"] = await notes.add(
        guild_id=GUILD, paper_id=again.id, author_id=ANN, author_name="ann", body="Attention, again.", tags=["llms"]
    )
    await notes.add(
        guild_id=OTHER_GUILD,
        paper_id=attention.id,
        author_id=ANN,
        author_name="ann",
        body="OTHER GROUP ONLY",
        tags=["private"],
    )
    return Seeded(notes=made)


@pytest.fixture
async def seeded(sessions: Sessions) -> Seeded:
    return await seed_group(sessions)


@pytest.fixture
async def export(sessions: Sessions, seeded: Seeded) -> GroupExport:
    return await ExportService(sessions).snapshot(guild_id=GUILD, now=NOW)


async def test_json_is_lossless_and_versioned(sessions: Sessions, seeded: Seeded, export: GroupExport) -> None:
    document = json.loads(to_json(export))
    assert document["format"] == FORMAT_NAME and document["version"] == FORMAT_VERSION == 1
    assert document["exported_at"] == "2025-03-03T09:00:00+00:00"
    assert document["guild_id"] == str(GUILD)
    assert document["tags"] == ["llms", "merging", "nlp/attention"]  # the group's, not the other group's
    assert [note["id"] for note in document["notes"]] == [view.id for view in seeded.notes.values()]  # oldest first
    assert "OTHER GROUP ONLY" not in json.dumps(document)

    by_id = {note["id"]: note for note in document["notes"]}
    for view in seeded.notes.values():
        note = by_id[view.id]
        assert note["author"] == {"id": str(view.author_id), "name": view.author_name}
        assert note["body"] == view.body
        assert note["tags"] == list(view.tags)
        assert note["revision"] == view.revision
        assert datetime.fromisoformat(note["created_at"]) == view.created_at
        assert datetime.fromisoformat(note["updated_at"]) == view.updated_at
        assert note["paper"]["key"] == view.paper.key
        assert note["paper"]["title"] == view.paper.title
        assert note["paper"]["authors"] == list(view.paper.authors)
        assert note["paper"]["categories"] == list(view.paper.categories)
        assert note["paper"]["url"] == view.paper.url

    edited = by_id[seeded.notes["ann_attention"].id]
    assert edited["revision"] == 2 and edited["body"] == ANN_EDITED
    assert edited["tags"] == ["llms", "nlp/attention"]
    assert edited["message"] == {"channel_id": "600000000000000001", "message_id": "9", "thread_id": None}
    [earlier] = edited["revisions"]
    assert earlier["revision"] == 1 and earlier["body"] == ANN_FIRST
    assert earlier["tags"] == ["llms", "nlp/attention"] and earlier["editor_id"] == str(ANN)
    [stored] = await NoteService(sessions).revisions(guild_id=GUILD, note_id=edited["id"])
    assert datetime.fromisoformat(earlier["written_at"]) == stored.written_at.replace(tzinfo=UTC)
    assert datetime.fromisoformat(earlier["replaced_at"]) == stored.replaced_at.replace(tzinfo=UTC)
    paper = edited["paper"]
    assert paper["version"] == 7 and paper["metadata_status"] == MetadataStatus.OK
    assert paper["abstract"].startswith("The dominant sequence")
    assert paper["published"] == "2017-06-12T17:57:34+00:00" and paper["updated"] == "2023-08-02T00:00:00+00:00"

    merging = by_id[seeded.notes["ann_merging"].id]
    assert merging["paper"]["doi"] == "10.1234/merge_{1}%"
    assert merging["paper"]["journal_ref"] == "Proc. Merging & Friends 2024"
    assert merging["paper"]["comment"] == "12 pages"
    assert merging["message"] is None and merging["revisions"] == []
    assert "Ünïcödé ✓" in merging["body"]  # UTF-8 as written, not \u escapes
    assert "Ünïcödé ✓" in to_json(export)

    doi = by_id[seeded.notes["bob_doi"].id]["paper"]
    assert doi["key"] == "doi:10.1038/nature14539" and doi["title"] is None
    assert doi["metadata_status"] == MetadataStatus.MISSING and doi["url"] == "https://doi.org/10.1038/nature14539"


async def test_a_group_without_notes_exports_an_empty_document(sessions: Sessions, seeded: Seeded) -> None:
    service = ExportService(sessions)
    document = json.loads((await service.export(guild_id=123, fmt="json")).text)
    assert document["notes"] == [] and document["tags"] == []
    assert to_bibtex(await service.snapshot(guild_id=123)).count("@") == 0
    with pytest.raises(ValueError, match="unknown export format"):
        await service.export(guild_id=GUILD, fmt="xml")


async def test_markdown_has_one_section_per_note(seeded: Seeded, export: GroupExport) -> None:
    text = to_markdown(export)
    sections = re.findall(r"^## .*$", text, flags=re.MULTILINE)
    assert len(sections) == len(seeded.notes) == 5
    assert sections[0] == "## [Attention Is All You Need](https://arxiv.org/abs/1706.03762)"
    assert text.startswith(f"# Paper notes · server {GUILD}\n\nExported 2025-03-03 09:00 UTC: 5 notes on 4 papers.")
    first = text.split("\n## ")[1]
    assert "*Ashish Vaswani, Noam Shazeer, Niki Parmar · arXiv:1706.03762 · 2017*" in first
    created = seeded.notes["ann_attention"].created_at
    assert f"**ann** · {created:%Y-%m-%d} · edited" in first and "(revision 2)" in first
    assert "tags: `llms`, `nlp/attention`" in first
    assert f"[on Discord](https://discord.com/channels/{GUILD}/600000000000000001/9)" in first
    # The note's own "## Summary" sits under its paper's heading, not beside it.
    assert "### Summary\nSelf-attention replaces recurrence entirely." in first
    assert r"**bob \*the\* \[builder\]**" in text  # names are shown literally
    merging = text.split("\n## ")[3]
    assert merging.startswith(r"[Merging {LoRA} Models: 100% of $\\alpha$ & the\_rest \#1 \~ ^ \\ end]")
    assert "### Big idea\nAverage the weights.\n```\n# not a heading\n```" in merging  # code left alone
    assert "## [10.1038/nature14539](https://doi.org/10.1038/nature14539)" in text  # a paper without metadata
    assert "OTHER GROUP ONLY" not in text


def bibtex_entries(text: str) -> dict[str, dict[str, str]]:
    """A small BibTeX reader: entry key -> field -> raw value (between the outer braces)."""
    entries: dict[str, dict[str, str]] = {}
    for match in re.finditer(r"^@misc\{([^,\s]+),\n(.*?)\n\}$", text, flags=re.MULTILINE | re.DOTALL):
        fields = {}
        for line in match.group(2).split(",\n"):
            name, value = line.split("=", 1)
            value = value.strip()
            assert value.startswith("{") and value.endswith("}"), line
            fields[name.strip()] = value[1:-1]
        entries[match.group(1)] = fields
    return entries


async def test_bibtex_has_one_entry_per_paper_with_arxiv_fields(export: GroupExport) -> None:
    text = to_bibtex(export)
    assert text.count("@") == 4  # five notes on four papers; the header line has no "@"
    entries = bibtex_entries(text)
    assert list(entries) == [
        "vaswani2017attention",
        "muller2024merging",
        "doi-10.1038-nature14539",
        "vaswani2017attentionb",  # the collision, noted later, gets the suffix
    ]
    attention = entries["vaswani2017attention"]
    assert attention == {
        "title": "{Attention Is All You Need}",
        "author": "Ashish Vaswani and Noam Shazeer and Niki Parmar",
        "year": "2017",
        "eprint": "1706.03762",
        "archivePrefix": "arXiv",
        "primaryClass": "cs.CL",
        "url": "https://arxiv.org/abs/1706.03762",
    }
    merging = entries["muller2024merging"]
    assert merging["title"] == (
        r"{Merging \{LoRA\} Models: 100\% of \$\textbackslash{}alpha\$ \& the\_rest \#1 \~{} \^{} "
        r"\textbackslash{} end}"
    )
    # An author with "and" in the name stays one author.
    assert merging["author"] == "Jürgen Müller and {Research and Development Team} and Zoë O'Brien"
    assert merging["doi"] == "10.1234/merge_%7B1%7D%25"  # verbatim field: only what would break the entry
    assert merging["note"] == r"Proc. Merging \& Friends 2024"
    doi = entries["doi-10.1038-nature14539"]
    assert doi == {"doi": "10.1038/nature14539", "url": "https://doi.org/10.1038/nature14539"}


async def test_bibtex_keys_stay_when_papers_are_added(sessions: Sessions, seeded: Seeded, export: GroupExport) -> None:
    before = bibtex_keys(export.papers)
    papers = PaperService(sessions, None)
    newer = await papers.ensure(
        PaperKey("arxiv:1801.00001"),
        metadata=PaperMetadata(
            key="arxiv:1801.00001",
            title="The Attention Paper Once More",  # "the" is skipped: attention again, but from 2018
            authors=("A. Vaswani",),
            published=datetime(2017, 12, 30, tzinfo=UTC),
        ),
    )
    await NoteService(sessions).add(
        guild_id=GUILD, paper_id=newer.id, author_id=BOB, author_name="bob", body="Third time.", tags=[]
    )
    after = bibtex_keys((await ExportService(sessions).snapshot(guild_id=GUILD)).papers)
    assert {key: after[key] for key in before} == before
    assert after["arxiv:1801.00001"] == "vaswani2017attentionc"
    assert bibtex_keys(export.papers) == before  # the same snapshot, the same keys


# --- BibTeX escaping, by property ----------------------------------------------------------------------------

_UNESCAPES = [
    (r"\textbackslash{}", "\\"),
    (r"\^{}", "^"),
    (r"\~{}", "~"),
    *((f"\\{char}", char) for char in "{}$&%#_"),
]


def bibtex_unescape(value: str) -> str:
    """What LaTeX prints for an escaped value (the inverse of bibtex_escape on its own output)."""
    out, i = [], 0
    while i < len(value):
        for escaped, char in _UNESCAPES:
            if value.startswith(escaped, i):
                out.append(char)
                i += len(escaped)
                break
        else:
            assert value[i] not in "\\{}$&%#_^~", f"unescaped {value[i]!r} in {value!r}"
            out.append(value[i])
            i += 1
    return "".join(out)


def balanced(value: str) -> bool:
    """Braces, ignoring escaped ones, never close more than they opened and all close by the end."""
    depth, i = 0, 0
    while i < len(value):
        if value[i] == "\\":
            i += 2
            continue
        depth += {"{": 1, "}": -1}.get(value[i], 0)
        if depth < 0:
            return False
        i += 1
    return depth == 0


@given(st.text())
def test_bibtex_escape_shows_any_text_literally(text: str) -> None:
    escaped = bibtex_escape(text)
    assert balanced(escaped)
    assert "\n" not in escaped and "\r" not in escaped
    assert bibtex_unescape(escaped) == " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", text).split())


def exported_note(n: int, paper: ExportedPaper, author: int = ANN) -> ExportedNote:
    """A one-line note by ``author`` on ``paper``, for export tests that only care about the paper."""
    return ExportedNote(
        id=n,
        author_id=author,
        author_name="ann",
        body="b",
        tags=(),
        revision=1,
        created_at=NOW,
        updated_at=NOW,
        channel_id=None,
        message_id=None,
        thread_id=None,
        paper=paper,
        revisions=(),
    )


PAPER = ExportedPaper(
    key="arxiv:2403.17887",
    version=None,
    title="t",
    authors=("A B",),
    abstract=None,
    categories=("cs.LG",),
    published=datetime(2024, 1, 1, tzinfo=UTC),
    updated=None,
    doi=None,
    journal_ref=None,
    comment=None,
    metadata_status=MetadataStatus.OK,
)
names = st.text(min_size=0, max_size=40)


@given(
    st.lists(
        st.tuples(names, st.lists(names, max_size=4), st.integers(1, 5), st.sampled_from(["", "doi", "url"])),
        min_size=1,
        max_size=12,
    )
)
def test_bibtex_entries_always_parse_with_unique_keys(
    specs: list[tuple[str, list[str], int, str]],
) -> None:
    papers = []
    for n, (title, authors, year_offset, extra) in enumerate(specs):
        key = {"": f"arxiv:2403.{10000 + n}", "doi": f"doi:10.1/{title}{n}", "url": f"url:https://x.org/{n}"}[extra]
        papers.append(
            replace(
                PAPER,
                key=key,
                title=title or None,
                authors=tuple(authors),
                published=datetime(2020 + year_offset, 1, 1, tzinfo=UTC),
                doi=title or None,
                journal_ref=title or None,
            )
        )
    notes = tuple(exported_note(n, paper) for n, paper in enumerate(papers))
    keys = bibtex_keys(papers)
    assert len({key.lower() for key in keys.values()}) == len(papers)
    assert all(re.fullmatch(r"[A-Za-z0-9.\-]+", key) for key in keys.values()), keys
    entries = bibtex_entries(to_bibtex(GroupExport(guild_id=GUILD, exported_at=NOW, notes=notes, tags=())))
    assert list(entries) == [keys[paper.key] for paper in papers]
    for fields in entries.values():
        assert all(balanced(value) for value in fields.values()), fields


def test_a_title_only_paper_cites_by_its_title_words_without_the_groups_id_or_a_search_link() -> None:
    paper = replace(
        PAPER,
        key="title:500000000000000001/emergent abilities of large language models",
        title="Emergent Abilities of Large Language Models",
        authors=(),
        published=None,
        doi=None,
        journal_ref=None,
    )
    assert bibtex_keys([paper]) == {paper.key: "title-emergent-abilities-of-large-language-models"}
    entry = to_bibtex(GroupExport(guild_id=1, exported_at=NOW, notes=(exported_note(1, paper),), tags=()))
    assert "@misc{title-emergent-abilities-of-large-language-models," in entry
    assert "500000000000000001" not in entry and "url" not in entry and "arxiv.org/search" not in entry
