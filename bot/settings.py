"""Settings, read once from the environment and an optional ``.env`` file."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

from bot.heartbeat import default_file as default_heartbeat_file
from schedules.addresses import AddressGuard
from storage.db import DEFAULT_DATABASE_URL
from storage.feeds.subscriptions import MAX_FEEDS, MAX_SUBSCRIPTIONS
from storage.notes import MAX_NOTES_PER_DAY

ARXIV_HOSTS = frozenset({"arxiv.org", "export.arxiv.org", "rss.arxiv.org", "www.arxiv.org"})
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


MIN_POLL_INTERVAL = 5.0


class ConfigError(Exception):
    """A setting is missing or wrong; the message is one line for the operator."""


@dataclass(frozen=True)
class Settings:
    """Everything the bot is configured with. The token never appears in ``repr``."""

    discord_token: str = field(repr=False)
    database_url: str = DEFAULT_DATABASE_URL
    dev_guild_id: int | None = None
    log_level: str = "INFO"
    discord_api_base: str | None = None
    arxiv_api_base: str = "https://export.arxiv.org/api/query"
    arxiv_rss_base: str = "https://rss.arxiv.org/rss"
    arxiv_min_interval: float = 3.0
    metadata_retry_interval: float = 600.0
    link_cards: bool = True
    feed_poll_interval: float = 1800.0  # seconds; arXiv listings change once a weekday, so this is plenty
    feed_max_posts: int = 50  # papers one subscription posts per poll; the rest wait for the digest
    feed_post_pause: float = 1.0  # seconds between two feed messages to one channel
    feeds_allow_private: bool = False  # feeds may use private and local addresses (one trusted group only)
    max_subscriptions: int = MAX_SUBSCRIPTIONS  # feed subscriptions one server may have, over all its channels
    max_feeds: int = MAX_FEEDS  # distinct feeds one server may follow
    max_notes_per_day: int = MAX_NOTES_PER_DAY  # notes one member may add in one server in 24 hours
    digest_grace_hours: float = 12.0  # a digest missed while the bot was down is posted this late at most
    shard_count: int | None = None  # SHARD_COUNT: run the bot sharded, over this many shards in all
    shard_ids: tuple[int, ...] | None = None  # SHARD_IDS: the shards this process runs (default: all of them)
    heartbeat_file: str = "./data/heartbeat"  # touched while the bot runs; read by `python -m bot health`

    @classmethod
    def load(
        cls, env: Mapping[str, str] | None = None, *, dotenv: str | Path | None = ".env", require_token: bool = True
    ) -> Settings:
        """Settings from ``env`` (the process environment by default) over the values in ``dotenv``.

        ``require_token=False`` is for the operator commands that never connect to Discord (``check``,
        ``migrate``, ``export``, ...): a missing DISCORD_TOKEN is then the empty string, not an error.
        """
        values: dict[str, str] = {}
        if dotenv is not None and Path(dotenv).is_file():
            values.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
        values.update(os.environ if env is None else env)
        return cls.from_mapping(values, require_token=require_token)

    @classmethod
    def from_mapping(cls, values: Mapping[str, str], *, require_token: bool = True) -> Settings:
        """Settings from plain key/value pairs, validated."""

        def get(name: str) -> str | None:
            value = values.get(name)
            return value.strip() if value and value.strip() else None

        token = get("DISCORD_TOKEN")
        if not token and require_token:
            raise ConfigError("DISCORD_TOKEN is not set: put the bot token in .env (see .env.example).")
        level = (get("LOG_LEVEL") or "INFO").upper()
        if level not in LOG_LEVELS:
            raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {level!r}.")
        arxiv_api_base = get("ARXIV_API_BASE") or cls.arxiv_api_base
        min_interval = _float(get("ARXIV_MIN_INTERVAL"), "ARXIV_MIN_INTERVAL", cls.arxiv_min_interval)
        if urlsplit(arxiv_api_base).hostname in ARXIV_HOSTS and min_interval < 3.0:
            raise ConfigError("ARXIV_MIN_INTERVAL can't be under 3 seconds against arXiv itself (arXiv's rule).")
        database_url = get("DATABASE_URL") or DEFAULT_DATABASE_URL
        shard_count, shard_ids = _shards(get("SHARD_COUNT"), get("SHARD_IDS"))
        return cls(
            shard_count=shard_count,
            shard_ids=shard_ids,
            discord_token=token or "",
            database_url=database_url,
            dev_guild_id=_int(get("DEV_GUILD_ID"), "DEV_GUILD_ID"),
            log_level=level,
            discord_api_base=(get("DISCORD_API_BASE") or "").rstrip("/") or None,
            arxiv_api_base=arxiv_api_base,
            arxiv_rss_base=(get("ARXIV_RSS_BASE") or cls.arxiv_rss_base).rstrip("/"),
            arxiv_min_interval=min_interval,
            metadata_retry_interval=_float(
                get("METADATA_RETRY_INTERVAL"), "METADATA_RETRY_INTERVAL", cls.metadata_retry_interval
            ),
            link_cards=_switch(get("LINK_CARDS"), "LINK_CARDS", cls.link_cards),
            feed_poll_interval=_poll_interval(get("FEED_POLL_INTERVAL"), cls.feed_poll_interval),
            feed_max_posts=_count(get("FEED_MAX_POSTS"), "FEED_MAX_POSTS", cls.feed_max_posts),
            feed_post_pause=_float(get("FEED_POST_PAUSE"), "FEED_POST_PAUSE", cls.feed_post_pause),
            feeds_allow_private=_switch(get("FEEDS_ALLOW_PRIVATE"), "FEEDS_ALLOW_PRIVATE", cls.feeds_allow_private),
            max_subscriptions=_count(get("MAX_SUBSCRIPTIONS"), "MAX_SUBSCRIPTIONS", cls.max_subscriptions),
            max_feeds=_count(get("MAX_FEEDS"), "MAX_FEEDS", cls.max_feeds),
            max_notes_per_day=_count(get("MAX_NOTES_PER_DAY"), "MAX_NOTES_PER_DAY", cls.max_notes_per_day),
            digest_grace_hours=_float(get("DIGEST_GRACE_HOURS"), "DIGEST_GRACE_HOURS", cls.digest_grace_hours),
            heartbeat_file=get("HEARTBEAT_FILE") or default_heartbeat_file(database_url),
        )

    def feed_guard(self) -> AddressGuard:
        """Where feeds may come from: the public internet, the arXiv endpoints set here, private networks if allowed."""
        return AddressGuard.of((self.arxiv_api_base, self.arxiv_rss_base), allow_private=self.feeds_allow_private)

    def owns_guild(self, guild_id: int) -> bool:
        """Whether this process runs the shard a guild is on (Discord's rule: (id >> 22) % shard count)."""
        if self.shard_count is None or self.shard_ids is None:
            return True
        return (guild_id >> 22) % self.shard_count in self.shard_ids

    def configure_logging(self) -> None:
        """One line per event on stdout."""
        logging.basicConfig(
            level=self.log_level,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            handlers=[logging.StreamHandler(sys.stdout)],
            force=True,
        )
        logging.getLogger("discord.http").setLevel(max(logging.INFO, logging.getLevelName(self.log_level)))
        # Alembic's set-up chatter on every start, and APScheduler's line per job run, only at DEBUG.
        for chatty in ("alembic", "apscheduler"):
            quiet = (
                logging.DEBUG
                if self.log_level == "DEBUG"
                else max(logging.WARNING, logging.getLevelName(self.log_level))
            )
            logging.getLogger(chatty).setLevel(quiet)
        # The bot never joins voice channels; discord.py's warnings about voice libraries are noise here.
        logging.getLogger("discord.client").addFilter(lambda record: "voice will NOT" not in record.getMessage())


def _int(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number (a server id), not {value!r}.") from None


def _float(value: str | None, name: str, default: float) -> float:
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {value!r}.") from None
    if number < 0:
        raise ConfigError(f"{name} must not be negative.")
    return number


def _poll_interval(value: str | None, default: float) -> float:
    seconds = _float(value, "FEED_POLL_INTERVAL", default)
    if seconds < MIN_POLL_INTERVAL:
        raise ConfigError(f"FEED_POLL_INTERVAL must be at least {MIN_POLL_INTERVAL:g} seconds.")
    return seconds


def _count(value: str | None, name: str, default: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {value!r}.") from None
    if number < 1:
        raise ConfigError(f"{name} must be at least 1.")
    return number


def _shards(count: str | None, ids: str | None) -> tuple[int | None, tuple[int, ...] | None]:
    if count is None:
        if ids is not None:
            raise ConfigError("SHARD_IDS needs SHARD_COUNT: the number of shards over all processes.")
        return None, None
    try:
        total = int(count)
    except ValueError:
        raise ConfigError(f"SHARD_COUNT must be a whole number, not {count!r}.") from None
    if total < 1:
        raise ConfigError("SHARD_COUNT must be at least 1.")
    if ids is None:
        return total, None
    try:
        chosen = tuple(sorted({int(part) for part in ids.replace(",", " ").split()}))
    except ValueError:
        raise ConfigError(f"SHARD_IDS must be shard numbers like 0,1, not {ids!r}.") from None
    if not chosen or any(not 0 <= i < total for i in chosen):
        raise ConfigError(f"SHARD_IDS must be numbers from 0 to {total - 1} (SHARD_COUNT is {total}).")
    return total, chosen


def _switch(value: str | None, name: str, default: bool) -> bool:
    if value is None:
        return default
    words = {"on": True, "true": True, "yes": True, "1": True, "off": False, "false": False, "no": False, "0": False}
    if value.lower() not in words:
        raise ConfigError(f"{name} must be on or off, not {value!r}.")
    return words[value.lower()]
