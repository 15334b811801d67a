"""The rule for each listed paper: post new and cross-listed ones once per channel, never replacements."""

from __future__ import annotations

import pytest

from schedules.delivery import decide
from storage.models import DeliveryState


def keep(keywords: str | None, exclude: str | None) -> tuple[bool, str]:
    return True, "no filter"


def drop(keywords: str | None, exclude: str | None) -> tuple[bool, str]:
    return False, "excluded by “survey”"


def run(**overrides: object):  # type: ignore[no-untyped-def]
    args = dict(
        paper_id=1,
        announce_type="new",
        mode="post",
        keywords=None,
        exclude=None,
        already_handled=False,
        known_to_group=False,
        match=keep,
    )
    args.update(overrides)
    return decide(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize("announce", ["new", "cross", None])
def test_new_and_cross_listed_papers_are_posted(announce: str | None) -> None:
    assert run(announce_type=announce).state == DeliveryState.PENDING


@pytest.mark.parametrize("announce", ["replace", "replace-cross"])
def test_replacements_are_never_posted(announce: str) -> None:
    assert run(announce_type=announce).state == DeliveryState.SKIPPED
    assert "knows" in run(announce_type=announce, known_to_group=True).reason


def test_a_paper_handled_before_is_not_decided_again() -> None:
    assert run(already_handled=True) is None


def test_filters_and_digest_mode() -> None:
    dropped = run(match=drop)
    assert (dropped.state, dropped.reason) == (DeliveryState.SKIPPED, "excluded by “survey”")
    held = run(mode="digest")
    assert held.state == DeliveryState.SKIPPED and held.reason.startswith("kept for the digest")
