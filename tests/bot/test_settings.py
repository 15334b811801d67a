"""Settings: the token is required and never shown; everything else has a sensible default."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
