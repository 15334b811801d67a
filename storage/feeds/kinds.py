"""What a feed URL serves: an arXiv listing, an arXiv API query, or any other feed. Nothing else is loaded here,
so a feed's listing can be read in a process that holds no database code."""

from __future__ import annotations

__all__ = ["FeedKind"]


class FeedKind:
    """What a feed URL serves."""

    ARXIV_LISTING = "arxiv-listing"  # rss.arxiv.org category listing
    ARXIV_QUERY = "arxiv-query"  # the arXiv API with a search query
    WEB = "web"  # any other RSS or Atom feed
