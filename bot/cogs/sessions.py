"""/session schedule, next, move, cancel, volunteer and leave: the group's reading sessions and presenter rotation."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime

import discord
from discord import app_commands
from discord.ext import commands

from bot.autocomplete import paper_choices
from bot.interactions import NO_MENTIONS, answer, guild_of
from bot.paper_choice import PaperChoice
from bot.session_flows import SessionFlows
from bot.session_render import (
    rotation_line,
    session_label,
    upcoming_embed,
)
from schedules.when import When, parse_when
from storage.errors import PermissionDeniedError, ValidationError
from storage.group_settings import GroupSettings, GroupSettingsService
from storage.identity import parse_paper
from storage.papers import PaperView
from storage.reading_sessions import Presenter, ReadingSessions
from storage.time_zones import zone_or_utc

log = logging.getLogger(__name__)

WHEN = "e.g. 2026-12-10 18:00, next thursday 18:00, tomorrow 18:30 (the server's time zone)"
PICK_SESSION = "Pick a session from the list as you type."
IN_UTC = "Times are read in UTC, the server's time zone: `/digest schedule timezone:` sets the group's own."
LARGEST_ID = 2**31 - 1  # a row id the database can hold (PostgreSQL: integer)


def may_schedule(interaction: discord.Interaction, settings: GroupSettings) -> None:
    """Refuse members who have neither Manage Server nor the role the group named for sessions."""
    if interaction.permissions.manage_guild:
        return
    role = settings.session_role_id
    member = interaction.user
    if role is not None and isinstance(member, discord.Member) and any(r.id == role for r in member.roles):
        return
    gone = role is not None and interaction.guild is not None and interaction.guild.get_role(role) is None
    if gone:  # deleted on Discord: nobody has it
        raise PermissionDeniedError(
            "Scheduling sessions takes the Manage Server permission; the role named for it was deleted. "
            "A moderator can name another with `/settings session-role`."
        )
    raise PermissionDeniedError(
        "Scheduling sessions takes the Manage Server permission"
        + (f", or the <@&{role}> role." if role is not None else ".")
        + " A moderator can name a role for it with `/settings session-role`."
    )


def read_when(text: str, settings: GroupSettings, *, now: datetime) -> When:
    """The time a moderator typed, in the group's zone; a group on UTC (the zone it has until one is chosen) is
    told so, since 18:00 is then 18:00 UTC."""
    zone = zone_or_utc(settings.timezone)
    moment = parse_when(text, tz=zone, now=now)
    if getattr(zone, "key", "UTC") == "UTC":  # chosen, defaulted, or an unknown name read as UTC
        return replace(moment, note="\n".join(filter(None, (moment.note, IN_UTC))))
    return moment


def session_id_of(text: str) -> int:
    """The session an autocomplete choice names."""
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit()) or int(digits) > LARGEST_ID:
        raise ValidationError(PICK_SESSION)
    return int(digits)


@app_commands.guild_only()
class Sessions(commands.GroupCog, group_name="session", group_description="The group's reading sessions"):
    """Reading sessions: scheduled by moderators (or the group's role), with a presenter rotation members join."""

    def __init__(
        self,
        *,
        reading: ReadingSessions,
        flows: SessionFlows,
        guilds: GroupSettingsService,
        choice: PaperChoice,
    ) -> None:
        self.reading, self.flows, self.guilds, self.choice = reading, flows, guilds, choice
        super().__init__()

    async def _allowed(self, interaction: discord.Interaction) -> GroupSettings:
        settings = await self.guilds.get(guild_of(interaction))
        may_schedule(interaction, settings)
        return settings

    # --- schedule ---------------------------------------------------------------------------------------------

    @app_commands.command(name="schedule", description="Schedule a reading session (Manage Server or the role)")
    @app_commands.describe(
        when=f"When it starts: {WHEN}",
        paper="The paper (default: the top of the reading queue)",
        presenter="Who presents (default: the next member in the rotation)",
        where="Where the group meets: a room, a link, a voice channel (default: this channel)",
    )
    async def schedule(
        self,
        interaction: discord.Interaction,
        when: app_commands.Range[str, 1, 100],
        paper: app_commands.Range[str, 1, 500] | None = None,
        presenter: discord.Member | None = None,
        where: app_commands.Range[str, 1, 100] | None = None,
    ) -> None:
        """Check, read the time, find the paper, then schedule and announce."""
        guild_id = guild_of(interaction)
        settings = await self._allowed(interaction)
        now = datetime.now(UTC)
        moment = read_when(when, settings, now=now)
        if presenter is not None and presenter.bot:
            raise ValidationError(
                "Bots don't present: name a member, or leave `presenter` out for the next in the rotation."
            )
        chosen = Presenter(presenter.id, presenter.display_name) if presenter is not None else None

        async def announce(inter: discord.Interaction, found: PaperView) -> None:
            await self.flows.schedule(
                inter, found, when=moment, timezone=settings.timezone, presenter=chosen, where=where
            )

        if paper is not None:
            await self.choice.resolve_then(interaction, parse_paper(paper), announce)
            return
        top = await self.reading.default_paper(guild_id=guild_id, now=now)  # an empty queue: told ephemerally
        await interaction.response.defer(thinking=True)
        await announce(interaction, top)

    @schedule.autocomplete("paper")
    async def paper_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """The group's papers matching what is typed."""
        return await paper_choices(self.choice.papers, interaction, current)

    # --- next ------------------------------------------------------------------------------------------------

    @app_commands.command(name="next", description="The next reading sessions (only you see it)")
    async def next_sessions(self, interaction: discord.Interaction) -> None:
        """Upcoming sessions and the rotation."""
        guild_id = guild_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        upcoming = await self.reading.upcoming(guild_id=guild_id, now=datetime.now(UTC))
        embed = upcoming_embed(upcoming)
        embed.set_footer(text=rotation_line(await self.reading.rotation(guild_id=guild_id)))
        await answer(interaction, embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS)

    # --- move and cancel -------------------------------------------------------------------------------------

    @app_commands.command(name="move", description="Move a reading session to another time (Manage Server or the role)")
    @app_commands.describe(session="The session (pick from the list)", when=f"The new time: {WHEN}")
    async def move(
        self,
        interaction: discord.Interaction,
        session: app_commands.Range[str, 1, 20],
        when: app_commands.Range[str, 1, 100],
    ) -> None:
        """Move the session; its announcement, event and reminders follow."""
        guild_id = guild_of(interaction)
        settings = await self._allowed(interaction)
        session_id = session_id_of(session)
        now = datetime.now(UTC)
        moment = read_when(when, settings, now=now)
        await interaction.response.defer(ephemeral=True, thinking=True)
        told = await self.flows.move(guild_id=guild_id, session_id=session_id, when=moment)
        await answer(interaction, content=told, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @app_commands.command(name="cancel", description="Cancel a reading session (Manage Server or the role)")
    @app_commands.describe(session="The session (pick from the list)")
    async def cancel(self, interaction: discord.Interaction, session: app_commands.Range[str, 1, 20]) -> None:
        """Call the session off; its announcement says so, its event goes, no reminders come."""
        guild_id = guild_of(interaction)
        await self._allowed(interaction)
        session_id = session_id_of(session)
        await interaction.response.defer(ephemeral=True, thinking=True)
        told = await self.flows.cancel(guild_id=guild_id, session_id=session_id)
        await answer(interaction, content=told, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @move.autocomplete("session")
    @cancel.autocomplete("session")
    async def session_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        """Upcoming sessions whose label holds what is typed."""
        if interaction.guild_id is None:
            return []
        upcoming = await self.reading.upcoming(guild_id=interaction.guild_id, now=datetime.now(UTC), limit=25)
        wanted = current.strip().casefold()
        return [
            app_commands.Choice(name=session_label(s), value=str(s.id))
            for s in upcoming
            if not wanted or wanted in session_label(s).casefold() or wanted == str(s.id)
        ]

    # --- the rotation ----------------------------------------------------------------------------------------

    @app_commands.command(name="volunteer", description="Join the presenter rotation")
    async def volunteer(self, interaction: discord.Interaction) -> None:
        """Join the rotation, or be told your place in it."""
        guild_id = guild_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        joined, place = await self.reading.volunteer(
            guild_id=guild_id, member_id=interaction.user.id, name=interaction.user.display_name
        )
        head = "You joined the presenter rotation." if joined else "You are already in the presenter rotation."
        turn = "You present next." if place == 1 else f"You are number {place} in turn."
        await answer(interaction, content=f"{head} {turn} `/session leave` takes you out.", ephemeral=True)

    @app_commands.command(name="leave", description="Leave the presenter rotation")
    async def leave(self, interaction: discord.Interaction) -> None:
        """Leave the rotation."""
        guild_id = guild_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.reading.leave(guild_id=guild_id, member_id=interaction.user.id)
        await answer(
            interaction,
            content="You left the presenter rotation. `/session volunteer` brings you back.",
            ephemeral=True,
        )
