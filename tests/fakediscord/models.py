"""Records kept by the fake Discord: guilds, messages and interaction handles.

These are the objects tests inspect. Message objects are updated in place when the bot edits them, so a
reference taken earlier always shows what a member currently sees.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import FakeDiscord

DISCORD_EPOCH_MS = 1420070400000

_increment = itertools.count(1)


def snowflake() -> int:
    """A unique snowflake whose timestamp is now (discord.py derives created_at from it)."""
    ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
    return (ms << 22) | (next(_increment) & 0x3FFFFF)


def iso_now() -> str:
    return datetime.now(UTC).isoformat()


# Message flags
EPHEMERAL = 1 << 6
LOADING = 1 << 7
SUPPRESS_EMBEDS = 1 << 2
IS_COMPONENTS_V2 = 1 << 15

BUTTON = 2
SELECT_TYPES = (3, 5, 6, 7, 8)


def walk_components(components: list[dict] | None):
    """Yield every component, depth first, including those nested in rows, sections, labels and containers."""
    for comp in components or []:
        if not isinstance(comp, dict):
            continue
        yield comp
        yield from walk_components(comp.get("components"))
        for key in ("accessory", "component"):
            child = comp.get(key)
            if isinstance(child, dict):
                yield from walk_components([child])


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int | None
    channels: dict[int, dict] = field(default_factory=dict)  # channel id -> channel payload
    threads: dict[int, dict] = field(default_factory=dict)  # thread id -> thread channel payload
    members: dict[int, dict] = field(default_factory=dict)  # user id -> member payload (with "user")
    roles: dict[int, dict] = field(default_factory=dict)  # role id -> role payload
    member_permissions: dict[int, int] = field(default_factory=dict)  # user id -> guild-level permission bits
    # Integrations → command permissions: (top-level command name, user id) pairs a server admin allowed a command
    # for, whatever its default_member_permissions say.
    command_overrides: set[tuple[str, int]] = field(default_factory=set)
    joined_at: str = field(default_factory=iso_now)


@dataclass(eq=False)
class Message:
    """A message as the fake stores it. `attachments` entries carry the uploaded bytes under "data"."""

    id: int
    channel_id: int
    author_id: int
    content: str = ""
    embeds: list[dict] = field(default_factory=list)
    components: list[dict] = field(default_factory=list)
    flags: int = 0
    allowed_mentions: dict | None = None
    attachments: list[dict] = field(default_factory=list)
    thread: dict | None = None
    guild_id: int | None = None
    webhook_id: int | None = None
    application_id: int | None = None
    interaction_id: int | None = None
    type: int = 0
    message_reference: dict | None = None
    reactions: list[str] = field(default_factory=list)  # the emoji on the message, in the order first added
    reactors: dict[str, list[int]] = field(default_factory=dict)  # emoji -> who reacted with it (the bot too)
    tts: bool = False
    timestamp: str = field(default_factory=iso_now)
    edited_timestamp: str | None = None
    edit_count: int = 0
    deleted: bool = False
    recipient_id: int | None = None  # for ephemeral messages: the only member who sees it
    author_bot: bool | None = None  # overrides the author's bot flag (member posts with bot=True)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        """True while this is a deferred "thinking" placeholder that was never followed up."""
        return bool(self.flags & LOADING)

    def text(self) -> str:
        """Content plus every embed's visible text (and components v2 text displays), joined by newlines."""
        parts: list[str] = []
        if self.content:
            parts.append(self.content)
        for embed in self.embeds:
            author = embed.get("author") or {}
            if author.get("name"):
                parts.append(author["name"])
            for key in ("title", "description"):
                if embed.get(key):
                    parts.append(str(embed[key]))
            for fld in embed.get("fields") or []:
                parts.append(str(fld.get("name", "")))
                parts.append(str(fld.get("value", "")))
            footer = embed.get("footer") or {}
            if footer.get("text"):
                parts.append(footer["text"])
        for comp in walk_components(self.components):
            if comp.get("type") == 10 and comp.get("content"):
                parts.append(comp["content"])
        return "\n".join(parts)

    def buttons(self) -> list[dict]:
        out = []
        for comp in walk_components(self.components):
            if comp.get("type") == BUTTON:
                out.append(
                    {
                        "custom_id": comp.get("custom_id"),
                        "label": comp.get("label"),
                        "style": comp.get("style"),
                        "disabled": bool(comp.get("disabled", False)),
                        "url": comp.get("url"),
                        "emoji": comp.get("emoji"),
                    }
                )
        return out

    def selects(self) -> list[dict]:
        out = []
        for comp in walk_components(self.components):
            if comp.get("type") in SELECT_TYPES:
                out.append(
                    {
                        "type": comp.get("type"),
                        "custom_id": comp.get("custom_id"),
                        "placeholder": comp.get("placeholder"),
                        "options": list(comp.get("options") or []),
                        "min_values": comp.get("min_values", 1),
                        "max_values": comp.get("max_values", 1),
                        "disabled": bool(comp.get("disabled", False)),
                    }
                )
        return out

    def attachment(self, filename: str) -> dict:
        for att in self.attachments:
            if att["filename"] == filename:
                return att
        raise AssertionError(
            f"message {self.id} has no attachment {filename!r}; has {[a['filename'] for a in self.attachments]}"
        )

    def __repr__(self) -> str:
        flags = []
        if self.ephemeral:
            flags.append("ephemeral")
        if self.loading:
            flags.append("loading")
        shown = self.text().replace("\n", " | ")
        if len(shown) > 80:
            shown = shown[:77] + "..."
        extra = f" [{' '.join(flags)}]" if flags else ""
        return f"<Message id={self.id} channel={self.channel_id} author={self.author_id}{extra} {shown!r}>"


class Interaction:
    """Handle for one interaction the fake sent to the bot, filled in as the bot answers it."""

    def __init__(
        self,
        fake: FakeDiscord,
        *,
        id: int,
        token: str,
        type: int,
        payload: dict,
        user_id: int,
        guild_id: int,
        channel_id: int,
        label: str,
        source_message: Message | None = None,
    ) -> None:
        self._fake = fake
        self.id = id
        self.token = token
        self.type = type
        self.payload = payload  # the INTERACTION_CREATE data as sent
        self.user_id = user_id
        self.guild_id = guild_id
        self.channel_id = channel_id
        self.label = label  # human readable ("/note add", "click vote:up") for error messages
        self.source_message = source_message
        self.created = time.monotonic()

        self.response_type: int | None = None
        self.response_data: dict | None = None  # the callback's "data"
        self.modal: dict | None = None
        self.choices: list[dict] | None = None
        self.original: Message | None = None
        self.followups: list[Message] = []
        self.deferred_flags: int = 0
        self.failures: list[dict] = []  # error answers the fake gave for this interaction's token
        # time.monotonic() when the first callback was accepted, and when the answer arrived: the callback itself,
        # or after a defer (types 5 and 6) the first followup or edit of the original. None until then.
        self.sent_at: float | None = None  # when the INTERACTION_CREATE was written to the gateway
        self.acknowledged_at: float | None = None
        self.answered_at: float | None = None

        self._callback_attempted = False
        self._post_defer_activity = False
        self._inflight = 0
        self._last_activity = self.created
        self._callback_event = asyncio.Event()

    # --- what a member sees -------------------------------------------------------------
    @property
    def messages(self) -> list[Message]:
        out = [self.original] if self.original is not None else []
        return out + [m for m in self.followups if m is not self.original]

    @property
    def ephemeral(self) -> bool:
        if self.original is not None:
            return self.original.ephemeral
        return bool(self.deferred_flags & EPHEMERAL)

    @property
    def error(self) -> str | None:
        for msg in self.messages:
            if msg.ephemeral and not msg.deleted:
                return msg.text()
        return None

    @property
    def acknowledged(self) -> bool:
        return self.response_type is not None

    def text(self) -> str:
        """Every visible message of this interaction, joined by newlines."""
        return "\n".join(m.text() for m in self.messages if not m.deleted)

    # --- bookkeeping used by the server ---------------------------------------------------
    def _touch(self) -> None:
        self._last_activity = time.monotonic()

    def _answered(self) -> bool:
        if not self._callback_attempted:
            return False
        if self.response_type == 5 and not self._post_defer_activity:
            return False
        return True

    async def wait_done(self, timeout: float = 10) -> None:  # noqa: ASYNC109 - public API takes a timeout
        """Wait until the bot answered and its handler looks finished.

        Rule: a callback arrived (accepted or refused); if it was a type-5 deferral, at least one followup or edit
        of @original was also attempted; then no request for this token for `fake.quiet_period` seconds (1 s after
        a type-6 deferral with nothing after it) and, best effort, no other REST request in flight.
        """
        fake = self._fake
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            now = time.monotonic()
            quiet = fake.quiet_period
            if self.response_type == 6 and not self._post_defer_activity:
                quiet = max(quiet, 1.0)
            token_quiet = self._answered() and self._inflight == 0 and now - self._last_activity >= quiet
            if token_quiet and fake._globally_quiet(quiet):
                return
            if loop.time() >= deadline:
                if token_quiet:
                    return
                raise AssertionError(self._not_done_reason(timeout))
            await asyncio.sleep(0.02)

    def _not_done_reason(self, timeout: float) -> str:
        if not self._callback_attempted:
            why = "the bot never answered it (no callback)"
        elif self.response_type == 5 and not self._post_defer_activity:
            why = "the bot deferred (thinking) but never sent a followup or edited the original response"
        else:
            why = "the bot kept sending requests for it"
        hint = f"; refused requests: {self.failures}" if self.failures else ""
        return f"interaction {self.label} not done within {timeout}s: {why}{hint}"

    def __repr__(self) -> str:
        return (
            f"<Interaction {self.label} id={self.id} type={self.type} response_type={self.response_type} "
            f"messages={self.messages!r}>"
        )


class RejectedResponse(AssertionError):
    """The bot's answer to an interaction was refused by the fake (see .failures)."""


class CommandUnavailable(AssertionError):
    """The member could not run this command in Discord (missing default_member_permissions)."""


def member_has(perms: int, needed: int) -> bool:
    administrator = 1 << 3
    return bool(perms & administrator) or (perms & needed) == needed


def json_ids(d: dict[int, Any]) -> dict[str, Any]:
    return {str(k): v for k, v in d.items()}
