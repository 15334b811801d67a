"""Recognising a document's shape: each sample is read as what it is, and `shape` overrides the guess."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from storage.errors import ValidationError
from storage.exports import GroupExport, to_json
from storage.imports import detect_shape, parse_document
from storage.imports.plan import Shape

DATA = Path(__file__).resolve().parents[2] / "data" / "imports"
SAMPLES = {
    "running_log.md": Shape.RUNNING_LOG,
    "daily_posts.md": Shape.DAILY_POSTS,
    "outline.md": Shape.OUTLINE,
    "paper_list.md": Shape.PAPER_LIST,
}


@pytest.mark.parametrize(("name", "shape"), SAMPLES.items())
def test_each_sample_is_recognised_as_its_shape(name: str, shape: str) -> None:
    text = (DATA / name).read_text(encoding="utf-8")
    assert detect_shape(text) == shape
    assert parse_document(text).shape == shape


def test_a_paperclub_export_is_recognised() -> None:
    empty = GroupExport(guild_id=1, exported_at=datetime(2025, 3, 3, tzinfo=UTC), notes=(), tags=())
    assert detect_shape(to_json(empty)) == Shape.EXPORT


def test_the_shape_asked_for_wins_over_the_guess() -> None:
    text = (DATA / "running_log.md").read_text(encoding="utf-8")
    assert parse_document(text, shape=Shape.OUTLINE).shape == Shape.OUTLINE


@pytest.mark.parametrize("text", ["", "just one line that is no document at all\n", "12345\n" * 40])
def test_text_of_no_shape_is_refused_with_the_shapes_to_pick_from(text: str) -> None:
    with pytest.raises(ValidationError, match="Pick its `shape`"):
        parse_document(text)


def test_an_unknown_shape_is_refused() -> None:
    with pytest.raises(ValidationError, match="not a shape I know"):
        parse_document("anything", shape="spreadsheet")
