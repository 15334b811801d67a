"""Catching up on arXiv listing days a feed missed: the calendar, the API queries, and delivery before the listing."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from schedules.addresses import AddressGuard
from schedules.arxiv import ArxivClient
from schedules.arxiv_answers import parse_api_feed
from schedules.catch_up import (
    CatchUp,
    CaughtUp,
    Missed,
    as_listed,
    feed_categories,
    listing_date,
    listing_day_of,
    missed_days,
    submission_window,
    submitted_query,
)
from schedules.feed_formats import parse_listing
from schedules.poller import Batch, FeedPoller, OnSent
from schedules.ratelimit import ArxivLimiter, requester
from storage.db import Sessions
from storage.feeds.kinds import FeedKind
from storage.feeds.polls import PlannedDelivery, PollRecords
from storage.feeds.subscriptions import SubscriptionService
from storage.papers import PaperView
from tests.arxiv_standin import FakeArxiv, Reply, capture
from tests.feed_listings import GeneratedPaper, listing_papers, render_listing
from tests.loopback import serving
from tests.schedules.test_poller import Server

G = 1
MON, TUE, WED = date(2025, 4, 28), date(2025, 4, 29), date(2025, 4, 30)
NOW = datetime(2025, 4, 30, 5, 0, tzinfo=UTC)  # Wednesday, after arXiv's midnight release


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# The calendar


@pytest.mark.parametrize(
    ("day", "opens", "closes"),
    [
        (MON, "2025-04-24 18:00", "2025-04-25 18:00"),  # Thursday 14:00 to Friday 14:00 (EDT)
        (TUE, "2025-04-25 18:00", "2025-04-28 18:00"),  # Friday to Monday: the weekend's submissions
        (WED, "2025-04-28 18:00", "2025-04-29 18:00"),
        (date(2025, 3, 11), "2025-03-07 19:00", "2025-03-10 18:00"),  # opens in EST, closes in EDT: 71 hours
        (date(2025, 11, 4), "2025-10-31 18:00", "2025-11-03 19:00"),  # opens in EDT, closes in EST: 73 hours
        (date(2025, 1, 6), "2025-01-02 19:00", "2025-01-03 19:00"),  # winter: 14:00 EST is 19:00 UTC
    ],
)
def test_a_listing_days_papers_were_submitted_in_the_window_closing_at_two_pm_eastern_the_business_day_before(
    day: date, opens: str, closes: str
) -> None:
    assert submission_window(day) == (utc(opens), utc(closes))


@pytest.mark.parametrize(
    ("submitted", "announced"),
    [
        ("2025-04-25 17:59", MON),  # Friday 13:59 EDT: in Monday's listing
        ("2025-04-25 18:00", TUE),  # Friday 14:00 EDT: the deadline passed, so Tuesday's
        ("2025-04-26 12:00", TUE),  # Saturday
        ("2025-04-28 17:00", TUE),  # Monday 13:00 EDT
        ("2025-05-01 18:30", date(2025, 5, 5)),  # Thursday after the deadline: the next Monday
        ("2025-03-07 18:30", date(2025, 3, 10)),  # Friday 13:30 EST: before the deadline (19:00 UTC)
        ("2025-03-10 18:30", date(2025, 3, 12)),  # Monday 14:30 EDT: after the deadline (18:00 UTC)
    ],
)
def test_a_submission_is_announced_in_the_listing_whose_window_holds_it(submitted: str, announced: date) -> None:
    assert listing_day_of(utc(submitted)) == announced


def test_every_listing_day_of_a_year_owns_its_window_exactly_across_daylight_saving_changes() -> None:
    day = date(2025, 1, 1)
    while day.year == 2025:
        if day.weekday() < 5:
            opens, closes = submission_window(day)
            assert listing_day_of(opens) == day
            assert listing_day_of(closes - timedelta(microseconds=1)) == day
            assert listing_day_of(closes) != day
        day += timedelta(days=1)


@pytest.mark.parametrize(
    ("last_seen", "listing_day", "listed", "missed"),
    [
        (MON, WED, True, Missed((TUE,))),
        (TUE, WED, True, Missed(())),  # the next day: nothing missed
        (date(2025, 4, 25), MON, True, Missed(())),  # a Monday after a Friday: the weekend has no listing
        (date(2025, 4, 24), MON, True, Missed((date(2025, 4, 25),))),  # Friday missed
        (date(2025, 4, 25), WED, True, Missed((MON, TUE))),
        (date(2025, 4, 24), date(2025, 4, 26), False, Missed((date(2025, 4, 25),))),  # Saturday's empty listing
        (date(2025, 4, 25), date(2025, 4, 27), False, Missed(())),  # Sunday's, after Friday was seen
        (WED, WED, True, Missed(())),
        (date(2025, 3, 7), date(2025, 3, 11), True, Missed((date(2025, 3, 10),))),  # across the change to EDT
    ],
)
def test_missed_days_follow_the_arxiv_calendar(
    last_seen: date, listing_day: date, listed: bool, missed: Missed
) -> None:
    assert missed_days(last_seen, listing_day, listed=listed) == missed


def test_a_long_outage_catches_up_the_five_newest_days_and_says_older_ones_were_skipped() -> None:
    three_weeks = missed_days(date(2025, 4, 7), WED, listed=True)
    assert three_weeks == Missed((date(2025, 4, 23), date(2025, 4, 24), date(2025, 4, 25), MON, TUE), skipped=True)
    assert missed_days(date(2024, 4, 30), WED, listed=True) == three_weeks  # a year: the same five days
    assert missed_days(date(2025, 4, 22), WED, listed=True) == dataclasses.replace(three_weeks, skipped=False)


def test_queries_ask_for_the_feeds_categories_over_the_window_to_the_minute() -> None:
    start, end = submission_window(TUE)
    assert submitted_query(("cs.LG",), start, end) == "cat:cs.LG AND submittedDate:[202504251800 TO 202504281800]"
    both = submitted_query(("cs.CL", "cs.LG"), start, end)
    assert both == "(cat:cs.CL OR cat:cs.LG) AND submittedDate:[202504251800 TO 202504281800]"
    archive = submitted_query(("cs",), start, end)  # a whole archive: each of its categories
    assert archive.startswith("(cat:cs.AI OR ") and " OR cat:cs.LG OR " in archive


def test_a_feeds_categories_come_from_its_address_or_else_its_listings_title() -> None:
    assert feed_categories("https://rss.arxiv.org/rss/cs.CL+cs.LG") == ("cs.CL", "cs.LG")
    assert feed_categories("http://127.0.0.1:8080/rss/quant-ph") == ("quant-ph",)
    assert feed_categories("https://mirror.example/listing?x=1", "cs.AI updates on arXiv.org") == ("cs.AI",)
    assert feed_categories("https://example.org/feed.xml", "A lab's blog") == ()


def test_real_listings_are_dated_by_their_announcement_day_in_new_york() -> None:
    rss = parse_listing(capture("rss2_rss.arxiv.org_quant-ph_2025-04-28_81items.xml"))
    assert listing_date(rss) == MON
    atom = parse_listing(capture("atom_rss.arxiv.org_cs.AI_2025-08-20_truncated87.xml"))
    assert listing_date(atom) == date(2025, 8, 20)
    sunday = parse_listing(capture("atom_rss.arxiv.org_cs_2025-11-23_weekend_empty.xml"))
    assert not sunday.items and listing_date(sunday) == date(2025, 11, 23)  # 05:00 UTC is midnight EST


def test_real_api_results_are_new_in_their_primary_category_and_cross_listed_elsewhere() -> None:
    papers = parse_api_feed(capture("api2026_search_cat_math.NT_OR_math.AG_max3.xml"))
    items = [as_listed(paper, ("math.NT",)) for paper in papers]
    by_key = {item.key: item for item in items}
    assert by_key["arxiv:2606.20448"].announce_type == "cross"  # primary math.AG
    assert by_key["arxiv:2606.20439"].announce_type == "new"  # primary math.NT
    # Submitted Thursday 18 June 2026 at 12:25 EDT, before the deadline: announced in Friday's listing, and dated
    # the way that listing dates its papers (midnight in New York).
    assert by_key["arxiv:2606.20448"].published == utc("2026-06-19 04:00")
    assert by_key["arxiv:2606.20448"].to_metadata().published is None  # a cross-list does not date the paper
    assert by_key["arxiv:2606.20439"].to_metadata().published == utc("2026-06-19 04:00")


# Delivery, against a loopback listing and the arXiv stand-in


class Channels:
    """Stands in for Discord: what each channel shows, in order (cards, held-back lines and caught-up lines)."""

    def __init__(self) -> None:
        self.shown: dict[int, list[str]] = {}
        self.notes: list[CaughtUp] = []
        self.message = 100

    async def deliver(self, batch: Batch, on_sent: OnSent) -> None:
        papers = list(batch.papers)
        for start in range(0, len(papers), 10):
            chunk = papers[start : start + 10]
            self.message += 1
            self.shown.setdefault(batch.channel_id, []).extend(paper.key for _, paper in chunk)
            await on_sent([d.id for d, _ in chunk], self.message)
        if batch.held_back:
            self.shown.setdefault(batch.channel_id, []).append(f"held back {sum(batch.held_back.values())}")

    async def find_posted(
        self, channel_id: int, since: datetime, papers: Sequence[tuple[PlannedDelivery, PaperView]]
    ) -> dict[int, int]:
        return {}

    async def caught_up(self, note: CaughtUp) -> None:
        self.notes.append(note)
        self.shown.setdefault(note.channel_id, []).append(f"caught up {note.papers}")


class Pace:
    """The limiter's clock, moved on by its own waits: spacing is checked without waiting for it."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


class Recorded(ArxivLimiter):
    """The shared limiter at arXiv's pace (3 s), noting who each request was for and when it began."""

    def __init__(self) -> None:
        self.pace = Pace()
        super().__init__(3.0, clock=self.pace.clock, sleep=self.pace.sleep)
        self.starts: list[tuple[Any, float]] = []

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with super().slot():
            self.starts.append((requester.get(), self.now()))
            yield


def papers_of(generated: Sequence[GeneratedPaper], *, announce: str = "new") -> list[GeneratedPaper]:
    return [dataclasses.replace(p, announce_type=announce, version=1) for p in generated]


def submit(
    fake: FakeArxiv, papers: Sequence[GeneratedPaper], *, first: datetime, every: timedelta, cross: bool = False
) -> None:
    """Have arXiv know these papers, submitted one after another from ``first``, in cs.LG (or cross-listed there)."""
    for n, paper in enumerate(papers):
        categories = ("stat.ML", "cs.LG") if cross else ("cs.LG", *paper.categories[1:])
        fake.add_submitted(
            paper.arxiv_id,
            paper.title,
            submitted=first + n * every,
            categories=categories,
            authors=paper.authors,
            summary=paper.abstract,
        )


@dataclasses.dataclass
class Setup:
    sessions: Sessions
    served: Server  # a loopback rss.arxiv.org
    arxiv: FakeArxiv
    limiter: Recorded
    client: ArxivClient
    channels: Channels
    url: str = ""

    def poller(self, *, now: datetime = NOW, max_posts: int = 50, **catch_up: Any) -> FeedPoller:
        runs = PollRecords(self.sessions)
        return FeedPoller(
            polls=runs,
            feeds=SubscriptionService(self.sessions),
            limiter=self.limiter,
            deliverer=self.channels,
            interval=5,
            clock=lambda: now,
            arxiv=True,  # the loopback listing stands for rss.arxiv.org: it waits its turn like the API
            max_posts=max_posts,
            guard=AddressGuard(allow_private=True),
            catch_up=CatchUp(polls=runs, arxiv=self.client, **catch_up),
        )

    async def subscribe(self, channel: int, listing: bytes, **kw: str) -> None:
        parsed = parse_listing(listing)
        await SubscriptionService(self.sessions).subscribe(
            guild_id=G,
            channel_id=channel,
            created_by=9,
            url=self.url,
            kind=FeedKind.ARXIV_LISTING,
            source="cs.LG",
            current=[(i.to_metadata(), i.announce_type) for i in parsed.items],
            **kw,
        )


@pytest.fixture
async def setup(sessions: Sessions, fake_arxiv: FakeArxiv) -> AsyncIterator[Setup]:
    limiter, served = Recorded(), Server()
    async with (
        serving(served.handle) as server,
        ArxivClient(api_base=fake_arxiv.url, limiter=limiter, max_attempts=1) as client,
    ):
        served.server = server
        yield Setup(sessions, served, fake_arxiv, limiter, client, Channels(), url=served.url("/rss/cs.LG"))


def keys(papers: Sequence[GeneratedPaper]) -> list[str]:
    return [p.key for p in papers]


MONDAY = papers_of(listing_papers(6, start_id=100, seed=1))
WEDNESDAY = papers_of(listing_papers(5, start_id=900, seed=3))


async def test_a_missed_day_is_asked_page_by_page_in_the_bots_own_turns_and_posted_before_the_listing(
    setup: Setup,
) -> None:
    await setup.subscribe(10, render_listing(MONDAY, day=MON))
    tuesday = papers_of(listing_papers(450, start_id=1000, seed=2))
    opens, closes = submission_window(TUE)
    submit(setup.arxiv, tuesday, first=opens, every=timedelta(minutes=9))  # all within Friday 14:00 to Monday 14:00
    late = papers_of(listing_papers(1, start_id=1600, seed=4))
    submit(setup.arxiv, late, first=closes, every=timedelta(0))  # Monday 14:00 on the dot: Wednesday's paper
    setup.served.bodies["/rss/cs.LG"] = render_listing(WEDNESDAY, day=WED)

    report = await setup.poller(max_posts=500).poll_once()

    asked = setup.arxiv.date_searches()
    assert [(s.query["start"], s.query["max_results"]) for s in asked] == [("0", "200"), ("200", "200"), ("400", "200")]
    assert {s.query["search_query"] for s in asked} == {"cat:cs.LG AND submittedDate:[202504251800 TO 202504281800]"}
    assert {(s.query["sortBy"], s.query["sortOrder"]) for s in asked} == {("submittedDate", "descending")}
    # One limiter for the listing and the API: the listing first, then each page, all in the bot's own lane,
    # each starting at least 3 s after the one before.
    assert setup.served.hits == {"/rss/cs.LG": 1} and len(setup.limiter.starts) == 4
    assert {who for who, _ in setup.limiter.starts} == {None}
    starts = [at for _, at in setup.limiter.starts]
    assert all(later - earlier >= 3.0 for earlier, later in itertools.pairwise(starts))

    shown = setup.channels.shown[10]
    assert shown == [*keys(tuesday), "caught up 450", *keys(WEDNESDAY)]  # in the order arXiv announced them
    assert setup.channels.notes == [CaughtUp(10, "cs.LG", 450, TUE, TUE, skipped=False, feed_failed=False)]
    assert report.posted == 455 and report.fetched == 1 and not report.failed

    setup.served.bodies["/rss/cs.LG"] += b"\n"  # Wednesday's listing in full once more, as after a restart
    again = await setup.poller(max_posts=500, now=NOW + timedelta(hours=1)).poll_once()
    assert again.fetched == 1
    assert again.posted == 0 and len(setup.arxiv.date_searches()) == 3  # Tuesday is known now: not asked again
    assert setup.channels.shown[10] == shown


async def test_caught_up_papers_are_decided_like_a_listings_filters_cross_lists_and_the_per_poll_cap(
    setup: Setup,
) -> None:
    await setup.subscribe(10, render_listing(MONDAY, day=MON))
    await setup.subscribe(11, render_listing(MONDAY, day=MON), keywords="diffusion")
    await setup.subscribe(12, render_listing(MONDAY, day=MON), mode="digest")
    opens, _ = submission_window(TUE)
    tuesday = papers_of(listing_papers(30, start_id=1000, seed=5))
    submit(setup.arxiv, tuesday, first=opens, every=timedelta(hours=1))
    crossed = papers_of(listing_papers(4, start_id=1100, seed=6))
    submit(setup.arxiv, crossed, first=opens + timedelta(minutes=30), every=timedelta(hours=1), cross=True)
    setup.served.bodies["/rss/cs.LG"] = render_listing(WEDNESDAY, day=WED)

    await setup.poller(max_posts=20).poll_once()

    # New papers first, then cross-lists, as a listing orders them; twenty a poll, the rest held for the digest.
    listed = keys(tuesday) + keys(crossed)
    assert setup.channels.shown[10][:22] == [*listed[:20], "held back 14", "caught up 20"]
    matching = [p.key for p in [*tuesday, *crossed] if "diffusion" in f"{p.title} {p.abstract}".lower()]
    assert matching, "the generated papers should include some about diffusion"
    assert setup.channels.shown[11][: len(matching) + 1] == [*matching, f"caught up {len(matching)}"]
    assert 12 not in setup.channels.shown  # digest mode: kept for the digest, nothing posted, no line


async def test_a_paper_new_on_the_missed_day_and_replaced_in_todays_listing_is_posted_once(setup: Setup) -> None:
    await setup.subscribe(10, render_listing(MONDAY, day=MON))
    tuesday = papers_of(listing_papers(3, start_id=1000, seed=2))
    opens = submission_window(TUE)[0]
    submit(setup.arxiv, tuesday[:2], first=opens, every=timedelta(hours=1))
    revised = tuesday[2]
    setup.arxiv.add_submitted(  # arXiv has its second version now, dated by its first
        revised.arxiv_id, revised.title, submitted=opens + timedelta(hours=3), categories=("cs.LG",), version=2
    )
    replaced = dataclasses.replace(revised, announce_type="replace", version=2)
    setup.served.bodies["/rss/cs.LG"] = render_listing([*WEDNESDAY, replaced], day=WED)

    await setup.poller().poll_once()
    await setup.poller(now=NOW + timedelta(hours=1)).poll_once()

    assert setup.channels.shown[10] == [*keys(tuesday), "caught up 3", *keys(WEDNESDAY)]


async def test_a_cap_on_papers_keeps_the_newest_days_and_says_older_ones_were_skipped(setup: Setup) -> None:
    await setup.subscribe(10, render_listing(MONDAY, day=date(2025, 4, 24)))  # the feed last saw Thursday's listing
    friday = papers_of(listing_papers(150, start_id=2000, seed=7))
    monday = papers_of(listing_papers(150, start_id=3000, seed=8))
    tuesday = papers_of(listing_papers(150, start_id=4000, seed=9))
    for papers, day in ((friday, date(2025, 4, 25)), (monday, MON), (tuesday, TUE)):
        submit(setup.arxiv, papers, first=submission_window(day)[0], every=timedelta(minutes=5))
    setup.served.bodies["/rss/cs.LG"] = render_listing(WEDNESDAY, day=WED)

    await setup.poller(max_posts=500, max_papers=250).poll_once()

    asked = setup.arxiv.date_searches()
    assert [(s.query["start"], s.query["max_results"]) for s in asked] == [("0", "200"), ("200", "50")]
    assert {s.query["search_query"] for s in asked} == {"cat:cs.LG AND submittedDate:[202504231800 TO 202504281800]"}
    shown = setup.channels.shown[10]
    assert shown[:250] == keys(monday[50:]) + keys(tuesday)  # the newest 250: Friday's all skipped, and Monday's first
    assert shown[250:] == ["caught up 250", *keys(WEDNESDAY)]
    assert setup.channels.notes == [CaughtUp(10, "cs.LG", 250, MON, TUE, skipped=True, feed_failed=False)]


async def test_when_arxiv_cannot_be_asked_the_feed_fails_and_the_next_try_catches_up_before_the_listing(
    setup: Setup,
) -> None:
    await setup.subscribe(10, render_listing(MONDAY, day=MON))
    tuesday = papers_of(listing_papers(8, start_id=1000, seed=2))
    submit(setup.arxiv, tuesday, first=submission_window(TUE)[0], every=timedelta(hours=2))
    setup.served.bodies["/rss/cs.LG"] = render_listing(WEDNESDAY, day=WED)
    setup.arxiv.then(Reply.of("api2026_error_503_html_2026-01-08.xml", status=503))

    failed = await setup.poller().poll_once()
    assert failed.posted == 0 and 10 not in setup.channels.shown
    assert list(failed.failed.values()) == [
        "Could not catch up on the 1 listing day this feed missed: arXiv answered HTTP 503. Trying again."
    ]
    runs = PollRecords(setup.sessions)
    feed = (await runs.due_feeds(now=NOW + timedelta(days=1)))[0]
    assert feed.failures == 1
    assert await runs.listed_keys(feed_id=feed.id, keys=keys(WEDNESDAY)) == set()  # the listing waits too

    later = await setup.poller(now=NOW + timedelta(minutes=30)).poll_once()
    assert later.posted == 13 and not later.failed
    assert setup.channels.shown[10] == [*keys(tuesday), "caught up 8", *keys(WEDNESDAY)]
    assert setup.channels.notes[0].feed_failed  # the line says the feed could not be read
    assert setup.served.hits == {"/rss/cs.LG": 2} and len(setup.arxiv.date_searches()) == 2


async def test_after_three_failed_tries_the_listing_goes_on_without_the_missed_days(setup: Setup) -> None:
    await setup.subscribe(10, render_listing(MONDAY, day=MON))
    submit(setup.arxiv, papers_of(listing_papers(3, seed=2)), first=submission_window(TUE)[0], every=timedelta(hours=1))
    setup.served.bodies["/rss/cs.LG"] = render_listing(WEDNESDAY, day=WED)
    setup.arxiv.then(*[Reply(status=503, body=b"<html><title>503</title></html>", content_type="text/html")] * 3)
    poller = setup.poller()  # one process: it counts the tries
    for attempt in range(1, 4):
        report = await poller.poll_once()
        assert (len(report.failed), report.posted) == ((1, 0) if attempt < 3 else (0, 5)), attempt
        poller.clock = lambda attempt=attempt: NOW + timedelta(hours=attempt)  # type: ignore[misc]
    assert setup.channels.shown[10] == keys(WEDNESDAY) and not setup.channels.notes


async def test_only_a_gap_after_a_seen_day_is_asked_for_not_a_first_listing_nor_the_next_day(setup: Setup) -> None:
    setup.served.bodies["/rss/cs.LG"] = render_listing(MONDAY, day=MON)
    await setup.subscribe(10, b"<rss version='2.0'><channel><title>cs.LG updates on arXiv.org</title></channel></rss>")
    await setup.poller(now=NOW - timedelta(days=2)).poll_once()  # nothing seen before: no day was missed
    tuesday = papers_of(listing_papers(4, start_id=500, seed=9))
    setup.served.bodies["/rss/cs.LG"] = render_listing(tuesday, day=TUE)
    await setup.poller(now=NOW - timedelta(days=1)).poll_once()  # Tuesday after Monday
    assert setup.arxiv.date_searches() == [] and setup.channels.notes == []
    wednesday = papers_of(listing_papers(3, start_id=600, seed=10))
    submit(setup.arxiv, wednesday, first=submission_window(WED)[0], every=timedelta(hours=1))
    setup.served.bodies["/rss/cs.LG"] = render_listing(WEDNESDAY, day=date(2025, 5, 1))
    await setup.poller(now=NOW + timedelta(days=1)).poll_once()  # Thursday after Tuesday: Wednesday was missed
    asked = [s.query["search_query"] for s in setup.arxiv.date_searches()]
    assert asked == ["cat:cs.LG AND submittedDate:[202504281800 TO 202504291800]"]
    assert setup.channels.shown[10] == [
        *keys(MONDAY),
        *keys(tuesday),
        *keys(wednesday),
        "caught up 3",
        *keys(WEDNESDAY),
    ]
