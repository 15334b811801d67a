"""Paper metadata as the outside world reports it, before it is stored."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class PaperMetadata:
    """What arXiv (or another source) says about one paper."""

    key: str
    title: str
    version: int | None = None
    authors: tuple[str, ...] = ()
    abstract: str = ""
    categories: tuple[str, ...] = ()  # primary category first
    published: datetime | None = None
    updated: datetime | None = None
    doi: str | None = None
    journal_ref: str | None = None
    comment: str | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False)


class MetadataSource(Protocol):
    """Where storage gets paper metadata from; the arXiv client in ``schedules`` is one."""

    async def fetch(self, keys: list[str]) -> dict[str, PaperMetadata | None]:
        """Metadata for each key; None where the source knows no such paper."""
        ...

    async def search_title(self, text: str, *, limit: int = 5) -> list[PaperMetadata]:
        """Papers whose titles best match ``text``."""
        ...
