"""/paper, /search and /similar as members use them, through the real client and the loopback Discord."""

from __future__ import annotations

from storage.identity import paper_key
from tests.bot.conftest import ANN, BOB, CHANNEL, GUILD, OTHER_GUILD, Club

NOTED = "1111.2011"
UNNOTED = "2202.12139"  # in the arXiv stand-in's catalog: "Testing Deep Learning Models: ..."


def card(inter: object) -> dict:
    messages = [m for m in inter.messages if m.embeds]  # type: ignore[attr-defined]
    assert messages, f"no card in {inter}"
    return messages[-1].embeds[0]


async def test_paper_card_shows_details_links_and_the_groups_notes(club: Club) -> None:
    await club.run("note add", paper=NOTED, text="First line of Ann's take\nmore", tags="llms")
    await club.run("note add", paper=f"arxiv.org/abs/{NOTED}v2", text="Bob thinks otherwise", user=BOB)
    inter = await club.run("paper", query=f"https://arxiv.org/pdf/{NOTED}v1.pdf")
    assert not inter.ephemeral
    shown = card(inter)
    assert shown["url"] == f"https://arxiv.org/abs/{NOTED}"
    fields = {f["name"]: f["value"] for f in shown["fields"]}
    assert f"[PDF](https://arxiv.org/pdf/{NOTED})" in fields["Read it"]
    assert f"[HTML](https://arxiv.org/html/{NOTED})" in fields["Read it"]
    assert fields["The group's notes (2)"].count("·") >= 4
    assert "First line of Ann's take" in fields["The group's notes (2)"] and "`llms`" in fields["The group's notes (2)"]
    assert "Published" in fields and any(name.startswith("Authors") for name in fields)
    assert len(shown.get("description", "")) <= 900


async def test_paper_the_group_has_not_noted_gets_a_card_and_an_add_button(club: Club) -> None:
    inter = await club.run("paper", query=UNNOTED)
    shown = card(inter)
    assert shown["title"].startswith("Testing Deep Learning Models")
    assert "Nobody here has noted it yet" in str(shown["fields"])
    description = shown["description"]
    assert description.endswith((".", "…")) and len(description) <= 900  # trimmed at a sentence
    form = await club.click(inter, "paper:add-note", user=BOB)
    assert form.response_type == 9
    done = await club.submit(form, summary="Noted from the card", method="", results="", questions="")
    assert "Saved note #1" in done.original.text()
    again = await club.run("paper", query=UNNOTED)
    assert "The group's note (1)" in str(card(again)["fields"])


async def test_nonexistent_paper_gets_a_clear_answer(club: Club) -> None:
    inter = await club.run("paper", query="2401.00001")
    assert "arXiv has no paper `2401.00001`" in inter.text()
    bad = await club.run("paper", query="2413.99999")
    assert bad.ephemeral and "Expected" in (bad.error or "")


async def test_search_ranks_pages_and_filters(club: Club) -> None:
    ids = club.arxiv.catalog.ids(7)
    for i, ident in enumerate(ids):
        await club.run(
            "note add",
            paper=ident,
            text=f"The wombat result number {i} " + "wombat " * i,
            tags="zoo/marsupials" if i % 2 else "zoo",
            user=ANN if i < 5 else BOB,
        )
    first = await club.run("search", query="wombats")
    text = first.original.text()
    assert "Results 1–5" in text and text.count("📝") == 5 and "**wombat**" in text
    assert "note #7" in text.split("📝")[1]  # the note saying "wombat" most often comes first
    second = await club.click(first, "page:next")
    assert "Results 6–7" in second.text() and "📝" in second.text()
    buttons = {b["custom_id"]: b.get("disabled", False) for b in first.original.buttons()}  # edited in place
    assert buttons == {"page:previous": False, "page:next": True}
    by_bob = await club.run("search", query="wombat", member=BOB)
    assert by_bob.original.text().count("📝") == 2
    tagged = await club.run("search", query="wombat", tag="zoo/marsupials")
    assert tagged.original.text().count("📝") == 3
    later = await club.run("search", query="wombat", since="2999-01-01")
    assert "Nothing found" in later.original.text()


async def test_search_shows_the_groups_notes_before_papers_and_pages_on_into_the_papers(club: Club) -> None:
    fuzzing = "2005.14124"  # "Active Fuzzing for Testing and Securing Cyber-Physical Systems"
    await club.run("note add", paper=fuzzing, text="Attacks on a water plant, learnt from its logs.", user=BOB)
    filler = " ".join(f"aside{i} on something else" for i in range(40))
    others = [i for i in club.arxiv.catalog.ids(12) if i != fuzzing][:6]
    for ident in others:  # each says the word once in a long note: by score alone the paper's title would lead
        await club.run("note add", paper=ident, text=f"{filler} fuzzing {filler}")
    first = await club.run("search", query="fuzzing")
    text = first.original.text()
    assert "Results 1–5" in text and text.count("📝") == 5 and "📄" not in text
    assert "The group's notes" in text and "Papers the group knows" not in text
    second = await club.click(first, "page:next")
    shown = second.text()
    assert "Results 6–" in shown and shown.count("📝") == 1
    notes_at, papers_at = shown.index("The group's notes"), shown.index("Papers the group knows")
    assert notes_at < shown.index("📝") < papers_at < shown.index("📄")
    assert "Active Fuzzing for Testing" in shown.split("Papers the group knows")[1].split("📄")[1]  # the best paper
    assert "note #1 " not in shown  # the note that does not say the word is not found


async def test_search_finds_the_best_note_however_many_newer_ones_mention_the_word(club: Club) -> None:
    early, later = club.arxiv.catalog.ids(2)
    await club.run("note add", paper=early, text="Pruning: magnitude pruning, then pruning again. " + "pruning " * 2)
    paper = await club.bot.services.papers.ensure(paper_key(later))
    padding = " ".join(f"aside{i}" for i in range(30))
    for member in range(200):  # two hundred newer notes, each mentioning it once
        await club.bot.services.notes.add(
            guild_id=GUILD,
            paper_id=paper.id,
            author_id=5_000 + member,
            author_name=f"member{member}",
            body=f"{padding} pruning {padding}",
            tags=[],
        )
    first = await club.run("search", query="pruning")
    text = first.original.text()
    assert "Results 1–5" in text and text.count("📝") == 5
    assert "note #1 " in text.split("📝")[1]  # the early note that says it five times leads


async def test_search_survives_hostile_queries(club: Club) -> None:
    await club.run("note add", paper=NOTED, text='Scaled dot-product: $QK^T$ and "quotes" (NEAR) * stars')
    for query in ['"', "NEAR(", "*", "title:", "a AND", "dot-product", "$QK^T$", "\\(\\alpha\\)", "(((", "'; --"]:
        inter = await club.run("search", query=query)
        assert inter.original is not None, query
        assert "Something went wrong" not in inter.text(), query
    common = await club.run("search", query="the of and")
    assert common.ephemeral and "too common" in (common.error or "")
    found = await club.run("search", query="dot-product")
    assert "note #1" in found.original.text()


async def test_similar_papers_say_why(club: Club) -> None:
    testing = [i for i in club.arxiv.catalog.ids(40)][:6]
    for ident in testing:
        await club.run("note add", paper=ident, text="testing notes", tags="testing")
    inter = await club.run("similar", paper=testing[0])
    text = inter.text()
    assert "Like:" in text
    assert "both about" in text and "both tagged `testing`" in text
    assert f"arxiv.org/abs/{testing[0]})" not in text.split("\n", 1)[1]  # not the paper itself


async def test_lookups_never_show_another_servers_notes(club: Club) -> None:
    for ident in club.arxiv.catalog.ids(4):
        await club.run("note add", guild=OTHER_GUILD, paper=ident, text="kangaroo secrets", tags="hidden")
    assert "Nothing found" in (await club.run("search", query="kangaroo")).original.text()
    shown = card(await club.run("paper", query=club.arxiv.catalog.ids(1)[0]))
    assert "Nobody here has noted it yet" in str(shown["fields"])
    similar = await club.run("similar", paper=club.arxiv.catalog.ids(1)[0])
    assert "Nothing the group knows" in similar.text()
    tags = await club.run("tags")
    assert "hidden" not in tags.text()
    stats = await club.run("stats")
    assert "kangaroo" not in stats.text()


async def test_paper_autocomplete_offers_the_groups_papers(club: Club) -> None:
    await club.run("note add", paper=UNNOTED, text="x")
    choices = await club.discord.autocomplete(
        "paper",
        guild_id=GUILD,
        channel_id=CHANNEL,
        user_id=ANN,
        options={"query": "deep learning testing"},
        focused="query",
    )
    assert choices and choices[0]["value"] == f"arxiv:{UNNOTED}"


async def test_paper_by_title_with_one_match_shows_its_card_without_asking(club: Club) -> None:
    club.arxiv.search_reply = club.arxiv.title_search
    club.arxiv.add_paper(
        "2405.05417",
        "Fishing for Magikarp: Automatically Detecting Under-trained Tokens in Large Language Models",
        authors=["Sander Land", "Max Bartolo"],
        published="2024-05-08T00:00:00Z",
    )
    inter = await club.run("paper", query="Fishing for Magikarp")
    shown = inter.text()
    assert "Which one?" not in shown and not inter.messages[-1].selects()
    assert "Fishing for Magikarp: Automatically Detecting Under-trained Tokens" in shown
