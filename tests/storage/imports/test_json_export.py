"""paperclub's own JSON export read back: lossless round trip, the dry-run plan, and refusals that say why."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from storage.errors import ValidationError
from storage.exports import ExportedNote, ExportedPaper, ExportedRevision, GroupExport, to_json
from storage.imports import json_export
from storage.imports.json_export import from_json
from storage.imports.plan import NoteStatus, Shape

BIG = 2**63 - 1  # the largest id a signed 64-bit column holds; a JSON double would round it
GUILD = 2**63 - 2
ANN, BOB = 2**63 - 3, 700_000_000_000_000_002
NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)

ATTENTION = ExportedPaper(
    key="arxiv:1706.03762",
    version=7,
    title="Attention Is All You Need",
    authors=("Ashish Vaswani", "Noam Shazeer"),
    abstract="The dominant sequence transduction models are based on complex recurrent networks.",
    categories=("cs.CL", "cs.LG"),
    published=datetime(2017, 6, 12, 17, 57, 34, tzinfo=UTC),
    updated=datetime(2023, 8, 2, 0, 0, 0, 123456, tzinfo=UTC),
    doi=None,
    journal_ref=None,
    comment="15 pages, 5 figures",
    metadata_status="ok",
)
LATEX = ExportedPaper(
    key="arxiv:2410.05512",
    version=None,
    title=r"$\mu$P-Transfer: 100% of {LoRA} & the_rest \\ \alpha",
    authors=("Jürgen Müller", "Zoë O'Brien"),
    abstract=r"We show that $\mathcal{O}(\sqrt{n})$ suffices.",
    categories=("cs.LG",),
    published=datetime(2024, 10, 7, tzinfo=UTC),
    updated=None,
    doi="10.1234/merge_{1}%",
    journal_ref="Proc. Merging & Friends 2024",
    comment=None,
    metadata_status="ok",
)
BARE_DOI = ExportedPaper(
    key="doi:10.1038/nature14539",
    version=None,
    title=None,
    authors=(),
    abstract=None,
    categories=(),
    published=None,
    updated=None,
    doi=None,
    journal_ref=None,
    comment=None,
    metadata_status="missing",
)


def _note(n: int, paper: ExportedPaper, author: int, body: str, **changes: Any) -> ExportedNote:
    fields: dict[str, Any] = {
        "id": n,
        "author_id": author,
        "author_name": "ann",
        "body": body,
        "tags": (),
        "revision": 1,
        "created_at": NOW,
        "updated_at": NOW,
        "channel_id": None,
        "message_id": None,
        "thread_id": None,
        "paper": paper,
        "revisions": (),
    }
    fields.update(changes)
    return ExportedNote(**fields)


SNAPSHOT = GroupExport(
    guild_id=GUILD,
    exported_at=NOW,
    tags=("llms", "nlp/attention", "ünïcode-tag", "unused"),
    notes=(
        _note(
            BIG,
            ATTENTION,
            ANN,
            "## Summary\nSelf-attention replaces recurrence.\n\n## Questions\n- Why does it scale?",
            tags=("llms", "nlp/attention"),
            revision=3,
            created_at=datetime(2024, 11, 22, 23, 59, 59, tzinfo=UTC),
            updated_at=datetime(2025, 1, 5, 8, 30, 0, 999999, tzinfo=UTC),
            channel_id=BIG,
            message_id=9,
            thread_id=None,
            revisions=(
                ExportedRevision(1, "first draft", ("llms",), ANN, NOW, NOW),
                ExportedRevision(2, "second draft ✓", (), BIG, NOW, datetime(2025, 1, 5, 8, 30, tzinfo=UTC)),
            ),
        ),
        _note(
            2,
            LATEX,
            BOB,
            'Ünïcödé ✓ 日本語 and $\\frac{a}{b}$ with a {brace}, a "quote" and a \\backslash\n\ttab',
            author_name="bob *the* [builder]",
            tags=("ünïcode-tag",),
            channel_id=600_000_000_000_000_001,
            message_id=BIG,
            thread_id=BIG - 1,
        ),
        _note(3, BARE_DOI, ANN, "WIP", author_name=""),
        _note(4, ATTENTION, BOB, "Agree.", created_at=datetime(2025, 2, 1, 0, 0, 1, tzinfo=UTC)),
    ),
)


def test_json_export_round_trips_exactly() -> None:
    text = to_json(SNAPSHOT)
    back = from_json(text)
    assert back == SNAPSHOT  # every field, ids near 2**63, LaTeX, unicode, revisions, null message
    assert to_json(back) == text
    assert back.notes[0].id == BIG and back.notes[1].message_id == BIG and back.guild_id == GUILD
    assert back.notes[1].channel_id == 600_000_000_000_000_001 and back.notes[2].channel_id is None


def test_an_empty_export_round_trips() -> None:
    empty = GroupExport(guild_id=1, exported_at=NOW, notes=(), tags=())
    assert from_json(to_json(empty)) == empty


def test_score_is_one_for_an_export_and_zero_for_anything_else() -> None:
    text = to_json(SNAPSHOT)
    assert json_export.score(text) == 1.0
    assert json_export.score("\ufeff" + text) == 1.0
    assert json_export.score('{"version": 1, "format":"paperclub-notes", "notes": []}') == 1.0
    assert json_export.score('{"format": "zotero-notes", "version": 1}') == 0.0
    assert json_export.score('[{"format": "paperclub-notes"}]') == 0.0
    assert json_export.score('Notes\n{"format": "paperclub-notes"}') == 0.0
    assert json_export.score("**Mike's Daily Paper, 22.11.2024:**\nAttention Is All You Need") == 0.0
    assert json_export.score("") == 0.0
    # A note body quoting the format is escaped inside its string, so it never looks like the key.
    quoting = json.dumps({"notes": [{"body": '"format": "paperclub-notes"'}]})
    assert json_export.score(quoting) == 0.0


def test_score_reads_only_the_head_of_a_large_file() -> None:
    text = to_json(SNAPSHOT)[:-2] + " " * 5_000_000  # truncated, not JSON at all past the head
    assert json_export.score(text) == 1.0  # it never parsed the whole text: that would have failed
    with pytest.raises(ValidationError, match="not valid JSON"):
        json_export.parse(text)


def test_plan_mirrors_the_exported_notes() -> None:
    text = to_json(SNAPSHOT)
    plan = json_export.parse(text)
    assert plan.shape == Shape.EXPORT == "json"
    assert plan.lines == text.count("\n")
    assert [note.paper.key for note in plan.notes] == [
        "arxiv:1706.03762",
        "arxiv:2410.05512",
        "doi:10.1038/nature14539",
        "arxiv:1706.03762",
    ]
    assert [note.written_on for note in plan.notes] == [date(2024, 11, 22), NOW.date(), NOW.date(), date(2025, 2, 1)]
    first, latex, bare, second = plan.notes
    assert first.body.startswith("## Summary\n") and first.tags == ["llms", "nlp/attention"]
    assert first.paper.title == "Attention Is All You Need" and first.paper.version == 7
    assert first.paper.surnames == ("vaswani", "shazeer") and first.paper.year == 2017
    assert first.paper.abstract == ATTENTION.abstract
    assert latex.paper.title == LATEX.title and latex.tags == ["ünïcode-tag"]
    assert bare.paper.title is None and bare.status == NoteStatus.WIP and bare.paper.year is None
    assert [note.status for note in (first, latex, second)] == [NoteStatus.DONE] * 3
    assert plan.tags == ["llms", "nlp/attention", "ünïcode-tag"]
    assert len(plan.all_papers) == 3 and plan.papers == [] and plan.leftovers == [] and plan.duplicates_merged == 0
    assert plan.date_range == (date(2024, 11, 22), date(2025, 3, 3))


def test_read_export_keeps_what_the_plan_has_no_room_for() -> None:
    export = json_export.read_export(to_json(SNAPSHOT))
    assert export == SNAPSHOT
    assert [rev.body for rev in export.notes[0].revisions] == ["first draft", "second draft ✓"]
    assert export.tags[-1] == "unused"  # a group tag without notes still comes back


def _document(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(to_json(SNAPSHOT))
    document.update(changes)
    return document


def _broken_note(index: int, change: Any) -> str:
    document = _document()
    change(document["notes"][index])
    return json.dumps(document)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", r"^This is not valid JSON \(line 1, column 2"),
        ("[1, 2]", r"^This is JSON, but not a paperclub export: it needs `\"format\": \"paperclub-notes\"`"),
        ('{"format": "zotero", "items": []}', r"not a paperclub export \(its `format` is `zotero`\)"),
        (json.dumps(_document(version=2)), r"format version 2; this paperclub reads version 1\. Update paperclub"),
        (json.dumps(_document(version="1")), r"no valid format `version` \(found `1`\)"),
        (json.dumps(_document(guild_id=None)), r"^The export has no `guild_id`\.$"),
        (json.dumps(_document(guild_id=str(2**63))), r"^The export has a `guild_id` that is not a Discord id"),
        (json.dumps(_document(notes={})), r"^The export has a `notes` that is not a list\.$"),
        (_broken_note(1, lambda note: note.pop("body")), r"^Note 2 of the export has no `body`\.$"),
        (_broken_note(1, lambda note: note.update(body="  ")), r"^Note 2 of the export has an empty or non-text"),
        (_broken_note(2, lambda note: note["paper"].pop("key")), r"^Note 3 of the export has no paper `key`\.$"),
        (_broken_note(2, lambda note: note["paper"].update(key="isbn:123")), r"^Note 3 .* not `arxiv:…`"),
        (
            _broken_note(0, lambda note: note.pop("paper")),
            r"^Note 1 of the export has a `paper` that is not an object\.$",
        ),
        (_broken_note(3, lambda note: note["author"].pop("id")), r"^Note 4 of the export has no author id\.$"),
        (_broken_note(3, lambda note: note.pop("author")), r"^Note 4 of the export has no author id\.$"),
        (_broken_note(3, lambda note: note["author"].update(id="ann")), r"author id that is not a Discord id: `ann`"),
        (_broken_note(0, lambda note: note.update(created_at="22.11.2024")), r"`created_at` that is not an ISO 8601"),
        (_broken_note(0, lambda note: note.update(tags=["a", 1])), r"^Note 1 .* `tags` list with something other"),
        (
            _broken_note(0, lambda note: note["revisions"][1].pop("body")),
            r"^Note 1 of the export has an earlier version \(revision 2\) that has no `body`\.$",
        ),
        (_broken_note(3, lambda note: note["author"].update(id=str(ANN))), r"^Notes 1 and 4 .* one note per paper\.$"),
    ],
)
def test_a_file_that_is_not_a_usable_export_is_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        json_export.parse(text)


def test_a_hand_made_export_with_only_the_essentials_is_read() -> None:
    text = json.dumps(
        {
            "format": "paperclub-notes",
            "version": 1,
            "exported_at": "2025-03-03T09:00:00+00:00",
            "guild_id": 42,
            "notes": [
                {
                    "author": {"id": 7},
                    "body": "Short.",
                    "created_at": "2024-05-01T10:00:00+00:00",
                    "paper": {"key": "arxiv:2401.10034"},
                }
            ],
        }
    )
    [note] = json_export.read_export(text).notes
    assert (note.author_id, note.id, note.revision, note.author_name, note.tags) == (7, 0, 1, "", ())
    assert note.updated_at == note.created_at and note.revisions == () and note.paper.title is None
    [planned] = json_export.parse(text).notes
    assert planned.paper.key == "arxiv:2401.10034" and planned.written_on == date(2024, 5, 1)


@pytest.mark.parametrize("key", ["arxiv:evil", "arxiv:2413.00001", "doi:not-a-doi", "url:ftp://example.org/x"])
def test_a_paper_key_that_names_no_paper_is_refused(key: str) -> None:
    document = json.loads(to_json(SNAPSHOT))
    document["notes"][0]["paper"]["key"] = key
    with pytest.raises(ValidationError, match="Note 1 of the export has a paper key"):
        json_export.parse(json.dumps(document))
