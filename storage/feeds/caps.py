"""How much of a listed paper is kept: its title and abstract, and its lists (authors, categories) and references.
Nothing else is loaded here, so a feed's listing can be read, and cut, in a process that holds no database code."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from itertools import islice
from typing import Any, ClassVar, Protocol, TypeVar

__all__ = [
    "MAX_ABSTRACT_CHARS",
    "MAX_AUTHORS",
    "MAX_AUTHOR_CHARS",
    "MAX_CATEGORIES",
    "MAX_CATEGORY_CHARS",
    "MAX_COMMENT_CHARS",
    "MAX_DOI_CHARS",
    "MAX_JOURNAL_REF_CHARS",
    "MAX_LINK_CHARS",
    "MAX_TITLE_CHARS",
    "Listed",
    "capped",
    "capped_each",
    "capped_or_none",
    "within_caps",
]

# A listed title or abstract beyond these is stored cut, with an ellipsis: arXiv's longest are a few hundred and
# 1,920 characters, and what a stranger's feed sends must not grow every row (and what reads it) without end.
MAX_TITLE_CHARS = 1_000
MAX_ABSTRACT_CHARS = 5_000
# The same for a listed paper's lists: the first names and categories are kept, each cut like a title. arXiv's
# listings name a few dozen authors at most (collaborations sign as one), and a paper has a handful of categories.
MAX_AUTHORS = 500
MAX_AUTHOR_CHARS = 200
MAX_CATEGORIES = 20
MAX_CATEGORY_CHARS = 40  # the longest arXiv category, cond-mat.mes-hall, has 17
# A reference longer than these is cut (a journal reference, the authors' comment) or, where a cut one would lead
# nowhere (a DOI, a link), left out.
MAX_JOURNAL_REF_CHARS = 500
MAX_COMMENT_CHARS = 1_000
MAX_DOI_CHARS = 200
MAX_LINK_CHARS = 2_000


def capped(text: str, limit: int) -> str:
    """The text, or its first ``limit`` characters with an ellipsis as the last when it is longer."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def capped_each(values: Iterable[str], most: int, limit: int) -> tuple[str, ...]:
    """The first ``most`` values, each :func:`capped` to ``limit`` characters; the rest are never read."""
    return tuple(capped(value, limit) for value in islice(values, most))


def capped_or_none(text: str | None, limit: int) -> str | None:
    """The text when it is at most ``limit`` characters, else None: for what is no use cut (a DOI, a link)."""
    return text if text is None or len(text) <= limit else None


class Listed(Protocol):
    """A paper as a feed lists it (a feed item, or its metadata, both dataclasses): the parts that are capped."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def title(self) -> str: ...
    @property
    def abstract(self) -> str: ...
    @property
    def authors(self) -> tuple[str, ...]: ...
    @property
    def categories(self) -> tuple[str, ...]: ...
    @property
    def doi(self) -> str | None: ...
    @property
    def journal_ref(self) -> str | None: ...
    @property
    def comment(self) -> str | None: ...


L = TypeVar("L", bound=Listed)


def within_caps(paper: L) -> L:
    """The listed paper (a dataclass) with what passes the caps cut; the same object when nothing does."""
    kept = {
        "title": capped(paper.title, MAX_TITLE_CHARS),
        "abstract": capped(paper.abstract, MAX_ABSTRACT_CHARS),
        "authors": capped_each(paper.authors, MAX_AUTHORS, MAX_AUTHOR_CHARS),
        "categories": capped_each(paper.categories, MAX_CATEGORIES, MAX_CATEGORY_CHARS),
        "doi": capped_or_none(paper.doi, MAX_DOI_CHARS),
        "journal_ref": paper.journal_ref and capped(paper.journal_ref, MAX_JOURNAL_REF_CHARS),
        "comment": paper.comment and capped(paper.comment, MAX_COMMENT_CHARS),
    }
    changed = {name: value for name, value in kept.items() if value != getattr(paper, name)}
    return dataclasses.replace(paper, **changed) if changed else paper
