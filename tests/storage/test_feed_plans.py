"""The rule for each listed paper: post new and cross-listed ones once per channel, never replacements."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.feeds.filters import matches
from storage.feeds.plans import Candidate, decide, plan_fan_out
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


@dataclasses.dataclass(frozen=True)
class Sub:
    id: int
    channel_id: int
    mode: str = "post"
    keywords: str | None = None
    exclude: str | None = None
    seen_entry_id: int = 0
    guild_id: int = 1
    source: str = "cs.LG"


@dataclasses.dataclass(frozen=True)
class Text:
    title: str
    abstract: str = ""


def listed(*titles: str, announce: str = "new", first_entry: int = 1) -> list[Candidate]:
    return [
        Candidate(entry_id=first_entry + i, paper_id=100 + first_entry + i, announce_type=announce, text=Text(t))
        for i, t in enumerate(titles)
    ]


def test_fan_out_caps_posts_and_counts_the_rest_for_the_digest() -> None:
    cands = listed(*(f"paper {i}" for i in range(8)))
    (plan,) = plan_fan_out([Sub(1, 10)], cands, handled=set(), max_posts=3, match=matches)
    assert plan.post == [c.paper_id for c in cands[:3]] and plan.held_back == 5
    assert (plan.seen_entry_id, plan.decided) == (8, 8)


def test_fan_out_posts_once_per_channel_and_only_what_a_subscription_has_not_seen() -> None:
    cands = listed("merging models", "a survey of merging", "diffusion")
    subs = [
        Sub(1, 10, keywords="merging", exclude="survey"),
        Sub(2, 10),  # same channel, no filter: only what the first did not take
        Sub(3, 11, seen_entry_id=2),  # joined after the first two were listed
        Sub(4, 12, mode="digest"),
    ]
    handled = {(11, cands[2].paper_id)}  # already posted in channel 11 by another feed
    plans = plan_fan_out(subs, cands, handled=handled, max_posts=50, match=matches)
    assert [p.post for p in plans] == [[cands[0].paper_id], [cands[1].paper_id, cands[2].paper_id], [], []]
    assert [p.decided for p in plans] == [3, 3, 1, 3]
    assert {(10, c.paper_id) for c in cands} <= handled


def test_fan_out_never_posts_replacements() -> None:
    cands = listed("old news", announce="replace") + listed("cross news", announce="cross", first_entry=2)
    (plan,) = plan_fan_out([Sub(1, 10)], cands, handled=set(), max_posts=50, match=matches)
    assert plan.post == [cands[1].paper_id]


@given(
    st.lists(st.sampled_from(["new", "cross", "replace", "replace-cross", None]), max_size=30),
    st.integers(1, 10),
    st.integers(0, 30),
)
def test_fan_out_never_posts_a_paper_twice_in_a_channel_or_beyond_the_cap(
    announces: list[str | None], cap: int, seen: int
) -> None:
    cands = [Candidate(i + 1, 100 + i % 7, a, Text(f"t{i}")) for i, a in enumerate(announces)]
    subs = [Sub(1, 10, seen_entry_id=seen), Sub(2, 10), Sub(3, 11)]
    plans = plan_fan_out(subs, cands, handled=set(), max_posts=cap, match=matches)
    in_ten = plans[0].post + plans[1].post
    assert len(in_ten) == len(set(in_ten)) and all(len(p.post) <= cap for p in plans)
    unseen = {c.paper_id for c in cands if c.entry_id > seen}
    assert set(plans[0].post) <= unseen  # nothing listed before a subscription's cursor is posted by it
