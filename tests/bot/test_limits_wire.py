"""Long answers through the real client: Discord (the fake validates its limits) accepts every page."""

from __future__ import annotations

from tests.bot.conftest import ANN, Club

LONG_TAGS = ",".join(f"t{i}-" + "x" * 35 for i in range(10))  # ten tags of 38 characters, as long as the option takes


def long_link(i: int) -> str:
    """A web page as a paper, with a long address."""
    return f"https://example.org/{i}/" + "/".join(f"section-{j}-of-a-long-address" for j in range(30))


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
    assert "Page 4 of 5 · 10 notes, 7–8 here" in back.text()  # Previous returns to where the page before began
