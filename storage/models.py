"""Every table the bot keeps. Group-owned rows carry ``guild_id``; papers are shared metadata."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, ForeignKey, Index, Text, UniqueConstraint, false
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from storage.identity import display_title


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """The moment, aware, in UTC; a naive one is taken to be UTC already (SQLite stores them naive)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Store in UTC; naive values are taken to be UTC already."""
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Read back as aware UTC."""
        return None if value is None else as_utc(value)


def _when(*, nullable: bool = False, index: bool = False, default: bool = True) -> Any:
    if default:
        return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=nullable, index=index)
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


def _snowflake(*, index: bool = False, nullable: bool = False) -> Any:
    return Field(default=None if nullable else ..., sa_type=BigInteger, nullable=nullable, index=index)


class Table(SQLModel):
    """A table's row class. Rows come from the database or from our own code, never from outside input, so nothing
    validates them: pydantic builds a table's validator and serializer the first time something asks for one
    instead of when the class is defined (0.4 MB less held by a bot at rest; bench/idle_memory.py)."""

    model_config = SQLModel.model_config | {"defer_build": True}


class MetadataStatus:
    """Where a paper's metadata stands."""

    OK = "ok"  # filled in from its source
    PENDING = "pending"  # the source was unreachable; a background job retries
    MISSING = "missing"  # the source has no such paper, or none exists (plain links)


class Paper(Table, table=True):
    """One work, known by its canonical key, with the metadata its source reports."""

    __tablename__ = "papers"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=300, unique=True, index=True)
    version: int | None = None
    title: str | None = Field(default=None, sa_type=Text)
    authors: list[str] = Field(default_factory=list, sa_type=JSON)
    abstract: str | None = Field(default=None, sa_type=Text)
    categories: list[str] = Field(default_factory=list, sa_type=JSON)
    published: datetime | None = _when(nullable=True, default=False)
    updated: datetime | None = _when(nullable=True, default=False)
    doi: str | None = Field(default=None, max_length=300)
    journal_ref: str | None = Field(default=None, sa_type=Text)
    comment: str | None = Field(default=None, sa_type=Text)
    metadata_status: str = Field(default=MetadataStatus.PENDING, max_length=16, index=True)
    metadata_attempts: int = 0
    metadata_checked_at: datetime | None = _when(nullable=True, default=False)
    created_at: datetime = _when()
    # In the full-text index: set once a group knows the paper.
    searchable: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    # When arXiv was last asked for this paper's newest version (the daily check of the papers groups noted).
    versions_checked_at: datetime | None = _when(nullable=True, default=False)

    @property
    def display_title(self) -> str:
        """The title, or the key while metadata is pending."""
        return display_title(self.key, self.title)


class Note(Table, table=True):
    """What one member wrote about one paper in one group."""

    __tablename__ = "notes"
    __table_args__ = (
        UniqueConstraint("guild_id", "paper_id", "author_id", name="uq_note_guild_paper_author"),
        Index("ix_notes_guild_created", "guild_id", "created_at"),
        Index("ix_notes_guild_author", "guild_id", "author_id"),
        # Search scores every match of a word and keeps the group's: this checks a note's group without its row.
        Index("ix_notes_guild_id", "guild_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    guild_id: int = _snowflake()
    paper_id: int = Field(sa_column=Column(ForeignKey("papers.id", ondelete="RESTRICT"), nullable=False, index=True))
    author_id: int = _snowflake()
    author_name: str = Field(max_length=100)
    body: str = Field(sa_type=Text)
    revision: int = 1
    channel_id: int | None = _snowflake(nullable=True)
    message_id: int | None = _snowflake(nullable=True)
    thread_id: int | None = _snowflake(nullable=True)
    # Every message the note was posted as, in order (``message_id`` is the first): an edit or delete replaces all.
    message_ids: list[int] = Field(default_factory=list, sa_type=JSON, sa_column_kwargs={"server_default": "[]"})
    # The one line a channel got about the note posted in its paper's thread (the thread's first message when the
    # note opened it): taken away, or reworded, when the note is deleted.
    line_channel_id: int | None = _snowflake(nullable=True)
    line_message_id: int | None = _snowflake(nullable=True)
    created_at: datetime = _when()
    updated_at: datetime = _when()
    # Where the note came from: posted on Discord, or brought in by /import (then dated by its document).
    origin: str = Field(default="discord", max_length=8, sa_column_kwargs={"server_default": "discord"})
    status: str = Field(default="done", max_length=8, sa_column_kwargs={"server_default": "done"})  # done, wip, partial
    undated: bool = Field(default=False, sa_column_kwargs={"server_default": false()})  # its document gave no date
    # The import that brought the note in (None for notes posted on Discord): an import a stopped process left
    # half-applied is rolled back by it.
    import_id: int | None = Field(default=None, index=True)


class NoteOrigin:
    """Where a note came from."""

    DISCORD = "discord"
    IMPORT = "import"


class NoteRevision(Table, table=True):
    """An earlier version of an edited note, kept whole."""

    __tablename__ = "note_revisions"
    __table_args__ = (UniqueConstraint("note_id", "revision", name="uq_revision_note_number"),)

    id: int | None = Field(default=None, primary_key=True)
    guild_id: int = _snowflake(index=True)
    note_id: int = Field(sa_column=Column(ForeignKey("notes.id", ondelete="CASCADE"), nullable=False, index=True))
    revision: int
    body: str = Field(sa_type=Text)
    tags: list[str] = Field(default_factory=list, sa_type=JSON)
    editor_id: int = _snowflake()
    written_at: datetime = _when()  # when this version was first written
    replaced_at: datetime = _when()  # when a newer version replaced it


class Tag(Table, table=True):
    """A group's topic label, lower-case, nested with ``/``."""

    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("guild_id", "name", name="uq_tag_guild_name"),)

    id: int | None = Field(default=None, primary_key=True)
    guild_id: int = _snowflake(index=True)
    name: str = Field(max_length=64)


class NoteTag(Table, table=True):
    """Which tags a note carries."""

    __tablename__ = "note_tags"
    __table_args__ = (Index("ix_note_tags_tag_note", "tag_id", "note_id"),)

    note_id: int = Field(sa_column=Column(ForeignKey("notes.id", ondelete="CASCADE"), primary_key=True))
    tag_id: int = Field(sa_column=Column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True))
    guild_id: int = _snowflake(index=True)


class GuildPaper(Table, table=True):
    """A paper a group knows: one it has notes on, or (later) one its feeds delivered."""

    __tablename__ = "guild_papers"

    guild_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    paper_id: int = Field(sa_column=Column(ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True, index=True))
    source: str = Field(default="note", max_length=16)  # how the group first met it: note, feed
    first_seen: datetime = _when()


class PaperAlias(Table, table=True):
    """Another key that names a stored paper: a group's title-only paper, once resolved to its arXiv id."""

    __tablename__ = "paper_aliases"

    key: str = Field(primary_key=True, max_length=300)
    paper_id: int = Field(sa_column=Column(ForeignKey("papers.id", ondelete="CASCADE"), nullable=False, index=True))
    created_at: datetime = _when()


class ImportState:
    """Where one import stands."""

    APPLYING = "applying"  # notes are being written, a chunk per transaction
    RESOLVING = "resolving"  # written; titles are being looked up on arXiv in the background
    DONE = "done"
    STOPPED = "stopped"  # the process applying it stopped before it finished: rolled back, nothing of it kept


class ImportRun(Table, table=True):
    """One applied import: who brought which document in, what it made, and where its progress is shown."""

    __tablename__ = "imports"

    id: int | None = Field(default=None, primary_key=True)
    guild_id: int = _snowflake(index=True)
    member_id: int = _snowflake()  # who ran it
    author_id: int | None = _snowflake(nullable=True)  # whom its notes are attributed to (a JSON export keeps its own)
    file_name: str = Field(max_length=200)
    digest: str = Field(max_length=64)  # sha256 of the document
    shape: str = Field(max_length=16)
    state: str = Field(default=ImportState.APPLYING, max_length=16)
    counts: dict[str, int] = Field(default_factory=dict, sa_type=JSON)  # notes made, kept, papers, ...
    channel_id: int | None = _snowflake(nullable=True)  # the progress message, edited as titles resolve
    message_id: int | None = _snowflake(nullable=True)
    created_at: datetime = _when()
    finished_at: datetime | None = _when(nullable=True, default=False)


class TitleLookupState:
    """Where a title's search on arXiv stands."""

    PENDING = "pending"
    RESOLVED = "resolved"
    UNRESOLVED = "unresolved"  # no candidate was close enough: stays a title-only paper


class TitleLookup(Table, table=True):
    """A group's title-only paper waiting to be matched to an arXiv id; the queue survives restarts."""

    __tablename__ = "title_lookups"
    __table_args__ = (Index("ix_title_lookups_state_guild", "state", "guild_id"),)

    id: int | None = Field(default=None, primary_key=True)
    guild_id: int = _snowflake()
    title_key: str = Field(max_length=300, unique=True)  # the title-only paper's key, kept after it is resolved
    import_id: int | None = Field(
        default=None, sa_column=Column(ForeignKey("imports.id", ondelete="SET NULL"), nullable=True, index=True)
    )
    title: str = Field(sa_type=Text)
    surnames: list[str] = Field(default_factory=list, sa_type=JSON)  # from the document's citation
    year: int | None = None
    state: str = Field(default=TitleLookupState.PENDING, max_length=16)
    attempts: int = 0
    resolved_key: str | None = Field(default=None, max_length=300)
    created_at: datetime = _when()
    checked_at: datetime | None = _when(nullable=True, default=False)


class GuildSettings(Table, table=True):
    """A group's own choices."""

    __tablename__ = "guild_settings"

    guild_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    note_threads: bool = False  # open a discussion thread under each posted note
    link_cards: bool = True  # answer pasted arXiv links with a paper card
    timezone: str = Field(default="UTC", max_length=64)
    created_at: datetime = _when()
    # Besides Manage Server, members with this role may schedule, move and cancel reading sessions.
    session_role_id: int | None = _snowflake(nullable=True)


class Feed(Table, table=True):
    """One distinct source URL, fetched once per cycle however many subscriptions use it."""

    __tablename__ = "feeds"

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=2000, unique=True, index=True)
    kind: str = Field(max_length=16)
    etag: str | None = Field(default=None, max_length=500)
    last_modified: str | None = Field(default=None, max_length=100)
    last_fetch_at: datetime | None = _when(nullable=True, default=False)
    last_success_at: datetime | None = _when(nullable=True, default=False)
    last_error: str | None = Field(default=None, sa_type=Text)
    failures: int = 0  # consecutive failed fetches, for backoff
    next_fetch_at: datetime | None = _when(nullable=True, default=False, index=True)
    fingerprint: str | None = Field(default=None, max_length=64)  # of the last listing, to spot a stale one
    fingerprint_since: datetime | None = _when(nullable=True, default=False)
    created_at: datetime = _when()


class Subscription(Table, table=True):
    """A channel's interest in a feed, with filters and a mode."""

    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("guild_id", "channel_id", "feed_id", name="uq_subscription_channel_feed"),)

    id: int | None = Field(default=None, primary_key=True)
    guild_id: int = _snowflake(index=True)
    channel_id: int = _snowflake()
    feed_id: int = Field(sa_column=Column(ForeignKey("feeds.id", ondelete="RESTRICT"), nullable=False, index=True))
    source: str = Field(max_length=2000)  # as the moderator typed it
    keywords: str | None = Field(default=None, max_length=1000)
    exclude: str | None = Field(default=None, max_length=1000)
    mode: str = Field(default="post", max_length=8)  # post, or digest
    paused: bool = False
    pause_reason: str | None = Field(default=None, max_length=500)
    created_by: int = _snowflake()
    created_at: datetime = _when()
    delivered: int = 0
    last_delivered_at: datetime | None = _when(nullable=True, default=False)
    # The newest feed entry this subscription has decided about. Entries after it are new to it; everything
    # the feed listed when the subscription began is at or before it, so a new subscription starts from now.
    seen_entry_id: int = 0


class FeedEntry(Table, table=True):
    """A paper a feed listed, once, with how it was announced."""

    __tablename__ = "feed_entries"
    __table_args__ = (
        UniqueConstraint("feed_id", "paper_id", name="uq_feed_entry"),
        Index("ix_feed_entries_feed_seen", "feed_id", "first_seen"),  # a week of a group's feeds, for the digest
    )

    id: int | None = Field(default=None, primary_key=True)
    feed_id: int = Field(sa_column=Column(ForeignKey("feeds.id", ondelete="CASCADE"), nullable=False, index=True))
    paper_id: int = Field(sa_column=Column(ForeignKey("papers.id", ondelete="CASCADE"), nullable=False, index=True))
    announce_type: str | None = Field(default=None, max_length=16)
    version: int | None = None
    first_seen: datetime = _when(index=True)


class DeliveryState:
    """Where one (subscription, paper) delivery stands. Only papers to be posted get a row."""

    SKIPPED = "skipped"  # filtered out, a replacement, or kept for the digest: decided, never stored as a row
    PENDING = "pending"  # about to be sent: recorded before sending, so a crash is noticed on restart
    SENT = "sent"
    FAILED = "failed"


class Delivery(Table, table=True):
    """At most one per (subscription, paper): the intent is recorded before sending, the message after."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "paper_id", name="uq_delivery_subscription_paper"),
        Index("ix_deliveries_channel_paper", "channel_id", "paper_id"),  # posts once per channel
    )

    id: int | None = Field(default=None, primary_key=True)
    guild_id: int = _snowflake(index=True)
    subscription_id: int = Field(
        sa_column=Column(ForeignKey("subscriptions.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    paper_id: int = Field(sa_column=Column(ForeignKey("papers.id", ondelete="CASCADE"), nullable=False))
    state: str = Field(max_length=8, index=True)
    reason: str | None = Field(default=None, max_length=300)
    channel_id: int | None = _snowflake(nullable=True)
    message_id: int | None = _snowflake(nullable=True)
    created_at: datetime = _when()
    sent_at: datetime | None = _when(nullable=True, default=False)
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})  # sends that failed so far
    retry_at: datetime | None = _when(nullable=True, default=False)  # a failed send is tried again from then


class DigestPick(Table, table=True):
    """A feed paper that matched a group's interests (a subscription's keywords) when it was listed.

    Decided once, at ingest, where the filters run anyway: the weekly digest reads these rows rather than
    matching a week of abstracts again.
    """

    __tablename__ = "digest_picks"
    __table_args__ = (Index("ix_digest_picks_guild_picked", "guild_id", "picked_at"),)

    guild_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    paper_id: int = Field(sa_column=Column(ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True))
    reason: str = Field(max_length=300)  # as a member reads it: matches “model merging” (cs.LG feed)
    picked_at: datetime = _when()


class DigestSchedule(Table, table=True):
    """When and where a group's weekly digest goes: the source of truth the scheduler is rebuilt from."""

    __tablename__ = "digest_schedules"

    guild_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    channel_id: int = _snowflake()
    weekday: int = 0  # Monday is 0, as in datetime.weekday()
    time: str = Field(default="09:00", max_length=5)  # HH:MM, local to ``timezone``
    timezone: str = Field(default="UTC", max_length=64)  # an IANA name
    enabled: bool = True
    quiet_weeks: bool = True  # post a short digest even when the week was quiet
    updated_by: int = _snowflake()
    updated_at: datetime = _when()


class DigestRunState:
    """Where one week's digest stands."""

    POSTING = "posting"  # recorded before the first part is sent; parts are recorded as they go
    SENT = "sent"
    FAILED = "failed"  # the channel is gone or forbidden: the reason says which
    SKIPPED = "skipped"  # the bot was down past the grace period


class DigestRun(Table, table=True):
    """At most one per (group, week): written before posting, completed with the message ids after."""

    __tablename__ = "digest_runs"
    __table_args__ = (UniqueConstraint("guild_id", "period_start", name="uq_digest_run_guild_period"),)

    id: int | None = Field(default=None, primary_key=True)
    guild_id: int = _snowflake(index=True)
    period_start: datetime = _when()  # UTC instants of the local week's bounds
    period_end: datetime = _when()
    channel_id: int = _snowflake()
    state: str = Field(max_length=8)
    parts: int = 0  # messages the digest takes, known once built
    message_ids: list[int] = Field(default_factory=list, sa_type=JSON)  # the parts sent so far, in order
    # The parts as rendered once, before the first is sent (plain JSON): a resume posts exactly these.
    rendered: list[Any] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True), nullable=True))
    reason: str | None = Field(default=None, max_length=500)
    trigger: str = Field(default="schedule", max_length=16)  # schedule, catch-up, or now (a moderator)
    created_at: datetime = _when()
    finished_at: datetime | None = _when(nullable=True, default=False)


class Lease(Table, table=True):
    """Work that one process at a time may do (feed polling), held for a while and renewed, taken over if not."""

    __tablename__ = "leases"

    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=200)  # which process: host, pid and a random part
    expires_at: datetime = _when()


class QueueEntry(Table, table=True):
    """A paper proposed for the group to read next: one per (group, paper), whatever how often it is proposed.

    Taken off the queue by its proposer or a moderator (``removed_at``), or once a session was held on it; the row
    stays either way, so the paper's history (who proposed it, why, its votes) is kept.
    """

    __tablename__ = "queue_entries"
    __table_args__ = (
        UniqueConstraint("guild_id", "paper_id", name="uq_queue_entry_guild_paper"),
        Index("ix_queue_entries_guild_removed", "guild_id", "removed_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    guild_id: int = _snowflake()
    paper_id: int = Field(sa_column=Column(ForeignKey("papers.id", ondelete="RESTRICT"), nullable=False, index=True))
    proposed_by: int = _snowflake()
    proposer_name: str = Field(max_length=100)
    why: str | None = Field(default=None, sa_type=Text)
    source: str = Field(default="command", max_length=8)  # command, or pin (a 📌 reaction)
    channel_id: int | None = _snowflake(nullable=True)  # the proposal's card, with its vote buttons
    message_id: int | None = _snowflake(nullable=True)
    created_at: datetime = _when()
    removed_at: datetime | None = _when(nullable=True, default=False)
    removed_by: int | None = _snowflake(nullable=True)


class QueueVote(Table, table=True):
    """One member's vote for a proposed paper: at most one per member and entry, taken back by deleting it."""

    __tablename__ = "queue_votes"

    entry_id: int = Field(sa_column=Column(ForeignKey("queue_entries.id", ondelete="CASCADE"), primary_key=True))
    member_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    guild_id: int = _snowflake(index=True)
    created_at: datetime = _when()


class SessionState:
    """Where a reading session stands (held is not a state: a scheduled session whose time has come was held)."""

    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


class ReadingSession(Table, table=True):
    """A meeting of the group on one paper, at one time, with a presenter; announced, reminded, on the calendar."""

    __tablename__ = "reading_sessions"
    __table_args__ = (Index("ix_reading_sessions_guild_starts", "guild_id", "starts_at"),)

    id: int | None = Field(default=None, primary_key=True)
    guild_id: int = _snowflake()
    paper_id: int = Field(sa_column=Column(ForeignKey("papers.id", ondelete="RESTRICT"), nullable=False, index=True))
    starts_at: datetime = _when(index=True)
    timezone: str = Field(default="UTC", max_length=64)  # the group's zone when it was scheduled, for display
    presenter_id: int | None = _snowflake(nullable=True)
    presenter_name: str | None = Field(default=None, max_length=100)
    location: str | None = Field(default=None, max_length=200)  # where: a room, a link, a voice channel's name
    state: str = Field(default=SessionState.SCHEDULED, max_length=12)
    channel_id: int = _snowflake()  # where it was announced; reminders go there too
    message_id: int | None = _snowflake(nullable=True)  # the announcement
    event_id: int | None = _snowflake(nullable=True)  # the Discord scheduled event, when the bot could make one
    created_by: int = _snowflake()
    created_at: datetime = _when()
    updated_at: datetime = _when()


class ReminderState:
    """Where one reminder stands."""

    SENDING = "sending"  # claimed before sending, so a crash is noticed and settled on restart
    SENT = "sent"
    SKIPPED = "skipped"  # its time passed while the bot was down, or the session was cancelled or moved


class SessionReminder(Table, table=True):
    """At most one per (session, kind, session time): recorded before it is sent, its message after."""

    __tablename__ = "session_reminders"
    __table_args__ = (
        UniqueConstraint("session_id", "kind", "starts_at", name="uq_session_reminder"),
        Index("ix_session_reminders_state", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    guild_id: int = _snowflake(index=True)
    session_id: int = Field(
        sa_column=Column(ForeignKey("reading_sessions.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    kind: str = Field(max_length=8)  # 24h, 1h
    starts_at: datetime = _when()  # the session's time this reminder was for (a moved session is reminded anew)
    state: str = Field(max_length=8)
    channel_id: int | None = _snowflake(nullable=True)
    message_id: int | None = _snowflake(nullable=True)
    claimed_at: datetime = _when()
    sent_at: datetime | None = _when(nullable=True, default=False)


class PresenterTurn(Table, table=True):
    """A member in the group's presenter rotation: the next presenter is the one who presented longest ago."""

    __tablename__ = "presenter_rotation"

    guild_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    member_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    member_name: str = Field(max_length=100)
    joined_at: datetime = _when()
    last_presented_at: datetime | None = _when(nullable=True, default=False)


class PaperThread(Table, table=True):
    """A paper's one discussion thread in a group (when the group's threads setting is on)."""

    __tablename__ = "paper_threads"

    guild_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    paper_id: int = Field(sa_column=Column(ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True))
    channel_id: int = _snowflake()  # the channel the thread hangs off
    thread_id: int = _snowflake()
    created_at: datetime = _when()
    # Deleted on Discord: no longer linked, and the next note opens a new thread (the row keeps where it hung off).
    gone: bool = Field(default=False, sa_column_kwargs={"server_default": false()})


class VersionNotice(Table, table=True):
    """At most one per (group, paper, version): "v3 is out", recorded before it is posted, its message after."""

    __tablename__ = "version_notices"

    guild_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    paper_id: int = Field(sa_column=Column(ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True))
    version: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    state: str = Field(max_length=8)  # pending, sent, failed (DeliveryState's words)
    channel_id: int | None = _snowflake(nullable=True)
    message_id: int | None = _snowflake(nullable=True)
    created_at: datetime = _when()
    sent_at: datetime | None = _when(nullable=True, default=False)
