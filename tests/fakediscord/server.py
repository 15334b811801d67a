"""A loopback Discord (REST + gateway) that the real discord.py client talks to.

Tests drive it as a member would (slash commands, clicks, selects, modal submits, messages) and inspect what
the member sees (Interaction handles and Message records). See README.md in this folder.
"""

from __future__ import annotations

import asyncio
import json
import logging
import mimetypes
import re
import secrets
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import discord
from aiohttp import WSMsgType, web

from . import validation
from .models import (
    EPHEMERAL,
    IS_COMPONENTS_V2,
    LOADING,
    SELECT_TYPES,
    SUPPRESS_EMBEDS,
    CommandUnavailable,
    Guild,
    Interaction,
    Message,
    RejectedResponse,
    iso_now,
    member_has,
    snowflake,
    walk_components,
)
from .scheduled_events import GUILD_SCHEDULED_EVENTS_INTENT, ScheduledEvents

log = logging.getLogger("fakediscord")

# --- permissions ------------------------------------------------------------------------------
P = discord.Permissions
DEFAULT_PERMISSIONS = P(
    create_instant_invite=True,
    add_reactions=True,
    view_channel=True,
    send_messages=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
    use_external_emojis=True,
    change_nickname=True,
    use_application_commands=True,
    create_public_threads=True,
    send_messages_in_threads=True,
).value
DEFAULT_BOT_PERMISSIONS = (
    DEFAULT_PERMISSIONS | P(manage_messages=True, manage_threads=True, create_private_threads=True).value
)
ALL_PERMISSIONS = P.all().value
ADMINISTRATOR = P(administrator=True).value
SEND_PERMISSIONS = P(send_messages=True, send_messages_in_threads=True, create_public_threads=True).value

# --- gateway intents --------------------------------------------------------------------------
GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_PRESENCES = 1 << 8
GUILD_MESSAGES = 1 << 9
GUILD_MESSAGE_REACTIONS = 1 << 10
DIRECT_MESSAGES = 1 << 12
MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT

TEXT_CHANNEL_TYPES = (0, 5)
THREAD_TYPES = (10, 11, 12)
FORUM_TYPES = (15, 16)
VOICE_TYPES = (2, 13)
JSON = "application/json"


class ApiError(Exception):
    def __init__(self, status: int, code: int, message: str, errors: dict | None = None, *, validation: bool = False):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.validation = validation

    def body(self) -> dict:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def invalid_form(problems: list) -> ApiError:
    return ApiError(400, 50035, "Invalid Form Body", validation.errors_object(problems), validation=True)


def json_response(data: Any, status: int = 200) -> web.Response:
    # exactly "application/json": discord.py treats a body with "; charset=..." as text
    return web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": JSON})


def empty_response() -> web.Response:
    return web.Response(status=204)


class _Session:
    """One gateway session: an IDENTIFY for shard [shard_id, shard_count] (no shard means [0, 1])."""

    def __init__(self, ws: web.WebSocketResponse, intents: int, shard: list | None) -> None:
        self.ws: web.WebSocketResponse | None = ws
        self.id = secrets.token_hex(16)
        self.seq = 0
        self.intents = intents
        self.shard = shard  # as sent in IDENTIFY; READY echoes it
        self.shard_id, self.shard_count = (int(shard[0]), int(shard[1])) if shard else (0, 1)
        self.ready = False  # READY and its GUILD_CREATEs (or RESUMED) sent on the current socket
        self.resumes = 0
        self.lock = asyncio.Lock()

    @property
    def key(self) -> tuple[int, int]:
        return (self.shard_id, self.shard_count)

    @property
    def live(self) -> bool:
        return self.ws is not None and not self.ws.closed

    def owns(self, guild_id: int | None) -> bool:
        """Discord's rule: a guild belongs to shard (guild_id >> 22) % shard_count; DMs belong to shard 0."""
        if guild_id is None:
            return self.shard_id == 0
        return (guild_id >> 22) % self.shard_count == self.shard_id


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard that receives a guild's events when the bot runs `shard_count` shards."""
    return (guild_id >> 22) % shard_count


def _valid_shard(shard: Any) -> bool:
    if shard is None:
        return True
    if not isinstance(shard, list) or len(shard) != 2:
        return False
    shard_id, count = shard
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in shard):
        return False
    return count >= 1 and 0 <= shard_id < count


Handler = Callable[..., Awaitable[web.StreamResponse]]


@dataclass
class _Outage:
    """Requests Discord fails on purpose (see FakeDiscord.fail_requests)."""

    method: str
    path: re.Pattern[str]
    status: int
    left: int | None  # requests still to fail; None: until healed
    taken: bool  # the request takes effect all the same


@dataclass
class _Gate:
    """Requests held back until ``parties`` of them arrived, then let through together (see hold_requests)."""

    method: str
    path: re.Pattern[str]
    parties: int
    arrived: int = 0
    open: asyncio.Event = field(default_factory=asyncio.Event)


class FakeDiscord:
    """Loopback Discord. Create, `await start()`, add guilds/channels/members, connect a bot (see client.py)."""

    def __init__(
        self,
        *,
        token: str = "fake-token",
        application_id: int | None = None,
        bot_name: str = "Paperclub",
        bot_permissions: int = DEFAULT_BOT_PERMISSIONS,
    ) -> None:
        self.token = token
        self.application_id: int = application_id or snowflake()
        self.bot_user_id: int = self.application_id
        self.bot_permissions = bot_permissions
        # timing knobs (tests may shorten them)
        self.ack_deadline = 3.0  # seconds to send the first callback
        self.followup_window = 15 * 60.0  # seconds the interaction token works for followups/edits
        self.quiet_period = 0.3  # Interaction.wait_done quiet period
        self.heartbeat_interval = 41250
        self.recommended_shards = 1  # the "shards" GET /gateway/bot answers (AutoShardedBot without shard_count)
        self.attachment_size_limit = 10 * 1024 * 1024
        # privileged intents enabled for the bot in the developer portal (None: all of them)
        self.allowed_intents: int | None = None

        self.guilds: dict[int, Guild] = {}
        self.users: dict[int, dict] = {}
        self.commands: dict[int | None, list[dict]] = {}
        self.requests: list[tuple[str, str]] = []
        self.unknown_requests: list[tuple[str, str]] = []
        self.rejected: list[tuple[str, dict]] = []
        self.internal_errors: list[str] = []
        self.events: list[tuple[str, dict]] = []  # every gateway dispatch the fake produced (sent or not)
        # (event, guild id or None for DMs) of dispatches no session received: the owning shard was not connected
        self.dropped: list[tuple[str, int | None]] = []
        self.interactions: list[Interaction] = []
        self.ready = asyncio.Event()
        # Called with every message Discord has just taken, before the sender hears back: the fault suite stops
        # the bot there, between a message going out and the bot recording it.
        self.on_message: Callable[[Message], None] | None = None
        # Outages injected with fail_requests: (method, path pattern, status, requests left or None, taken)
        self._outages: list[_Outage] = []
        self.failed_requests: list[tuple[str, str, int]] = []  # (method, path, status) answered by an outage
        self._gates: list[_Gate] = []  # requests held until enough of them arrived (see hold_requests)

        self._channels: dict[int, dict] = {}  # every channel, thread and DM by id
        self._messages: dict[int, list[Message]] = {}  # channel id -> live messages in order
        self._message_index: dict[int, Message] = {}  # every message ever created (ephemeral ones too)
        self._removed_channels: set[int] = set()
        self._forbidden_channels: set[int] = set()
        self._dm_channels: dict[int, int] = {}  # user id -> DM channel id
        self._dms_closed: set[int] = set()
        self._files: dict[int, dict] = {}  # attachment id -> {"filename", "content_type", "data"}
        self._interactions: dict[int, Interaction] = {}
        self._by_token: dict[str, Interaction] = {}
        self._sessions: dict[tuple[int, int], _Session] = {}  # (shard id, shard count) -> its latest session
        self._sockets: set[web.WebSocketResponse] = set()
        self._inflight = 0
        self._last_request = 0.0
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

        self.users[self.bot_user_id] = self._user_payload(self.bot_user_id, bot_name, bot=True)
        self._routes: list[tuple[str, re.Pattern[str], Handler, bool]] = []
        self.scheduled_events = ScheduledEvents(self)  # each guild's events (scheduled_events.py)
        self._build_routes()

    # ------------------------------------------------------------------------------------------
    # lifecycle
    # ------------------------------------------------------------------------------------------
    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self._port()}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self._port()}/gateway"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port()}"

    def _port(self) -> int:
        if self.port is None:
            raise RuntimeError("FakeDiscord is not started; await fake.start() first")
        return self.port

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._api)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/attachments/{att_id}/{filename}", self._serve_file)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close(code=1000, message=b"fake discord closing")
        self._sockets.clear()
        self.ready.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------------------------------
    # world building
    # ------------------------------------------------------------------------------------------
    def add_guild(self, guild_id: int, *, name: str = "Reading Group", owner_id: int | None = None) -> Guild:
        if guild_id in self.guilds:
            raise ValueError(f"guild {guild_id} already exists")
        guild = Guild(id=guild_id, name=name, owner_id=owner_id)
        guild.roles[guild_id] = self._role_payload(guild_id, "@everyone", 0, position=0)
        bot_role_id = snowflake()
        guild.roles[bot_role_id] = self._role_payload(
            bot_role_id, self.users[self.bot_user_id]["username"], self.bot_permissions, position=1, managed=True
        )
        guild.roles[bot_role_id]["tags"] = {"bot_id": str(self.bot_user_id)}
        guild.members[self.bot_user_id] = self._new_member(self.bot_user_id, [bot_role_id])
        guild.member_permissions[self.bot_user_id] = self.bot_permissions
        self.guilds[guild_id] = guild
        self._dispatch_soon("GUILD_CREATE", lambda s: self._guild_create_payload(guild, s.intents))
        return guild

    def add_channel(self, guild_id: int, channel_id: int, *, name: str = "papers", type: int = 0) -> dict:
        guild = self._guild(guild_id)
        if channel_id in self._channels:
            raise ValueError(f"channel {channel_id} already exists")
        channel = {
            "id": str(channel_id),
            "type": type,
            "guild_id": str(guild_id),
            "name": name,
            "position": len(guild.channels),
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }
        if type in VOICE_TYPES:  # as Discord sends a voice or stage channel (discord.py reads both fields)
            channel.update(bitrate=64000, user_limit=0, rtc_region=None)
        if type in FORUM_TYPES:
            channel["available_tags"] = []
            channel["default_reaction_emoji"] = None
        guild.channels[channel_id] = channel
        self._channels[channel_id] = channel
        self._messages.setdefault(channel_id, [])
        self._dispatch_soon("CHANNEL_CREATE", lambda s: dict(channel))
        return channel

    def add_member(
        self, guild_id: int, user_id: int, *, name: str, permissions: int = DEFAULT_PERMISSIONS, bot: bool = False
    ) -> dict:
        guild = self._guild(guild_id)
        if user_id not in self.users:
            self.users[user_id] = self._user_payload(user_id, name, bot=bot)
        role_id = self._permission_role(guild, permissions)
        member = self._new_member(user_id, [role_id])
        guild.members[user_id] = member
        guild.member_permissions[user_id] = permissions
        self._dispatch_soon(
            "GUILD_MEMBER_ADD", lambda s: {**self._member_payload(guild, user_id), "guild_id": str(guild_id)}
        )
        return member

    def remove_role(self, guild_id: int, role_id: int) -> None:
        """The role is deleted: members no longer have it, and GUILD_ROLE_DELETE is sent (the permissions members
        hold stay as set: the fake keeps them per member)."""
        guild = self._guild(guild_id)
        if guild.roles.pop(role_id, None) is None:
            raise ValueError(f"unknown role {role_id}")
        for member in guild.members.values():
            member["roles"] = [r for r in member["roles"] if int(r) != role_id]
        self._dispatch_soon("GUILD_ROLE_DELETE", lambda s: {"guild_id": str(guild_id), "role_id": str(role_id)})

    def remove_channel(self, channel_id: int, *, notify: bool = True) -> None:
        """The channel is deleted: later REST calls to it answer 404 code 10003 (and CHANNEL_DELETE is sent). Like
        Discord, a channel's threads go with it, archived ones too, with no THREAD_DELETE of their own."""
        channel = self._channels.get(channel_id)
        if channel is None:
            raise ValueError(f"unknown channel {channel_id}")
        self._removed_channels.add(channel_id)
        guild_id = channel.get("guild_id")
        if guild_id is not None:
            guild = self.guilds[int(guild_id)]
            guild.channels.pop(channel_id, None)
            guild.threads.pop(channel_id, None)
            for thread_id in [t for t, thread in guild.threads.items() if thread.get("parent_id") == str(channel_id)]:
                self._removed_channels.add(thread_id)
                guild.threads.pop(thread_id)
        if notify:
            event = "THREAD_DELETE" if channel["type"] in THREAD_TYPES else "CHANNEL_DELETE"
            self._dispatch_soon(event, lambda s: dict(channel))

    def archive_thread(self, thread_id: int, *, locked: bool = False, notify: bool = True) -> None:
        """A thread is archived (by Discord after inactivity, or by a moderator), and ``locked`` too if asked: like
        Discord, a message sent in an archived thread opens it again, unless it is locked (403 code 50083)."""
        thread = self._channels.get(thread_id)
        if thread is None or thread["type"] not in THREAD_TYPES:
            raise ValueError(f"unknown thread {thread_id}")
        thread["thread_metadata"].update(archived=True, locked=locked, archive_timestamp=iso_now())
        if notify:
            self._dispatch_soon("THREAD_UPDATE", lambda s: dict(thread))

    def hold_requests(self, method: str, path: str, *, parties: int = 2) -> None:
        """Requests matching ``method`` and ``path`` (a regular expression over the path after /api/v10) wait until
        ``parties`` of them arrived, then all go on at once: two members' commands racing, made certain. Later
        requests pass freely."""
        self._gates.append(_Gate(method, re.compile(path), parties))

    async def _pass_gate(self, method: str, path: str) -> None:
        gate = next((g for g in self._gates if g.method == method and g.path.fullmatch(path)), None)
        if gate is None:
            return
        gate.arrived += 1
        if gate.arrived >= gate.parties:
            self._gates.remove(gate)
            gate.open.set()
        await gate.open.wait()

    def forbid_channel(self, channel_id: int, *, notify: bool = True) -> None:
        """The bot loses send permissions there: later sends answer 403 code 50013 (and CHANNEL_UPDATE is sent)."""
        channel = self._channels.get(channel_id)
        if channel is None:
            raise ValueError(f"unknown channel {channel_id}")
        self._forbidden_channels.add(channel_id)
        overwrite = {"id": str(self.bot_user_id), "type": 1, "allow": "0", "deny": str(SEND_PERMISSIONS)}
        channel["permission_overwrites"] = [
            o for o in channel.get("permission_overwrites", []) if o["id"] != str(self.bot_user_id)
        ] + [overwrite]
        if notify and channel["type"] not in THREAD_TYPES:
            self._dispatch_soon("CHANNEL_UPDATE", lambda s: dict(channel))

    def set_member_overwrite(
        self, channel_id: int, user_id: int, *, allow: int = 0, deny: int = 0, notify: bool = True
    ) -> None:
        """A member overwrite on a channel: interactions there carry the member's permissions in that channel."""
        channel = self._channels.get(channel_id)
        if channel is None:
            raise ValueError(f"unknown channel {channel_id}")
        overwrite = {"id": str(user_id), "type": 1, "allow": str(allow), "deny": str(deny)}
        channel["permission_overwrites"] = [
            o for o in channel.get("permission_overwrites", []) if o["id"] != str(user_id)
        ] + [overwrite]
        if notify and channel["type"] not in THREAD_TYPES:
            self._dispatch_soon("CHANNEL_UPDATE", lambda s: dict(channel))

    def allow_command(self, guild_id: int, command: str, user_id: int) -> None:
        """A server admin lets a member use a command (Server Settings → Integrations), past its default permissions.

        As on Discord, the bot is not told: the member's interactions carry their own permissions as before.
        """
        self.guilds[guild_id].command_overrides.add((command, user_id))

    def open_dm(self, user_id: int) -> int:
        """The DM channel between the bot and a user (created on first use); post_message works in it."""
        if user_id not in self.users:
            raise AssertionError(f"unknown user {user_id}")
        channel_id = self._dm_channels.get(user_id)
        if channel_id is None:
            channel_id = snowflake()
            self._dm_channels[user_id] = channel_id
            self._channels[channel_id] = {
                "id": str(channel_id),
                "type": 1,
                "last_message_id": None,
                "flags": 0,
                "recipients": [self.users[user_id]],
            }
            self._messages[channel_id] = []
        return channel_id

    def fail_requests(
        self, method: str, path: str, *, status: int = 503, times: int | None = None, taken: bool = False
    ) -> None:
        """Discord has trouble: requests matching ``method`` and ``path`` (a regular expression over the path after
        /api/v10, e.g. rf"/channels/{cid}/messages") answer ``status``, the next ``times`` of them or until
        :meth:`heal_requests`. With ``taken``, Discord does the work (a message is posted) and still answers the
        error, as a gateway timing out behind it would. discord.py retries 500, 502, 504 and 524 itself, with
        seconds of sleep; a 503 reaches the bot at once."""
        self._outages.append(_Outage(method, re.compile(path), status, times, taken))

    def heal_requests(self) -> None:
        """Every injected outage is over."""
        self._outages.clear()

    def _outage(self, method: str, path: str) -> _Outage | None:
        for outage in self._outages:
            if outage.method == method and outage.path.fullmatch(path):
                if outage.left is not None:
                    outage.left -= 1
                    if outage.left <= 0:
                        self._outages.remove(outage)
                return outage
        return None

    def block_dms(self, user_id: int) -> None:
        """The user does not accept DMs from the bot: DM sends answer 403 code 50007."""
        self._dms_closed.add(user_id)

    def host_file(self, filename: str, data: bytes, *, content_type: str = "text/plain") -> dict:
        att_id = snowflake()
        self._files[att_id] = {"filename": filename, "content_type": content_type, "data": data}
        return self._attachment_payload(att_id, filename, content_type, len(data))

    # ------------------------------------------------------------------------------------------
    # inspection
    # ------------------------------------------------------------------------------------------
    def channel_messages(self, channel_id: int) -> list[Message]:
        return list(self._messages.get(channel_id, []))

    def dm_messages(self, user_id: int) -> list[Message]:
        channel_id = self._dm_channels.get(user_id)
        return [] if channel_id is None else self.channel_messages(channel_id)

    def message(self, message_id: int) -> Message:
        return self._message_index[message_id]

    def threads(self, guild_id: int) -> list[dict]:
        return list(self._guild(guild_id).threads.values())

    def channel(self, channel_id: int) -> dict:
        return self._channels[channel_id]

    def dispatched(self, event: str) -> list[dict]:
        return [d for t, d in self.events if t == event]

    @property
    def connected(self) -> bool:
        """Some bot session is connected (for a sharded bot: any shard)."""
        return any(s.live for s in self._sessions.values())

    @property
    def sessions(self) -> list[tuple[int, int]]:
        """(shard id, shard count) of every connected gateway session, sorted; a bot without shards is (0, 1)."""
        return sorted(s.key for s in self._sessions.values() if s.live)

    def shard_connected(self, shard_id: int, shard_count: int) -> bool:
        """A session for that shard is connected and has received READY and its guilds (or RESUMED)."""
        session = self._sessions.get((shard_id, shard_count))
        return session is not None and session.live and session.ready

    async def shards_ready(
        self,
        shard_count: int,
        *,
        shard_ids: list[int] | range | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109 - public API takes a timeout
    ) -> None:
        """Wait until sessions for all shards 0..shard_count-1 (or just `shard_ids`) are connected and ready."""
        wanted = list(range(shard_count) if shard_ids is None else shard_ids)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not all(self.shard_connected(i, shard_count) for i in wanted):
            if loop.time() >= deadline:
                missing = [i for i in wanted if not self.shard_connected(i, shard_count)]
                raise AssertionError(
                    f"shards {missing} of {shard_count} did not connect within {timeout}s; connected: {self.sessions}"
                )
            await asyncio.sleep(0.01)

    def guilds_on_shard(self, shard_id: int, shard_count: int) -> list[int]:
        """Ids of the guilds whose events go to that shard."""
        return [g for g in self.guilds if shard_of(g, shard_count) == shard_id]

    async def wait_for_message(
        self,
        channel_id: int,
        *,
        check: Callable[[Message], bool] | None = None,
        author_id: int | None = None,
        after: Message | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - public API takes a timeout
    ) -> Message:
        """Wait for a message in the channel by `author_id` (default: the bot), newer than `after`, passing `check`."""
        author = self.bot_user_id if author_id is None else author_id
        newer_than = after.id if after is not None else 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for msg in self._messages.get(channel_id, []):
                if msg.author_id == author and msg.id > newer_than and (check is None or check(msg)):
                    return msg
            if loop.time() >= deadline:
                seen = self._messages.get(channel_id, [])[-5:]
                raise AssertionError(
                    f"no matching message from {author} in channel {channel_id} within {timeout}s; last: {seen}"
                )
            await asyncio.sleep(0.02)

    async def settle(self, quiet: float | None = None, timeout: float = 10.0) -> None:  # noqa: ASYNC109 - public API takes a timeout
        """Wait until no REST request has been in flight for `quiet` seconds (default: quiet_period)."""
        quiet = self.quiet_period if quiet is None else quiet
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._globally_quiet(quiet):
            if loop.time() >= deadline:
                raise AssertionError(f"the bot kept making REST requests for {timeout}s")
            await asyncio.sleep(0.02)

    async def request_reconnect(
        self,
        timeout: float = 10.0,  # noqa: ASYNC109 - public API takes a timeout
        *,
        shard_id: int | None = None,
    ) -> None:
        """Send op 7 RECONNECT like Discord does; discord.py reconnects and RESUMEs. Returns once resumed.

        `shard_id` picks the sessions of that shard; by default every connected session is asked to reconnect.
        """
        targets = [s for s in self._sessions.values() if s.live and (shard_id is None or s.shard_id == shard_id)]
        if not targets:
            which = "" if shard_id is None else f" for shard {shard_id}"
            raise AssertionError(f"no bot is connected to the fake gateway{which}")
        before = {s.key: (s, s.resumes) for s in targets}
        for session in targets:
            session.ready = False
        self._update_ready()
        for session in targets:
            await self._send_op(session, {"op": 7, "s": None, "t": None, "d": None})

        def back(key: tuple[int, int]) -> bool:
            old, resumes = before[key]
            now = self._sessions.get(key)
            # resumed, or (if the resume was refused) identified again
            return now is not None and now.live and now.ready and (now is not old or now.resumes > resumes)

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not all(back(key) for key in before):
            if loop.time() >= deadline:
                raise AssertionError(f"bot did not resume within {timeout}s")
            await asyncio.sleep(0.01)

    def _globally_quiet(self, quiet: float) -> bool:
        return self._inflight == 0 and time.monotonic() - self._last_request >= quiet

    # ------------------------------------------------------------------------------------------
    # member actions
    # ------------------------------------------------------------------------------------------
    async def slash(
        self,
        command: str,
        *,
        guild_id: int,
        channel_id: int,
        user_id: int,
        options: dict | None = None,
        attachments: dict[str, dict] | None = None,
    ) -> Interaction:
        guild, channel = self._member_context(guild_id, channel_id, user_id)
        data, leaf = self._command_data(command, guild, user_id)
        values = dict(options or {})
        values.update(attachments or {})
        resolved: dict[str, dict] = {}
        built = self._build_options(command, leaf, values, resolved, guild, user_id, focused=None)
        self._place_options(data, built)
        if resolved:
            data["resolved"] = resolved
        return await self._send_interaction(2, data, guild, channel, user_id, label=f"/{command}")

    async def autocomplete(
        self,
        command: str,
        *,
        guild_id: int,
        channel_id: int,
        user_id: int,
        options: dict,
        focused: str,
        timeout: float = 10,  # noqa: ASYNC109 - public API takes a timeout
    ) -> list[dict]:
        guild, channel = self._member_context(guild_id, channel_id, user_id)
        data, leaf = self._command_data(command, guild, user_id)
        if focused not in options:
            raise AssertionError(f"focused option {focused!r} must be in options (the text typed so far)")
        option_schema = next((o for o in leaf if o.get("name") == focused), None)
        if option_schema is not None and not option_schema.get("autocomplete"):
            raise AssertionError(f"/{command} option {focused!r} has no autocomplete")
        resolved: dict[str, dict] = {}
        built = self._build_options(command, leaf, dict(options), resolved, guild, user_id, focused=focused)
        self._place_options(data, built)
        inter = await self._send_interaction(
            4, data, guild, channel, user_id, label=f"/{command} autocomplete {focused}"
        )
        try:
            await asyncio.wait_for(inter._callback_event.wait(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"bot did not answer autocomplete for /{command} {focused!r} within {timeout}s"
            ) from None
        if inter.response_type != 8:
            raise RejectedResponse(f"autocomplete answer for /{command} {focused!r} was refused: {inter.failures}")
        return list(inter.choices or [])

    async def click(self, message: Message, custom_id: str, *, user_id: int) -> Interaction:
        msg = self._live_message(message)
        comp = next(
            (c for c in walk_components(msg.components) if c.get("type") == 2 and c.get("custom_id") == custom_id),
            None,
        )
        if comp is None:
            have = [b["custom_id"] for b in msg.buttons()]
            raise AssertionError(f"message {msg.id} has no button {custom_id!r}; buttons: {have}")
        if comp.get("disabled"):
            raise AssertionError(f"button {custom_id!r} on message {msg.id} is disabled")
        guild, channel = self._message_context(msg, user_id)
        data = {"custom_id": custom_id, "component_type": 2}
        if comp.get("id") is not None:
            data["id"] = comp["id"]
        return await self._send_interaction(3, data, guild, channel, user_id, label=f"click {custom_id!r}", message=msg)

    async def select(self, message: Message, custom_id: str, values: list[str], *, user_id: int) -> Interaction:
        msg = self._live_message(message)
        comp = next(
            (
                c
                for c in walk_components(msg.components)
                if c.get("type") in SELECT_TYPES and c.get("custom_id") == custom_id
            ),
            None,
        )
        if comp is None:
            have = [s["custom_id"] for s in msg.selects()]
            raise AssertionError(f"message {msg.id} has no select {custom_id!r}; selects: {have}")
        if comp.get("disabled"):
            raise AssertionError(f"select {custom_id!r} on message {msg.id} is disabled")
        guild, channel = self._message_context(msg, user_id)
        resolved: dict[str, dict] = {}
        data = {
            "custom_id": custom_id,
            "component_type": comp["type"],
            "values": self._select_values(comp, values, resolved, guild, user_id),
        }
        if comp.get("id") is not None:
            data["id"] = comp["id"]
        if resolved:
            data["resolved"] = resolved
        return await self._send_interaction(
            3, data, guild, channel, user_id, label=f"select {custom_id!r}", message=msg
        )

    async def submit_modal(
        self, interaction: Interaction, values: dict[str, Any], *, user_id: int | None = None
    ) -> Interaction:
        modal = interaction.modal
        if modal is None or interaction.response_type != 9:
            raise AssertionError(
                f"{interaction.label} was not answered with a modal (response_type={interaction.response_type})"
            )
        user_id = interaction.user_id if user_id is None else user_id
        guild = self._guild(interaction.guild_id)
        remaining = dict(values)
        resolved: dict[str, dict] = {}
        components: list[dict] = []
        inputs: list[str] = [c.get("custom_id") for c in walk_components(modal.get("components")) if c.get("custom_id")]
        unknown = sorted(set(values) - set(inputs))
        if unknown:
            raise AssertionError(f"modal {modal.get('custom_id')!r} has no input(s) {unknown}; inputs: {inputs}")
        for comp in modal.get("components") or []:
            t = comp.get("type")
            if t == 1:
                row = {
                    "type": 1,
                    "components": [
                        self._submit_value(c, remaining, resolved, guild, user_id) for c in comp.get("components") or []
                    ],
                }
                if comp.get("id") is not None:
                    row["id"] = comp["id"]
                components.append(row)
            elif t == 18:
                label = {
                    "type": 18,
                    "component": self._submit_value(comp["component"], remaining, resolved, guild, user_id),
                }
                if comp.get("id") is not None:
                    label["id"] = comp["id"]
                components.append(label)
            elif t == 10:
                components.append({"type": 10, **({"id": comp["id"]} if comp.get("id") is not None else {})})
        if remaining:
            raise AssertionError(
                f"modal {modal.get('custom_id')!r} has no input(s) {sorted(remaining)}; inputs: {inputs}"
            )
        data: dict[str, Any] = {"custom_id": modal["custom_id"], "components": components}
        if resolved:
            data["resolved"] = resolved
        channel = self._channels[interaction.channel_id]
        self._member_context(interaction.guild_id, interaction.channel_id, user_id)
        message = interaction.source_message if interaction.type == 3 else None
        return await self._send_interaction(
            5, data, guild, channel, user_id, label=f"modal {modal['custom_id']!r}", message=message
        )

    async def post_message(self, channel_id: int, *, user_id: int, content: str, bot: bool = False) -> Message:
        channel = self._usable_channel(channel_id)
        guild_id = channel.get("guild_id")
        if guild_id is not None:
            guild = self._guild(int(guild_id))
            if user_id not in guild.members:
                raise AssertionError(f"user {user_id} is not a member of guild {guild_id}")
        elif int(channel["recipients"][0]["id"]) != user_id:
            raise AssertionError(f"channel {channel_id} is the DM of another user")
        msg = Message(
            id=snowflake(),
            channel_id=channel_id,
            author_id=user_id,
            content=content,
            guild_id=int(guild_id) if guild_id is not None else None,
            author_bot=bot or None,
        )
        await self._store_and_announce(msg)
        return msg

    async def react(self, message: Message | int, emoji: str, *, user_id: int) -> None:
        """A member reacts to a message with a (unicode) emoji, as in Discord's client: once per member and emoji,
        which needs Add Reactions when nobody reacted with it yet. The bot hears MESSAGE_REACTION_ADD, with the
        member in a server, when it asked for the GUILD_MESSAGE_REACTIONS intent."""
        msg = self._live_message(message)
        guild, channel = self._message_context(msg, user_id)
        needed = P(read_message_history=True, add_reactions=emoji not in msg.reactions).value
        if self._channel_perms(guild, channel, user_id) & needed != needed:
            raise AssertionError(f"user {user_id} may not react in channel {msg.channel_id}")
        await self._add_reaction(msg, emoji, user_id)

    async def unreact(self, message: Message | int, emoji: str, *, user_id: int) -> None:
        """A member takes their reaction back (MESSAGE_REACTION_REMOVE)."""
        msg = self._live_message(message)
        self._message_context(msg, user_id)
        await self._remove_reaction(msg, emoji, user_id)

    # ------------------------------------------------------------------------------------------
    # building interactions
    # ------------------------------------------------------------------------------------------
    def _member_context(self, guild_id: int, channel_id: int, user_id: int) -> tuple[Guild, dict]:
        guild = self._guild(guild_id)
        if user_id not in guild.members:
            raise AssertionError(f"user {user_id} is not a member of guild {guild_id} (use add_member)")
        channel = self._usable_channel(channel_id)
        if channel.get("guild_id") != str(guild_id):
            raise AssertionError(f"channel {channel_id} is not in guild {guild_id}")
        return guild, channel

    def _message_context(self, msg: Message, user_id: int) -> tuple[Guild, dict]:
        if msg.guild_id is None:
            raise AssertionError("component interactions in DMs are not supported by the fake")
        if msg.ephemeral and msg.recipient_id is not None and msg.recipient_id != user_id:
            raise AssertionError(f"message {msg.id} is ephemeral and only visible to user {msg.recipient_id}")
        return self._member_context(msg.guild_id, msg.channel_id, user_id)

    def _live_message(self, message: Message | int) -> Message:
        msg = self._message_index.get(message if isinstance(message, int) else message.id)
        if msg is None:
            raise AssertionError(f"unknown message {message!r}")
        if msg.deleted:
            raise AssertionError(f"message {msg.id} was deleted")
        return msg

    def _usable_channel(self, channel_id: int) -> dict:
        if channel_id in self._removed_channels:
            raise AssertionError(f"channel {channel_id} was removed")
        channel = self._channels.get(channel_id)
        if channel is None:
            raise AssertionError(f"unknown channel {channel_id} (use add_channel)")
        return channel

    def _find_command(self, name: str, guild_id: int) -> tuple[dict, int | None]:
        for scope in (guild_id, None):
            for cmd in self.commands.get(scope, []):
                if cmd.get("name") == name and cmd.get("type", 1) == 1:
                    return cmd, scope
        known = sorted(
            {c["name"] for scope in (guild_id, None) for c in self.commands.get(scope, []) if c.get("type", 1) == 1}
        )
        raise AssertionError(f"no slash command /{name} synced for guild {guild_id} or globally; synced: {known}")

    def _command_data(self, command: str, guild: Guild, user_id: int) -> tuple[dict, list[dict]]:
        parts = command.split()
        if not parts:
            raise AssertionError("empty command path")
        schema, scope = self._find_command(parts[0], guild.id)
        self._check_command_allowed(schema, guild, user_id, command)
        data: dict[str, Any] = {"id": schema["id"], "name": parts[0], "type": 1}
        if scope is not None:
            data["guild_id"] = str(scope)
        opts = schema.get("options") or []
        node = data
        for i, sub in enumerate(parts[1:], start=1):
            found = next((o for o in opts if o.get("name") == sub and o.get("type") in (1, 2)), None)
            if found is None:
                subs = [o["name"] for o in opts if o.get("type") in (1, 2)]
                raise AssertionError(f"/{' '.join(parts[:i])} has no subcommand {sub!r}; subcommands: {subs}")
            child: dict[str, Any] = {"name": sub, "type": found["type"]}
            node.setdefault("options", []).append(child)
            node = child
            opts = found.get("options") or []
        subs = [o["name"] for o in opts if o.get("type") in (1, 2)]
        if subs:
            raise AssertionError(f"/{command} needs a subcommand: {subs}")
        data["_leaf"] = node  # removed by _place_options
        return data, opts

    @staticmethod
    def _place_options(data: dict, built: list[dict]) -> None:
        leaf = data.pop("_leaf")
        if built:
            leaf["options"] = built
        elif leaf is not data:
            leaf["options"] = []

    def _check_command_allowed(self, schema: dict, guild: Guild, user_id: int, command: str) -> None:
        contexts = schema.get("contexts")
        if contexts is not None and 0 not in contexts:
            raise CommandUnavailable(f"/{command} is not available in guilds (contexts={contexts})")
        needed = schema.get("default_member_permissions")
        if needed is None or (schema["name"], user_id) in guild.command_overrides:
            return
        perms = self._member_perms(guild, user_id)
        needed_bits = int(needed)
        allowed = bool(perms & ADMINISTRATOR) if needed_bits == 0 else member_has(perms, needed_bits)
        if not allowed:
            raise CommandUnavailable(
                f"member {user_id} cannot use /{command}: needs default_member_permissions={needed_bits}, has {perms}"
            )

    def _build_options(
        self,
        command: str,
        schema: list[dict],
        values: dict,
        resolved: dict,
        guild: Guild,
        user_id: int,
        *,
        focused: str | None,
    ) -> list[dict]:
        names = [o.get("name") for o in schema]
        for name in values:
            if name not in names:
                raise AssertionError(f"/{command} has no option {name!r}; options: {names}")
        out = []
        for opt in schema:
            name = opt["name"]
            if name not in values:
                if opt.get("required") and focused is None:
                    raise AssertionError(f"/{command} requires option {name!r}")
                continue
            value = values[name]
            t = opt["type"]
            if name == focused:
                out.append({"name": name, "type": t, "value": value if t == 5 else str(value), "focused": True})
                continue
            out.append(
                {"name": name, "type": t, "value": self._option_value(command, opt, value, resolved, guild, user_id)}
            )
        return out

    def _option_value(self, command: str, opt: dict, value: Any, resolved: dict, guild: Guild, user_id: int) -> Any:
        t, name = opt["type"], opt["name"]
        where = f"/{command} option {name!r}"
        choices = opt.get("choices")
        if t in (3, 4, 10):
            if t == 3 and not isinstance(value, str):
                raise AssertionError(f"{where} takes a string, got {value!r}")
            if t == 4 and (not isinstance(value, int) or isinstance(value, bool)):
                raise AssertionError(f"{where} takes an integer, got {value!r}")
            if t == 10 and (not isinstance(value, (int, float)) or isinstance(value, bool)):
                raise AssertionError(f"{where} takes a number, got {value!r}")
            if choices and value not in [c["value"] for c in choices]:
                raise AssertionError(f"{where} must be one of {[c['value'] for c in choices]}, got {value!r}")
            if t == 3:
                if opt.get("min_length") is not None and len(value) < opt["min_length"]:
                    raise AssertionError(f"{where} must be at least {opt['min_length']} characters")
                if opt.get("max_length") is not None and len(value) > opt["max_length"]:
                    raise AssertionError(f"{where} must be at most {opt['max_length']} characters")
            else:
                if opt.get("min_value") is not None and value < opt["min_value"]:
                    raise AssertionError(f"{where} must be >= {opt['min_value']}")
                if opt.get("max_value") is not None and value > opt["max_value"]:
                    raise AssertionError(f"{where} must be <= {opt['max_value']}")
            return value
        if t == 5:
            if not isinstance(value, bool):
                raise AssertionError(f"{where} takes a boolean, got {value!r}")
            return value
        if t == 6:
            uid = self._id_of(value)
            self._resolve_user(uid, resolved, guild, where)
            return str(uid)
        if t == 7:
            cid = self._id_of(value)
            channel = self._channels.get(cid)
            if channel is None or cid in self._removed_channels or channel.get("guild_id") != str(guild.id):
                raise AssertionError(f"{where}: unknown channel {cid} in guild {guild.id}")
            allowed = opt.get("channel_types")
            if allowed and channel["type"] not in allowed:
                raise AssertionError(
                    f"{where} accepts channel types {allowed}, channel {cid} is type {channel['type']}"
                )
            resolved.setdefault("channels", {})[str(cid)] = self._resolved_channel(channel, guild, user_id)
            return str(cid)
        if t == 8:
            rid = self._id_of(value)
            if rid not in guild.roles:
                raise AssertionError(f"{where}: unknown role {rid}")
            resolved.setdefault("roles", {})[str(rid)] = guild.roles[rid]
            return str(rid)
        if t == 9:
            mid = self._id_of(value)
            if mid in guild.roles:
                resolved.setdefault("roles", {})[str(mid)] = guild.roles[mid]
            else:
                self._resolve_user(mid, resolved, guild, where)
            return str(mid)
        if t == 11:
            if not isinstance(value, dict) or "id" not in value:
                raise AssertionError(f"{where} takes an attachment dict from fake.host_file(), got {value!r}")
            resolved.setdefault("attachments", {})[str(value["id"])] = dict(value)
            return str(value["id"])
        raise AssertionError(f"{where}: unsupported option type {t}")

    @staticmethod
    def _id_of(value: Any) -> int:
        if isinstance(value, dict):
            if "user" in value:
                return int(value["user"]["id"])
            return int(value["id"])
        if hasattr(value, "id"):
            return int(value.id)
        return int(value)

    def _resolve_user(self, uid: int, resolved: dict, guild: Guild, where: str) -> None:
        user = self.users.get(uid)
        if user is None:
            raise AssertionError(f"{where}: unknown user {uid}")
        resolved.setdefault("users", {})[str(uid)] = user
        if uid in guild.members:
            member = {k: v for k, v in self._member_payload(guild, uid).items() if k != "user"}
            member["permissions"] = str(self._member_perms(guild, uid))
            resolved.setdefault("members", {})[str(uid)] = member

    def _resolved_channel(self, channel: dict, guild: Guild, user_id: int) -> dict:
        out = {
            "id": channel["id"],
            "name": channel["name"],
            "type": channel["type"],
            "permissions": str(self._member_perms(guild, user_id)),
        }
        for key in ("parent_id", "thread_metadata", "owner_id", "member_count", "message_count", "position", "topic"):
            if key in channel:
                out[key] = channel[key]
        return out

    def _select_values(self, comp: dict, values: list, resolved: dict, guild: Guild, user_id: int) -> list[str]:
        cid = comp.get("custom_id")
        values = list(values)
        low, high = comp.get("min_values", 1), comp.get("max_values", 1)
        if not low <= len(values) <= high:
            raise AssertionError(f"select {cid!r} takes between {low} and {high} values, got {len(values)}")
        t = comp["type"]
        if t == 3:
            allowed = [o["value"] for o in comp.get("options") or []]
            for v in values:
                if v not in allowed:
                    raise AssertionError(f"select {cid!r} has no option {v!r}; options: {allowed}")
            return [str(v) for v in values]
        out = []
        where = f"select {cid!r}"
        for v in values:
            vid = self._id_of(v)
            if t == 5 or (t == 7 and vid not in guild.roles):
                self._resolve_user(vid, resolved, guild, where)
            elif t in (6, 7):
                if vid not in guild.roles:
                    raise AssertionError(f"{where}: unknown role {vid}")
                resolved.setdefault("roles", {})[str(vid)] = guild.roles[vid]
            elif t == 8:
                channel = self._channels.get(vid)
                if channel is None:
                    raise AssertionError(f"{where}: unknown channel {vid}")
                resolved.setdefault("channels", {})[str(vid)] = self._resolved_channel(channel, guild, user_id)
            out.append(str(vid))
        return out

    def _submit_value(self, comp: dict, remaining: dict, resolved: dict, guild: Guild, user_id: int) -> dict:
        t = comp.get("type")
        cid = comp.get("custom_id")
        out: dict[str, Any] = {"type": t}
        if comp.get("id") is not None:
            out["id"] = comp["id"]
        if cid is not None:
            out["custom_id"] = cid
        given = cid in remaining
        value = remaining.pop(cid, None)
        if t == 4:
            text = value if given else (comp.get("value") or "")
            if not isinstance(text, str):
                raise AssertionError(f"text input {cid!r} takes a string, got {text!r}")
            if comp.get("required", True) and not text:
                raise AssertionError(f"text input {cid!r} is required")
            if text and comp.get("min_length") and len(text) < comp["min_length"]:
                raise AssertionError(f"text input {cid!r} needs at least {comp['min_length']} characters")
            if comp.get("max_length") and len(text) > comp["max_length"]:
                raise AssertionError(f"text input {cid!r} takes at most {comp['max_length']} characters")
            out["value"] = text
        elif t in SELECT_TYPES:
            chosen = list(value) if given else [o["value"] for o in comp.get("options") or [] if o.get("default")]
            if not chosen and not comp.get("required", True):
                out["values"] = []
            else:
                out["values"] = self._select_values(comp, chosen, resolved, guild, user_id)
        elif t == 19:
            files = list(value or [])
            if comp.get("required", True) and not files:
                raise AssertionError(f"file upload {cid!r} is required")
            out["values"] = [str(f["id"]) for f in files]
            for f in files:
                resolved.setdefault("attachments", {})[str(f["id"])] = dict(f)
        elif t == 21:
            out["value"] = value
        elif t == 22:
            out["values"] = list(value or [])
        elif t == 23:
            out["value"] = bool(value)
        return out

    async def _send_interaction(
        self,
        itype: int,
        data: dict,
        guild: Guild,
        channel: dict,
        user_id: int,
        *,
        label: str,
        message: Message | None = None,
    ) -> Interaction:
        if not self.connected:
            raise AssertionError("no bot is connected to the fake gateway")
        iid = snowflake()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48)
        member = self._member_payload(guild, user_id)
        member["permissions"] = str(self._channel_perms(guild, channel, user_id))  # as Discord sends it: in the channel
        chan = dict(channel)
        chan["permissions"] = member["permissions"]
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(self.application_id),
            "type": itype,
            "data": data,
            "guild_id": str(guild.id),
            "guild": {"id": str(guild.id), "locale": "en-US", "features": []},
            "channel_id": channel["id"],
            "channel": chan,
            "member": member,
            "token": token,
            "version": 1,
            "app_permissions": str(self._bot_perms(int(channel["id"]))),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(guild.id)},
            "context": 0,
            "attachment_size_limit": self.attachment_size_limit,
        }
        if message is not None:
            payload["message"] = self._message_payload(message)
        inter = Interaction(
            self,
            id=iid,
            token=token,
            type=itype,
            payload=payload,
            user_id=user_id,
            guild_id=guild.id,
            channel_id=int(channel["id"]),
            label=label,
            source_message=message,
        )
        self._interactions[iid] = inter
        self._by_token[token] = inter
        self.interactions.append(inter)
        await self._dispatch("INTERACTION_CREATE", payload)
        inter.sent_at = time.monotonic()
        return inter

    # ------------------------------------------------------------------------------------------
    # payload builders
    # ------------------------------------------------------------------------------------------
    @staticmethod
    def _user_payload(user_id: int, name: str, *, bot: bool = False) -> dict:
        return {
            "id": str(user_id),
            "username": name,
            "discriminator": "0",
            "global_name": None if bot else name,
            "avatar": None,
            "bot": bot,
            "public_flags": 0,
            "flags": 0,
        }

    @staticmethod
    def _role_payload(role_id: int, name: str, permissions: int, *, position: int, managed: bool = False) -> dict:
        return {
            "id": str(role_id),
            "name": name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": position,
            "permissions": str(permissions),
            "managed": managed,
            "mentionable": False,
            "flags": 0,
        }

    def _permission_role(self, guild: Guild, permissions: int) -> int:
        """Members get one role carrying exactly their permissions (@everyone has none), shared by equal sets."""
        name = f"perms-{permissions:x}"
        for role_id, role in guild.roles.items():
            if role["name"] == name and not role["managed"]:
                return role_id
        role_id = snowflake()
        guild.roles[role_id] = self._role_payload(role_id, name, permissions, position=len(guild.roles))
        if self.connected:
            self._dispatch_soon(
                "GUILD_ROLE_CREATE", lambda s: {"guild_id": str(guild.id), "role": guild.roles[role_id]}
            )
        return role_id

    def _new_member(self, user_id: int, roles: list[int]) -> dict:
        return {
            "user": self.users[user_id],
            "roles": [str(r) for r in roles],
            "nick": None,
            "avatar": None,
            "banner": None,
            "joined_at": iso_now(),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }

    def _member_payload(self, guild: Guild, user_id: int) -> dict:
        return {**guild.members[user_id], "user": self.users[user_id]}

    def _member_perms(self, guild: Guild, user_id: int) -> int:
        if guild.owner_id == user_id:
            return ALL_PERMISSIONS
        perms = guild.member_permissions.get(user_id, 0)
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    def _channel_perms(self, guild: Guild, channel: dict, user_id: int) -> int:
        """A member's permissions in a channel, like Discord: server permissions, then @everyone's, the roles' and
        the member's own overwrites (a thread uses its parent's)."""
        perms = self._member_perms(guild, user_id)
        if perms == ALL_PERMISSIONS:
            return perms
        parent = channel.get("parent_id")
        if channel.get("type") in THREAD_TYPES and parent is not None and int(parent) in self._channels:
            channel = self._channels[int(parent)]
        overwrites = {(o["id"], o["type"]): o for o in channel.get("permission_overwrites", [])}
        member_roles = (guild.members.get(user_id) or {}).get("roles", [])
        layers = [[overwrites.get((str(guild.id), 0))], [overwrites.get((r, 0)) for r in member_roles]]
        layers.append([overwrites.get((str(user_id), 1))])
        for layer in layers:
            allow = deny = 0
            for o in layer:
                if o is not None:
                    allow, deny = allow | int(o["allow"]), deny | int(o["deny"])
            perms = (perms & ~deny) | allow
        return perms

    def _bot_perms(self, channel_id: int) -> int:
        perms = self.bot_permissions
        if perms & ADMINISTRATOR:
            return ALL_PERMISSIONS
        if self._is_forbidden(channel_id):
            perms &= ~SEND_PERMISSIONS
        return perms

    def _is_forbidden(self, channel_id: int) -> bool:
        if channel_id in self._forbidden_channels:
            return True
        channel = self._channels.get(channel_id)
        parent = channel.get("parent_id") if channel else None
        return parent is not None and int(parent) in self._forbidden_channels

    def _guild_create_payload(self, guild: Guild, intents: int) -> dict:
        # Like Discord: without the presences intent only the bot's own member is sent; members arrive by chunking.
        if intents & GUILD_PRESENCES:
            member_ids = list(guild.members)
        else:
            member_ids = [self.bot_user_id]
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "owner_id": str(guild.owner_id or self.bot_user_id),
            "roles": list(guild.roles.values()),
            "emojis": [],
            "stickers": [],
            "features": [],
            "channels": [dict(c) for c in guild.channels.values()],
            "threads": [dict(t) for t in guild.threads.values()],
            "members": [self._member_payload(guild, uid) for uid in member_ids],
            "member_count": len(guild.members),
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "large": False,
            "unavailable": False,
            "joined_at": guild.joined_at,
            "preferred_locale": "en-US",
            "premium_tier": 0,
            "system_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "application_id": None,
        }

    def _attachment_payload(self, att_id: int, filename: str, content_type: str, size: int) -> dict:
        url = f"{self.base_url}/attachments/{att_id}/{filename}"
        return {
            "id": str(att_id),
            "filename": filename,
            "size": size,
            "url": url,
            "proxy_url": url,
            "content_type": content_type,
        }

    def _message_payload(self, msg: Message) -> dict:
        author = dict(self.users.get(msg.author_id) or self._user_payload(msg.author_id, f"user{msg.author_id}"))
        if msg.author_bot is not None:
            author["bot"] = msg.author_bot
        mentioned = [int(m) for m in re.findall(r"<@!?(\d+)>", msg.content or "")]
        payload: dict[str, Any] = {
            "id": str(msg.id),
            "channel_id": str(msg.channel_id),
            "author": author,
            "content": msg.content,
            "timestamp": msg.timestamp,
            "edited_timestamp": msg.edited_timestamp,
            "tts": msg.tts,
            "mention_everyone": False,
            "mentions": [self.users[u] for u in dict.fromkeys(mentioned) if u in self.users],
            "mention_roles": [],
            "attachments": [{k: v for k, v in a.items() if k != "data"} for a in msg.attachments],
            "embeds": msg.embeds,
            "pinned": False,
            "type": msg.type,
            "flags": msg.flags,
            "components": msg.components,
        }
        if msg.guild_id is not None:
            payload["guild_id"] = str(msg.guild_id)
        if msg.webhook_id is not None:
            payload["webhook_id"] = str(msg.webhook_id)
        if msg.application_id is not None:
            payload["application_id"] = str(msg.application_id)
        if msg.interaction_id is not None:
            inter = self._interactions.get(msg.interaction_id)
            if inter is not None:
                payload["interaction_metadata"] = {
                    "id": str(inter.id),
                    "type": inter.type,
                    "user": self.users[inter.user_id],
                    "authorizing_integration_owners": {"0": str(inter.guild_id)},
                }
        if msg.thread is not None:
            payload["thread"] = msg.thread
        if msg.message_reference is not None:
            payload["message_reference"] = msg.message_reference
        return payload

    def _gateway_message_payload(self, msg: Message, intents: int) -> dict:
        payload = self._message_payload(msg)
        if msg.guild_id is not None and msg.webhook_id is None:
            guild = self.guilds.get(msg.guild_id)
            if guild is not None and msg.author_id in guild.members:
                payload["member"] = {k: v for k, v in self._member_payload(guild, msg.author_id).items() if k != "user"}
        is_dm = msg.guild_id is None
        mentioned = str(self.bot_user_id) in {m["id"] for m in payload["mentions"]}
        if not intents & MESSAGE_CONTENT and msg.author_id != self.bot_user_id and not is_dm and not mentioned:
            payload.update(content="", embeds=[], attachments=[], components=[])
        return payload

    def _thread_payload(
        self, thread_id: int, parent: dict, name: str, type_: int, auto_archive: int, invitable: bool
    ) -> dict:
        now = iso_now()
        return {
            "id": str(thread_id),
            "type": type_,
            "guild_id": parent["guild_id"],
            "parent_id": parent["id"],
            "owner_id": str(self.bot_user_id),
            "name": name,
            "last_message_id": None,
            "message_count": 0,
            "member_count": 1,
            "rate_limit_per_user": 0,
            "flags": 0,
            "total_message_sent": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": auto_archive,
                "archive_timestamp": now,
                "locked": False,
                "invitable": invitable,
                "create_timestamp": now,
            },
        }

    # ------------------------------------------------------------------------------------------
    # gateway
    # ------------------------------------------------------------------------------------------
    def _event_allowed(self, event: str, data: dict, intents: int) -> bool:
        if event in (
            "GUILD_CREATE",
            "CHANNEL_CREATE",
            "CHANNEL_UPDATE",
            "CHANNEL_DELETE",
            "GUILD_ROLE_CREATE",
        ) or event.startswith("THREAD_"):
            return bool(intents & GUILDS)
        if event in ("GUILD_MEMBER_ADD", "GUILD_MEMBER_REMOVE"):
            return bool(intents & GUILD_MEMBERS)
        if event.startswith("GUILD_SCHEDULED_EVENT_"):
            return bool(intents & GUILD_SCHEDULED_EVENTS_INTENT)
        if event.startswith("MESSAGE_REACTION"):
            return bool(intents & GUILD_MESSAGE_REACTIONS) if data.get("guild_id") else True
        if event.startswith("MESSAGE_"):
            return bool(intents & (GUILD_MESSAGES if data.get("guild_id") else DIRECT_MESSAGES))
        return True

    async def _send_op(self, session: _Session, payload: dict) -> None:
        ws = session.ws
        if ws is None or ws.closed:
            return
        async with session.lock:
            try:
                await ws.send_str(json.dumps(payload))
            except (ConnectionResetError, RuntimeError):
                log.debug("fake gateway: send failed, socket closed")

    @staticmethod
    def _event_guild(event: str, payload: dict) -> int | None:
        guild_id = payload.get("guild_id")
        if guild_id is None and event in ("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE"):
            guild_id = payload.get("id")
        return None if guild_id is None else int(guild_id)

    async def _send_event(self, session: _Session, event: str, payload: dict) -> None:
        """Send one dispatch on one session (if it is connected and its intents ask for the event)."""
        if not session.live or not self._event_allowed(event, payload, session.intents):
            return
        session.seq += 1
        await self._send_op(session, {"op": 0, "t": event, "s": session.seq, "d": payload})

    async def _dispatch_to(self, session: _Session, event: str, payload: dict) -> None:
        """A dispatch that belongs to one session (READY, its GUILD_CREATEs, RESUMED, member chunks)."""
        self.events.append((event, payload))
        await self._send_event(session, event, payload)

    async def _dispatch(self, event: str, data: dict | Callable[[_Session], dict]) -> None:
        """Route a dispatch like Discord: a guild's events go to the session of the shard that owns the guild,
        events without a guild (DMs) to shard 0. With the owning shard disconnected the event is dropped."""
        sessions = list(self._sessions.values())
        if not sessions:
            if not callable(data):
                self.events.append((event, data))
            return
        recorded: dict | None = None
        guild_id: int | None = None
        delivered = False
        for session in sessions:
            payload = data(session) if callable(data) else data
            if recorded is None:
                recorded = payload
                guild_id = self._event_guild(event, payload)
            if session.live and session.owns(guild_id):
                delivered = True
                await self._send_event(session, event, payload)
        assert recorded is not None
        self.events.append((event, recorded))
        if not delivered:
            self.dropped.append((event, guild_id))
            log.debug("fake gateway: %s for guild %s dropped, its shard is not connected", event, guild_id)

    def _dispatch_soon(self, event: str, build: Callable[[_Session], dict]) -> None:
        """Dispatch from synchronous world-building methods, only once a bot is connected."""
        if not self.connected:
            return
        task = asyncio.get_running_loop().create_task(self._dispatch(event, build))
        task.add_done_callback(lambda t: t.exception() and log.error("dispatch failed", exc_info=t.exception()))

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self._sockets.add(ws)
        temp = _Session(ws, 0, None)  # only for HELLO, heartbeat ACKs and refusals before IDENTIFY/RESUME
        await self._send_op(
            temp, {"op": 10, "s": None, "t": None, "d": {"heartbeat_interval": self.heartbeat_interval}}
        )
        session: _Session | None = None
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    packet = json.loads(msg.data)
                except ValueError:
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                op, d = packet.get("op"), packet.get("d")
                target = session or temp
                if op == 1:
                    await self._send_op(target, {"op": 11, "s": None, "t": None, "d": None})
                elif op == 2:
                    if session is not None:
                        await ws.close(code=4005, message=b"Already authenticated.")
                        break
                    if d.get("token") != self.token:
                        await ws.close(code=4004, message=b"Authentication failed.")
                        break
                    refused = int(d.get("intents", 0)) & PRIVILEGED_INTENTS & ~(self.allowed_intents or 0)
                    if self.allowed_intents is not None and refused:
                        await ws.close(code=4014, message=b"Disallowed intent(s).")
                        break
                    if not _valid_shard(d.get("shard")):
                        await ws.close(code=4010, message=b"Invalid shard.")
                        break
                    session = _Session(ws, int(d.get("intents", 0)), d.get("shard"))
                    await self._identify(session)
                elif op == 6:
                    old = next((s for s in self._sessions.values() if s.id == d.get("session_id")), None)
                    if session is None and old is not None and d.get("token") == self.token:
                        old.ws = ws
                        old.ready = False
                        session = old
                        await self._dispatch_to(old, "RESUMED", {})
                        old.ready = True
                        old.resumes += 1
                        self._update_ready()
                    else:
                        await self._send_op(temp, {"op": 9, "s": None, "t": None, "d": False})
                elif op == 8 and session is not None:
                    await self._send_chunk(session, d)
                elif op in (3, 4, 31):
                    continue
                else:
                    await ws.close(code=4001, message=b"Unknown opcode.")
                    break
        finally:
            self._sockets.discard(ws)
            if session is not None and session.ws is ws:
                # the other shards' sessions carry on; this one stays resumable until its shard identifies again
                session.ws = None
                session.ready = False
                self._update_ready()
        return ws

    def _update_ready(self) -> None:
        """`ready`: some session is connected and every connected session got READY and its guilds (or RESUMED)."""
        live = [s for s in self._sessions.values() if s.live]
        if live and all(s.ready for s in live):
            self.ready.set()
        else:
            self.ready.clear()

    async def _identify(self, session: _Session) -> None:
        old = self._sessions.get(session.key)
        if old is not None and old.live:
            # Discord: the new session replaces the shard's old one, which receives nothing more
            log.debug("fake gateway: shard %s identified again; the old session stops receiving events", session.key)
        self._sessions[session.key] = session
        self._update_ready()
        guilds = [g for g in self.guilds.values() if session.owns(g.id)]
        ready = {
            "v": 10,
            "user": {**self.users[self.bot_user_id], "verified": True, "mfa_enabled": False, "email": None},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
            "_trace": ["fakediscord"],
        }
        if session.shard is not None:
            ready["shard"] = session.shard
        await self._dispatch_to(session, "READY", ready)
        for guild in guilds:
            await self._dispatch_to(session, "GUILD_CREATE", self._guild_create_payload(guild, session.intents))
        if self._sessions.get(session.key) is session:
            session.ready = session.live
            self._update_ready()

    async def _send_chunk(self, session: _Session, d: dict) -> None:
        guild = self.guilds.get(int(d.get("guild_id", 0)))
        if guild is None or not session.owns(guild.id):
            return
        user_ids = {int(u) for u in d.get("user_ids") or []}
        query = (d.get("query") or "").lower()
        members, not_found = [], []
        for uid in guild.members:
            if user_ids and uid not in user_ids:
                continue
            if query and not self.users[uid]["username"].lower().startswith(query):
                continue
            members.append(self._member_payload(guild, uid))
        limit = d.get("limit") or 0
        if limit:
            members = members[:limit]
        not_found = [str(u) for u in user_ids if u not in guild.members]
        chunk = {
            "guild_id": str(guild.id),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": not_found,
        }
        if d.get("nonce"):
            chunk["nonce"] = d["nonce"]
        await self._dispatch_to(session, "GUILD_MEMBERS_CHUNK", chunk)

    # ------------------------------------------------------------------------------------------
    # REST plumbing
    # ------------------------------------------------------------------------------------------
    def _build_routes(self) -> None:
        app = r"(?P<app>\d+)"
        cid = r"(?P<cid>\d+)"
        mid = r"(?P<mid>\d+)"
        token = r"(?P<token>[^/]+)"
        table: list[tuple[str, str, Handler, bool]] = [
            ("GET", r"/users/@me", self._r_me, True),
            ("GET", r"/oauth2/applications/@me", self._r_app_info, True),
            ("GET", r"/applications/@me", self._r_app_info, True),
            ("GET", r"/gateway/bot", self._r_gateway_bot, True),
            ("GET", r"/gateway", self._r_gateway, False),
            ("GET", rf"/applications/{app}/commands", self._r_get_commands, True),
            ("PUT", rf"/applications/{app}/commands", self._r_put_commands, True),
            ("POST", rf"/applications/{app}/commands", self._r_post_command, True),
            ("GET", rf"/applications/{app}/guilds/(?P<gid>\d+)/commands", self._r_get_commands, True),
            ("PUT", rf"/applications/{app}/guilds/(?P<gid>\d+)/commands", self._r_put_commands, True),
            ("POST", rf"/applications/{app}/guilds/(?P<gid>\d+)/commands", self._r_post_command, True),
            ("GET", rf"/applications/{app}(?:/guilds/(?P<gid>\d+))?/commands/(?P<cmd>\d+)", self._r_get_command, True),
            (
                "DELETE",
                rf"/applications/{app}(?:/guilds/(?P<gid>\d+))?/commands/(?P<cmd>\d+)",
                self._r_delete_command,
                True,
            ),
            ("POST", rf"/interactions/(?P<iid>\d+)/{token}/callback", self._r_callback, False),
            ("POST", rf"/webhooks/{app}/{token}", self._r_followup, False),
            ("GET", rf"/webhooks/{app}/{token}/messages/(?P<mid>\d+|@original)", self._r_webhook_get, False),
            ("PATCH", rf"/webhooks/{app}/{token}/messages/(?P<mid>\d+|@original)", self._r_webhook_edit, False),
            ("DELETE", rf"/webhooks/{app}/{token}/messages/(?P<mid>\d+|@original)", self._r_webhook_delete, False),
            ("GET", rf"/channels/{cid}", self._r_get_channel, True),
            ("PATCH", rf"/channels/{cid}", self._r_edit_thread, True),
            ("DELETE", rf"/channels/{cid}", self._r_delete_channel, True),
            ("GET", rf"/channels/{cid}/messages", self._r_history, True),
            ("POST", rf"/channels/{cid}/messages", self._r_send, True),
            ("GET", rf"/channels/{cid}/messages/{mid}", self._r_get_message, True),
            ("PATCH", rf"/channels/{cid}/messages/{mid}", self._r_edit_message, True),
            ("DELETE", rf"/channels/{cid}/messages/{mid}", self._r_delete_message, True),
            ("POST", rf"/channels/{cid}/messages/{mid}/threads", self._r_thread_from_message, True),
            ("POST", rf"/channels/{cid}/threads", self._r_thread, True),
            ("POST", rf"/channels/{cid}/typing", self._r_typing, True),
            ("PUT", rf"/channels/{cid}/messages/{mid}/reactions/(?P<emoji>[^/]+)/@me", self._r_react, True),
            ("DELETE", rf"/channels/{cid}/messages/{mid}/reactions/(?P<emoji>[^/]+)/@me", self._r_unreact, True),
            ("POST", r"/users/@me/channels", self._r_open_dm, True),
            ("GET", r"/users/(?P<uid>\d+)", self._r_get_user, True),
            ("GET", r"/guilds/(?P<gid>\d+)", self._r_get_guild, True),
            ("GET", r"/guilds/(?P<gid>\d+)/channels", self._r_guild_channels, True),
            ("GET", r"/guilds/(?P<gid>\d+)/roles", self._r_guild_roles, True),
            ("GET", r"/guilds/(?P<gid>\d+)/members/(?P<uid>\d+)", self._r_get_member, True),
            *self.scheduled_events.routes(),
        ]
        self._routes = [(m, re.compile(p), h, auth) for m, p, h, auth in table]

    def _match_route(self, method: str, path: str) -> tuple[Handler, bool, re.Match[str]] | None:
        for m, pattern, handler, auth in self._routes:
            if m == method:
                match = pattern.fullmatch(path)
                if match is not None:
                    return handler, auth, match
        return None

    async def _api(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        method = request.method
        self.requests.append((method, path))
        self._inflight += 1
        self._last_request = time.monotonic()
        inter: Interaction | None = None
        try:
            route = self._match_route(method, path)
            if route is None:
                self.unknown_requests.append((method, path))
                log.warning("fakediscord: unknown route %s %s", method, path)
                return json_response({"message": "404: Not Found", "code": 0}, 404)
            handler, auth, match = route
            if auth and request.headers.get("Authorization") != f"Bot {self.token}":
                return json_response({"message": "401: Unauthorized", "code": 0}, 401)
            await self._pass_gate(method, path)
            if (outage := self._outage(method, path)) is not None:
                self.failed_requests.append((method, path, outage.status))
                log.info("fakediscord: %s %s -> %s (injected)", method, path, outage.status)
                if outage.taken:
                    await handler(request, **{k: v for k, v in match.groupdict().items() if v is not None})
                return json_response({"message": f"{outage.status}: injected outage", "code": 0}, outage.status)
            params = {k: v for k, v in match.groupdict().items() if v is not None}
            if "iid" in params:
                inter = self._interactions.get(int(params["iid"]))
            elif "token" in params:
                inter = self._by_token.get(params["token"])
            if inter is not None:
                inter._inflight += 1
                inter._touch()
            try:
                return await handler(request, **params)
            except ApiError as err:
                body = err.body()
                if err.validation:
                    self.rejected.append((f"{method} {path}", body))
                if inter is not None:
                    inter.failures.append({"route": f"{method} {path}", "status": err.status, **body})
                log.info("fakediscord: %s %s -> %s %s", method, path, err.status, body)
                return json_response(body, err.status)
            finally:
                if inter is not None:
                    inter._inflight -= 1
                    inter._touch()
                    if "iid" in params:
                        inter._callback_event.set()
        except Exception:
            tb = traceback.format_exc()
            self.internal_errors.append(tb)
            log.error("fakediscord internal error on %s %s\n%s", method, path, tb)
            # 400, not 500: discord.py retries 5xx with sleeps
            return json_response({"message": "fake discord internal error", "code": 0}, 400)
        finally:
            self._inflight -= 1
            self._last_request = time.monotonic()

    async def _read_body(self, request: web.Request) -> tuple[Any, list[dict]]:
        """JSON body or multipart (payload_json + files[n]). Files: [{"index", "filename", "data", "content_type"}]."""
        files: list[dict] = []
        if request.content_type == "multipart/form-data":
            payload: Any = {}
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                name = part.name or ""
                if name == "payload_json":
                    payload = json.loads(await part.text())
                    continue
                m = re.fullmatch(r"files\[(\d+)\]", name)
                if m is None:
                    raise ApiError(
                        400,
                        50035,
                        "Invalid Form Body",
                        {name: {"_errors": [{"code": "UNKNOWN_FIELD", "message": "unknown form field"}]}},
                        validation=True,
                    )
                files.append(
                    {
                        "index": int(m.group(1)),
                        "filename": part.filename or f"file{m.group(1)}",
                        "data": bytes(await part.read()),
                        "content_type": part.headers.get("Content-Type"),
                    }
                )
            return payload, files
        raw = await request.read()
        if not raw:
            return {}, files
        try:
            return json.loads(raw), files
        except ValueError:
            raise ApiError(400, 50109, "The request body contains invalid JSON.") from None

    def _check_upload_size(self, files: list[dict]) -> None:
        total = sum(len(f["data"]) for f in files)
        if total > self.attachment_size_limit:
            raise ApiError(413, 40005, "Request entity too large", validation=True)

    def _new_attachments(self, payload: dict, files: list[dict]) -> list[dict]:
        meta = {str(a.get("id")): a for a in payload.get("attachments") or [] if isinstance(a, dict)}
        out = []
        for f in files:
            info = meta.get(str(f["index"]), {})
            filename = info.get("filename") or f["filename"]
            content_type = mimetypes.guess_type(filename)[0] or f["content_type"] or "application/octet-stream"
            att_id = snowflake()
            self._files[att_id] = {"filename": filename, "content_type": content_type, "data": f["data"]}
            att = self._attachment_payload(att_id, filename, content_type, len(f["data"]))
            if info.get("description"):
                att["description"] = info["description"]
            att["data"] = f["data"]
            out.append(att)
        return out

    def _validate_message(
        self, payload: dict, files: list[dict], *, creating: bool, base: tuple = (), current: Message | None = None
    ) -> None:
        """Create (creating=True) or edit of `current`. Raises ApiError 400 (50035/50006) or 413 (40005)."""
        if not isinstance(payload, dict):
            raise invalid_form([((), "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")])
        self._check_upload_size(files)
        checked = payload
        if current is not None and current.flags & IS_COMPONENTS_V2:
            checked = {**payload, "flags": (payload.get("flags") or 0) | IS_COMPONENTS_V2}
        keeps = bool(payload.get("attachments"))
        problems, empty = validation.check_message(
            checked, creating=creating, file_count=len(files), keeps_attachments=keeps, base=base
        )
        if problems:
            raise invalid_form(problems)
        if current is not None and not current.loading:
            # an edit may not leave the message empty either
            content = payload["content"] if "content" in payload else current.content
            embeds = payload["embeds"] if "embeds" in payload else current.embeds
            components = payload["components"] if "components" in payload else current.components
            attachments = payload["attachments"] if "attachments" in payload else current.attachments
            empty = not ((content or "").strip() or embeds or components or attachments or files)
        if empty:
            raise ApiError(400, 50006, "Cannot send an empty message", validation=True)

    def _assign_component_ids(self, components: list[dict]) -> list[dict]:
        """Discord numbers components that were sent without an id."""
        used = {c["id"] for c in walk_components(components) if isinstance(c.get("id"), int)}
        n = 1
        for comp in walk_components(components):
            if comp.get("id") is None:
                while n in used:
                    n += 1
                comp["id"] = n
                used.add(n)
        return components

    def _message_from_payload(self, payload: dict, files: list[dict], *, channel_id: int, flags: int = 0) -> Message:
        channel = self._channels[channel_id]
        guild_id = channel.get("guild_id")
        msg = Message(
            id=snowflake(),
            channel_id=channel_id,
            author_id=self.bot_user_id,
            content=payload.get("content") or "",
            embeds=list(payload.get("embeds") or []),
            components=self._assign_component_ids(list(payload.get("components") or [])),
            flags=flags,
            allowed_mentions=payload.get("allowed_mentions"),
            attachments=self._new_attachments(payload, files),
            guild_id=int(guild_id) if guild_id is not None else None,
            tts=bool(payload.get("tts")),
        )
        ref = payload.get("message_reference")
        if ref:
            ref_id = int(ref.get("message_id", 0))
            target = self._message_index.get(ref_id)
            if target is None or target.deleted:
                if ref.get("fail_if_not_exists", True):
                    raise invalid_form([(("message_reference",), "REPLIES_UNKNOWN_MESSAGE", "Unknown message")])
            else:
                msg.message_reference = {
                    "type": 0,
                    "message_id": str(ref_id),
                    "channel_id": str(target.channel_id),
                    **({"guild_id": str(target.guild_id)} if target.guild_id else {}),
                }
                msg.type = 19
        return msg

    def _apply_edit(self, msg: Message, payload: dict, files: list[dict]) -> None:
        if "content" in payload:
            msg.content = payload["content"] or ""
        if "embeds" in payload:
            msg.embeds = list(payload["embeds"] or [])
        if "components" in payload:
            msg.components = self._assign_component_ids(list(payload["components"] or []))
        if "allowed_mentions" in payload:
            msg.allowed_mentions = payload["allowed_mentions"]
        if "flags" in payload and payload["flags"] is not None:
            keep = msg.flags & (EPHEMERAL | IS_COMPONENTS_V2)
            msg.flags = keep | (payload["flags"] & (SUPPRESS_EMBEDS | IS_COMPONENTS_V2))
        if "attachments" in payload:
            keep_ids = {str(a.get("id")) for a in payload["attachments"] or [] if isinstance(a, dict)}
            kept = [a for a in msg.attachments if a["id"] in keep_ids]
            msg.attachments = kept + self._new_attachments(payload, files)
        elif files:
            msg.attachments = msg.attachments + self._new_attachments(payload, files)
        msg.flags &= ~LOADING
        msg.edited_timestamp = iso_now()
        msg.edit_count += 1

    async def _store_and_announce(self, msg: Message) -> None:
        self._message_index[msg.id] = msg
        if self.on_message is not None:
            self.on_message(msg)
        if msg.ephemeral:
            return
        self._messages.setdefault(msg.channel_id, []).append(msg)
        channel = self._channels.get(msg.channel_id)
        if channel is not None:
            channel["last_message_id"] = str(msg.id)
            if channel["type"] in THREAD_TYPES:
                channel["message_count"] = channel.get("message_count", 0) + 1
                channel["total_message_sent"] = channel.get("total_message_sent", 0) + 1
        await self._dispatch("MESSAGE_CREATE", lambda s: self._gateway_message_payload(msg, s.intents))

    async def _announce_edit(self, msg: Message) -> None:
        if not msg.ephemeral:
            await self._dispatch("MESSAGE_UPDATE", lambda s: self._gateway_message_payload(msg, s.intents))

    async def _delete(self, msg: Message) -> None:
        msg.deleted = True
        if msg.ephemeral:
            return
        lst = self._messages.get(msg.channel_id, [])
        if msg in lst:
            lst.remove(msg)
        data = {"id": str(msg.id), "channel_id": str(msg.channel_id)}
        if msg.guild_id is not None:
            data["guild_id"] = str(msg.guild_id)
        await self._dispatch("MESSAGE_DELETE", data)

    def _rest_channel(self, cid: str) -> dict:
        channel_id = int(cid)
        if channel_id in self._removed_channels or channel_id not in self._channels:
            raise ApiError(404, 10003, "Unknown Channel")
        return self._channels[channel_id]

    def _rest_message(self, channel_id: int, mid: str) -> Message:
        msg = self._message_index.get(int(mid))
        if msg is None or msg.deleted or msg.ephemeral or msg.channel_id != channel_id:
            raise ApiError(404, 10008, "Unknown Message")
        return msg

    def _check_can_send(self, channel: dict) -> None:
        channel_id = int(channel["id"])
        if channel["type"] == 1:
            recipient = int(channel["recipients"][0]["id"])
            if recipient in self._dms_closed or self.users.get(recipient, {}).get("bot"):
                raise ApiError(403, 50007, "Cannot send messages to this user")
            return
        if (
            self._is_forbidden(channel_id)
            or not self._bot_perms(channel_id) & discord.Permissions(send_messages=True).value
        ):
            raise ApiError(403, 50013, "Missing Permissions")
        meta = channel.get("thread_metadata")
        if meta and meta.get("archived") and meta.get("locked"):
            raise ApiError(403, 50083, "Thread is archived")
        if meta and meta.get("locked") and not self._bot_perms(channel_id) & P(manage_threads=True).value:
            raise ApiError(403, 50013, "Missing Permissions")

    @staticmethod
    def _check_not_archived(channel: dict) -> None:
        """Like Discord: a message in an archived thread can be neither edited nor deleted until the thread is open
        again (Discord's app opens it first)."""
        meta = channel.get("thread_metadata")
        if meta and meta.get("archived"):
            raise ApiError(400, 50083, "Thread is archived")

    async def _reopen_if_archived(self, channel: dict) -> None:
        """Like Discord: sending a message in an archived thread (not locked) opens it again."""
        meta = channel.get("thread_metadata")
        if meta and meta.get("archived"):
            meta.update(archived=False, archive_timestamp=iso_now())
            await self._dispatch("THREAD_UPDATE", dict(channel))

    # ------------------------------------------------------------------------------------------
    # REST handlers: login, gateway, commands
    # ------------------------------------------------------------------------------------------
    async def _r_me(self, request: web.Request) -> web.Response:
        return json_response(
            {**self.users[self.bot_user_id], "verified": True, "mfa_enabled": False, "locale": "en-US", "email": None}
        )

    async def _r_app_info(self, request: web.Request) -> web.Response:
        bot = self.users[self.bot_user_id]
        owner = self._user_payload(1, "owner")
        return json_response(
            {
                "id": str(self.application_id),
                "name": bot["username"],
                "icon": None,
                "description": "",
                "summary": "",
                "type": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "flags": 0,
                "owner": owner,
                "team": None,
                "bot": bot,
                "redirect_uris": [],
                "interactions_endpoint_url": None,
                "tags": [],
                "approximate_guild_count": len(self.guilds),
            }
        )

    async def _r_gateway_bot(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "url": self.gateway_url,
                "shards": self.recommended_shards,
                "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1},
            }
        )

    async def _r_gateway(self, request: web.Request) -> web.Response:
        return json_response({"url": self.gateway_url})

    def _check_app(self, app: str) -> None:
        if int(app) != self.application_id:
            raise ApiError(403, 50001, "Missing Access")

    def _scope(self, gid: str | None) -> int | None:
        if gid is None:
            return None
        if int(gid) not in self.guilds:
            raise ApiError(403, 50001, "Missing Access")
        return int(gid)

    def _store_command(self, scope: int | None, cmd: dict, existing: list[dict]) -> dict:
        old = next(
            (c for c in existing if c["name"] == cmd.get("name") and c.get("type", 1) == cmd.get("type", 1)), None
        )
        stored = {
            "type": 1,
            "default_member_permissions": None,
            "nsfw": False,
            "description": "",
            "options": [],
            **cmd,
            "id": old["id"] if old else str(snowflake()),
            "application_id": str(self.application_id),
            "version": str(snowflake()),
        }
        if scope is not None:
            stored["guild_id"] = str(scope)
        return stored

    async def _r_get_commands(self, request: web.Request, app: str, gid: str | None = None) -> web.Response:
        self._check_app(app)
        return json_response(self.commands.get(self._scope(gid), []))

    async def _r_put_commands(self, request: web.Request, app: str, gid: str | None = None) -> web.Response:
        self._check_app(app)
        scope = self._scope(gid)
        body, _ = await self._read_body(request)
        problems = validation.check_commands(body)
        if problems:
            raise invalid_form(problems)
        existing = self.commands.get(scope, [])
        self.commands[scope] = [self._store_command(scope, cmd, existing) for cmd in body]
        return json_response(self.commands[scope])

    async def _r_post_command(self, request: web.Request, app: str, gid: str | None = None) -> web.Response:
        self._check_app(app)
        scope = self._scope(gid)
        body, _ = await self._read_body(request)
        problems = validation.check_commands([body])
        if problems:
            raise invalid_form(problems)
        existing = self.commands.get(scope, [])
        stored = self._store_command(scope, body, existing)
        self.commands[scope] = [c for c in existing if c["id"] != stored["id"]] + [stored]
        return json_response(stored, 201)

    def _command_by_id(self, gid: str | None, cmd: str) -> tuple[int | None, dict]:
        scope = self._scope(gid)
        for c in self.commands.get(scope, []):
            if c["id"] == cmd:
                return scope, c
        raise ApiError(404, 10063, "Unknown application command")

    async def _r_get_command(self, request: web.Request, app: str, cmd: str, gid: str | None = None) -> web.Response:
        self._check_app(app)
        return json_response(self._command_by_id(gid, cmd)[1])

    async def _r_delete_command(self, request: web.Request, app: str, cmd: str, gid: str | None = None) -> web.Response:
        self._check_app(app)
        scope, found = self._command_by_id(gid, cmd)
        self.commands[scope] = [c for c in self.commands[scope] if c is not found]
        return empty_response()

    # ------------------------------------------------------------------------------------------
    # REST handlers: interactions and webhooks
    # ------------------------------------------------------------------------------------------
    async def _r_callback(self, request: web.Request, iid: str, token: str) -> web.Response:
        arrived = time.monotonic()  # what Discord's deadline counts: when the callback reached it
        inter = self._interactions.get(int(iid))
        if inter is None or inter.token != token:
            raise ApiError(404, 10062, "Unknown interaction")
        inter._callback_attempted = True
        if inter.response_type is not None:
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        if arrived - inter.created > self.ack_deadline:
            raise ApiError(404, 10062, "Unknown interaction")
        body, files = await self._read_body(request)
        if not isinstance(body, dict):
            raise invalid_form([((), "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")])
        rtype = body.get("type")
        data = body.get("data") or {}
        from_message = inter.type == 3 or (inter.type == 5 and inter.source_message is not None)
        allowed = {
            1: {1},
            2: {4, 5, 9, 12},
            3: {4, 5, 6, 7, 9, 12},
            4: {8},
            5: {4, 5, 6, 7} if from_message else {4, 5},
        }[inter.type]
        if rtype not in allowed:
            raise invalid_form(
                [
                    (
                        ("type",),
                        "INTERACTION_RESPONSE_TYPE_INVALID",
                        f"Response type {rtype} is not valid for interaction type {inter.type}",
                    )
                ]
            )
        channel_id = inter.channel_id
        message: Message | None = None
        if rtype == 4:
            self._validate_message(data, files, creating=True, base=("data",))
            message = self._message_from_payload(
                data,
                files,
                channel_id=channel_id,
                flags=(data.get("flags") or 0) & (EPHEMERAL | SUPPRESS_EMBEDS | IS_COMPONENTS_V2 | 4096),
            )
            self._mark_interaction_message(message, inter)
        elif rtype == 5:
            flags = (data.get("flags") or 0) & EPHEMERAL
            inter.deferred_flags = flags
            message = Message(
                id=snowflake(),
                channel_id=channel_id,
                author_id=self.bot_user_id,
                flags=flags | LOADING,
                guild_id=inter.guild_id,
            )
            self._mark_interaction_message(message, inter)
        elif rtype in (6, 7):
            message = inter.source_message
            if message is None or message.deleted:
                raise ApiError(404, 10008, "Unknown Message")
            if rtype == 7:
                self._validate_message(data, files, creating=False, base=("data",), current=message)
        elif rtype == 8:
            problems = validation.check_autocomplete(data)
            if problems:
                raise invalid_form(problems)
        elif rtype == 9:
            problems = validation.check_modal(data)
            if problems:
                raise invalid_form(problems)
        # accepted: apply
        inter.response_type = rtype
        inter.acknowledged_at = arrived
        if rtype not in (5, 6):
            inter.answered_at = inter.acknowledged_at
        inter.response_data = data
        if rtype == 4 or rtype == 5:
            assert message is not None
            inter.original = message
            await self._store_and_announce(message)
        elif rtype == 6:
            inter.original = message
        elif rtype == 7:
            assert message is not None
            self._apply_edit(message, data, files)
            inter.original = message
            await self._announce_edit(message)
        elif rtype == 8:
            inter.choices = list(data.get("choices") or [])
        elif rtype == 9:
            inter.modal = data
        result: dict[str, Any] = {"interaction": {"id": str(inter.id), "type": inter.type}, "resource": {"type": rtype}}
        if message is not None and rtype in (4, 5, 7):
            result["interaction"].update(
                response_message_id=str(message.id),
                response_message_loading=rtype == 5,
                response_message_ephemeral=message.ephemeral,
            )
            if rtype in (4, 7):
                result["resource"]["message"] = self._message_payload(message)
        return json_response(result)

    def _mark_interaction_message(self, message: Message, inter: Interaction) -> None:
        message.webhook_id = self.application_id
        message.application_id = self.application_id
        message.interaction_id = inter.id
        message.type = 20 if inter.type == 2 else 0
        if message.ephemeral:
            message.recipient_id = inter.user_id

    def _webhook_interaction(self, app: str, token: str) -> Interaction:
        inter = self._by_token.get(token)
        if int(app) != self.application_id or inter is None or inter.type == 4:
            raise ApiError(404, 10015, "Unknown Webhook")
        if time.monotonic() - inter.created > self.followup_window:
            raise ApiError(401, 50027, "Invalid Webhook Token")
        return inter

    def _webhook_message(self, inter: Interaction, mid: str) -> Message:
        if mid == "@original":
            msg = inter.original
        else:
            msg = next((m for m in inter.messages if m.id == int(mid)), None)
        if msg is None or msg.deleted:
            raise ApiError(404, 10008, "Unknown Message")
        return msg

    async def _r_followup(self, request: web.Request, app: str, token: str) -> web.Response:
        arrived = time.monotonic()
        inter = self._webhook_interaction(app, token)
        if inter.response_type == 5:
            inter._post_defer_activity = True
        if inter.response_type is None:
            raise ApiError(404, 10015, "Unknown Webhook")
        body, files = await self._read_body(request)
        self._validate_message(body, files, creating=True)
        if inter.answered_at is None:
            inter.answered_at = arrived
        wait = request.query.get("wait", "false").lower() in ("1", "true")
        original = inter.original
        if inter.response_type == 5 and original is not None and original.loading:
            # Discord: the first followup after a thinking defer edits the loading message (keeping its ephemerality)
            edit = dict(body)
            if edit.get("flags") is not None:
                edit["flags"] &= ~EPHEMERAL
            self._apply_edit(original, edit, files)
            await self._announce_edit(original)
            return json_response(self._message_payload(original)) if wait else empty_response()
        flags = (body.get("flags") or 0) & (EPHEMERAL | SUPPRESS_EMBEDS | IS_COMPONENTS_V2 | 4096)
        msg = self._message_from_payload(body, files, channel_id=inter.channel_id, flags=flags)
        self._mark_interaction_message(msg, inter)
        msg.type = 19 if msg.message_reference else 0
        inter.followups.append(msg)
        await self._store_and_announce(msg)
        return json_response(self._message_payload(msg)) if wait else empty_response()

    async def _r_webhook_get(self, request: web.Request, app: str, token: str, mid: str) -> web.Response:
        inter = self._webhook_interaction(app, token)
        return json_response(self._message_payload(self._webhook_message(inter, mid)))

    async def _r_webhook_edit(self, request: web.Request, app: str, token: str, mid: str) -> web.Response:
        arrived = time.monotonic()
        inter = self._webhook_interaction(app, token)
        inter._post_defer_activity = True
        msg = self._webhook_message(inter, mid)
        body, files = await self._read_body(request)
        self._validate_message(body, files, creating=False, current=msg)
        if inter.answered_at is None:
            inter.answered_at = arrived
        self._apply_edit(msg, body, files)
        await self._announce_edit(msg)
        return json_response(self._message_payload(msg))

    async def _r_webhook_delete(self, request: web.Request, app: str, token: str, mid: str) -> web.Response:
        inter = self._webhook_interaction(app, token)
        inter._post_defer_activity = True
        msg = self._webhook_message(inter, mid)
        await self._delete(msg)
        return empty_response()

    # ------------------------------------------------------------------------------------------
    # REST handlers: channels and messages
    # ------------------------------------------------------------------------------------------
    async def _r_get_channel(self, request: web.Request, cid: str) -> web.Response:
        return json_response(self._rest_channel(cid))

    async def _r_edit_thread(self, request: web.Request, cid: str) -> web.Response:
        """Modify a thread (the fake edits threads only): its name, archived, locked, auto-archive duration. Like
        Discord, locking, and archiving someone else's thread, take Manage Threads; its creator may archive it, and
        whoever may send messages in it may open it again while it is not locked."""
        channel = self._rest_channel(cid)
        if channel["type"] not in THREAD_TYPES:
            raise AssertionError("the fake edits threads only; PATCH of other channels is not modelled")
        body, _ = await self._read_body(request)
        unknown = set(body) - {"name", "archived", "locked", "auto_archive_duration"}
        if unknown:
            raise AssertionError(f"thread fields the fake does not model: {sorted(unknown)}")
        meta = channel["thread_metadata"]
        manages = bool(self._bot_perms(int(channel["id"])) & P(manage_threads=True).value)
        owner = channel.get("owner_id") == str(self.bot_user_id)
        sends = bool(self._bot_perms(int(channel["id"])) & P(send_messages=True).value)
        reopens = body.get("archived") is False and not meta.get("locked") and sends
        if ("locked" in body and not manages) or ("archived" in body and not (manages or owner or reopens)):
            raise ApiError(403, 50013, "Missing Permissions")
        if meta.get("locked") and not manages:
            raise ApiError(403, 50083, "Thread is archived")
        if "name" in body:
            name, _ = self._thread_args({"name": body["name"], "auto_archive_duration": meta["auto_archive_duration"]})
            channel["name"] = name
        if "auto_archive_duration" in body:
            _, meta["auto_archive_duration"] = self._thread_args({"name": channel["name"], **body})
        for key in ("archived", "locked"):
            if key in body:
                meta[key] = bool(body[key])
        meta["archive_timestamp"] = iso_now()
        await self._dispatch("THREAD_UPDATE", dict(channel))
        return json_response(channel)

    async def _r_delete_channel(self, request: web.Request, cid: str) -> web.Response:
        """Delete a channel or thread: Manage Threads for a thread, Manage Channels for a channel; then 404s."""
        channel = self._rest_channel(cid)
        needed = P(manage_threads=True) if channel["type"] in THREAD_TYPES else P(manage_channels=True)
        if not self._bot_perms(int(channel["id"])) & needed.value:
            raise ApiError(403, 50013, "Missing Permissions")
        self.remove_channel(int(channel["id"]))
        return json_response(channel)

    async def _r_history(self, request: web.Request, cid: str) -> web.Response:
        channel = self._rest_channel(cid)
        msgs = self._messages.get(int(channel["id"]), [])
        limit = min(int(request.query.get("limit", 50)), 100)
        before = request.query.get("before")
        after = request.query.get("after")
        if before:
            msgs = [m for m in msgs if m.id < int(before)]
        if after:
            msgs = [m for m in msgs if m.id > int(after)]
            picked = msgs[:limit]
        else:
            picked = msgs[-limit:]
        return json_response([self._message_payload(m) for m in reversed(picked)])

    async def _r_send(self, request: web.Request, cid: str) -> web.Response:
        channel = self._rest_channel(cid)
        self._check_can_send(channel)
        if channel["type"] in FORUM_TYPES:
            raise ApiError(400, 50008, "Cannot send messages in a non-text channel")
        body, files = await self._read_body(request)
        self._validate_message(body, files, creating=True)
        await self._reopen_if_archived(channel)
        flags = (body.get("flags") or 0) & (SUPPRESS_EMBEDS | IS_COMPONENTS_V2 | 4096)
        msg = self._message_from_payload(body, files, channel_id=int(channel["id"]), flags=flags)
        await self._store_and_announce(msg)
        return json_response(self._message_payload(msg))

    async def _r_get_message(self, request: web.Request, cid: str, mid: str) -> web.Response:
        channel = self._rest_channel(cid)
        return json_response(self._message_payload(self._rest_message(int(channel["id"]), mid)))

    async def _r_edit_message(self, request: web.Request, cid: str, mid: str) -> web.Response:
        channel = self._rest_channel(cid)
        msg = self._rest_message(int(channel["id"]), mid)
        self._check_not_archived(channel)
        body, files = await self._read_body(request)
        if msg.author_id != self.bot_user_id:
            if set(body) - {"flags"}:
                raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        self._validate_message(body, files, creating=False, current=msg)
        self._apply_edit(msg, body, files)
        await self._announce_edit(msg)
        return json_response(self._message_payload(msg))

    async def _r_delete_message(self, request: web.Request, cid: str, mid: str) -> web.Response:
        channel = self._rest_channel(cid)
        msg = self._rest_message(int(channel["id"]), mid)
        self._check_not_archived(channel)
        if (
            msg.author_id != self.bot_user_id
            and not self._bot_perms(int(channel["id"])) & P(manage_messages=True).value
        ):
            raise ApiError(403, 50013, "Missing Permissions")
        await self._delete(msg)
        return empty_response()

    async def _r_typing(self, request: web.Request, cid: str) -> web.Response:
        channel = self._rest_channel(cid)
        self._check_can_send(channel)
        return empty_response()

    async def _r_react(self, request: web.Request, cid: str, mid: str, emoji: str) -> web.Response:
        channel = self._rest_channel(cid)
        msg = self._rest_message(int(channel["id"]), mid)
        await self._add_reaction(msg, unquote(emoji), self.bot_user_id)
        return empty_response()

    async def _r_unreact(self, request: web.Request, cid: str, mid: str, emoji: str) -> web.Response:
        channel = self._rest_channel(cid)
        msg = self._rest_message(int(channel["id"]), mid)
        await self._remove_reaction(msg, unquote(emoji), self.bot_user_id)
        return empty_response()

    async def _add_reaction(self, msg: Message, name: str, user_id: int) -> None:
        """Like Discord: one reaction per user and emoji (a second one changes nothing and sends nothing)."""
        users = msg.reactors.setdefault(name, [])
        if user_id in users:
            return
        users.append(user_id)
        if name not in msg.reactions:
            msg.reactions.append(name)
        data: dict[str, Any] = {
            "user_id": str(user_id),
            "channel_id": str(msg.channel_id),
            "message_id": str(msg.id),
            "message_author_id": str(msg.author_id),
            "emoji": {"id": None, "name": name},
            "burst": False,
            "burst_colors": [],
            "type": 0,
        }
        if msg.guild_id is not None:
            data["guild_id"] = str(msg.guild_id)
            guild = self.guilds.get(msg.guild_id)
            if guild is not None and user_id in guild.members:
                data["member"] = self._member_payload(guild, user_id)  # in a server, the reacting member comes too
        await self._dispatch("MESSAGE_REACTION_ADD", data)

    async def _remove_reaction(self, msg: Message, name: str, user_id: int) -> None:
        users = msg.reactors.get(name, [])
        if user_id not in users:
            return
        users.remove(user_id)
        if not users:
            msg.reactors.pop(name, None)
            msg.reactions.remove(name)
        data = {
            "user_id": str(user_id),
            "channel_id": str(msg.channel_id),
            "message_id": str(msg.id),
            "emoji": {"id": None, "name": name},
            "burst": False,
            "type": 0,
        }
        if msg.guild_id is not None:
            data["guild_id"] = str(msg.guild_id)
        await self._dispatch("MESSAGE_REACTION_REMOVE", data)

    def _add_thread(self, parent: dict, thread: dict) -> None:
        thread_id = int(thread["id"])
        guild = self.guilds[int(parent["guild_id"])]
        guild.threads[thread_id] = thread
        self._channels[thread_id] = thread
        self._messages.setdefault(thread_id, [])

    def _check_can_open_threads(self, channel: dict) -> None:
        """Like Discord: a public thread takes Create Public Threads in its channel."""
        if not self._bot_perms(int(channel["id"])) & P(create_public_threads=True).value:
            raise ApiError(403, 50013, "Missing Permissions")

    def _thread_args(self, body: dict) -> tuple[str, int]:
        name = body.get("name")
        problems = []
        if not name:
            problems.append((("name",), "BASE_TYPE_REQUIRED", "This field is required"))
        elif len(name) > 100:
            problems.append((("name",), "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length."))
        duration = body.get("auto_archive_duration") or 1440
        if duration not in (60, 1440, 4320, 10080):
            problems.append(
                (("auto_archive_duration",), "BASE_TYPE_CHOICES", "Value must be one of {60, 1440, 4320, 10080}.")
            )
        if problems:
            raise invalid_form(problems)
        return name, duration

    async def _r_thread_from_message(self, request: web.Request, cid: str, mid: str) -> web.Response:
        channel = self._rest_channel(cid)
        if channel["type"] not in TEXT_CHANNEL_TYPES:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        self._check_can_send(channel)
        self._check_can_open_threads(channel)
        msg = self._rest_message(int(channel["id"]), mid)
        if msg.thread is not None:
            raise ApiError(400, 160004, "A thread has already been created for this message")
        body, _ = await self._read_body(request)
        name, duration = self._thread_args(body)
        thread = self._thread_payload(msg.id, channel, name, 11, duration, True)
        self._add_thread(channel, thread)
        msg.thread = thread
        await self._dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return json_response(thread, 201)

    async def _r_thread(self, request: web.Request, cid: str) -> web.Response:
        channel = self._rest_channel(cid)
        if channel["type"] not in TEXT_CHANNEL_TYPES + FORUM_TYPES:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        self._check_can_send(channel)
        body, files = await self._read_body(request)
        name, duration = self._thread_args(body)
        thread_id = snowflake()
        if channel["type"] in FORUM_TYPES:
            starter = body.get("message") or {}
            self._validate_message(starter, files, creating=True, base=("message",))
            thread = self._thread_payload(thread_id, channel, name, 11, duration, True)
            self._add_thread(channel, thread)
            msg = self._message_from_payload(starter, files, channel_id=thread_id)
            msg.id = thread_id
            await self._dispatch("THREAD_CREATE", {**thread, "newly_created": True})
            await self._store_and_announce(msg)
            return json_response({**thread, "message": self._message_payload(msg)}, 201)
        type_ = body.get("type") or 12
        if type_ not in (10, 11, 12):
            raise invalid_form([(("type",), "BASE_TYPE_CHOICES", "Value must be one of {10, 11, 12}.")])
        if type_ == 11:
            self._check_can_open_threads(channel)
        thread = self._thread_payload(thread_id, channel, name, type_, duration, bool(body.get("invitable", True)))
        self._add_thread(channel, thread)
        await self._dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return json_response(thread, 201)

    async def _r_open_dm(self, request: web.Request) -> web.Response:
        body, _ = await self._read_body(request)
        uid = int(body.get("recipient_id", 0))
        if uid not in self.users:
            raise invalid_form([(("recipient_id",), "BASE_TYPE_REQUIRED", "Unknown user")])
        return json_response(self._channels[self.open_dm(uid)])

    async def _r_get_user(self, request: web.Request, uid: str) -> web.Response:
        user = self.users.get(int(uid))
        if user is None:
            raise ApiError(404, 10013, "Unknown User")
        return json_response(user)

    def _rest_guild(self, gid: str) -> Guild:
        guild = self.guilds.get(int(gid))
        if guild is None:
            raise ApiError(404, 10004, "Unknown Guild")
        return guild

    async def _r_get_guild(self, request: web.Request, gid: str) -> web.Response:
        guild = self._rest_guild(gid)
        payload = self._guild_create_payload(guild, 0)
        for key in (
            "channels",
            "threads",
            "members",
            "presences",
            "voice_states",
            "joined_at",
            "large",
            "member_count",
        ):
            payload.pop(key, None)
        return json_response(payload)

    async def _r_guild_channels(self, request: web.Request, gid: str) -> web.Response:
        return json_response(list(self._rest_guild(gid).channels.values()))

    async def _r_guild_roles(self, request: web.Request, gid: str) -> web.Response:
        return json_response(list(self._rest_guild(gid).roles.values()))

    async def _r_get_member(self, request: web.Request, gid: str, uid: str) -> web.Response:
        guild = self._rest_guild(gid)
        if int(uid) not in guild.members:
            raise ApiError(404, 10007, "Unknown Member")
        return json_response(self._member_payload(guild, int(uid)))

    async def _serve_file(self, request: web.Request) -> web.StreamResponse:
        try:
            info = self._files[int(request.match_info["att_id"])]
        except (KeyError, ValueError):
            return web.Response(status=404, text="Not Found")
        return web.Response(body=info["data"], headers={"Content-Type": info["content_type"]})

    # ------------------------------------------------------------------------------------------
    def _guild(self, guild_id: int) -> Guild:
        guild = self.guilds.get(guild_id)
        if guild is None:
            raise AssertionError(f"unknown guild {guild_id} (use add_guild)")
        return guild
