"""/tags and /stats as members see them, through the real discord.py client and the loopback Discord."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from storage.models import Note
from tests.bot.conftest import ANN, BOB, GUILD, MOD, OTHER_GUILD, Club

NOW = datetime(2025, 6, 18, 12, tzinfo=UTC)  # a Wednesday
EM = "\u2003"


def pin_clock(club: Club, now: datetime = NOW) -> None:
    """Stats are counted as of ``now``."""
    cog = club.bot.get_cog("Stats")
    assert cog is not None
    cog.stats.clock = lambda: now  # type: ignore[attr-defined]


async def backdate(club: Club, note_id: int, at: datetime) -> None:
    async with club.bot.services.sessions() as session:
        await session.exec(update(Note).where(Note.id == note_id).values(created_at=at))  # type: ignore[call-overload]
        await session.commit()


async def post(club: Club, paper: str, *, user: int = ANN, guild: int = GUILD, tags: str | None = None) -> int:
    inter = await club.run("note add", paper=paper, text="notes", tags=tags, user=user, guild=guild)
    text = inter.original.text()
    assert "Saved note #" in text, text
    return int(text.split("Saved note #", 1)[1].split()[0])


def lines(inter: object) -> list[str]:
    return [line for m in inter.messages for e in m.embeds for line in e["description"].split("\n")]  # type: ignore[attr-defined]


def assert_public_without_mentions(inter: object) -> None:
    assert inter.messages and not inter.ephemeral  # type: ignore[attr-defined]
    for message in inter.messages:  # type: ignore[attr-defined]
        assert not message.ephemeral and not message.loading
        assert message.allowed_mentions is not None and message.allowed_mentions.get("parse") == []


async def test_tags_shows_nested_counts_of_distinct_notes(club: Club) -> None:
    ids = list(club.arxiv.catalog.ids(3))
    await post(club, ids[0], tags="llms/prompting, rl")
    await post(club, ids[1], tags="llms", user=BOB)
    await post(club, ids[2], tags="llms/prompting/cot, llms")  # counted once under llms
    inter = await club.run("tags", user=BOB)
    assert_public_without_mentions(inter)
    embed = inter.original.embeds[0]
    assert embed["title"] == "Topics · 4 tags"
    assert lines(inter) == [
        "**`llms`** · 3 notes",
        f"{EM}└ `prompting` · 2",
        f"{EM}{EM}└ `cot` · 1",
        "**`rl`** · 1 note",
    ]
    assert "sub-tags" in embed["footer"]["text"]


async def test_tags_without_any_tag_gives_a_hint(club: Club) -> None:
    await post(club, next(iter(club.arxiv.catalog.ids(1))))  # a note, but no tags
    inter = await club.run("tags")
    assert_public_without_mentions(inter)
    text = inter.original.text()
    assert "No tags yet" in text and "/note add ... tags:" in text


async def test_long_tag_index_continues_over_embeds_and_messages_in_order(club: Club) -> None:
    first = await post(club, next(iter(club.arxiv.catalog.ids(1))), tags="aaa")
    async with club.bot.services.sessions() as session:
        paper_id = (await session.get(Note, first)).paper_id  # type: ignore[union-attr]
    families = [f"family-{f:02d}-with-a-longer-name" for f in range(30)]
    for f, family in enumerate(families):  # one note per family, each from another member, nine sub-tags each
        tags = [f"{family}/sub-{s}-also-named-at-length" for s in range(9)]
        await club.bot.services.notes.add(
            guild_id=GUILD, paper_id=paper_id, author_id=10_000 + f, author_name=f"m{f}", body="b", tags=tags
        )
    inter = await club.run("tags")
    assert_public_without_mentions(inter)
    embeds = [e for m in inter.messages for e in m.embeds]
    assert len(inter.messages) >= 2 and len(embeds) >= 4
    assert all(len(e["description"]) <= 4096 for e in embeds)
    assert embeds[-1]["footer"]["text"].endswith(f"part {len(embeds)} of {len(embeds)}")
    shown = [line for line in lines(inter) if not line.endswith("(continued)")]
    expected = ["**`aaa`** · 1 note"]
    for family in families:  # every count is 1: by name
        expected.append(f"**`{family}`** · 1 note")
        expected += [f"{EM}└ `sub-{s}-also-named-at-length` · 1" for s in range(9)]
    assert shown == expected  # all of it, once each, in order
    for embed in embeds[1:]:  # a part that starts under a family says which family first
        head = embed["description"].split("\n", 1)[0]
        assert head.startswith("**`") and ("(continued)" in head or "· 1 note" in head)


async def test_stats_for_a_member(club: Club) -> None:
    pin_clock(club)
    ids = list(club.arxiv.catalog.ids(5))
    for i, (weeks_ago, tags) in enumerate([(0, "llms, rl"), (1, "llms"), (2, "eval"), (5, "llms")]):
        await backdate(club, await post(club, ids[i], tags=tags), NOW - timedelta(weeks=weeks_ago))
    await backdate(club, await post(club, ids[0], user=BOB), NOW)
    inter = await club.run("stats", member=ANN, user=BOB)
    assert_public_without_mentions(inter)
    embed = inter.original.embeds[0]
    assert embed["title"] == "Reading stats: ann"
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Notes"] == "**4** on 4 papers"
    assert fields["Weekly streak"] == "**3 weeks** · longest 3 weeks"
    assert fields["Top tags"] == "`llms` 3 · `eval` 1 · `rl` 1"
    assert "Monday, UTC" in embed["footer"]["text"]


async def test_stats_streak_waits_for_this_week_and_members_without_notes(club: Club) -> None:
    pin_clock(club)
    await backdate(club, await post(club, next(iter(club.arxiv.catalog.ids(1)))), NOW - timedelta(weeks=1))
    ann = (await club.run("stats", member=ANN)).original.embeds[0]
    streak = next(f["value"] for f in ann["fields"] if f["name"] == "Weekly streak")
    assert streak.startswith("**1 week** · longest 1 week") and "No note yet this week" in streak
    bob = await club.run("stats", member=BOB)
    assert "bob has no notes in this server yet" in bob.original.text()


async def test_stats_for_the_group(club: Club) -> None:
    pin_clock(club)
    ids = list(club.arxiv.catalog.ids(4))
    await backdate(club, await post(club, ids[0], tags="llms/prompting"), NOW - timedelta(days=1))
    await backdate(club, await post(club, ids[1], tags="llms/prompting"), NOW - timedelta(days=8))
    await backdate(club, await post(club, ids[0], user=BOB, tags="rl"), NOW - timedelta(days=2))
    await backdate(club, await post(club, ids[2], user=MOD), NOW - timedelta(days=40))  # May: not this month
    inter = await club.run("stats", user=BOB)
    assert_public_without_mentions(inter)
    embed = inter.original.embeds[0]
    assert embed["title"] == "Reading stats: Reading Group"
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Notes"] == "**4** on 3 papers by 3 members"
    assert fields["Weekly streak (weeks with any note)"] == "**2 weeks** · longest 2 weeks"
    assert fields["This month (June 2025)"] == "**2 members** posted notes\nMost active: ann (2), bob (1)"
    assert fields["Top tags"] == "`llms/prompting` 2 · `rl` 1"


async def test_groups_never_see_each_others_tags_or_stats(club: Club) -> None:
    pin_clock(club)
    ids = list(club.arxiv.catalog.ids(2))
    await backdate(club, await post(club, ids[0], tags="secret/plans"), NOW)
    nothing = await club.run("tags", guild=OTHER_GUILD)
    assert "No tags yet" in nothing.original.text() and "secret" not in nothing.original.text()
    quiet = await club.run("stats", guild=OTHER_GUILD)
    assert "No notes in this server yet" in quiet.original.text()
    await backdate(club, await post(club, ids[1], tags="shared", guild=OTHER_GUILD), NOW)
    here = await club.run("tags")
    assert lines(here) == ["**`secret`** · 1 note", f"{EM}└ `plans` · 1"]
    there = await club.run("tags", guild=OTHER_GUILD)
    assert lines(there) == ["**`shared`** · 1 note"]
    group = (await club.run("stats", guild=OTHER_GUILD)).original.embeds[0]
    fields = {f["name"]: f["value"] for f in group["fields"]}
    assert fields["Notes"] == "**1** on 1 paper by 1 member" and fields["Top tags"] == "`shared` 1"
    ann = (await club.run("stats", guild=OTHER_GUILD, member=ANN)).original.embeds[0]
    assert next(f["value"] for f in ann["fields"] if f["name"] == "Notes") == "**1** on 1 paper"
