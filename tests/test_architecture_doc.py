"""docs/architecture.md stays true: every module is in its tables, and every module it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
PACKAGES = ("bot", "schedules", "storage")


def _section(package: str) -> str:
    """The doc's section on one package: from its ``### package/`` heading to the next heading."""
    text = DOC.read_text()
    match = re.search(rf"^### {package}/\n(.*?)(?=^#)", text, re.M | re.S)
    assert match, f"docs/architecture.md has no section for {package}/"
    return match[1]


def _modules(package: str) -> list[str]:
    """Every module of a package, relative to it (``cogs/notes.py``); package markers and migration history aside."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        relative = path.relative_to(ROOT / package).as_posix()
        if path.name == "__init__.py" or "/versions/" in f"/{relative}":
            continue
        found.append(relative)
    return found


def test_every_module_is_described() -> None:
    missing = []
    for package in PACKAGES:
        section = _section(package)
        for module in _modules(package):
            folders = [module.rsplit("/", n)[0] + "/" for n in range(1, module.count("/") + 1)]
            if f"`{module}`" not in section and not any(f"`{folder}`" in section for folder in folders):
                missing.append(f"{package}/{module}")
    assert not missing, f"modules docs/architecture.md does not describe: {missing}"


def test_every_module_named_exists() -> None:
    stale = []
    for package in PACKAGES:
        for name in re.findall(r"`([\w/]+(?:\.py|/))`", _section(package)):
            if not (ROOT / package / name).exists():
                stale.append(f"{package}/{name}")
    assert not stale, f"docs/architecture.md names modules that are gone: {stale}"
