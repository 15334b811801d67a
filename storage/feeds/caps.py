"""How much of a listed paper's title and abstract is kept. Nothing else is loaded here, so a feed's listing can
be read, and cut, in a process that holds no database code."""

from __future__ import annotations

__all__ = ["MAX_ABSTRACT_CHARS", "MAX_TITLE_CHARS", "capped"]

# A listed title or abstract beyond these is stored cut, with an ellipsis: arXiv's longest are a few hundred and
# 1,920 characters, and what a stranger's feed sends must not grow every row (and what reads it) without end.
MAX_TITLE_CHARS = 1_000
MAX_ABSTRACT_CHARS = 5_000


def capped(text: str, limit: int) -> str:
    """The text, or its first ``limit`` characters with an ellipsis as the last when it is longer."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
