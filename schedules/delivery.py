"""What a subscription does with each paper its feed lists: post it, keep it for the digest, or skip it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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
        return Decision(paper_id, DeliveryState.SKIPPED, f"kept for the digest: {reason}")
    return Decision(paper_id, DeliveryState.PENDING, reason)
