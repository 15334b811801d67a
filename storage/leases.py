"""Leases: work only one process may do at a time (feed polling), kept in the database all processes share.

A holder renews its lease well before it expires; when a process dies, its lease runs out and another takes
it over. Taking and renewing are one conditional UPDATE, atomic on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from storage.db import Sessions, insert_ignoring_duplicates
from storage.models import utcnow
from storage.tables import LEASES

log = logging.getLogger(__name__)


def process_name() -> str:
    """A name for this process that no other process shares: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def has_ended(holder: str, *, me: str) -> bool:
    """Whether the process a holder name stands for has certainly ended: it ran on this host, and its pid is
    gone, or is this process's own pid under another name (an earlier start: in a container the bot is pid 1
    every time). A process on another host can't be looked at: its lease runs out instead."""
    try:
        host, pid_text, _ = holder.split(":")
        pid = int(pid_text)
    except ValueError:
        return False
    if host != socket.gethostname() or holder == me or pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


class LeaseService:
    """Takes, renews and gives back leases."""

    def __init__(self, sessions: Sessions, *, holder: str | None = None) -> None:
        self.sessions = sessions
        self.holder = holder or process_name()
        self._held: set[str] = set()

    async def hold(self, name: str, *, ttl: timedelta, now: datetime | None = None) -> bool:
        """Take or renew the lease ``name`` for ``ttl``; True when this process holds it now."""
        now = now or utcnow()
        async with self.sessions() as session:
            conn = await session.connection()
            try:
                await conn.execute(
                    insert_ignoring_duplicates(conn.dialect.name, LEASES),
                    [{"name": name, "holder": self.holder, "expires_at": now - timedelta(seconds=1)}],
                )
            except IntegrityError:  # pragma: no cover - the insert ignores duplicates
                await session.rollback()
                conn = await session.connection()
            current = (await conn.execute(select(LEASES.c.holder).where(LEASES.c.name == name))).scalar_one()
            takeable = (LEASES.c.holder == self.holder) | (LEASES.c.expires_at < now)
            if has_ended(current, me=self.holder):  # a holder that died on this host: no need to wait it out
                takeable = takeable | (LEASES.c.holder == current)
            taken = await conn.execute(
                update(LEASES).where(LEASES.c.name == name, takeable).values(holder=self.holder, expires_at=now + ttl)
            )
            await session.commit()
        held = taken.rowcount == 1
        if held and name not in self._held:
            log.info("this process (%s) now holds the %s lease", self.holder, name)
        elif not held and name in self._held:
            log.warning("this process (%s) lost the %s lease", self.holder, name)
        (self._held.add if held else self._held.discard)(name)
        return held

    async def release(self, name: str) -> None:
        """Give the lease back at once (on a clean shutdown), so another process need not wait for it to expire."""
        async with self.sessions() as session:
            await session.exec(  # type: ignore[call-overload]
                update(LEASES)
                .where(LEASES.c.name == name, LEASES.c.holder == self.holder)
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
            await session.commit()
        self._held.discard(name)
