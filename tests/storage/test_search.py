"""Full-text search on a real SQLite file: ranking, filters, hostile queries, and an index that stays right."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from storage.db import Sessions
from storage.identity import paper_key
from storage.metadata import PaperMetadata
from storage.models import Note
from storage.notes import NoteService, set_tags
from storage.papers import PaperService
from storage.search import (
    HIT_END,
    HIT_START,
    PgQuery,
    SearchFilters,
    SearchQueryError,
    SearchService,
    fts_query,
)

G, OTHER = 1, 2
ANN, BOB = 10, 20


class Source:
    def __init__(self) -> None:
        self.meta = {
            "arxiv:2403.17887": PaperMetadata(
                key="arxiv:2403.17887",
                title="Model Merging in the Wild",
                authors=("Ada Lovelace",),
                abstract="We merge fine-tuned models.",
            ),
            "arxiv:1706.03762": PaperMetadata(
                key="arxiv:1706.03762",
                title="Attention Is All You Need",
                authors=("Ashish Vaswani",),
                abstract="A transformer without recurrence; merging is not discussed.",
            ),
            "arxiv:2101.00001": PaperMetadata(
                key="arxiv:2101.00001",
                title="Café Latte Diffusion",
                authors=("Zoë Müller",),
                abstract="Diffusion for $x^2$ and \\alpha.",
            ),
        }

    async def fetch(self, keys: list[str]) -> dict[str, PaperMetadata | None]:
        return {k: self.meta.get(k) for k in keys}

    async def search_title(self, text: str, *, limit: int = 5) -> list[PaperMetadata]:
        return []


@pytest.fixture
async def world(sessions: Sessions) -> tuple[PaperService, NoteService, SearchService]:
    papers, notes, search = PaperService(sessions, Source()), NoteService(sessions), SearchService(sessions)
    merging = await papers.ensure(paper_key("2403.17887"))
    attention = await papers.ensure(paper_key("1706.03762"))
    cafe = await papers.ensure(paper_key("2101.00001"))
    await notes.add(
        guild_id=G,
        paper_id=merging.id,
        author_id=ANN,
        author_name="Ann",
        body="## Summary\nTask arithmetic merges LoRA adapters.\n## Questions\nDoes in-context learning survive?",
        tags=["merging", "llms/adapters"],
    )
    await notes.add(
        guild_id=G,
        paper_id=attention.id,
        author_id=BOB,
        author_name="Bob",
        body="Self-attention replaces recurrence. Scaled dot-product: $QK^T/\\sqrt{d}$.",
        tags=["llms"],
    )
    await notes.add(
        guild_id=OTHER,
        paper_id=cafe.id,
        author_id=ANN,
        author_name="Ann",
        body="Secret note in the other server about transformers and merging.",
        tags=["secret"],
    )
    return papers, notes, search


async def keys(search: SearchService, query: str, guild: int = G, **filters: object) -> list[tuple[str, str]]:
    page = await search.search(guild_id=guild, query=query, filters=SearchFilters(**filters), limit=20)  # type: ignore[arg-type]
    return [(h.kind, h.paper_key) for h in page.hits]


async def test_notes_and_known_papers_are_found_with_snippets(world: tuple) -> None:
    _, _, search = world
    page = await search.search(guild_id=G, query="merging")
    kinds = {(h.kind, h.paper_key) for h in page.hits}
    assert ("note", "arxiv:2403.17887") in kinds and ("paper", "arxiv:2403.17887") in kinds
    assert ("paper", "arxiv:1706.03762") in kinds  # its abstract mentions merging
    paper_hits = [h for h in page.hits if h.kind == "paper"]
    assert paper_hits[0].paper_key == "arxiv:2403.17887"  # a title match outranks an abstract mention
    assert all(HIT_START in h.snippet and HIT_END in h.snippet for h in page.hits)


async def test_stemming_phrases_prefixes_hyphens_unicode_and_latex(world: tuple) -> None:
    _, _, search = world
    assert ("note", "arxiv:2403.17887") in await keys(search, "merge adapter")  # porter: merges/adapters
    assert await keys(search, '"task arithmetic"') == [("note", "arxiv:2403.17887")]
    assert await keys(search, '"arithmetic task"') == []
    assert ("note", "arxiv:1706.03762") in await keys(search, "recur*")
    assert ("note", "arxiv:2403.17887") in await keys(search, "in-context")
    assert ("note", "arxiv:1706.03762") in await keys(search, "dot-product")
    assert ("note", "arxiv:1706.03762") in await keys(search, "\\sqrt{d}")
    assert ("note", "arxiv:1706.03762") in await keys(search, "$QK^T$")


async def test_unicode_and_diacritics_fold(sessions: Sessions, world: tuple) -> None:
    _, notes, search = world
    papers = world[0]
    cafe = await papers.ensure(paper_key("2101.00001"))
    await notes.add(
        guild_id=G, paper_id=cafe.id, author_id=ANN, author_name="Ann", body="Résumé of the café paper", tags=[]
    )
    assert ("note", "arxiv:2101.00001") in await keys(search, "resume cafe")
    assert ("paper", "arxiv:2101.00001") in await keys(search, "Müller")
    assert ("paper", "arxiv:2101.00001") in await keys(search, "muller")


@pytest.mark.parametrize(
    "hostile",
    [
        '"',
        '""',
        "*",
        "merging*",
        "a:b",
        "title:merging",
        "(merging",
        "merging)",
        "NEAR(a b)",
        "merging NEAR",
        "AND",
        "merging OR",
        "NOT merging",
        "-merging",
        "^merging",
        'merging"',
        "{merging}",
        "col:",
        "\\",
        "'; DROP",
        "merging ' OR 1=1",
        "x*y",
        "**",
        "\x00merging",
        "🙂 merging",
    ],
)
async def test_hostile_queries_never_error(world: tuple, hostile: str) -> None:
    _, _, search = world
    try:
        await search.search(guild_id=G, query=hostile)
    except SearchQueryError as exc:
        assert exc.message


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(st.text(max_size=80))
async def test_any_text_gives_results_or_a_helpful_answer(world: tuple, query: str) -> None:
    _, _, search = world
    try:
        await search.search(guild_id=G, query=query)
    except SearchQueryError as exc:
        assert exc.message


@pytest.mark.parametrize("query", ["", "   ", "the of and", "is it", "?!"])
async def test_empty_and_stop_word_queries_get_a_hint(world: tuple, query: str) -> None:
    _, _, search = world
    with pytest.raises(SearchQueryError):
        await search.search(guild_id=G, query=query)


def test_query_terms_are_quoted() -> None:
    assert fts_query('model-merging "in context" trans* NEAR') == '"in context" "model merging" "trans"* "NEAR"'


async def test_filters_narrow_to_notes(world: tuple) -> None:
    _, _, search = world
    assert await keys(search, "recurrence", author_id=BOB) == [("note", "arxiv:1706.03762")]
    assert await keys(search, "recurrence", author_id=ANN) == []
    assert await keys(search, "merging", tag="llms") == [("note", "arxiv:2403.17887")]  # via llms/adapters
    assert await keys(search, "merging", since=datetime.now(UTC) + timedelta(days=1)) == []


async def test_other_servers_notes_and_papers_never_show(world: tuple) -> None:
    _, _, search = world
    found = await keys(search, "secret")
    assert found == []
    assert ("paper", "arxiv:2101.00001") not in await keys(search, "diffusion")  # known only to the other server
    assert await keys(search, "secret", guild=OTHER) == [("note", "arxiv:2101.00001")]


async def test_index_follows_add_edit_and_delete(sessions: Sessions, world: tuple) -> None:
    _, notes, search = world
    first = (await notes.page(guild_id=G, author_id=ANN)).notes[0]
    await notes.edit(guild_id=G, note_id=first.id, editor_id=ANN, body="Now about quokkas only.")
    assert await keys(search, "arithmetic") == []  # the old text no longer matches
    assert await keys(search, "quokka") == [("note", "arxiv:2403.17887")]
    await notes.delete(guild_id=G, note_id=first.id, member_id=ANN, moderator=False)
    assert await keys(search, "quokka") == []
    async with sessions() as session:  # a direct change to a note's text is indexed too
        await session.exec(update(Note).where(Note.author_id == BOB).values(body="zebra crossing"))  # type: ignore[call-overload]
        await session.commit()
    assert await keys(search, "zebra") == [("note", "arxiv:1706.03762")]


async def test_pages_do_not_overlap(sessions: Sessions, world: tuple) -> None:
    papers, notes, search = world
    for i in range(12):
        p = await papers.ensure(paper_key(f"https://example.org/p{i}"))
        await notes.add(
            guild_id=G, paper_id=p.id, author_id=ANN, author_name="Ann", body=f"wombat {'wombat ' * i}", tags=[]
        )
    first = await search.search(guild_id=G, query="wombat", limit=5)
    second = await search.search(guild_id=G, query="wombat", offset=5, limit=5)
    third = await search.search(guild_id=G, query="wombat", offset=10, limit=5)
    ids = [h.note_id for page in (first, second, third) for h in page.hits]
    assert len(ids) == len(set(ids)) == 12
    assert first.has_more and second.has_more and not third.has_more


async def add_notes(
    papers: PaperService, notes: NoteService, bodies: list[str], *, key: str, guilds: list[int] | None = None
) -> list[int]:
    """One note per body (in ``guilds``, one each, or all in G), each on a paper of its own by a member of its own,
    oldest first; their ids."""
    ids = []
    for i, body in enumerate(bodies):
        p = await papers.ensure(paper_key(f"https://example.org/{key}{i}"))
        guild_id = guilds[i] if guilds is not None else G
        note = await notes.add(
            guild_id=guild_id, paper_id=p.id, author_id=2_000 + i, author_name="Ann", body=body, tags=[]
        )
        ids.append(note.id)
    return ids


async def test_every_match_is_ranked_so_an_old_note_that_says_it_most_comes_first(world: tuple) -> None:
    papers, notes, search = world
    # more matches than any first pass of newest ones would look at; the oldest says it six times
    bodies = ["numbat " * 6] + [f"numbat and some other words, {i}" for i in range(1, 170)]
    await add_notes(papers, notes, bodies, key="w", guilds=[OTHER if i % 3 == 2 else G for i in range(170)])
    page = await search.search(guild_id=G, query="numbat", limit=5)
    assert page.hits[0].paper_key == "url:https://example.org/w0"  # the oldest note, which says it six times
    everything = await search.search(guild_id=G, query="numbat", limit=200)
    assert len(everything.hits) == 114 and not everything.has_more  # every match of this group, none of the other's
    assert {h.paper_key for h in everything.hits}.isdisjoint(
        {f"url:https://example.org/w{i}" for i in range(2, 170, 3)}
    )
    far = await search.search(guild_id=G, query="numbat", offset=112, limit=5)
    assert len(far.hits) == 2 and not far.has_more


CAPYBARA = PaperMetadata(
    key="arxiv:2201.00002",
    title="Capybara Herding: Capybara Swarms at Scale",
    authors=("Ada Lovelace",),
    abstract="We herd capybaras.",
)


def wombat_paper(i: int) -> PaperMetadata:
    """A paper whose title says "wombat" ``i + 1`` times."""
    return PaperMetadata(
        key=f"arxiv:2202.{i:05d}",
        title="Wombat " * (i + 1) + "Studies",
        authors=("Zoë Müller",),
        abstract="Marsupials.",
    )


async def test_the_groups_notes_come_before_papers_even_when_a_paper_scores_better(sessions: Sessions) -> None:
    source = Source()
    source.meta[CAPYBARA.key] = CAPYBARA
    papers, notes, search = PaperService(sessions, source), NoteService(sessions), SearchService(sessions)
    capybara = await papers.ensure(paper_key(CAPYBARA.key))
    merging = await papers.ensure(paper_key("2403.17887"))
    await notes.add(  # the group knows the capybara paper through a note that does not say the word
        guild_id=G, paper_id=capybara.id, author_id=BOB, author_name="Bob", body="Grazing at scale.", tags=[]
    )
    filler = " ".join(f"word{i} about something else entirely" for i in range(60))
    await notes.add(
        guild_id=G, paper_id=merging.id, author_id=ANN, author_name="Ann", body=f"{filler} capybara {filler}", tags=[]
    )
    page = await search.search(guild_id=G, query="capybara")
    assert [(h.kind, h.paper_key) for h in page.hits] == [("note", merging.key), ("paper", CAPYBARA.key)]
    note, paper = page.hits
    assert paper.score < note.score  # the paper's title scores far better: by score alone it would lead
    assert not page.has_more


async def test_pages_run_through_the_notes_then_the_papers_each_best_first(sessions: Sessions) -> None:
    source = Source()
    known = [wombat_paper(i) for i in range(3)]
    source.meta.update({meta.key: meta for meta in known})
    papers, notes, search = PaperService(sessions, source), NoteService(sessions), SearchService(sessions)
    for meta in known:  # known to the group through notes that do not say the word
        p = await papers.ensure(paper_key(meta.key))
        await notes.add(guild_id=G, paper_id=p.id, author_id=BOB, author_name="Bob", body="Marsupial notes.", tags=[])
    for i in range(7):
        p = await papers.ensure(paper_key(f"https://example.org/n{i}"))
        body = f"wombat {'wombat ' * i}" + " ".join(f"filler{j}" for j in range(40))
        await notes.add(guild_id=G, paper_id=p.id, author_id=ANN, author_name="Ann", body=body, tags=[])
    pages = [await search.search(guild_id=G, query="wombat", offset=offset, limit=4) for offset in (0, 4, 8)]
    assert [[h.kind for h in page.hits] for page in pages] == [
        ["note"] * 4,
        ["note"] * 3 + ["paper"],
        ["paper"] * 2,
    ]
    assert [page.has_more for page in pages] == [True, True, False]
    hits = [h for page in pages for h in page.hits]
    found_notes = [h for h in hits if h.kind == "note"]
    found_papers = [h for h in hits if h.kind == "paper"]
    assert [h.paper_key for h in found_notes] == [f"url:https://example.org/n{i}" for i in reversed(range(7))]
    assert [h.paper_key for h in found_papers] == [meta.key for meta in reversed(known)]  # most wombats first
    assert found_papers[0].score < found_notes[-1].score  # by score alone the papers would lead
    past = await search.search(guild_id=G, query="wombat", offset=10, limit=4)
    assert past.hits == () and not past.has_more


@pytest.mark.parametrize("query", ["numbat", "numb*"])
async def test_ties_come_newest_first_however_many_share_the_score(world: tuple, query: str) -> None:
    papers, notes, search = world
    ids = await add_notes(papers, notes, ["A numbat."] * 60, key="tie")
    first = await search.search(guild_id=G, query=query, limit=5)
    assert [h.note_id for h in first.hits] == ids[::-1][:5]
    everything = await search.search(guild_id=G, query=query, limit=100)
    assert [h.note_id for h in everything.hits] == ids[::-1]


async def test_the_words_a_prefix_matches_count_as_one_word(world: tuple) -> None:
    """ "numbat number" says ``numb*`` twice, as "numbat numbat" does: a tie, so the newer comes first."""
    papers, notes, search = world
    two_words, one_word = await add_notes(papers, notes, ["numbat number", "numbat numbat"], key="prefix")
    page = await search.search(guild_id=G, query="numb*")
    assert [h.note_id for h in page.hits] == [one_word, two_words]


async def test_filters_keep_the_ranking_over_every_match(sessions: Sessions, world: tuple) -> None:
    papers, notes, search = world
    bodies = ["quoll " * 5] + [f"a quoll, {i}" for i in range(80)]
    ids = await add_notes(papers, notes, bodies, key="filtered")
    oldest, newest = ids[0], ids[-1]
    async with sessions() as session:  # the oldest is by Bob, tagged, and from last year
        await session.exec(  # type: ignore[call-overload]
            update(Note)
            .where(Note.id == oldest)
            .values(author_id=BOB, created_at=datetime.now(UTC).replace(tzinfo=None) - timedelta(days=400))
        )
        await session.exec(update(Note).where(Note.id == newest).values(author_id=BOB))  # type: ignore[call-overload]
        await set_tags(session, guild_id=G, note_id=oldest, names=["marsupials"])
        await session.commit()
    by_bob = await search.search(guild_id=G, query="quoll", filters=SearchFilters(author_id=BOB))
    assert [h.note_id for h in by_bob.hits] == [oldest, newest]
    tagged = await search.search(guild_id=G, query="quoll", filters=SearchFilters(tag="marsupials"))
    assert [h.note_id for h in tagged.hits] == [oldest]
    recent = await search.search(
        guild_id=G, query="quoll", filters=SearchFilters(since=datetime.now(UTC) - timedelta(days=30)), limit=100
    )
    assert [h.note_id for h in recent.hits] == ids[1:][::-1]


def test_postgresql_ranks_by_any_of_the_words_the_match_needs() -> None:
    query = PgQuery.of("'fine' <-> 'tune' & 'o''brien' & 'alig':* & 'fine'")
    assert query.ranking == "'fine' | 'tune' | 'o''brien' | 'alig':*"
    assert (query.words, query.prefixes) == (("fine", "tune", "o'brien"), ("alig",))


async def test_a_group_alone_on_the_instance_finds_the_same_notes_once_another_group_arrives(world: tuple) -> None:
    papers, notes, search = world
    ours = [f"echidna {'echidna ' * (i % 3)} in the notes of this group, {i}" for i in range(8)]
    await add_notes(papers, notes, ours, key="e")
    alone = await search.search(guild_id=G, query="echidna", limit=5)
    # the other group's notes say it far more often: they would lead anywhere they count
    await add_notes(papers, notes, ["echidna " * 9] * 8, key="e-other", guilds=[OTHER] * 8)
    shared = await search.search(guild_id=G, query="echidna", limit=5)
    assert len(alone.hits) == len(shared.hits) == 5
    assert [h.note_id for h in shared.hits] == [h.note_id for h in alone.hits]
    theirs = await search.search(guild_id=OTHER, query="echidna", limit=20)
    assert len(theirs.hits) == 8 and not {h.note_id for h in theirs.hits} & {h.note_id for h in alone.hits}
