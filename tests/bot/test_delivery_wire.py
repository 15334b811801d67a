"""Feed papers posted to a channel, through the real discord.py client against the loopback Discord."""

from __future__ import annotations

import asyncio
import gc
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.delivery import DiscordDeliverer, paper_embed
from schedules.poller import Batch, ChannelUnavailable
from storage.feeds.polls import PlannedDelivery
from storage.papers import PaperView
from tests.bot.conftest import ANN, CHANNEL, GUILD, Club
from tests.fakediscord import Message

ATTENTION = "1111.2011"  # in the arXiv stand-in's catalog, so a member's link to it gets a link card
MIRROR_BOT = 700_000_000_000_000_060
ABSTRACT = (
    "We study how the learning rate schedule interacts with weight decay in large transformer models. "
    "Our analysis shows that a warm-up phase followed by cosine decay is equivalent to an implicit "
    "regulariser whose strength scales with the ratio $\\eta_t/\\lambda$. "
    "We confirm this on language modelling and image classification benchmarks with models up to 7B "
    "parameters, and release code. Further experiments cover optimisers beyond AdamW."
)


def paper(n: int, **changes: Any) -> PaperView:
    """A realistic arXiv paper: a title of usual length, five authors, a four-sentence abstract."""
    values: dict[str, Any] = {
        "id": n,
        "key": f"arxiv:2406.{n:05d}",
        "version": 1,
        "title": f"Paper {n}: Learning Rate Schedules as Implicit Regularisers in Large Transformers",
        "authors": ("Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov"),
        "abstract": ABSTRACT,
        "categories": ("cs.LG", "stat.ML"),
        "published": datetime(2024, 6, 3, tzinfo=UTC),
        "metadata_status": "ok",
    }
    values.update(changes)
    return PaperView(**values)


def planned(p: PaperView) -> tuple[PlannedDelivery, PaperView]:
    """A delivery of ``p`` to the test channel; its id is derived from the paper's so tests can tell them apart."""
    delivery = PlannedDelivery(id=10_000 + p.id, guild_id=GUILD, subscription_id=1, channel_id=CHANNEL, paper_id=p.id)
    return delivery, p


class Recorder:
    """An ``on_sent`` that records its calls, and how many messages the channel had at each one."""

    def __init__(self, club: Club, *, fail_after: int | None = None) -> None:
        self.club = club
        self.calls: list[tuple[list[int], int]] = []
        self.messages_seen: list[int] = []
        self.fail_after = fail_after

    async def __call__(self, delivery_ids: list[int], message_id: int) -> None:
        self.calls.append((list(delivery_ids), message_id))
        self.messages_seen.append(len(bot_posts(self.club)))
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise RuntimeError("the database went away")


def bot_posts(club: Club) -> list[Message]:
    """The bot's messages in the test channel, oldest first."""
    return [m for m in club.posted(CHANNEL) if m.author_id == club.discord.bot_user_id]


def message_size(message: Message) -> int:
    """Characters the message's embeds count against Discord's 6,000, as Discord counts them."""
    total = 0
    for embed in message.embeds:
        total += len(embed.get("title") or "") + len(embed.get("description") or "")
        total += sum(len(f.get("name") or "") + len(f.get("value") or "") for f in embed.get("fields") or [])
        total += len((embed.get("footer") or {}).get("text") or "")
        total += len((embed.get("author") or {}).get("name") or "")
    return total


async def test_papers_go_out_ten_per_message_in_order_each_recorded_before_the_next(club: Club) -> None:
    papers = [planned(paper(n)) for n in range(1, 24)]
    on_sent = Recorder(club)
    deliverer = DiscordDeliverer(club.bot, pause=0.1)
    started = asyncio.get_running_loop().time()
    await deliverer.deliver(Batch(channel_id=CHANNEL, papers=papers), on_sent)
    elapsed = asyncio.get_running_loop().time() - started

    posts = bot_posts(club)
    assert [len(m.embeds) for m in posts] == [10, 10, 3]
    urls = [e["url"] for m in posts for e in m.embeds]
    assert urls == [f"https://arxiv.org/abs/2406.{n:05d}" for n in range(1, 24)]
    ids = [d.id for d, _ in papers]
    assert on_sent.calls == [(ids[:10], posts[0].id), (ids[10:20], posts[1].id), (ids[20:], posts[2].id)]
    assert on_sent.messages_seen == [1, 2, 3], "each message is recorded before the next one is sent"
    assert all(message_size(m) <= 6000 for m in posts)
    assert all(m.content == "" for m in posts)
    assert all(m.allowed_mentions is not None and m.allowed_mentions.get("parse") == [] for m in posts)
    assert elapsed >= 0.2, "two pauses between three messages to one channel"


async def test_a_card_shows_title_link_authors_two_sentences_and_categories(club: Club) -> None:
    p = paper(7, authors=tuple(f"Author{i} Name_{i}" for i in range(9)))
    await DiscordDeliverer(club.bot, pause=0).deliver(Batch(channel_id=CHANNEL, papers=[planned(p)]), Recorder(club))

    (card,) = bot_posts(club)[0].embeds
    assert card["title"] == p.title
    assert card["url"] == "https://arxiv.org/abs/2406.00007"
    description = card["description"]
    assert "Author0 Name\\_0, Author1 Name\\_1, Author2 Name\\_2, Author3 Name\\_3 and 5 more" in description
    assert "We study how the learning rate schedule" in description
    assert "eta\\_t/" in description, "LaTeX subscripts are escaped, not turned into italics"
    assert "with models up to 7B" not in description, "only about two sentences of the abstract"
    assert "cs.LG · stat.ML" in card["footer"]["text"]


async def test_huge_titles_abstracts_and_author_lists_stay_within_discords_limits(club: Club) -> None:
    long_title = "A Very Long Title About " + " ".join(f"Topic{i}" for i in range(80))
    huge = [
        planned(
            paper(
                n,
                title=long_title,
                authors=tuple(f"Firstname{i} Middlename Lastname-With-Hyphens{i}" for i in range(200)),
                abstract=" ".join(["An enormous sentence that keeps going without a full stop"] * 100)
                + ". "
                + ABSTRACT * 10,
                categories=tuple(f"cat{i}.XX" for i in range(40)),
            )
        )
        for n in range(1, 16)
    ]
    on_sent = Recorder(club)
    await DiscordDeliverer(club.bot, pause=0).deliver(Batch(channel_id=CHANNEL, papers=huge), on_sent)

    assert club.discord.rejected == []
    posts = bot_posts(club)
    cards = [e for m in posts for e in m.embeds]
    assert [e["url"] for e in cards] == [p.url for _, p in huge]
    assert [i for ids, _ in on_sent.calls for i in ids] == [d.id for d, _ in huge]
    for message in posts:
        assert len(message.embeds) <= 10
        assert message_size(message) <= 6000
    for card in cards:
        assert len(card["title"]) <= 256 and card["title"].endswith("…")
        assert len(card["description"]) <= 200 + 2 + 1 + 350 + 20, "a compact card, not the whole abstract"
        assert "and 196 more" in card["description"]


async def test_pending_papers_still_get_a_card(club: Club) -> None:
    pending = paper(3, title=None, authors=(), abstract=None, categories=(), metadata_status="pending")
    await DiscordDeliverer(club.bot, pause=0).deliver(
        Batch(channel_id=CHANNEL, papers=[planned(pending)]), Recorder(club)
    )

    (card,) = bot_posts(club)[0].embeds
    assert "2406.00003" in card["title"] and "pending" in card["title"]
    assert card["url"] == "https://arxiv.org/abs/2406.00003"
    assert "arXiv hasn't sent" in card["description"]


async def test_held_back_papers_are_mentioned_on_the_last_message(club: Club) -> None:
    papers = [planned(paper(n)) for n in range(1, 13)]
    batch = Batch(channel_id=CHANNEL, papers=papers, held_back={"cs.LG": 734})
    await DiscordDeliverer(club.bot, pause=0).deliver(batch, Recorder(club))

    first, last = bot_posts(club)
    assert first.content == ""
    assert "734 more new papers from `cs.LG`" in last.content
    assert "weekly digest" in last.content and "/feed add" in last.content and "keywords" in last.content
    assert len(last.embeds) == 2


async def test_held_back_papers_alone_get_one_message(club: Club) -> None:
    on_sent = Recorder(club)
    batch = Batch(channel_id=CHANNEL, papers=[], held_back={"cs.LG": 3, 'ti:"model merging"': 1})
    await DiscordDeliverer(club.bot, pause=0).deliver(batch, on_sent)

    (post,) = bot_posts(club)
    assert post.embeds == []
    assert "4 more new papers" in post.content
    assert "3 from `cs.LG`" in post.content and '1 from `ti:"model merging"`' in post.content
    assert on_sent.calls == []


async def test_nothing_to_say_posts_nothing(club: Club) -> None:
    await DiscordDeliverer(club.bot, pause=0).deliver(Batch(channel_id=CHANNEL, papers=[]), Recorder(club))
    await club.discord.settle()
    assert bot_posts(club) == []


async def test_a_forbidden_channel_is_unavailable_and_nothing_is_posted(club: Club) -> None:
    club.discord.forbid_channel(CHANNEL)
    on_sent = Recorder(club)
    with pytest.raises(ChannelUnavailable, match="may not post in #papers"):
        await DiscordDeliverer(club.bot, pause=0).deliver(
            Batch(channel_id=CHANNEL, papers=[planned(paper(n)) for n in range(1, 4)]), on_sent
        )
    assert bot_posts(club) == []
    assert on_sent.calls == []


@pytest.mark.parametrize("notified", [True, False], ids=["bot-saw-the-delete", "bot-still-has-it-cached"])
async def test_a_deleted_channel_is_unavailable(club: Club, notified: bool) -> None:
    club.discord.remove_channel(CHANNEL, notify=notified)
    if notified:
        for _ in range(250):
            if club.bot.get_channel(CHANNEL) is None:
                break
            await asyncio.sleep(0.02)
        assert club.bot.get_channel(CHANNEL) is None
    else:
        assert club.bot.get_channel(CHANNEL) is not None
    on_sent = Recorder(club)
    deliverer = DiscordDeliverer(club.bot, pause=0)
    with pytest.raises(ChannelUnavailable, match="deleted"):
        await deliverer.deliver(Batch(channel_id=CHANNEL, papers=[planned(paper(1))]), on_sent)
    with pytest.raises(ChannelUnavailable, match="deleted"):
        await deliverer.find_posted(CHANNEL, datetime.now(UTC), [planned(paper(1))])
    assert on_sent.calls == []


async def test_find_posted_finds_the_bots_feed_cards_only(club: Club) -> None:
    since = datetime.now(UTC)
    sent = [planned(paper(n)) for n in range(1, 13)]
    never_sent = planned(paper(500, key=f"arxiv:{ATTENTION}"))  # a member links it: the bot answers with a link card
    mirrored = planned(paper(501))  # another bot copies a feed card for it into the channel
    on_sent = Recorder(club)
    deliverer = DiscordDeliverer(club.bot, pause=0)
    await deliverer.deliver(Batch(channel_id=CHANNEL, papers=sent), on_sent)
    (first_ids, first_message), (second_ids, second_message) = on_sent.calls

    link = await club.discord.post_message(CHANNEL, user_id=ANN, content=f"look: https://arxiv.org/abs/{ATTENTION}")
    card = await club.discord.wait_for_message(CHANNEL, after=link)
    assert card.embeds and card.embeds[0]["url"] == never_sent[1].url, "the bot's own link card names the paper"
    club.discord.add_member(GUILD, MIRROR_BOT, name="mirror", bot=True)
    mirror = await club.discord.post_message(CHANNEL, user_id=MIRROR_BOT, content="", bot=True)
    mirror.embeds = [paper_embed(mirrored[1]).to_dict()]  # as if it had posted the card itself
    await club.discord.settle()

    everything = [*sent, never_sent, mirrored]
    found = await deliverer.find_posted(CHANNEL, since, everything)
    assert found == {**dict.fromkeys(first_ids, first_message), **dict.fromkeys(second_ids, second_message)}

    naive_utc = since.replace(tzinfo=None)  # as SQLite hands it back
    assert await deliverer.find_posted(CHANNEL, naive_utc, everything) == found
    assert await deliverer.find_posted(CHANNEL, since + timedelta(hours=1), everything) == {}
    assert await deliverer.find_posted(CHANNEL, since, []) == {}


async def test_a_crash_while_recording_stops_the_batch_and_recovery_finds_what_went_out(club: Club) -> None:
    since = datetime.now(UTC)
    papers = [planned(paper(n)) for n in range(1, 24)]
    on_sent = Recorder(club, fail_after=1)
    deliverer = DiscordDeliverer(club.bot, pause=0)
    with pytest.raises(RuntimeError, match="database went away"):
        await deliverer.deliver(Batch(channel_id=CHANNEL, papers=papers), on_sent)
    await club.discord.settle()

    (only,) = bot_posts(club)
    assert len(only.embeds) == 10
    assert on_sent.calls == [([d.id for d, _ in papers[:10]], only.id)]

    restarted = DiscordDeliverer(club.bot, pause=0)
    found = await restarted.find_posted(CHANNEL, since, papers)
    assert found == {d.id: only.id for d, _ in papers[:10]}


async def test_different_channels_do_not_wait_for_each_other(club: Club) -> None:
    """The pause is per channel: a forbidden channel fails alone, the other one still gets its papers."""
    other = 600_000_000_000_000_009
    club.discord.add_channel(GUILD, other, name="other-papers")
    for _ in range(250):
        if club.bot.get_channel(other) is not None:
            break
        await asyncio.sleep(0.02)
    club.discord.forbid_channel(other)
    deliverer = DiscordDeliverer(club.bot, pause=0.05)
    on_sent = Recorder(club)
    results = await asyncio.gather(
        deliverer.deliver(Batch(channel_id=other, papers=[planned(paper(99))]), on_sent),
        deliverer.deliver(Batch(channel_id=CHANNEL, papers=[planned(paper(n)) for n in range(1, 13)]), on_sent),
        return_exceptions=True,
    )
    assert isinstance(results[0], ChannelUnavailable) and "#other-papers" in str(results[0])
    assert results[1] is None
    assert [len(m.embeds) for m in bot_posts(club)] == [10, 2]


async def test_a_deliverer_keeps_nothing_per_channel_once_its_pause_has_passed(club: Club) -> None:
    """Channels come and go over a long run: their locks and pauses do not stay with the deliverer."""
    now = [1000.0]
    deliverer = DiscordDeliverer(club.bot, pause=5.0, clock=lambda: now[0])
    channels = [600_000_000_000_000_100 + n for n in range(30)]
    for n, channel in enumerate(channels):
        club.discord.add_channel(GUILD, channel, name=f"papers-{n}")
        await deliverer.deliver(Batch(channel_id=channel, papers=[planned(paper(n + 1))]), Recorder(club))
    assert all(len(club.discord.channel_messages(channel)) == 1 for channel in channels)
    gc.collect()
    assert len(deliverer._locks) == 0  # nobody posts now
    assert len(deliverer._next_send) == len(channels)  # each channel's pause still runs
    now[0] += 5.0
    assert deliverer._next_send.get(channels[0]) is None and len(deliverer._next_send) == 0
