"""Selftest for the fake Discord's scheduled events: a plain discord.py client creates, reads, moves and deletes
them, and the fake refuses what Discord refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import discord
import pytest

from tests.fakediscord import connect_bot, disconnect_bot, running_fake
from tests.fakediscord.scheduled_events import MANAGE_EVENTS

GUILD = 2100
CHANNEL = 2200
VOICE = 2201


async def test_events_are_made_moved_read_and_deleted_like_discord() -> None:
    async with running_fake() as fake:
        fake.add_guild(GUILD, owner_id=1)
        fake.add_channel(GUILD, CHANNEL)
        fake.add_channel(GUILD, VOICE, name="voice", type=2)  # a voice channel, with the fields Discord sends
        client = discord.Client(intents=discord.Intents.default())
        task = await connect_bot(client, fake)
        try:
            guild = client.get_guild(GUILD)
            assert guild is not None
            voice = guild.get_channel(VOICE)
            assert isinstance(voice, discord.VoiceChannel) and voice.bitrate == 64000 and voice.user_limit == 0
            start = datetime.now(UTC) + timedelta(days=2)

            async def make(**fields: object) -> discord.ScheduledEvent:
                return await guild.create_scheduled_event(  # type: ignore[call-overload, no-any-return]
                    name="Reading session",
                    start_time=start,
                    privacy_level=discord.PrivacyLevel.guild_only,
                    **fields,
                )

            with pytest.raises(discord.Forbidden) as refused:  # without Manage Events
                await make(
                    entity_type=discord.EntityType.external, location="Room 1", end_time=start + timedelta(hours=1)
                )
            assert refused.value.code == 50013 and fake.scheduled_events.events == {}

            await fake.scheduled_events.grant_bot(GUILD, MANAGE_EVENTS)
            event = await make(
                entity_type=discord.EntityType.external, location="Room 1", end_time=start + timedelta(hours=1)
            )
            assert event.location == "Room 1" and event.start_time == start.replace(
                microsecond=event.start_time.microsecond
            )
            (stored,) = fake.scheduled_events.of_guild(GUILD)
            assert stored["entity_metadata"] == {"location": "Room 1"} and stored["channel_id"] is None

            voice = await make(
                entity_type=discord.EntityType.voice, channel=discord.Object(VOICE, type=discord.VoiceChannel)
            )
            assert voice.channel_id == VOICE

            later = start + timedelta(days=1)
            fetched = await guild.fetch_scheduled_event(event.id)
            moved = await fetched.edit(start_time=later, end_time=later + timedelta(hours=1))
            assert _time(fake.scheduled_events.events[event.id]["scheduled_start_time"]) == later
            assert moved.start_time == later.replace(microsecond=moved.start_time.microsecond)

            cancelled = await moved.cancel()
            assert cancelled.status == discord.EventStatus.cancelled
            with pytest.raises(discord.HTTPException):  # a cancelled event can't change any more
                await cancelled.edit(name="again")
            await (await guild.fetch_scheduled_event(voice.id)).delete()
            with pytest.raises(discord.NotFound) as gone:
                await guild.fetch_scheduled_event(voice.id)
            assert gone.value.code == 10070
            assert [e["id"] for e in fake.scheduled_events.deleted] == [str(voice.id)]
            assert fake.rejected == []
        finally:
            await disconnect_bot(client, task)


async def test_what_discord_refuses() -> None:
    async with running_fake() as fake:
        fake.add_guild(GUILD, owner_id=1)
        fake.add_channel(GUILD, CHANNEL)
        client = discord.Client(intents=discord.Intents.default())
        task = await connect_bot(client, fake)
        try:
            await fake.scheduled_events.grant_bot(GUILD, MANAGE_EVENTS)
            http = client.http
            now = datetime.now(UTC)
            good = {
                "name": "Session",
                "privacy_level": 2,
                "entity_type": 3,
                "scheduled_start_time": (now + timedelta(hours=2)).isoformat(),
                "scheduled_end_time": (now + timedelta(hours=3)).isoformat(),
                "entity_metadata": {"location": "Room 1"},
            }
            bad = [
                {**good, "scheduled_start_time": (now - timedelta(hours=1)).isoformat()},  # in the past
                {**good, "scheduled_end_time": None},  # external without an end
                {**good, "entity_metadata": None},  # external without a location
                {**good, "entity_metadata": {"location": "x" * 101}},
                {**good, "name": "x" * 101},
                {**good, "privacy_level": 1},
                {**good, "scheduled_end_time": (now + timedelta(hours=1)).isoformat()},  # ends before it starts
                {**good, "entity_type": 2},  # voice without a channel
                {**good, "entity_type": 3, "channel_id": str(CHANNEL)},  # external with a channel
            ]
            for payload in bad:
                with pytest.raises(discord.HTTPException) as refused:
                    await http.create_guild_scheduled_event(GUILD, **payload)
                assert refused.value.status == 400 and refused.value.code == 50035, payload
            assert len(fake.rejected) == len(bad) and fake.scheduled_events.events == {}
            made = await http.create_guild_scheduled_event(GUILD, **good)
            with pytest.raises(discord.HTTPException):  # scheduled -> completed is not a change Discord allows
                await http.edit_scheduled_event(GUILD, made["id"], status=3)
            fake.rejected.clear()
        finally:
            await disconnect_bot(client, task)


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)
