# paperclub: a self-hosted Discord bot for paper reading groups.
#
#   docker build -t paperclub .            (podman: add --format docker, or HEALTHCHECK is dropped)
#   docker run --env-file .env -v paperclub-data:/data paperclub
#
# No secret is baked in: DISCORD_TOKEN (and any DATABASE_URL with a password) comes from the environment
# at run time, e.g. compose's `env_file: .env`.

# ---- builder: the dependencies, in a virtual environment copied whole into the runtime stage ----------
FROM python:3.11-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    PYTHONDONTWRITEBYTECODE=1

# Only pyproject.toml first: the dependency layer is rebuilt when the dependencies change, not on every
# code change. The requirements are read from pyproject.toml itself, so there is no second list to keep.
COPY pyproject.toml /src/pyproject.toml
RUN --mount=type=cache,target=/root/.cache/pip \
    python -m venv /opt/venv \
    && python -c "import tomllib; print('\n'.join(tomllib.load(open('/src/pyproject.toml', 'rb'))['project']['dependencies']))" > /src/requirements.txt \
    && /opt/venv/bin/pip install -r /src/requirements.txt \
    && /opt/venv/bin/pip uninstall -y -q pip setuptools \
    && find /opt/venv -depth -type d -name tests -path '*/site-packages/*/tests' -exec rm -rf {} + \
    && /opt/venv/bin/python -m compileall -q /opt/venv/lib

# The application itself: the three packages, compiled once here (the runtime user can't write to /app).
COPY bot /app/bot
COPY storage /app/storage
COPY schedules /app/schedules
RUN find /app -name '__pycache__' -prune -exec rm -rf {} + \
    && /opt/venv/bin/python -m compileall -q /app

# ---- runtime: the base image, the venv and the app; nothing else ---------------------------------------
FROM python:3.11-slim

ARG UID=10001
RUN groupadd --system --gid "${UID}" paperclub \
    && useradd --system --uid "${UID}" --gid paperclub --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin paperclub \
    && mkdir -p /data \
    && chown paperclub:paperclub /data

COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app /app

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DATABASE_URL=sqlite:////data/paperclub.db \
    HEARTBEAT_FILE=/data/heartbeat

WORKDIR /app
USER ${UID}:${UID}
VOLUME ["/data"]

# `python -m bot` applies the database migrations, then connects to Discord; SIGTERM makes it close the
# connection and the database and exit.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["python", "-m", "bot", "health"]
CMD ["python", "-m", "bot"]
