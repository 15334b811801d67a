"""A listing day the bot missed, caught up through the arXiv API and posted by the bot's own poll job: once each,
before the day's listing, filtered like it, closed by a line, and not again after a restart."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from storage.models import DeliveryState
from tests.arxiv_standin import FakeArxiv
from tests.bot.conftest import GUILD, MOD, bot_on, running_club
from tests.bot.test_feed_posts_wire import deliveries, feed_cards, listings, poll_now, settings
from tests.feed_listings import GeneratedPaper, listing_papers, render_listing

READING = 600_000_000_000_000_019  # a second text channel in GUILD, following only papers about diffusion
MON, WED = date(2025, 4, 28), date(2025, 4, 30)
TUESDAYS_WINDOW = datetime(2025, 4, 25, 18, 0, tzinfo=UTC)  # Friday 14:00 EDT, to Monday 14:00 EDT
LINE = "↻ Caught up: {n} papers from Tue 29 Apr that the `cs.LG` feed missed while the bot was offline."


def new(n: int, *, start_id: int, seed: int) -> list[GeneratedPaper]:
    return [
        dataclasses.replace(p, announce_type="new", version=1) for p in listing_papers(n, start_id=start_id, seed=seed)
    ]


def link(paper: GeneratedPaper) -> str:
    return f"https://arxiv.org/abs/{paper.arxiv_id}"


def lines(club_posted: list) -> list[str]:
    return [m.content for m in club_posted if m.content.startswith("↻")]


async def test_a_day_the_bot_missed_is_posted_once_from_the_api_before_the_next_listing(
    fake_arxiv: FakeArxiv, tmp_path: Path
) -> None:
    monday, wednesday = new(6, start_id=100, seed=1), new(4, start_id=900, seed=3)
    tuesday = new(9, start_id=300, seed=2)
    crossed = new(2, start_id=400, seed=4)
    for n, paper in enumerate(tuesday):  # Saturday and Sunday submissions, in cs.LG
        fake_arxiv.add_submitted(
            paper.arxiv_id,
            paper.title,
            submitted=TUESDAYS_WINDOW + timedelta(hours=5 * n + 1),
            categories=("cs.LG", *paper.categories[1:]),
            authors=paper.authors,
            summary=paper.abstract,
        )
    for n, paper in enumerate(crossed):  # stat.ML papers cross-listed in cs.LG: after the new ones
        fake_arxiv.add_submitted(
            paper.arxiv_id,
            paper.title,
            submitted=TUESDAYS_WINDOW + timedelta(minutes=30 + n),
            categories=("stat.ML", "cs.LG"),
            authors=paper.authors,
            summary=paper.abstract,
        )
    # Monday's own papers were in Monday's listing; one submitted after Monday 14:00 is Wednesday's.
    for paper, when in (
        (monday[0], TUESDAYS_WINDOW - timedelta(hours=2)),
        (wednesday[0], datetime(2025, 4, 28, 19, 0, tzinfo=UTC)),
    ):
        fake_arxiv.add_submitted(paper.arxiv_id, paper.title, submitted=when, categories=("cs.LG",))

    async with listings() as served, running_club(fake_arxiv, tmp_path, **settings(served)) as club:
        club.discord.add_channel(GUILD, READING, name="reading")
        await club.discord.settle()
        served.bodies["/rss/cs.LG"] = render_listing(monday, day=MON)  # the bot sees Monday's listing ...
        assert "Following" in (await club.run("feed add", user=MOD, source="cs.LG")).text()
        added = await club.run("feed add", user=MOD, source="cs.LG", channel=READING, keywords="diffusion")
        assert "Following" in added.text(), added.text()
        await poll_now(club)
        assert feed_cards(club) == [] and fake_arxiv.date_searches() == []

        served.bodies["/rss/cs.LG"] = render_listing(wednesday, day=WED)  # ... and next, Wednesday's
        await poll_now(club)

        asked = fake_arxiv.date_searches()
        assert [s.query["search_query"] for s in asked] == [
            "cat:cs.LG AND submittedDate:[202504251800 TO 202504281800]"
        ]
        missed = [*tuesday, *crossed]
        assert feed_cards(club) == [link(p) for p in missed + wednesday]
        posted = club.posted()
        assert lines(posted) == [LINE.format(n=11)]
        line = next(i for i, m in enumerate(posted) if m.content.startswith("↻"))
        assert not posted[line].embeds  # the line stands alone ...
        assert [e["url"] for m in posted[line + 1 :] for e in m.embeds] == [link(p) for p in wednesday]  # ... between
        assert posted[line].allowed_mentions == {"parse": []}  # it pings no one

        about = [p for p in missed if "diffusion" in f"{p.title} {p.abstract}".lower()]
        assert about, "the generated papers should include some about diffusion"
        assert feed_cards(club, READING)[: len(about)] == [link(p) for p in about]
        one = "paper" if len(about) == 1 else "papers"
        assert lines(club.posted(READING)) == [LINE.format(n=len(about)).replace("papers", one, 1)]
        rows = await deliveries(club)
        assert len(rows) == len(missed) + len(wednesday) + len(feed_cards(club, READING))
        assert {r.state for r in rows} == {DeliveryState.SENT}
        await club.bot.close()

        async with bot_on(club.discord, fake_arxiv, tmp_path, **settings(served)) as again:
            await poll_now(again)  # a restart, and Wednesday's listing once more
            assert feed_cards(again) == [link(p) for p in missed + wednesday]  # nothing twice
            assert lines(again.posted()) == [LINE.format(n=11)]
            assert len(fake_arxiv.date_searches()) == 1  # Tuesday is known: arXiv is not asked again
