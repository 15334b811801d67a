"""Static checks of the container files: Dockerfile, .dockerignore and docker-compose.yml.

No Docker here: these read the files as text. The compose checks look at the indented blocks under a key,
which is enough for the file as written (block style, two-space indents) and needs no YAML library.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def instructions(text: str) -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined, comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    if pending:
        lines.append(pending)
    result = []
    for line in lines:
        keyword, _, args = line.partition(" ")
        result.append((keyword.upper(), args.strip()))
    return result


def stages(text: str) -> list[list[tuple[str, str]]]:
    """The instructions of each build stage, split at FROM."""
    out: list[list[tuple[str, str]]] = []
    for keyword, args in instructions(text):
        if keyword == "FROM":
            out.append([])
        if out:
            out[-1].append((keyword, args))
    return out


def block(text: str, *path: str) -> str:
    """The lines nested under ``path`` (a chain of mapping keys) in a block-style YAML text, or ''."""
    lines = text.splitlines()
    start, indent = 0, -1
    for key in path:
        child = None  # the indentation of the direct children: the first content line's
        for i in range(start, len(lines)):
            line = lines[i]
            stripped = line.lstrip()
            if not stripped or stripped.startswith("#"):
                continue
            depth = len(line) - len(stripped)
            if depth <= indent:
                return ""
            child = depth if child is None else child
            if depth == child and re.match(rf"{re.escape(key)}\s*:(\s|$)", stripped):
                start, indent = i + 1, depth
                break
        else:
            return ""
    body = []
    for line in lines[start:]:
        stripped = line.lstrip()
        if stripped and not stripped.startswith("#") and len(line) - len(stripped) <= indent:
            break
        body.append(line)
    return "\n".join(body)


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


@pytest.fixture(scope="module")
def compose() -> str:
    return (ROOT / "docker-compose.yml").read_text()


def test_block_reader_finds_nested_keys() -> None:
    text = "a:\n  b:\n    c: 1\n  d:\n    - x\ne: 2\n"
    assert block(text, "a", "b").strip() == "c: 1"
    assert block(text, "a", "d").strip() == "- x"
    assert block(text, "a", "c") == "", "c is a grandchild of a, not a child"
    assert block(text, "c") == ""
    assert block(text, "e") == ""


def test_dockerfile_is_multi_stage_from_the_slim_base(dockerfile: str) -> None:
    parts = stages(dockerfile)
    assert len(parts) >= 2, "a builder stage and a runtime stage"
    for part in parts:
        assert part[0][1].split()[0] == "python:3.11-slim"
    runtime = parts[-1]
    copies = [args for keyword, args in runtime if keyword == "COPY"]
    assert copies and all(args.startswith("--from=") for args in copies), (
        "the runtime stage copies only from the builder (the venv and the app), not the build context"
    )
    assert not any(keyword == "RUN" and "pip install" in args for keyword, args in runtime)


def test_dockerfile_runs_as_a_non_root_user(dockerfile: str) -> None:
    runtime = stages(dockerfile)[-1]
    users = [args for keyword, args in runtime if keyword == "USER"]
    assert users, "the runtime stage sets USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    args = dict(re.findall(r"ARG\s+(\w+)=(\S+)", dockerfile))
    if user.startswith("${"):
        user = args[user.strip("${}")]
    assert user != "0"


def test_dockerfile_data_volume_environment_and_commands(dockerfile: str) -> None:
    runtime = stages(dockerfile)[-1]
    keywords = {keyword: args for keyword, args in runtime}
    assert "/data" in keywords["VOLUME"]
    assert keywords["WORKDIR"] == "/app"
    env = " ".join(args for keyword, args in runtime if keyword == "ENV")
    assert "DATABASE_URL=sqlite:////data/paperclub.db" in env
    assert "HEARTBEAT_FILE=/data/" in env
    assert "PYTHONUNBUFFERED=1" in env
    assert keywords["STOPSIGNAL"] == "SIGTERM"
    assert keywords["CMD"] == '["python", "-m", "bot"]'
    health = keywords["HEALTHCHECK"]
    assert health.endswith('CMD ["python", "-m", "bot", "health"]')
    assert "--interval=" in health and "--timeout=" in health and "--start-period=" in health


def test_dockerfile_bakes_in_no_secret(dockerfile: str) -> None:
    for keyword, args in instructions(dockerfile):
        if keyword in {"ENV", "ARG", "LABEL"}:
            assert not re.search(r"TOKEN|SECRET|PASSWORD", args, re.IGNORECASE), f"{keyword} {args}"
        if keyword in {"COPY", "ADD"}:
            assert ".env" not in args.split(), f"{keyword} {args}"
    assert "COPY . " not in dockerfile, "copy named folders only, never the whole context"


def test_dockerfile_avoids_what_buildah_1_28_rejects(dockerfile: str) -> None:
    assert "--link" not in dockerfile
    assert "<<" not in dockerfile, "no RUN heredocs"


def test_dockerignore_keeps_secrets_databases_and_clutter_out() -> None:
    patterns = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for needed in (".env", ".git", "data", "*.db", ".venv", "tests", "bench"):
        assert needed in patterns, needed
    assert "!.env" not in patterns


def test_compose_bot_service(compose: str) -> None:
    bot = block(compose, "services", "bot")
    assert bot, "a bot service"
    assert re.search(r"^\s*build:\s*\.\s*$", bot, re.M)
    assert re.search(r"^\s*env_file:\s*\.env\s*$", bot, re.M)
    assert re.search(r"^\s*restart:\s*unless-stopped\s*$", bot, re.M)
    assert re.search(r"^\s*stop_grace_period:", bot, re.M)
    volume = re.search(r"^\s*-\s*([\w.-]+):/data\s*$", bot, re.M)
    assert volume, "a volume on /data"
    name = volume.group(1)
    assert not name.startswith((".", "/")), "a named volume, not a bind mount"
    assert block(compose, "volumes", name) is not None and re.search(rf"^  {re.escape(name)}:", compose, re.M)
    assert "profiles" not in bot, "the bot runs without any profile"
    assert not re.search(r"DISCORD_TOKEN\s*[:=]", compose), "the token comes from .env only"


def test_compose_postgres_profile(compose: str) -> None:
    pg = block(compose, "services", "postgres")
    assert pg, "a postgres service"
    assert re.search(r"^\s*build:\s*docker/postgres\s*$", pg, re.M), "PostgreSQL with rum, from its own Dockerfile"
    assert re.search(r"profiles:\s*\[\s*\"?postgres\"?\s*\]", pg) or re.search(
        r"profiles:\s*\n\s*-\s*\"?postgres\"?", pg
    )
    health = block(compose, "services", "postgres", "healthcheck")
    assert "pg_isready" in health
    assert re.search(r"POSTGRES_PASSWORD:\s*\$\{POSTGRES_PASSWORD:-[^}]+\}", pg), "from .env, with a default"
    volume = re.search(r"^\s*-\s*([\w.-]+):/var/lib/postgresql/data\s*$", pg, re.M)
    assert volume and re.search(rf"^  {re.escape(volume.group(1))}:", compose, re.M)
    # The bot waits for a healthy PostgreSQL when the profile is on, and not otherwise.
    dep = block(compose, "services", "bot", "depends_on", "postgres")
    assert "condition: service_healthy" in dep
    assert "required: false" in dep


def test_the_postgres_image_is_debian_postgresql_16_with_rum() -> None:
    dockerfile = (ROOT / "docker" / "postgres" / "Dockerfile").read_text()
    parts = stages(dockerfile)
    assert len(parts) == 1
    base = parts[0][0][1].split()[0]
    assert base.startswith("postgres:16") and "alpine" not in base, "Debian: PGDG's apt repository has rum"
    runs = " ".join(args for keyword, args in parts[0] if keyword == "RUN")
    assert "apt-get install" in runs and "postgresql-${PG_MAJOR}-rum" in runs
    assert "rm -rf /var/lib/apt/lists" in runs
    assert "--link" not in dockerfile and "<<" not in dockerfile, "nothing buildah 1.28 rejects"
