"""Long answers through the real client: Discord (the fake validates its limits) accepts every page."""

from __future__ import annotations

from tests.bot.conftest import ANN, GUILD, Club
from tests.bot.limits import EVIL_TITLE, assert_no_planted_link

LONG_TAGS = ",".join(f"t{i}-" + "x" * 35 for i in range(10))  # ten tags of 38 characters, as long as the option takes


def long_link(i: int) -> str:
    """A web page as a paper, with a long address (a paper's key holds 300 characters)."""
    return f"https://example.org/{i}/" + "/".join(f"section-{j}-of-a-long-address" for j in range(8))


def next_enabled(message: object) -> bool:
    """Whether the message's Next button leads somewhere."""
    return any(b.get("custom_id") == "page:next" and not b.get("disabled") for b in message.buttons())  # type: ignore[attr-defined]


async def test_notes_with_long_tags_and_links_fit_in_pages(club: Club) -> None:
    for i in range(10):
        added = await club.run("note add", paper=long_link(i), text=f"note number {i}", tags=LONG_TAGS, user=ANN)
        assert "Saved note" in (added.error or ""), added.error
    listing = await club.run("notes")
    assert listing.original is not None
    seen = [listing.original.text()]
    while next_enabled(listing.original):
        seen.append((await club.click(listing, "page:next")).text())
        assert len(seen) <= 10
    text = "\n".join(seen)
    assert "went wrong" not in text
    assert all(f"note number {i}" in text for i in range(10))  # every note on some page, none lost
    assert len(seen) > 1 and "Page 1 of" in seen[0] and "10 notes, 1–" in seen[0]
    back = await club.click(listing, "page:previous")
    assert "Page 1 of" not in back.text() and "10 notes, " in back.text()  # Previous goes to the page before


async def test_a_member_named_like_a_link_shows_as_text_everywhere(club: Club) -> None:
    planter = 700_000_000_000_000_099
    club.discord.add_member(GUILD, planter, name=EVIL_TITLE)
    added = await club.run("note add", paper="1111.2011", text=f"wombat findings {EVIL_TITLE}", user=planter)
    assert "Saved note" in (added.error or ""), added.error
    answers = [
        await club.run("notes"),
        await club.run("search", query="wombat"),
        await club.run("paper", query="1111.2011"),
    ]
    for answer in answers:
        shown = [
            part
            for message in answer.messages
            for embed in message.embeds
            for part in (embed.get("description") or "", *(f["value"] for f in embed.get("fields") or []))
        ]
        assert "Click me" in "\n".join(shown)
        assert_no_planted_link("\n".join(shown))
