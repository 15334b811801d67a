"""Settings: the token is required and never shown; everything else has a sensible default."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import discord
import pytest

from bot.services import build_services
from bot.settings import ConfigError, Settings
from storage.db import DEFAULT_DATABASE_URL

ROOT = Path(__file__).resolve().parents[2]


def test_defaults() -> None:
    settings = Settings.from_mapping({"DISCORD_TOKEN": "abc.def"})
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.arxiv_api_base == "https://export.arxiv.org/api/query"
    assert settings.arxiv_rss_base == "https://rss.arxiv.org/rss"
    assert (settings.dev_guild_id, settings.discord_api_base, settings.log_level) == (None, None, "INFO")


def test_token_never_appears_in_repr() -> None:
    assert "sekrit" not in repr(Settings.from_mapping({"DISCORD_TOKEN": "sekrit"}))


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({}, "DISCORD_TOKEN"),
        ({"DISCORD_TOKEN": "   "}, "DISCORD_TOKEN"),
        ({"DISCORD_TOKEN": "t", "DEV_GUILD_ID": "my server"}, "DEV_GUILD_ID"),
        ({"DISCORD_TOKEN": "t", "LOG_LEVEL": "loud"}, "LOG_LEVEL"),
        ({"DISCORD_TOKEN": "t", "ARXIV_MIN_INTERVAL": "0.5"}, "3 seconds"),
    ],
)
def test_bad_settings_give_one_line(values: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_mapping(values)
    assert needle in str(caught.value) and "\n" not in str(caught.value)


def test_environment_wins_over_dotenv(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("DISCORD_TOKEN=from-file\nDEV_GUILD_ID=42\nDISCORD_API_BASE=http://127.0.0.1:9/api/v10/\n")
    settings = Settings.load({"DISCORD_TOKEN": "from-env"}, dotenv=dotenv)
    assert (settings.discord_token, settings.dev_guild_id) == ("from-env", 42)
    assert settings.discord_api_base == "http://127.0.0.1:9/api/v10"


def test_running_without_a_token_exits_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip().count("\n") == 0 and "DISCORD_TOKEN is not set" in done.stderr


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, (None, None)),
        ({"SHARD_COUNT": "4"}, (4, None)),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "2, 0"}, (4, (0, 2))),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "3 3"}, (4, (3,))),
    ],
)
def test_shards_are_read(values: dict[str, str], expected: tuple[object, object]) -> None:
    settings = Settings.from_mapping({"DISCORD_TOKEN": "t", **values})
    assert (settings.shard_count, settings.shard_ids) == expected


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"SHARD_IDS": "0"}, "needs SHARD_COUNT"),
        ({"SHARD_COUNT": "0"}, "at least 1"),
        ({"SHARD_COUNT": "two"}, "whole number"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "2"}, "from 0 to 1"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "a"}, "shard numbers"),
    ],
)
def test_bad_shards_are_one_clear_line(values: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        Settings.from_mapping({"DISCORD_TOKEN": "t", **values})


def test_a_process_owns_the_guilds_on_its_shards() -> None:
    guild_on = {shard: (shard << 22) + 12345 * 4 for shard in range(4)}  # (id >> 22) % 4 == shard
    settings = Settings.from_mapping({"DISCORD_TOKEN": "t", "SHARD_COUNT": "4", "SHARD_IDS": "1,3"})
    assert [settings.owns_guild(guild_on[s]) for s in range(4)] == [False, True, False, True]
    assert Settings.from_mapping({"DISCORD_TOKEN": "t"}).owns_guild(guild_on[0])


def test_per_server_caps_default_and_are_read() -> None:
    default = Settings.from_mapping({"DISCORD_TOKEN": "t"})
    assert (default.max_subscriptions, default.max_feeds, default.max_notes_per_day) == (50, 20, 50)
    settings = Settings.from_mapping(
        {"DISCORD_TOKEN": "t", "MAX_SUBSCRIPTIONS": "200", "MAX_FEEDS": " 80 ", "MAX_NOTES_PER_DAY": "5"}
    )
    assert (settings.max_subscriptions, settings.max_feeds, settings.max_notes_per_day) == (200, 80, 5)


def test_the_caps_reach_the_services() -> None:
    settings = Settings.from_mapping(
        {
            "DISCORD_TOKEN": "t",
            "DATABASE_URL": "sqlite:///:memory:",
            "MAX_SUBSCRIPTIONS": "7",
            "MAX_FEEDS": "3",
            "MAX_NOTES_PER_DAY": "9",
        }
    )
    services = build_services(settings, discord.Client(intents=discord.Intents.none()))
    assert (
        services.feeds.subscriptions.max_subscriptions,
        services.feeds.subscriptions.max_feeds,
        services.notes.max_per_day,
    ) == (7, 3, 9)


@pytest.mark.parametrize("name", ["MAX_SUBSCRIPTIONS", "MAX_FEEDS", "MAX_NOTES_PER_DAY"])
@pytest.mark.parametrize(("value", "says"), [("lots", "whole number"), ("0", "at least 1"), ("-3", "at least 1")])
def test_bad_caps_are_one_clear_line(name: str, value: str, says: str) -> None:
    with pytest.raises(ConfigError, match=f"{name} must be .*{says}") as caught:
        Settings.from_mapping({"DISCORD_TOKEN": "t", name: value})
    assert "\n" not in str(caught.value)
