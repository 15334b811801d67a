"""Notes in embeds: split at sensible places, within Discord's limits, nothing lost."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.render import _FENCE, chunk_text, embed_size, note_embeds
from storage.notes import NoteView
from storage.papers import PaperView


def _words(text: str) -> list[str]:
    """The words of a text, fence lines aside (chunking may close and reopen code blocks, and add nothing else)."""
    lines = (line for line in text.split("\n") if not _FENCE.match(line))
    return [w for w in (word.replace("```", "") for line in lines for word in line.split()) if w]


paragraphs = st.lists(
    st.one_of(
        st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=900),
        st.builds(lambda body: f"```python\n{body}\n```", st.text(min_size=0, max_size=3000)),
        st.just("$$\\sum_{i=1}^n x_i^2$$"),
    ),
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(paragraphs, st.integers(200, 4000))
def test_chunks_fit_and_lose_nothing(parts: list[str], limit: int) -> None:
    text = "\n\n".join(parts)
    pieces = chunk_text(text, limit)
    assert all(len(p) <= limit for p in pieces)
    assert _words("\n".join(pieces)) == _words(text)


def test_cut_code_block_is_closed_and_reopened() -> None:
    text = "intro\n\n```python\n" + "\n".join(f"x{i} = {i}" for i in range(800)) + "\n```\nafter"
    pieces = chunk_text(text, 1000)
    assert len(pieces) > 3
    assert all(p.count("```") % 2 == 0 for p in pieces)
    assert pieces[1].startswith("```python\n")


def _note(body: str, *, tags: tuple[str, ...] = ("llms",)) -> NoteView:
    now = datetime(2025, 1, 2, tzinfo=UTC)
    paper = PaperView(
        id=1,
        key="arxiv:2403.17887",
        version=2,
        title="T" * 300,
        authors=tuple(f"A{i}" for i in range(40)),
        abstract=None,
        categories=("cs.LG",),
        published=None,
        metadata_status="ok",
    )
    return NoteView(
        id=7,
        guild_id=1,
        author_id=2,
        author_name="Ann",
        body=body,
        tags=tags,
        revision=2,
        created_at=now,
        updated_at=now,
        channel_id=None,
        message_id=None,
        thread_id=None,
        paper=paper,
    )


def test_twelve_thousand_character_note_spans_messages_within_limits() -> None:
    body = "\n\n".join(f"Paragraph {i}: " + "word " * 150 for i in range(16))
    assert len(body) > 12_000
    messages = note_embeds(_note(body))
    assert len(messages) >= 2
    for embeds in messages:
        assert len(embeds) <= 10 and sum(embed_size(e) for e in embeds) <= 6000
        assert all(len(e.description or "") <= 4096 and len(e.title or "") <= 256 for e in embeds)
    shown = " ".join(e.description or "" for embeds in messages for e in embeds)
    assert _words(shown) == _words(body)
    head = messages[0][0]
    assert head.url == "https://arxiv.org/abs/2403.17887" and head.title.endswith("…")
    assert "36 more" in head.fields[0].value
    assert "part 1 of" in (head.footer.text or "")
