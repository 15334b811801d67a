"""How a new-version notice looks: within Discord's limits, arXiv's words shown as plain text."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.render import embed_size
from bot.version_post import VERSION_MARK, version_embed
from storage.versions import Notice


def notice(*, title: str | None, comment: str | None, key: str = "arxiv:hep-th/9901001", version: int = 12) -> Notice:
    return Notice(
        guild_id=1,
        paper_id=2,
        version=version,
        key=key,
        title=title,
        comment=comment,
        channel_id=3,
        created_at=datetime(2026, 3, 2, tzinfo=UTC),
        claimed_before=False,
    )


def test_a_long_title_and_comment_fit_and_say_which_version() -> None:
    embed = version_embed(notice(title="Strings " * 200, comment="**Bold** claim @everyone " * 400))
    assert embed.title is not None and len(embed.title) <= 256 and embed.title.startswith("v12 is out: Strings")
    assert embed.url == "https://arxiv.org/abs/hep-th/9901001v12"
    assert embed.description is not None and len(embed.description) <= 400
    assert "**" not in embed.description.replace("\\*", "") and "@everyone" not in embed.description
    assert embed.footer.text == VERSION_MARK
    assert embed_size(embed) <= 6000


def test_no_comment_no_line_and_no_title_the_id() -> None:
    embed = version_embed(notice(title=None, comment="  ", key="arxiv:2403.17887", version=2))
    assert embed.title == "v2 is out: 2403.17887"
    assert embed.description is None
