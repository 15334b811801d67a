"""Reading sessions as members and moderators use them, through the real client against the loopback Discord:
scheduling in the group's time zone, the paper from the queue, the presenter rotation, who may schedule, the
server's scheduled event, moving and cancelling, reminders exactly once across restarts, and the digest."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from storage.models import Paper, QueueEntry, QueueVote, ReadingSession, ReminderState, SessionReminder, SessionState
from tests.arxiv_standin import FakeArxiv
from tests.bot.conftest import ANN, BOB, CHANNEL, GUILD, MOD, OTHER_GUILD, Club, bot_on, running_club
from tests.fakediscord import DEFAULT_PERMISSIONS
from tests.fakediscord.scheduled_events import CREATE_EVENTS, MANAGE_EVENTS

BERLIN = ZoneInfo("Europe/Berlin")
UTC_ZONE = ZoneInfo("UTC")  # a group that never chose a zone
CAROL = 700_000_000_000_000_004
ORGANISERS = DEFAULT_PERMISSIONS | (1 << 8)  # members whose only extra is Priority Speaker: a role of their own


def stamps(text: str) -> list[int]:
    """The Unix times of the Discord timestamps in a text (``<t:…:F>``)."""
    return [int(n) for n in re.findall(r"<t:(\d+):F>", text)]


def ahead(days: int, hour: int = 18, minute: int = 0, tz: ZoneInfo = BERLIN) -> tuple[str, datetime]:
    """``when`` text for a local time some days from today, and the UTC instant it is."""
    day = datetime.now(tz).date() + timedelta(days=days)
    local = datetime.combine(day, time(hour, minute), tzinfo=tz)
    return f"{day.isoformat()} {hour:02d}:{minute:02d}", local.astimezone(UTC)


def next_gap_day(tz: ZoneInfo) -> date:
    """The next local day on which 02:30 does not exist (clocks jump forward over it)."""
    day = datetime.now(tz).date() + timedelta(days=2)
    for _ in range(366):
        wall = datetime.combine(day, time(2, 30), tzinfo=tz)
        if wall.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != wall.replace(tzinfo=None):
            return day
        day += timedelta(days=1)
    raise AssertionError("no daylight-saving gap within a year")


def next_fold_day(tz: ZoneInfo) -> date:
    """The next local day on which 02:30 happens twice (clocks go back over it)."""
    day = datetime.now(tz).date() + timedelta(days=2)
    for _ in range(366):
        wall = datetime.combine(day, time(2, 30))
        first, second = wall.replace(tzinfo=tz, fold=0), wall.replace(tzinfo=tz, fold=1)
        exists = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall
        if exists and first.utcoffset() != second.utcoffset():
            return day
        day += timedelta(days=1)
    raise AssertionError("no daylight-saving fold within a year")


async def berlin(club: Club) -> None:
    inter = await club.run("digest schedule", user=MOD, timezone="Europe/Berlin")
    assert "Europe/Berlin" in inter.text()


async def papers(club: Club, *titles: str) -> list[int]:
    async with club.bot.services.sessions() as session:
        rows = [
            Paper(key=f"arxiv:2502.{n + 100:05d}", title=title, metadata_status="ok") for n, title in enumerate(titles)
        ]
        session.add_all(rows)
        await session.commit()
        return [row.id for row in rows if row.id is not None]


async def propose(club: Club, paper_id: int, *, voters: tuple[int, ...] = (), ago: timedelta = timedelta(0)) -> None:
    async with club.bot.services.sessions() as session:
        entry = QueueEntry(
            guild_id=GUILD,
            paper_id=paper_id,
            proposed_by=ANN,
            proposer_name="ann",
            created_at=datetime.now(UTC) - ago,
        )
        session.add(entry)
        await session.flush()
        assert entry.id is not None
        session.add_all(QueueVote(entry_id=entry.id, member_id=voter, guild_id=GUILD) for voter in voters)
        await session.commit()


async def rows(club: Club) -> list[ReadingSession]:
    async with club.bot.services.sessions() as session:
        return list((await session.exec(select(ReadingSession).order_by(ReadingSession.id))).all())


async def reminders(club: Club) -> list[SessionReminder]:
    async with club.bot.services.sessions() as session:
        return list((await session.exec(select(SessionReminder).order_by(SessionReminder.id))).all())


def posted_reminders(club: Club) -> list[Any]:
    return [m for m in club.posted() if any((e.get("title") or "").startswith("⏰") for e in m.embeds)]


async def schedule(club: Club, when: str, *, user: int = MOD, **options: Any) -> Any:
    return await club.run("session schedule", user=user, when=when, **options)


# --- scheduling --------------------------------------------------------------------------------------------------


async def test_a_session_in_berlin_is_announced_at_the_right_instant(club: Club) -> None:
    await berlin(club)
    (paper_id,) = await papers(club, "Attention in Berlin")
    await propose(club, paper_id)
    when, instant = ahead(10)
    inter = await schedule(club, when, where="Room 101")
    (announcement,) = [m for m in club.posted() if "Reading session" in m.text()]
    shown = announcement.text()
    assert stamps(shown) == [int(instant.timestamp())] and f"<t:{int(instant.timestamp())}:R>" in shown
    assert "Attention in Berlin" in shown and "https://arxiv.org/abs/2502.00100" in str(announcement.embeds)
    assert "presenter:** open" in shown.lower() and "Room 101" in shown
    assert announcement.allowed_mentions == {"parse": []} or not announcement.allowed_mentions.get("parse")
    # said to the moderator alone: no event without either permission
    assert "Create Events" in (inter.error or "") and "Manage Events" in (inter.error or "")
    (row,) = await rows(club)
    assert row.starts_at == instant and row.timezone == "Europe/Berlin" and row.message_id == announcement.id
    assert row.event_id is None and club.discord.scheduled_events.events == {}


async def test_past_times_and_garbage_are_refused_with_the_forms(club: Club) -> None:
    (paper_id,) = await papers(club, "Some paper")
    await propose(club, paper_id)
    past = await schedule(club, "2020-01-01 10:00")
    assert past.ephemeral and "in the past" in (past.error or "")
    garbage = await schedule(club, "whenever suits")
    assert garbage.ephemeral and "next thursday 18:00" in (garbage.error or "")
    assert club.posted() == [] and await rows(club) == []


async def test_dates_beyond_the_calendars_ends_are_refused_like_any_far_time(club: Club) -> None:
    await berlin(club)  # 00:30 on 1 January of year 1 in Berlin is before the first instant there is
    (paper_id,) = await papers(club, "Ancient paper")
    await propose(club, paper_id)
    past = await schedule(club, "0001-01-01 00:30")
    assert past.ephemeral and "in the past" in (past.error or "")
    await club.run("digest schedule", user=MOD, timezone="America/New_York")
    far = await schedule(club, "9999-12-31 23:30")  # after the last instant there is, in UTC
    assert far.ephemeral and "more than a year away" in (far.error or "")
    assert club.posted() == [] and await rows(club) == []


async def test_a_bot_or_a_stranger_is_not_a_presenter(club: Club) -> None:
    (paper_id,) = await papers(club, "Robot paper")
    await propose(club, paper_id)
    refused = await schedule(club, ahead(3)[0], presenter=str(club.discord.bot_user_id))
    assert refused.ephemeral and "bot" in (refused.error or "").lower()
    club.discord.add_member(OTHER_GUILD, CAROL, name="carol")  # known to Discord, not a member of this server
    await club.discord.settle()
    stranger = await schedule(club, ahead(3)[0], presenter=str(CAROL))
    assert stranger.ephemeral and "not a member of this server" in (stranger.error or "")
    assert club.posted() == [] and await rows(club) == []


async def test_where_a_voice_channel_is_linked_and_member_text_pings_nobody(club: Club) -> None:
    (paper_id,) = await papers(club, "Where paper")
    await propose(club, paper_id)
    voice = 600_000_000_000_000_077
    club.discord.add_channel(GUILD, voice, name="reading-room", type=2)
    await club.discord.scheduled_events.grant_bot(GUILD, MANAGE_EVENTS)
    await schedule(club, ahead(3)[0], where=f"<#{voice}>")
    await schedule(club, ahead(4)[0], where="@everyone **loud** <@&123> [x](https://evil.example) " + "y" * 40)
    linked, loud = [m for m in club.posted() if "Reading session" in m.text()]
    assert f"**Where:** <#{voice}>" in linked.text()  # a link to the channel, as the moderator typed it
    shown = loud.text()
    assert "@\u200beveryone" in shown and "<\u200b@&123>" in shown and "\\[x\\](https://evil" in shown
    assert loud.allowed_mentions == {"parse": []}
    first, second = club.discord.scheduled_events.of_guild(GUILD)
    assert first["entity_metadata"] == {"location": "#reading-room"}  # events show no channel mentions
    assert len(second["entity_metadata"]["location"]) <= 100


async def test_daylight_saving_gap_moves_forward_and_fold_takes_the_first(club: Club) -> None:
    await berlin(club)
    (paper_id,) = await papers(club, "Clock paper")
    await propose(club, paper_id)
    gap = next_gap_day(BERLIN)
    inter = await schedule(club, f"{gap.isoformat()} 02:30")
    assert "does not exist" in (inter.error or "") and "03:30" in (inter.error or "")
    fold = next_fold_day(BERLIN)
    inter = await schedule(club, f"{fold.isoformat()} 02:30")
    assert "happens twice" in (inter.error or "")
    first, second = await rows(club)
    assert first.starts_at.astimezone(BERLIN).strftime("%H:%M") == "03:30"
    assert second.starts_at == datetime.combine(fold, time(2, 30), tzinfo=BERLIN).astimezone(UTC)  # fold=0
    assert second.starts_at.astimezone(BERLIN).utcoffset() == timedelta(hours=2)  # still summer time


async def test_the_paper_defaults_to_the_queues_top_and_an_empty_queue_is_told(club: Club) -> None:
    empty = await schedule(club, ahead(5)[0])
    assert "queue is empty" in (empty.error or "") and club.posted() == []
    older, voted = await papers(club, "Older, no votes", "Newer, two votes")
    await propose(club, older, ago=timedelta(days=3))
    await propose(club, voted, voters=(ANN, BOB))
    await schedule(club, ahead(5)[0])
    await schedule(club, ahead(6)[0], paper="2502.00100")  # named: the older one
    first, second = await rows(club)
    assert first.paper_id == voted and second.paper_id == older
    # the other server's queue and sessions are its own
    other = await club.run("session next", user=MOD, guild=OTHER_GUILD)
    assert "Nothing is scheduled" in other.text()


async def test_presenters_come_in_turn_and_members_volunteer_and_leave(club: Club) -> None:
    (paper_id,) = await papers(club, "Rotating paper")
    await propose(club, paper_id)
    await schedule(club, ahead(3)[0])
    assert "open" in club.posted()[-1].text()  # an empty rotation: no presenter
    joined = await club.run("session volunteer", user=ANN)
    assert joined.ephemeral and "You joined" in joined.text() and "present next" in joined.text()
    assert "number 2" in (await club.run("session volunteer", user=BOB)).text()
    assert "already" in (await club.run("session volunteer", user=BOB)).text()
    for days in (4, 5, 6):
        await schedule(club, ahead(days)[0])
    presenters = [row.presenter_id for row in await rows(club)]
    assert presenters == [None, ANN, BOB, ANN]
    assert f"<@{ANN}>" in club.posted()[-1].text()
    await schedule(club, ahead(7)[0], presenter=str(MOD))  # named: not in the rotation, no turn taken
    await schedule(club, ahead(8)[0])
    assert [row.presenter_id for row in await rows(club)][-2:] == [MOD, BOB]
    left = await club.run("session leave", user=BOB)
    assert "You left" in left.text()
    assert "not in the presenter rotation" in ((await club.run("session leave", user=BOB)).error or "")
    shown = (await club.run("session next", user=BOB)).text()
    assert "Rotation, next first: ann" in shown and "bob" not in shown.split("Rotation")[-1]


async def test_only_moderators_or_the_named_role_schedule(club: Club) -> None:
    (paper_id,) = await papers(club, "Permission paper")
    await propose(club, paper_id)
    refused = await schedule(club, ahead(3)[0], user=ANN)
    assert refused.ephemeral and "Manage Server" in (refused.error or "") and club.posted() == []
    club.discord.add_member(GUILD, CAROL, name="carol", permissions=ORGANISERS)
    role = int(club.discord.guilds[GUILD].members[CAROL]["roles"][0])
    await club.discord.settle()
    shown = await club.run("settings session-role", user=MOD, role=str(role))
    assert f"<@&{role}>" in shown.text()
    allowed = await schedule(club, ahead(3)[0], user=CAROL)
    assert allowed.error is None or "Manage Events" in allowed.error
    assert len(await rows(club)) == 1
    still = await schedule(club, ahead(4)[0], user=ANN)
    assert f"<@&{role}>" in (still.error or "")
    session_id = (await rows(club))[0].id
    assert "Manage Server" in ((await club.run("session cancel", user=ANN, session=str(session_id))).error or "")
    cleared = await club.run("settings session-role", user=MOD)
    assert "nobody else" in cleared.text()
    assert "Manage Server" in ((await schedule(club, ahead(5)[0], user=CAROL)).error or "")


# --- the server's event, moving and cancelling --------------------------------------------------------------------


@pytest.mark.parametrize("permission", [MANAGE_EVENTS, CREATE_EVENTS], ids=["manage-events", "create-events"])
async def test_the_event_is_made_moved_and_cancelled_with_the_session(club: Club, permission: int) -> None:
    (paper_id,) = await papers(club, "Event paper")
    await propose(club, paper_id)
    await club.discord.scheduled_events.grant_bot(GUILD, permission)  # Create Events: its own events, all it needs
    when, instant = ahead(9, tz=UTC_ZONE)
    inter = await schedule(club, when, where="Room 101")
    assert "Events" not in (inter.error or "")  # made: the moderator is told only the zone
    (event,) = club.discord.scheduled_events.of_guild(GUILD)
    assert event["entity_type"] == 3 and event["entity_metadata"] == {"location": "Room 101"}
    assert datetime.fromisoformat(event["scheduled_start_time"]) == instant
    assert datetime.fromisoformat(event["scheduled_end_time"]) == instant + timedelta(hours=1)
    assert "Event paper" in event["name"]
    (row,) = await rows(club)
    assert row.event_id == int(event["id"])

    choices = await club.discord.autocomplete(
        "session move", guild_id=GUILD, channel_id=CHANNEL, user_id=MOD, options={"session": ""}, focused="session"
    )
    assert [c["value"] for c in choices] == [str(row.id)] and "Event paper" in choices[0]["name"]
    new_when, new_instant = ahead(11, tz=UTC_ZONE)
    moved = await club.run("session move", user=MOD, session=str(row.id), when=new_when)
    assert moved.ephemeral and "Moved" in moved.text()
    assert datetime.fromisoformat(event["scheduled_start_time"]) == new_instant
    announcement = club.discord.message(row.message_id or 0)
    assert stamps(announcement.text()) == [int(new_instant.timestamp())]
    assert any("moved to" in m.text() for m in club.posted())

    cancelled = await club.run("session cancel", user=MOD, session=str(row.id))
    assert "Cancelled" in cancelled.text()
    assert club.discord.scheduled_events.of_guild(GUILD) == []
    assert "cancelled" in announcement.text().lower()
    assert any("is cancelled" in m.text() for m in club.posted())
    (row,) = await rows(club)
    assert row.state == SessionState.CANCELLED and row.event_id is None
    gone = await club.run("session cancel", user=MOD, session=str(row.id))
    assert "not on the calendar" in (gone.error or "")
    assert "Nothing is scheduled" in (await club.run("session next", user=ANN)).text()


# --- reminders ---------------------------------------------------------------------------------------------------


async def test_reminders_go_out_once_each_across_restarts_moves_and_cancellations(
    fake_arxiv: FakeArxiv, tmp_path: Path
) -> None:
    async with running_club(fake_arxiv, tmp_path) as club:
        first_paper, second_paper, third_paper = await papers(club, "Reminded", "Crashed", "Cancelled")
        for paper_id in (first_paper, second_paper, third_paper):
            await propose(club, paper_id)
        await schedule(club, ahead(5)[0], paper="2502.00100")
        await schedule(club, ahead(6)[0], paper="2502.00101")
        await schedule(club, ahead(7)[0], paper="2502.00102")
        first, second, third = await rows(club)
        runner = club.bot.services.reading.reminders
        now = [first.starts_at - timedelta(hours=24) + timedelta(minutes=1)]
        runner.clock = lambda: now[0]
        await runner.tick()
        await runner.tick()
        (sent,) = posted_reminders(club)
        assert "in 24 hours" in sent.text() and "Reminded" in sent.text()
        assert stamps(sent.text()) == [int(first.starts_at.timestamp())]
        await club.bot.close()

        async with bot_on(club.discord, fake_arxiv, tmp_path) as again:  # a restart: nothing twice
            runner = again.bot.services.reading.reminders
            runner.clock = lambda: now[0]
            await runner.tick()
            assert len(posted_reminders(again)) == 1
            now[0] = first.starts_at - timedelta(minutes=59)
            await runner.tick()
            await runner.tick()
            assert len(posted_reminders(again)) == 2 and "in one hour" in posted_reminders(again)[-1].text()

            # The second session's 24 h reminder: Discord takes it, the process stops before recording it.
            now[0] = second.starts_at - timedelta(hours=23, minutes=55)
            reading = again.bot.services.reading.sessions
            recorded = reading.sent

            async def stops(**kwargs: Any) -> None:
                raise RuntimeError("the process stopped")

            reading.sent = stops  # type: ignore[method-assign]
            await runner.tick()
            reading.sent = recorded  # type: ignore[method-assign]
            assert len(posted_reminders(again)) == 3
            assert [r.state for r in await reminders(again)][-1] == ReminderState.SENDING

            # The third session's reminder: claimed, then the process stops before Discord took it.
            now[0] = third.starts_at - timedelta(hours=23, minutes=55)
            poster = again.bot.services.reading.posts
            remind = poster.remind

            async def never(*args: Any) -> int:
                raise RuntimeError("the process stopped")

            poster.remind = never  # type: ignore[method-assign]
            await runner.tick()
            poster.remind = remind  # type: ignore[method-assign]
            assert len(posted_reminders(again)) == 3
            await again.bot.close()

        async with bot_on(club.discord, fake_arxiv, tmp_path) as third_run:  # the first run settles both claims
            runner = third_run.bot.services.reading.reminders
            await runner.tick()  # seconds old: they might be a live process's, so they are left be
            assert [r.state for r in await reminders(third_run)][-2:] == [ReminderState.SENDING] * 2
            runner.stale = timedelta(0)  # as old as a restart after minutes
            await runner.tick()
            settled = await reminders(third_run)
            await third_run.discord.settle()
            assert [r.state for r in settled] == [ReminderState.SENT] * 4
            shown = posted_reminders(third_run)
            assert len(shown) == 4  # the second session's once, the third's sent now
            assert sum("Crashed" in m.text() for m in shown) == 1 and sum("Cancelled" in m.text() for m in shown) == 1
            assert {r.message_id for r in settled} == {m.id for m in shown}

            # a moved session is reminded again for its new time; a cancelled one never
            new_when, new_instant = ahead(9, tz=UTC_ZONE)
            moved = await third_run.run("session move", user=MOD, session=str(second.id), when=new_when)
            assert "Moved" in moved.text(), moved.text()
            cancelled = await third_run.run("session cancel", user=MOD, session=str(third.id))
            assert "Cancelled" in cancelled.text(), cancelled.text()
            now[0] = new_instant - timedelta(hours=24) + timedelta(minutes=2)
            runner.clock = lambda: now[0]
            await runner.tick()
            shown = posted_reminders(third_run)
            assert len(shown) == 5 and stamps(shown[-1].text()) == [int(new_instant.timestamp())]
            now[0] = third.starts_at - timedelta(minutes=30)
            await runner.tick()
            assert len(posted_reminders(third_run)) == 5


async def test_a_reminder_whose_time_passed_while_down_is_skipped(club: Club) -> None:
    (paper_id,) = await papers(club, "Late paper")
    await propose(club, paper_id)
    await schedule(club, ahead(4)[0])
    (row,) = await rows(club)
    runner = club.bot.services.reading.reminders
    runner.clock = lambda: row.starts_at - timedelta(minutes=30)  # both reminders' times passed long ago
    await runner.tick()
    assert posted_reminders(club) == []
    assert sorted((r.kind, r.state) for r in await reminders(club)) == [
        ("1h", ReminderState.SKIPPED),
        ("24h", ReminderState.SKIPPED),
    ]


# --- the digest --------------------------------------------------------------------------------------------------


async def test_the_digest_lists_the_weeks_sessions(club: Club) -> None:
    (paper_id,) = await papers(club, "Digest paper")
    await propose(club, paper_id)
    await club.run("session volunteer", user=ANN)
    await schedule(club, ahead(2)[0])
    (row,) = await rows(club)
    preview = await club.run("digest preview", user=MOD)
    shown = "\n".join(m.text() for m in preview.messages)
    assert "Reading sessions" in shown and "Digest paper" in shown and f"<@{ANN}>" in shown
    assert int(row.starts_at.timestamp()) in stamps(shown)


async def test_a_session_scheduled_without_the_permission_gets_its_event_when_moved_after(club: Club) -> None:
    (paper_id,) = await papers(club, "Late event paper")
    await propose(club, paper_id)
    inter = await schedule(club, ahead(5, tz=UTC_ZONE)[0])
    assert "Manage Events" in (inter.error or "") and club.discord.scheduled_events.events == {}
    await club.discord.scheduled_events.grant_bot(GUILD, MANAGE_EVENTS)
    (row,) = await rows(club)
    when, instant = ahead(6, tz=UTC_ZONE)
    moved = await club.run("session move", user=MOD, session=str(row.id), when=when)
    assert "on the server's events now" in moved.text()
    (event,) = club.discord.scheduled_events.of_guild(GUILD)
    assert datetime.fromisoformat(event["scheduled_start_time"]) == instant
    assert (await rows(club))[0].event_id == int(event["id"])


async def test_an_event_deleted_on_discord_is_made_again_when_the_session_moves(club: Club) -> None:
    (paper_id,) = await papers(club, "Deleted event paper")
    await propose(club, paper_id)
    await club.discord.scheduled_events.grant_bot(GUILD, MANAGE_EVENTS)
    await schedule(club, ahead(5, tz=UTC_ZONE)[0])
    (row,) = await rows(club)
    del club.discord.scheduled_events.events[row.event_id or 0]  # a moderator deleted it in Discord
    when, instant = ahead(6, tz=UTC_ZONE)
    moved = await club.run("session move", user=MOD, session=str(row.id), when=when)
    assert "could not be moved" not in moved.text() and "on them again" in moved.text()
    (event,) = club.discord.scheduled_events.of_guild(GUILD)
    assert datetime.fromisoformat(event["scheduled_start_time"]) == instant
    assert (await rows(club))[0].event_id == int(event["id"])


async def test_next_shows_whole_sessions_however_long_their_titles_and_places(club: Club) -> None:
    ids = await papers(club, *(f"{n} " + "A very long title about attention_and_more " * 6 for n in range(10)))
    for n, paper_id in enumerate(ids):
        await propose(club, paper_id)
        await schedule(club, ahead(n + 2)[0], paper=f"2502.{paper_id + 99:05d}", where="*_" * 50)
    shown = (await club.run("session next", user=ANN)).messages[-1].embeds[0]["description"]
    assert len(shown) <= 4096
    blocks = shown.split("\n• ")
    assert all(block.count("<t:") == 2 and block.rstrip().endswith("\\_") for block in blocks[:-1])
    assert "more: `/session move`" in blocks[-1] or blocks[-1].rstrip().endswith(
        "\\_"
    )  # whole, or what is left counted


async def test_a_session_number_typed_by_hand_that_is_no_session_is_told(club: Club) -> None:
    for typed in ("99999999999999999999", "0", "12abc"):
        refused = await club.run("session cancel", user=MOD, session=typed)
        assert refused.ephemeral and ("not on the calendar" in (refused.error or "") or "Pick" in (refused.error or ""))


async def test_a_server_without_a_time_zone_is_told_times_are_read_in_utc(club: Club) -> None:
    (paper_id,) = await papers(club, "Zone paper")
    await propose(club, paper_id)
    told = await schedule(club, ahead(3, tz=UTC_ZONE)[0])
    assert "read in UTC" in (told.error or "") and "/digest schedule" in (told.error or "")
    (row,) = await rows(club)
    moved = await club.run("session move", user=MOD, session=str(row.id), when=ahead(4, tz=UTC_ZONE)[0])
    assert "read in UTC" in moved.text()
    await berlin(club)
    quiet = await schedule(club, ahead(5)[0])
    assert "UTC" not in (quiet.error or "")


async def test_when_the_session_role_is_deleted_its_members_are_told_to_ask_for_another(club: Club) -> None:
    (paper_id,) = await papers(club, "Role paper")
    await propose(club, paper_id)
    club.discord.add_member(GUILD, CAROL, name="carol", permissions=ORGANISERS)
    role = int(club.discord.guilds[GUILD].members[CAROL]["roles"][0])
    await club.discord.settle()
    await club.run("settings session-role", user=MOD, role=str(role))
    club.discord.remove_role(GUILD, role)
    await club.discord.settle()
    refused = await schedule(club, ahead(3)[0], user=CAROL)
    assert "Manage Server" in (refused.error or "") and f"<@&{role}>" not in (refused.error or "")
    assert "deleted" in (refused.error or "") and "/settings session-role" in (refused.error or "")
    assert await rows(club) == []


async def test_a_reminder_for_a_deleted_channel_is_skipped_and_the_job_goes_on(club: Club) -> None:
    first, second = await papers(club, "Lost channel paper", "Kept channel paper")
    await propose(club, first)
    await propose(club, second)
    await schedule(club, ahead(3)[0], paper="2502.00100")
    other = 600_000_000_000_000_078
    club.discord.add_channel(GUILD, other, name="meetings")
    await club.discord.settle()
    await club.run("session schedule", user=MOD, channel=other, when=ahead(3, minute=30)[0], paper="2502.00101")
    lost, kept = await rows(club)
    club.discord.remove_channel(CHANNEL)
    await club.discord.settle()
    runner = club.bot.services.reading.reminders
    runner.clock = lambda: kept.starts_at - timedelta(hours=23, minutes=59)
    await runner.tick()
    assert [(r.session_id, r.state) for r in await reminders(club)] == [
        (lost.id, ReminderState.SKIPPED),
        (kept.id, ReminderState.SENT),
    ]
    (sent,) = [m for m in club.discord.channel_messages(other) if "⏰" in m.text()]
    assert "Kept channel paper" in sent.text()
