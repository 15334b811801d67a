"""The bot sharded (SHARD_COUNT) through its real entry, against the loopback Discord."""

from __future__ import annotations

from pathlib import Path

from bot.app import ShardedPaperClub
from tests.arxiv_standin import FakeArxiv
from tests.bot.conftest import running_club


async def test_a_sharded_bot_answers_like_the_plain_one(fake_arxiv: FakeArxiv, tmp_path: Path) -> None:
    async with running_club(fake_arxiv, tmp_path, SHARD_COUNT="1") as club:
        assert isinstance(club.bot, ShardedPaperClub) and club.bot.shard_count == 1
        shown = await club.run("help")
        assert "/note add" in shown.text()
        saved = await club.run("note add", paper="1111.2011", text="Sharded, and still saved.")
        assert "Saved note #1" in saved.original.text()
