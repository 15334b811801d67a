"""What members write: bodies, files, sections and tags."""

from __future__ import annotations

import pytest

from storage.errors import ValidationError
from storage.note_text import (
    compose_body,
    decode_note_file,
    first_line,
    modal_sections,
    parse_tags,
    questions,
    split_sections,
)

NOTE = """Short intro.

## Summary
We fine-tune with $\\mathcal{L} = -\\log p(x)$ and \\(\\alpha\\).

**Method**
- LoRA, rank 8 — see https://example.org/x

Results:
+3.2 BLEU

### Questions
- Does it scale?
2. What about $x^2$?
"""


def test_sections_are_found_under_any_common_heading_style() -> None:
    preamble, sections = split_sections(NOTE)
    assert preamble == "Short intro."
    assert [name for name, _ in sections] == ["Summary", "Method", "Results", "Questions"]
    assert "\\mathcal{L}" in sections[0][1]
    assert questions(NOTE) == ["Does it scale?", "What about $x^2$?"]
    assert first_line(NOTE) == "Short intro."


def test_heading_inside_code_block_is_not_a_section() -> None:
    _, sections = split_sections("## Summary\n```\n## Results\n```\nend")
    assert [name for name, _ in sections] == ["Summary"]


def test_form_round_trip_keeps_text() -> None:
    fields = modal_sections(NOTE)
    assert fields is not None and fields["Summary"].startswith("Short intro.")
    again = modal_sections(compose_body(fields))
    assert again == fields


def test_note_too_long_for_the_form_is_reported() -> None:
    assert modal_sections("## Method\n" + "x" * 4001) is None


def test_empty_form_is_refused() -> None:
    with pytest.raises(ValidationError):
        compose_body({"Summary": "  ", "Method": ""})


@pytest.mark.parametrize(
    ("name", "data", "needle"),
    [
        ("n.md", b"", "empty"),
        ("n.md", b"x" * 1_000_001, "1 MB"),
        ("n.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary"),
        ("n.txt", "café".encode("latin-1"), "UTF-8"),
        ("n.pdf", b"%PDF-1.4", ".md"),
        ("n.md", b"x" * 100_001, "100,000"),
        ("n.md", b"   \n\n ", "empty"),
    ],
)
def test_bad_note_files_are_refused_with_a_reason(name: str, data: bytes, needle: str) -> None:
    with pytest.raises(ValidationError) as caught:
        decode_note_file(name, data)
    assert needle in caught.value.message


def test_good_note_file_keeps_unicode_and_latex() -> None:
    body = decode_note_file("notes.MD", "\ufeff# Résumé\r\n$\\int_0^1 f$ — ok\r\n".encode())
    assert body == "# Résumé\n$\\int_0^1 f$ — ok"


def test_tags_are_normalised() -> None:
    assert parse_tags("#LLMs/Prompting, rl  eval,rl") == ["llms/prompting", "rl", "eval"]
    assert parse_tags(None) == [] and parse_tags(" , ") == []


@pytest.mark.parametrize("bad", ["x" * 41, "a,b,c,d,e,f,g,h,i,j,k", "bad!tag", "a//b"])
def test_bad_tags_are_refused(bad: str) -> None:
    with pytest.raises(ValidationError):
        parse_tags(bad)
