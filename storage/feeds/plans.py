"""What a subscription does with each paper its feed lists: post it, keep it for the digest, or skip it."""

from __future__ import annotations

import bisect
import functools
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from storage.feeds.filters import Listed
from storage.models import DeliveryState

POSTED_TYPES = frozenset({"new", "cross", None})  # feeds without announce types list only new papers
REPLACEMENT_TYPES = frozenset({"replace", "replace-cross"})

Matcher = Callable[[str | None, str | None], tuple[bool, str]]  # (keywords, exclude) -> (kept, reason)


@dataclass(frozen=True, slots=True)
class Decision:
    """One paper's fate for one subscription, with the reason /feed test shows."""

    paper_id: int
    state: str
    reason: str | None
    kept: bool = False  # the filters keep it: posted, or in digest mode waiting for the digest
    matched: str | None = None  # for a kept paper, what in the filters kept it (“matches “merging””)


def decide(
    *,
    paper_id: int,
    announce_type: str | None,
    mode: str,
    keywords: str | None,
    exclude: str | None,
    already_handled: bool,
    known_to_group: bool,
    match: Matcher,
) -> Decision | None:
    """The decision for one listed paper, or None when it was decided before (nothing to record).

    - a paper this subscription (or another in the same channel) already handled is left alone: versions,
      categories and feeds all name the same paper, so it posts once per channel;
    - replacements are never posted (the group sees new papers); a known paper's new version is recorded
      by storing the listing itself;
    - the subscription's keywords and exclusions decide the rest; in digest mode kept papers wait for the digest.
    """
    if already_handled:
        return None
    if announce_type in REPLACEMENT_TYPES:
        why = "a new version of a paper the group knows" if known_to_group else "a replaced paper, not a new one"
        return Decision(paper_id, DeliveryState.SKIPPED, why)
    if announce_type not in POSTED_TYPES:
        return Decision(paper_id, DeliveryState.SKIPPED, f"announced as {announce_type}")
    kept, reason = match(keywords, exclude)
    if not kept:
        return Decision(paper_id, DeliveryState.SKIPPED, reason)
    if mode == "digest":
        return Decision(paper_id, DeliveryState.SKIPPED, f"kept for the digest: {reason}", kept=True, matched=reason)
    return Decision(paper_id, DeliveryState.PENDING, reason, kept=True, matched=reason)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A paper a feed listed that some subscription has not decided about yet."""

    entry_id: int  # the feed entry, in listing order
    paper_id: int
    announce_type: str | None
    text: Listed


class Follower(Protocol):
    """What planning needs of a subscription."""

    @property
    def id(self) -> int: ...

    @property
    def guild_id(self) -> int: ...

    @property
    def channel_id(self) -> int: ...

    @property
    def mode(self) -> str: ...

    @property
    def keywords(self) -> str | None: ...

    @property
    def exclude(self) -> str | None: ...

    @property
    def seen_entry_id(self) -> int: ...

    @property
    def source(self) -> str: ...


@dataclass(slots=True)
class Plan:
    """What one poll does for one subscription."""

    subscription_id: int
    guild_id: int
    channel_id: int
    post: list[int] = field(default_factory=list)  # paper ids to post, in listing order, at most the cap
    held_back: int = 0  # papers the filters keep beyond the per-poll cap: they wait for the digest
    seen_entry_id: int = 0  # the newest entry decided
    decided: int = 0  # entries decided in this poll
    # Papers this subscription's keywords keep (posted, over the cap, or in digest mode), with the reason:
    # the group's interests, for the weekly digest. A subscription without keywords names no interest.
    picks: list[tuple[int, str]] = field(default_factory=list)


def plan_fan_out(
    followers: Sequence[Follower],
    candidates: Sequence[Candidate],
    *,
    handled: set[tuple[int, int]],
    max_posts: int,
    match: Callable[[Listed, str | None, str | None], tuple[bool, str]],
) -> list[Plan]:
    """Decide every candidate for every subscription that has not seen it: a pure function, run off the loop.

    ``handled`` holds (channel id, paper id) already posted or being posted, and grows as papers are planned,
    so a paper listed by two feeds posts once per channel. The filters are evaluated once per paper for each
    distinct (mode, keywords, exclude), however many subscriptions share them; whether the group knows a paper
    changes only the reason a replacement is skipped, so it plays no part here.
    """
    wanted: dict[tuple[str, str | None, str | None], list[tuple[Candidate, Decision]]] = {}
    order = [cand.entry_id for cand in candidates]  # ascending: entries are numbered in listing order
    posted: dict[int, set[int]] = defaultdict(set)  # channel id -> paper ids posted or being posted there
    for channel_id, paper_id in handled:
        posted[channel_id].add(paper_id)
    plans = []
    for sub in followers:
        rule = (sub.mode, sub.keywords, sub.exclude)
        if rule not in wanted:
            wanted[rule] = _wanted(rule, candidates, match)
        unseen = len(order) - bisect.bisect_right(order, sub.seen_entry_id)
        plan = Plan(
            sub.id,
            sub.guild_id,
            sub.channel_id,
            seen_entry_id=max(sub.seen_entry_id, order[-1] if order else 0),
            decided=unseen,
        )
        kept = _after(wanted[rule], sub.seen_entry_id)
        if sub.keywords:
            plan.picks = [(cand.paper_id, f"{decision.matched} ({sub.source} feed)") for cand, decision in kept]
        in_channel = posted[sub.channel_id]
        todo = [cand for cand, decision in kept if decision.state == DeliveryState.PENDING]
        stop = len(todo)
        for index, cand in enumerate(todo):
            if len(plan.post) == max_posts:
                stop = index
                break
            if cand.paper_id not in in_channel:
                plan.post.append(cand.paper_id)
                in_channel.add(cand.paper_id)
                handled.add((sub.channel_id, cand.paper_id))
        plan.held_back = len({cand.paper_id for cand in todo[stop:]} - in_channel)  # beyond the cap
        plans.append(plan)
    return plans


def _after(kept: list[tuple[Candidate, Decision]], entry_id: int) -> list[tuple[Candidate, Decision]]:
    """The decisions about candidates listed after ``entry_id`` (they are in entry order)."""
    start = bisect.bisect_right(kept, entry_id, key=lambda pair: pair[0].entry_id)
    return kept[start:]


def _wanted(
    rule: tuple[str, str | None, str | None],
    candidates: Sequence[Candidate],
    match: Callable[[Listed, str | None, str | None], tuple[bool, str]],
) -> list[tuple[Candidate, Decision]]:
    """The candidates a (mode, keywords, exclude) rule keeps, in order, before looking at what was posted."""
    mode, keywords, exclude = rule
    kept = []
    for cand in candidates:
        decision = decide(
            paper_id=cand.paper_id,
            announce_type=cand.announce_type,
            mode=mode,
            keywords=keywords,
            exclude=exclude,
            already_handled=False,
            known_to_group=False,
            match=functools.partial(match, cand.text),
        )
        if decision is not None and decision.kept:
            kept.append((cand, decision))
    return kept
