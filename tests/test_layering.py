"""The house rules: only bot/ talks to Discord; storage/ never does HTTP."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_storage_and_schedules_import_without_discord() -> None:
    code = (
        "import storage.db, storage.notes, storage.papers, schedules.arxiv, schedules.jobs, sys; "
        "assert 'discord' not in sys.modules, sorted(m for m in sys.modules if m.startswith('discord'))"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_storage_does_no_http() -> None:
    for path in (ROOT / "storage").rglob("*.py"):
        source = path.read_text()
        for banned in (
            "import aiohttp",
            "from aiohttp",
            "import discord",
            "from discord",
            "import schedules",
            "from schedules",
            "import bot",
            "from bot",
        ):
            assert banned not in source, f"{path.name} has `{banned}`"
