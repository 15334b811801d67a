"""The tables behind the models, for queries written in SQLAlchemy Core (bulk inserts, joins over many rows).

One name per table, so every module that works below the ORM says the same thing.
"""

from __future__ import annotations

from sqlalchemy import Table

from storage.models import (
    Delivery,
    DigestPick,
    Feed,
    FeedEntry,
    GuildPaper,
    ImportRun,
    Lease,
    Note,
    NoteTag,
    Paper,
    PaperThread,
    QueueEntry,
    QueueVote,
    ReadingSession,
    Subscription,
    Tag,
    TitleLookup,
    VersionNotice,
)

DELIVERIES: Table = Delivery.__table__  # type: ignore[attr-defined]
DIGEST_PICKS: Table = DigestPick.__table__  # type: ignore[attr-defined]
FEEDS: Table = Feed.__table__  # type: ignore[attr-defined]
FEED_ENTRIES: Table = FeedEntry.__table__  # type: ignore[attr-defined]
GUILD_PAPERS: Table = GuildPaper.__table__  # type: ignore[attr-defined]
IMPORT_RUNS: Table = ImportRun.__table__  # type: ignore[attr-defined]
LEASES: Table = Lease.__table__  # type: ignore[attr-defined]
NOTES: Table = Note.__table__  # type: ignore[attr-defined]
NOTE_TAGS: Table = NoteTag.__table__  # type: ignore[attr-defined]
PAPERS: Table = Paper.__table__  # type: ignore[attr-defined]
QUEUE_ENTRIES: Table = QueueEntry.__table__  # type: ignore[attr-defined]
QUEUE_VOTES: Table = QueueVote.__table__  # type: ignore[attr-defined]
READING_SESSIONS: Table = ReadingSession.__table__  # type: ignore[attr-defined]
PAPER_THREADS: Table = PaperThread.__table__  # type: ignore[attr-defined]
SUBSCRIPTIONS: Table = Subscription.__table__  # type: ignore[attr-defined]
TAGS: Table = Tag.__table__  # type: ignore[attr-defined]
TITLE_LOOKUPS: Table = TitleLookup.__table__  # type: ignore[attr-defined]
VERSION_NOTICES: Table = VersionNotice.__table__  # type: ignore[attr-defined]
