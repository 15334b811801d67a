"""Every rendered answer fits Discord's limits, whatever the papers, tags, names and links; none plants a link."""

from __future__ import annotations

from datetime import UTC, date, datetime

import discord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.cogs.help import help_embeds
from bot.cogs.links import link_card
from bot.cogs.lookup import search_embed, similar_embed
from bot.cogs.stats import group_stats_embed, member_stats_embed, tag_index_embeds
from bot.delivery import paper_embed
from bot.digest_render import render_digest
from bot.render import link_label, md_link, note_list_embed, pack, paper_card, plain
from storage.digests.picks import Picked
from storage.notes import NotePage, NoteView
from storage.papers import PaperView
from storage.search import HIT_END, HIT_START, SearchHit, SearchPage
from storage.similar import Similar
from storage.stats import ActiveMember, GroupStats, ReadingStats, TagNode
from tests.bot.limits import EVIL_TITLE, assert_fits, assert_no_planted_link, markdown_of
from tests.bot.test_digest_render import feed_paper, note, week

WHEN = datetime(2025, 1, 2, tzinfo=UTC)
SPECIAL = "[]()*_`~|\\<>@#:-! \n"
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Texts: short, long runs of markdown specials, and the planted link itself.
texts = st.one_of(
    st.text(max_size=60),
    st.builds(lambda a, n: a * n, st.text(alphabet=SPECIAL + "ab", min_size=1, max_size=6), st.integers(1, 700)),
    st.just(EVIL_TITLE),
    st.builds(lambda n: EVIL_TITLE * n, st.integers(1, 80)),
)
names = st.one_of(
    st.text(min_size=1, max_size=40), st.builds(lambda n: "[N](https://evil.example)_*" * n, st.integers(1, 40))
)
tags = st.lists(st.builds(lambda i, n: f"t{i}-" + "x" * n, st.integers(0, 99), st.integers(0, 36)), max_size=10)
keys = st.one_of(
    st.just("arxiv:2403.17887"),
    st.builds(lambda n: "url:https://example.org/" + "long-section/" * n, st.integers(0, 80)),
    st.builds(lambda n: "doi:10.1000/" + "x" * n, st.integers(1, 300)),
    st.builds(lambda t: f"title:{t}", st.text(min_size=1, max_size=300)),
)
papers = st.builds(
    lambda key, title, authors, abstract, cats, pending: PaperView(
        id=1,
        key=key,
        version=None,
        title=title or None,
        authors=tuple(authors),
        abstract=abstract or None,
        categories=tuple(cats),
        published=WHEN,
        metadata_status="pending" if pending else "ok",
        updated=None,
    ),
    keys,
    texts,
    st.lists(names, max_size=300),
    texts,
    st.lists(st.text(min_size=1, max_size=30), max_size=40),
    st.booleans(),
)


def note_view(i: int, paper: PaperView, author: str, body: str, tag_names: list[str]) -> NoteView:
    return NoteView(
        id=i,
        guild_id=1,
        author_id=7,
        author_name=author,
        body=body or "x",
        tags=tuple(tag_names),
        revision=1,
        created_at=WHEN,
        updated_at=WHEN,
        channel_id=10**18,
        message_id=10**18 + i,
        thread_id=None,
        paper=paper,
    )


notes = st.lists(st.tuples(papers, names, texts, tags), min_size=1, max_size=8).map(
    lambda items: tuple(note_view(i, *item) for i, item in enumerate(items, start=1))
)


@PROPERTY
@given(notes, st.integers(0, 500))
def test_a_notes_page_fits_and_holds_at_least_one_note(page_notes: tuple[NoteView, ...], offset: int) -> None:
    page = NotePage(notes=page_notes, total=offset + len(page_notes) + 3, offset=offset, limit=8)
    embed, shown = note_list_embed(page, heading="Notes (by " + "x" * 300 + ")", number=2)
    assert_fits([[embed]])
    assert 1 <= shown <= len(page_notes)
    assert f"{offset + 1}–{offset + shown} here" in (embed.footer.text or "")
    assert_no_planted_link(markdown_of([[embed]]))


@PROPERTY
@given(papers, notes, st.integers(0, 1000))
def test_a_paper_card_fits(paper: PaperView, page_notes: tuple[NoteView, ...], more: int) -> None:
    embed = paper_card(paper, NotePage(notes=page_notes[:5], total=len(page_notes[:5]) + more, offset=0, limit=5))
    assert_fits([[embed]])
    assert_no_planted_link(markdown_of([[embed]]))
    if more:
        assert "more: `/notes paper:" in markdown_of([[embed]])  # notes left out are counted


hits = st.lists(
    st.builds(
        lambda kind, key, title, snippet, author: SearchHit(
            kind=kind,
            score=0.0,
            paper_id=1,
            paper_key=key,
            paper_title=title or None,
            snippet=f"{HIT_START}{snippet}{HIT_END} {snippet}",
            note_id=3 if kind == "note" else None,
            author_name=author if kind == "note" else None,
            created_at=WHEN,
            channel_id=10**18,
            message_id=10**18,
        ),
        st.sampled_from(["note", "paper"]),
        keys,
        texts,
        texts,
        names,
    ),
    min_size=1,
    max_size=5,
)


@PROPERTY
@given(hits, st.booleans())
def test_a_search_page_fits_and_holds_at_least_one_result(found: list[SearchHit], has_more: bool) -> None:
    embed, shown = search_embed(
        SearchPage(hits=tuple(found), offset=5, limit=5, has_more=has_more), query="q" * 300, guild_id=1
    )
    assert_fits([[embed]])
    assert 1 <= shown <= len(found)
    assert f"Results 6–{5 + shown}" in (embed.footer.text or "")
    assert_no_planted_link(markdown_of([[embed]]))


@PROPERTY
@given(papers, st.lists(st.tuples(papers, st.lists(st.text(min_size=1, max_size=40), max_size=4), tags), max_size=8))
def test_similar_papers_fit(found: PaperView, related: list[tuple[PaperView, list[str], list[str]]]) -> None:
    items = [
        Similar(paper=p, score=0.0, shared_terms=tuple(t), shared_tags=tuple(g[:3]), notes=2) for p, t, g in related
    ]
    embed = similar_embed(found, items)
    assert_fits([[embed]])
    assert_no_planted_link(markdown_of([[embed]]))


@PROPERTY
@given(st.lists(st.tuples(papers, st.integers(0, 10**6)), min_size=1, max_size=5))
def test_link_cards_and_feed_cards_fit(cards: list[tuple[PaperView, int]]) -> None:
    assert_fits([[link_card(paper, count) for paper, count in cards]])  # one reply carries up to five cards
    assert_no_planted_link(markdown_of([[link_card(paper, count) for paper, count in cards]]))
    feed = pack([paper_embed(paper) for paper, _ in cards * 10])
    assert_fits(feed)
    assert_no_planted_link(markdown_of(feed))


tag_trees = st.recursive(
    st.builds(lambda n, c: TagNode(name="t" + "x" * n, count=c), st.integers(0, 38), st.integers(1, 10**6)),
    lambda children: st.builds(
        lambda n, c, kids: TagNode(
            name="p" + "y" * n,
            count=c,
            children=tuple(TagNode(name=f"p{'y' * n}/{k.name}", count=k.count, children=()) for k in kids),
        ),
        st.integers(0, 20),
        st.integers(1, 10**6),
        st.lists(children, max_size=30),
    ),
    max_leaves=400,
)


@PROPERTY
@given(st.lists(tag_trees, max_size=200))
def test_the_topic_index_fits(nodes: list[TagNode]) -> None:
    assert_fits(tag_index_embeds(nodes))


@PROPERTY
@given(
    names,
    st.lists(st.tuples(st.text(min_size=1, max_size=40), st.integers(1, 10**6)), max_size=10),
    st.lists(names, max_size=10),
)
def test_stats_fit(name: str, top: list[tuple[str, int]], active: list[str]) -> None:
    reading = ReadingStats(
        notes=10**6,
        papers=10**6,
        members=10**5,
        streak=10**3,
        longest_streak=10**3,
        weeks=10**3,
        noted_this_week=False,
        top_tags=tuple(top),
        timezone="America/Argentina/ComodRivadavia",
        first_note=WHEN,
    )
    members = tuple(ActiveMember(author_id=i, name=n, notes=10**5) for i, n in enumerate(active))
    for embed in (
        member_stats_embed(reading, name=name),
        group_stats_embed(
            GroupStats(reading=reading, month=date(2025, 1, 1), active_members=10**5, most_active=members), name=name
        ),
    ):
        assert_fits([[embed]])
        assert_no_planted_link(markdown_of([[embed]]))


@PROPERTY
@given(st.lists(st.text(min_size=1, max_size=200), max_size=300))
def test_help_fits_and_lists_every_line(lines: list[str]) -> None:
    messages = help_embeds(lines)
    assert_fits(messages)
    assert sum(len(f.value.split("\n")) for m in messages for e in m for f in e.fields) >= len(lines)


@PROPERTY
@given(st.lists(st.tuples(texts, texts, tags, names), max_size=60), st.lists(texts, max_size=60))
def test_the_digest_fits(week_notes: list[tuple[str, str, list[str], str]], feed_titles: list[str]) -> None:
    data = week(
        tuple(
            note(i, author=author, author_id=i % 7, title=title or "t", first=first, tags=tuple(t), questions=(first,))
            for i, (title, first, t, author) in enumerate(week_notes)
        )
    )
    picked = Picked(chosen=[(feed_paper(i, title=t or "t"), "because " + t) for i, t in enumerate(feed_titles)], rest=3)
    messages = render_digest(data, picked, explain=True)
    assert_fits(messages)
    assert_no_planted_link(markdown_of(messages))


def test_the_planted_link_shows_as_text_in_labels_and_plain_text() -> None:
    label = link_label(EVIL_TITLE, 200)
    assert label == "\\[Click me\\](https://evil.example) x"
    assert (
        md_link(EVIL_TITLE, "https://arxiv.org/abs/2403.17887", 200) == f"[{label}](https://arxiv.org/abs/2403.17887)"
    )
    assert plain("a ](https://evil.example) b [c] *d* @everyone <@1>") == (
        "a \\](https://evil.example) b \\[c\\] \\*d\\* @\u200beveryone <\u200b@1>"
    )
    assert md_link("t", "https://x.example/a) [b](https://evil.example", 50) == (
        "[t](https://x.example/a%29%20[b]%28https://evil.example)"
    )
    assert md_link("t", "javascript:alert(1)", 50) == "t"


def test_a_discord_embed_is_what_the_checker_sees() -> None:
    embed = discord.Embed(description="x" * 4097)
    from tests.bot.limits import problems

    assert problems([[embed]]) == ["message 0 embed 0: description of 4097 characters"]
