"""Resolving imported titles to arXiv ids in batches, against the loopback arXiv and a real database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlmodel import col, func, select

from schedules.arxiv import ArxivClient
from schedules.arxiv_answers import parse_api_feed
from schedules.jobs import RESOLVE_TITLES_JOB, TITLES_LEASE, register_jobs, resolve_titles
from schedules.titles import ImportProgressView, TitleResolver, best_match, title_batch_query
from storage.db import Sessions
from storage.identity import title_key
from storage.imports.plan import normalise_title
from storage.leases import LeaseService
from storage.metadata import PaperMetadata
from storage.models import ImportRun, ImportState, Note, NoteRevision, Paper, PaperAlias, TitleLookup, TitleLookupState
from storage.papers import PaperService
from storage.titles import PendingTitle, TitleOutcome, TitleService
from tests.arxiv_standin import Catalog, FakeArxiv, Reply
from tests.schedules.test_arxiv_client import make_client
from tests.storage.test_titles import ALICE, BOB, GUILD_A, GUILD_B, seed_import, seed_title

COT = "Chain-of-Thought Prompting Elicits Reasoning in Large Language Models"
SAE = "Sparse Autoencoders Find Highly Interpretable Features in Language Models"
FEW = "Language Models are Few-Shot Learners"


class RecordedProgress:
    """The bot's side of the progress port: remembers every report."""

    def __init__(self) -> None:
        self.reports: list[ImportProgressView] = []

    async def report(self, run: ImportProgressView) -> None:
        self.reports.append(run)


@pytest.fixture
async def client(fake_arxiv: FakeArxiv) -> AsyncIterator[ArxivClient]:
    """A client on the loopback arXiv, which answers title searches from the catalog and added papers."""
    fake_arxiv.search_reply = fake_arxiv.title_search
    async with make_client(fake_arxiv) as started:
        yield started


def catalog_papers(catalog: Catalog, count: int) -> list[PaperMetadata]:
    """Real captured papers whose titles are unlike any other's in the catalog."""
    papers = parse_api_feed(catalog.feed(list(catalog.entries)))
    titles = [normalise_title(p.title) for p in papers]
    distinct = [p for p, t in zip(papers, titles, strict=True) if titles.count(t) == 1 and len(t.split()) >= 3]
    return distinct[:count]


def surname(author: str) -> str:
    return author.split()[-1].lower()


async def lookup_states(sessions: Sessions) -> dict[str, tuple[str, str | None]]:
    async with sessions() as session:
        rows = (await session.exec(select(TitleLookup).order_by(col(TitleLookup.id)))).all()
        return {row.title: (row.state, row.resolved_key) for row in rows}


async def count(sessions: Sessions, model: type) -> int:
    async with sessions() as session:
        return (await session.exec(select(func.count()).select_from(model))).one()


async def test_forty_titles_take_two_requests_and_link_the_right_papers(
    sessions: Sessions, fake_arxiv: FakeArxiv, client: ArxivClient, catalog: Catalog
) -> None:
    papers = catalog_papers(catalog, 40)
    run = await seed_import(sessions, guild_id=GUILD_A)
    for paper in papers:
        assert paper.published is not None
        await seed_title(
            sessions,
            guild_id=GUILD_A,
            title=paper.title,
            surnames=[surname(paper.authors[0])],
            year=paper.published.year,
            import_id=run,
            notes=[(ALICE, f"Read {paper.title}")],
        )
    progress = RecordedProgress()

    report = await TitleResolver(TitleService(sessions), client, progress).run()

    searches = fake_arxiv.title_searches()
    assert len(searches) == 2 == report.requests  # 0.05 requests per title
    assert len(searches) / len(papers) <= 0.1
    for seen in searches:
        assert seen.query["search_query"].count(' OR ti:"') == 19
        assert (seen.query["sortBy"], seen.query["max_results"]) == ("relevance", "150")
    states = await lookup_states(sessions)
    assert states == {p.title: (TitleLookupState.RESOLVED, p.key) for p in papers}
    assert (report.resolved, report.unresolved, report.postponed) == (40, 0, 0)
    assert [(r.resolved, r.pending) for r in progress.reports] == [(20, 20), (40, 0)]
    async with sessions() as session:
        row = await session.get(ImportRun, run)
        assert row is not None and row.state == ImportState.DONE
    assert await count(sessions, Paper) == 40


async def test_near_misses_never_link(sessions: Sessions, fake_arxiv: FakeArxiv, client: ArxivClient) -> None:
    fake_arxiv.add_paper("2201.11903", COT, authors=["Jason Wei", "Xuezhi Wang", "Denny Zhou"], published="2022-01-28")
    fake_arxiv.add_paper(
        "2309.08600", SAE, authors=["Hoagy Cunningham", "Aidan Ewart", "Lee Sharkey"], published="2023-09-15"
    )
    fake_arxiv.add_paper(
        "2005.14165", FEW, authors=["Tom B. Brown", "Benjamin Mann", "Nick Ryder"], published="2020-05-28"
    )
    fake_arxiv.add_paper(
        "2405.00001", FEW + " for Code", authors=["Ana Brown", "Li Wei"], published="2024-05-01"
    )  # invented: the cited title is only the start of this one
    cited = {
        COT: (["wei"], 2022),  # the right one
        COT.replace("Large", "Small"): (["wei"], 2022),  # similar title (found: another title's phrase brings it)
        SAE: (["cunningham"], 2021),  # the same title, two years before it appeared
        "Sparse Autoencoders Find Highly Interpretable Features in Language Model": (["bricken"], 2023),  # not theirs
        FEW + " for Code": (["brown"], 2020),  # a prefix of it is another paper, of another year
        FEW: (["brown"], None),  # exact, and the longer title must not take its place
    }
    for title, (surnames, year) in cited.items():
        await seed_title(sessions, guild_id=GUILD_A, title=title, surnames=surnames, year=year)

    await TitleResolver(TitleService(sessions), client).run()

    assert len(fake_arxiv.title_searches()) == 1
    assert await lookup_states(sessions) == {
        COT: (TitleLookupState.RESOLVED, "arxiv:2201.11903"),
        COT.replace("Large", "Small"): (TitleLookupState.UNRESOLVED, None),
        SAE: (TitleLookupState.UNRESOLVED, None),
        "Sparse Autoencoders Find Highly Interpretable Features in Language Model": (TitleLookupState.UNRESOLVED, None),
        FEW + " for Code": (TitleLookupState.UNRESOLVED, None),
        FEW: (TitleLookupState.RESOLVED, "arxiv:2005.14165"),
    }
    small = title_key(GUILD_A, normalise_title(COT.replace("Large", "Small")))
    async with sessions() as session:
        assert (await session.exec(select(Paper).where(Paper.key == small))).first() is not None


async def test_a_member_note_on_the_arxiv_paper_keeps_both_texts(
    sessions: Sessions, fake_arxiv: FakeArxiv, client: ArxivClient
) -> None:
    fake_arxiv.add_paper("2201.11903", COT, authors=["Jason Wei", "Denny Zhou"], published="2022-01-28")
    async with sessions() as session:
        stored = Paper(key="arxiv:2201.11903", title=COT, metadata_status="ok")
        session.add(stored)
        await session.flush()
        assert stored.id is not None
        session.add(Note(guild_id=GUILD_A, paper_id=stored.id, author_id=ALICE, author_name="a", body="On Discord."))
        await session.commit()
        stored_id = stored.id
    await seed_title(
        sessions,
        guild_id=GUILD_A,
        title=COT,
        surnames=["wei"],
        year=2022,
        notes=[(ALICE, "## Questions\nDoes it hold for small models?"), (BOB, "Bob's old notes.")],
    )

    await TitleResolver(TitleService(sessions), client).run()

    async with sessions() as session:
        notes = (await session.exec(select(Note).where(Note.paper_id == stored_id).order_by(col(Note.id)))).all()
        assert [(n.author_id, n.body) for n in notes] == [
            (ALICE, "On Discord.\n\n---\n\n## Questions\nDoes it hold for small models?"),
            (BOB, "Bob's old notes."),
        ]
        revisions = (await session.exec(select(NoteRevision.body))).all()
        assert revisions == ["On Discord."]
    assert await count(sessions, Paper) == 1


async def test_a_restarted_resolver_finishes_without_asking_twice(
    sessions: Sessions, fake_arxiv: FakeArxiv, client: ArxivClient, catalog: Catalog
) -> None:
    papers = catalog_papers(catalog, 12)
    run = await seed_import(sessions, guild_id=GUILD_A)
    for paper in papers:
        await seed_title(sessions, guild_id=GUILD_A, title=paper.title, import_id=run, notes=[(ALICE, "x")])
    first = TitleResolver(TitleService(sessions), client, batch_size=5, max_batches=1)
    assert (await first.run()).resolved == 5
    await client.close()  # the bot stops; a new process starts with new services and a new client

    async with make_client(fake_arxiv) as fresh:
        progress = RecordedProgress()
        report = await TitleResolver(TitleService(sessions), fresh, progress, batch_size=5).run()

    assert (report.requests, report.resolved) == (2, 7)
    asked = [seen.query["search_query"] for seen in fake_arxiv.title_searches()]
    assert len(asked) == 3
    for paper in papers[:5]:
        phrase = title_batch_query([paper.title])
        assert phrase in asked[0] and not any(phrase in later for later in asked[1:])
    assert await lookup_states(sessions) == {p.title: (TitleLookupState.RESOLVED, p.key) for p in papers}
    assert await count(sessions, Paper) == 12 and await count(sessions, PaperAlias) == 12
    assert [(r.resolved, r.pending) for r in progress.reports] == [(10, 2), (12, 0)]


async def test_arxiv_down_leaves_titles_pending_for_the_next_run(
    sessions: Sessions, fake_arxiv: FakeArxiv, client: ArxivClient
) -> None:
    fake_arxiv.add_paper("2201.11903", COT, authors=["Jason Wei"], published="2022-01-28")
    run = await seed_import(sessions, guild_id=GUILD_A)
    lookup = await seed_title(sessions, guild_id=GUILD_A, title=COT, import_id=run)
    fake_arxiv.then(*[Reply.of("api2026_error_503_html_2026-01-08.xml", status=503)] * 3)
    progress = RecordedProgress()
    resolver = TitleResolver(TitleService(sessions), client, progress)

    report = await resolver.run()

    assert (report.requests, report.postponed, report.resolved) == (1, 1, 0)
    async with sessions() as session:
        row = await session.get(TitleLookup, lookup)
        assert row is not None and (row.state, row.attempts) == (TitleLookupState.PENDING, 1)
        run_row = await session.get(ImportRun, run)
        assert run_row is not None and run_row.state == ImportState.RESOLVING
    assert progress.reports == []

    assert (await resolver.run()).resolved == 1  # arXiv is back
    assert (await lookup_states(sessions))[COT] == (TitleLookupState.RESOLVED, "arxiv:2201.11903")


async def test_a_small_groups_titles_are_not_stuck_behind_a_big_import(
    sessions: Sessions, fake_arxiv: FakeArxiv, client: ArxivClient, catalog: Catalog
) -> None:
    papers = catalog_papers(catalog, 45)
    for paper in papers[:40]:
        await seed_title(sessions, guild_id=GUILD_A, title=paper.title)
    for paper in papers[40:]:
        await seed_title(sessions, guild_id=GUILD_B, title=paper.title)

    await TitleResolver(TitleService(sessions), client, max_batches=1).run()

    first = fake_arxiv.title_searches()[0].query["search_query"]
    assert all(title_batch_query([p.title]) in first for p in papers[40:])
    states = await lookup_states(sessions)
    assert [states[p.title][0] for p in papers[40:]] == [TitleLookupState.RESOLVED] * 5
    assert sum(states[p.title][0] == TitleLookupState.RESOLVED for p in papers[:40]) == 15


async def test_the_resolved_title_key_finds_the_arxiv_paper(
    sessions: Sessions, fake_arxiv: FakeArxiv, client: ArxivClient
) -> None:
    fake_arxiv.add_paper("2201.11903", COT, authors=["Jason Wei"], published="2022-01-28")
    await seed_title(sessions, guild_id=GUILD_A, title=COT, surnames=["wei"], year=2023)
    await TitleResolver(TitleService(sessions), client).run()
    # What a re-import of the document computes for the same title finds the arXiv paper through the alias.
    again = title_key(GUILD_A, normalise_title("Chain-of-thought prompting elicits reasoning in large language models"))
    async with sessions() as session:
        alias = await session.get(PaperAlias, again)
        assert alias is not None
        paper = await session.get(Paper, alias.paper_id)
        assert paper is not None and paper.key == "arxiv:2201.11903" and paper.authors == ["Jason Wei"]


class ClashingTitles(TitleService):
    """Another process stores the same arXiv paper at the same moment, every time."""

    async def apply(self, outcomes: Sequence[TitleOutcome]) -> list[ImportProgressView] | None:
        return None


async def test_a_batch_that_clashes_is_not_asked_again_in_the_same_run(
    sessions: Sessions, fake_arxiv: FakeArxiv, client: ArxivClient
) -> None:
    fake_arxiv.add_paper("2201.11903", COT, authors=["Jason Wei"], published="2022-01-28")
    await seed_title(sessions, guild_id=GUILD_A, title=COT)
    report = await TitleResolver(ClashingTitles(sessions), client).run()
    assert (report.requests, report.resolved, len(fake_arxiv.title_searches())) == (1, 0, 1)
    assert (await lookup_states(sessions))[COT] == (TitleLookupState.PENDING, None)


def wanted(title: str, *, surnames: tuple[str, ...] = (), year: int | None = None) -> PendingTitle:
    return PendingTitle(1, GUILD_A, "title:1/x", None, title, surnames, year, 0)


def found(key: str, title: str, *, authors: tuple[str, ...] = ("Jason Wei",), year: int = 2022) -> PaperMetadata:
    return PaperMetadata(key=key, title=title, authors=authors, published=datetime(year, 6, 1, tzinfo=UTC))


def test_accents_and_latex_do_not_stop_a_match() -> None:
    cited = wanted(r"$\alpha$-Divergence Variational Inference for Gaussian processes", surnames=("muller",))
    paper = found(
        "arxiv:2301.00001",
        "$\\alpha$-divergence variational inference for Gaussian Processes",
        authors=("Anna Müller", "Bo Li"),
    )
    assert best_match(cited, [paper]) == paper
    listed = found("arxiv:2301.00002", "Neural Discrete Representation Learning", authors=("Aäron van den Oord",))
    assert best_match(wanted("Neural discrete representation learning", surnames=("van den oord",)), [listed])
    assert best_match(wanted("Neural discrete representation learning", surnames=("oord",)), [listed])
    comma = found("arxiv:2301.00003", "Neural Discrete Representation Learning", authors=("Müller, Anna",))
    assert best_match(wanted("Neural discrete representation learning", surnames=("muller",)), [comma])
    assert not best_match(wanted("Neural discrete representation learning", surnames=("anna",)), [comma])


def test_two_equally_good_candidates_link_neither() -> None:
    cited = wanted("Reflexion: Language Agents with Verbal Reinforcement Learning", year=2023)
    one = found("arxiv:2303.11366", "Reflexion: Language Agents with Verbal Reinforcement Learning", year=2023)
    two = found("arxiv:2303.99999", "Reflexion: language agents with verbal reinforcement learning", year=2023)
    assert best_match(cited, [one, two]) is None
    assert best_match(cited, [one]) == one


def test_a_title_with_nothing_to_check_must_be_near_identical() -> None:
    paper = found("arxiv:1706.03762", "Attention Is All You Need")
    assert best_match(wanted("Attention Is All You Need"), [paper]) == paper
    assert best_match(wanted("Attention Is All You Neeed"), [paper]) == paper  # 98
    assert best_match(wanted("Attenton Is All You Ned"), [paper]) is None  # 96: two typos, and nothing else checked
    assert best_match(wanted("Attenton Is All You Ned", year=2022), [paper]) == paper
    assert best_match(wanted("Attention Is Not All You Need", year=2022), [paper]) is None


def test_spelling_and_spacing_variants_still_match() -> None:
    title = "BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding"
    paper = found("arxiv:1810.04805", title, authors=("Jacob Devlin", "Ming-Wei Chang"), year=2018)
    cited = wanted("BERT: Pretraining of Deep Bidirectional Transformer for Language Understanding", year=2019)
    assert best_match(cited, [paper]) == paper
    assert best_match(wanted(title, year=2019, surnames=("devlin", "chang")), [paper]) == paper
    assert best_match(wanted(title, year=2020), [paper]) is None  # two years off
    assert best_match(wanted(title, surnames=("wei",)), [paper]) is None  # not among its authors


def test_the_batch_query_keeps_member_text_out_of_query_syntax() -> None:
    query = title_batch_query(['Agents OR "tools" ANDNOT ti:x', "A) (B", "!!"])
    assert query == 'ti:"Agents or tools andnot ti x" OR ti:"A B"'


async def test_the_job_resolves_titles_only_in_the_process_holding_the_lease(
    sessions: Sessions, fake_arxiv: FakeArxiv, client: ArxivClient
) -> None:
    fake_arxiv.add_paper("2201.11903", COT, authors=["Jason Wei"], published="2022-01-28")
    await seed_title(sessions, guild_id=GUILD_A, title=COT, surnames=["wei"], year=2022)
    resolver = TitleResolver(TitleService(sessions), client)
    other, mine = LeaseService(sessions, holder="other"), LeaseService(sessions, holder="mine")
    assert await other.hold(TITLES_LEASE, ttl=timedelta(minutes=3))

    await resolve_titles(resolver, mine, timedelta(minutes=3))
    assert fake_arxiv.title_searches() == []

    await resolve_titles(resolver, other, timedelta(minutes=3))
    assert (await lookup_states(sessions))[COT] == (TitleLookupState.RESOLVED, "arxiv:2201.11903")


def test_the_resolver_job_is_registered_with_its_own_id(sessions: Sessions) -> None:
    scheduler = AsyncIOScheduler()
    resolver = TitleResolver(TitleService(sessions), ArxivClient())
    settings = SimpleNamespace(metadata_retry_interval=0, feed_poll_interval=1800)
    register_jobs(scheduler, papers=PaperService(sessions, None), poller=None, settings=settings, titles=resolver)  # type: ignore[arg-type]
    job = scheduler.get_job(RESOLVE_TITLES_JOB)
    assert job is not None and job.args[0] is resolver and job.max_instances == 1
