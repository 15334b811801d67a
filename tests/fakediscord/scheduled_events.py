"""A guild's scheduled events, as Discord keeps them: POST/PATCH/DELETE/GET /guilds/{gid}/scheduled-events[/{id}].

Validated like Discord: the fields each entity type requires (an external event needs a location of 1–100
characters and an end time, and no channel; a voice or stage event needs a voice or stage channel of the guild
and no location), a start time in the future, an end after the start, a privacy level of 2 (guild only), names
of 1–100 and descriptions of up to 1,000 characters, and only the status changes Discord allows (scheduled →
active or cancelled, active → completed). Creating takes Manage Events or Create Events; editing and deleting
take Manage Events (or Create Events for the bot's own events); without them 403/50013. An unknown event is
404/10070. Gateway events (``GUILD_SCHEDULED_EVENT_*``) go to sessions with the scheduled-events intent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import validation
from .models import snowflake

if TYPE_CHECKING:
    from .server import FakeDiscord

MANAGE_EVENTS = 1 << 33
CREATE_EVENTS = 1 << 44
GUILD_SCHEDULED_EVENTS_INTENT = 1 << 16
STAGE, VOICE, EXTERNAL = 1, 2, 3
SCHEDULED, ACTIVE, COMPLETED, CANCELED = 1, 2, 3, 4
GUILD_ONLY = 2
ALLOWED_STATUS = {SCHEDULED: {ACTIVE, CANCELED}, ACTIVE: {COMPLETED}}
_CHANNEL_TYPE = {STAGE: 13, VOICE: 2}


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


class ScheduledEvents:
    """The scheduled events of every guild of one fake Discord."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.events: dict[int, dict] = {}  # event id -> the event as Discord returns it (live, updated in place)
        self.deleted: list[dict] = []  # events deleted, as they were

    def of_guild(self, guild_id: int) -> list[dict]:
        """The guild's events, oldest first."""
        return [e for e in self.events.values() if e["guild_id"] == str(guild_id)]

    async def grant_bot(self, guild_id: int, permissions: int) -> None:
        """Give the bot more server permissions in one guild (its managed role), telling connected bots before
        returning (so the next interaction reaches a bot that knows)."""
        guild = self.fake.guilds[guild_id]
        bot = self.fake.bot_user_id
        guild.member_permissions[bot] = guild.member_permissions.get(bot, 0) | permissions
        for role in guild.roles.values():
            if role["managed"] and role.get("tags", {}).get("bot_id") == str(bot):
                role["permissions"] = str(int(role["permissions"]) | permissions)
                await self.fake._dispatch("GUILD_ROLE_UPDATE", {"guild_id": str(guild_id), "role": role})

    def routes(self) -> list[tuple[str, str, Any, bool]]:
        gid = r"(?P<gid>\d+)"
        eid = r"(?P<eid>\d+)"
        return [
            ("GET", rf"/guilds/{gid}/scheduled-events", self._list, True),
            ("POST", rf"/guilds/{gid}/scheduled-events", self._create, True),
            ("GET", rf"/guilds/{gid}/scheduled-events/{eid}", self._get, True),
            ("PATCH", rf"/guilds/{gid}/scheduled-events/{eid}", self._edit, True),
            ("DELETE", rf"/guilds/{gid}/scheduled-events/{eid}", self._delete, True),
        ]

    # --- checks -----------------------------------------------------------------------------------------------

    def _permitted(self, guild_id: int, *, event: dict | None = None) -> None:
        from .server import ApiError

        guild = self.fake._rest_guild(str(guild_id))
        perms = self.fake._member_perms(guild, self.fake.bot_user_id)
        own = event is None or event.get("creator_id") == str(self.fake.bot_user_id)
        if perms & MANAGE_EVENTS or (own and perms & CREATE_EVENTS):
            return
        raise ApiError(403, 50013, "Missing Permissions")

    def _event(self, gid: str, eid: str) -> dict:
        from .server import ApiError

        self.fake._rest_guild(gid)
        event = self.events.get(int(eid))
        if event is None or event["guild_id"] != gid:
            raise ApiError(404, 10070, "Unknown Guild Scheduled Event")
        return event

    def _check(self, c: validation.Checker, event: dict, body: dict, *, creating: bool) -> None:
        """Problems with the event as it would be after applying ``body``."""
        guild = self.fake._rest_guild(event["guild_id"])
        if creating or "name" in body:
            if c.required(("name",), event.get("name")):
                c.length_between(("name",), event["name"], 1, 100)
        if event.get("description") is not None:
            c.max_len(("description",), event["description"], 1000)
        if event.get("privacy_level") != GUILD_ONLY:
            c.add(("privacy_level",), "BASE_TYPE_CHOICES", "Value must be one of {2}.")
        if event.get("entity_type") not in (STAGE, VOICE, EXTERNAL):
            c.add(("entity_type",), "BASE_TYPE_CHOICES", "Value must be one of {1, 2, 3}.")
        start = _time(event.get("scheduled_start_time"))
        end = _time(event.get("scheduled_end_time")) if event.get("scheduled_end_time") is not None else None
        if start is None:
            c.add(("scheduled_start_time",), "DATE_TIME_TYPE_PARSE", "Could not parse the date and time.")
        elif (creating or "scheduled_start_time" in body) and start <= datetime.now(UTC):
            c.add(
                ("scheduled_start_time",), "GUILD_SCHEDULED_EVENT_SCHEDULE_PAST", "Cannot schedule event in the past."
            )
        if event.get("scheduled_end_time") is not None and end is None:
            c.add(("scheduled_end_time",), "DATE_TIME_TYPE_PARSE", "Could not parse the date and time.")
        if start is not None and end is not None and end <= start:
            c.add(("scheduled_end_time",), "GUILD_SCHEDULED_EVENT_END_BEFORE_START", "End must be after the start.")
        kind = event.get("entity_type")
        metadata = event.get("entity_metadata") or {}
        if kind == EXTERNAL:
            if event.get("channel_id") is not None:
                c.add(("channel_id",), "GUILD_SCHEDULED_EVENT_CHANNEL_EXTERNAL", "External events have no channel.")
            location = metadata.get("location")
            if c.required(("entity_metadata", "location"), location):
                c.length_between(("entity_metadata", "location"), location, 1, 100)
            if end is None:
                c.required(("scheduled_end_time",), None)
        elif kind in (STAGE, VOICE):
            if metadata.get("location") is not None:
                c.add(("entity_metadata",), "GUILD_SCHEDULED_EVENT_METADATA", "Only external events have a location.")
            channel = guild.channels.get(int(event.get("channel_id") or 0))
            if channel is None or channel["type"] != _CHANNEL_TYPE[kind]:
                c.add(("channel_id",), "GUILD_SCHEDULED_EVENT_CHANNEL", "A voice or stage channel of the guild.")

    # --- routes -----------------------------------------------------------------------------------------------

    async def _list(self, request: web.Request, gid: str) -> web.Response:
        from .server import json_response

        self.fake._rest_guild(gid)
        return json_response(self.of_guild(int(gid)))

    async def _get(self, request: web.Request, gid: str, eid: str) -> web.Response:
        from .server import json_response

        return json_response(self._event(gid, eid))

    async def _create(self, request: web.Request, gid: str) -> web.Response:
        from .server import invalid_form, json_response

        self.fake._rest_guild(gid)
        self._permitted(int(gid))
        body, _ = await self.fake._read_body(request)
        known = ("channel_id", "entity_metadata", "name", "privacy_level", "scheduled_start_time")
        known += ("scheduled_end_time", "description", "entity_type", "image", "recurrence_rule")
        bot = self.fake.bot_user_id
        event = {
            "id": str(snowflake()),
            "guild_id": gid,
            "creator_id": str(bot),
            "creator": self.fake.users[bot],
            "status": SCHEDULED,
            "entity_id": None,
            "user_count": 0,
            **{key: body.get(key) for key in known},
        }
        c = validation.Checker()
        self._check(c, event, body, creating=True)
        if c.problems:
            raise invalid_form(c.problems)
        self.events[int(event["id"])] = event
        await self._announce("GUILD_SCHEDULED_EVENT_CREATE", event)
        return json_response(event)

    async def _edit(self, request: web.Request, gid: str, eid: str) -> web.Response:
        from .server import ApiError, invalid_form, json_response

        event = self._event(gid, eid)
        self._permitted(int(gid), event=event)
        body, _ = await self.fake._read_body(request)
        if event["status"] in (COMPLETED, CANCELED):
            raise ApiError(400, 180000, "Cannot update a completed or canceled guild scheduled event")
        changed = {**event, **{k: v for k, v in body.items() if k != "status"}}
        c = validation.Checker()
        if "status" in body and body["status"] not in ALLOWED_STATUS.get(event["status"], set()):
            c.add(("status",), "GUILD_SCHEDULED_EVENT_INVALID_STATUS_TRANSITION", "Invalid status change.")
        self._check(c, changed, body, creating=False)
        if c.problems:
            raise invalid_form(c.problems)
        event.update(changed)
        if "status" in body:
            event["status"] = body["status"]
        await self._announce("GUILD_SCHEDULED_EVENT_UPDATE", event)
        return json_response(event)

    async def _delete(self, request: web.Request, gid: str, eid: str) -> web.Response:
        from .server import empty_response

        event = self._event(gid, eid)
        self._permitted(int(gid), event=event)
        del self.events[int(eid)]
        self.deleted.append(event)
        await self._announce("GUILD_SCHEDULED_EVENT_DELETE", event)
        return empty_response()

    async def _announce(self, name: str, event: dict) -> None:
        await self.fake._dispatch(name, dict(event))
