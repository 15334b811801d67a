"""Taking turns: writers that count before they write (so two at once cannot both pass a server's cap), and work on
one key (a channel, a server, a card) in this process."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Hashable
from typing import Generic, TypeVar

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

# PostgreSQL: a lock held until the transaction ends, keyed on the purpose and the server. Two keys that hash
# alike only make their writers take turns, which is harmless.
_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:purpose, :guild_id))")
# SQLite has one writer at a time: a write that changes nothing takes the database's write lock at once.
_WRITE_LOCK = text("UPDATE leases SET name = name WHERE 0 = 1")

K = TypeVar("K", bound=Hashable)


async def hold_guild(session: AsyncSession, *, guild_id: int, purpose: str) -> None:
    """Wait for, then hold until this transaction ends, the server's turn to write ``purpose``.

    What the transaction counts after this includes every row another writer of the same purpose committed,
    and no such writer can add a row until this transaction commits or rolls back.
    """
    conn = await session.connection()
    if conn.dialect.name == "postgresql":
        await conn.execute(_ADVISORY_LOCK, {"purpose": purpose, "guild_id": guild_id})
    else:
        await conn.execute(_WRITE_LOCK)


class KeyedLocks(Generic[K]):
    """One :class:`asyncio.Lock` per key, for work on one key to take turns in this process: ``async with
    locks[key]:``.

    A key's lock is kept only while someone holds it or waits on it (the ``async with`` and each waiting
    ``acquire`` keep it alive); then it is forgotten, so the many channels and servers a long run sees leave
    nothing behind. The next caller for that key gets a fresh lock, which is free, as the forgotten one was.
    """

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[K, asyncio.Lock] = weakref.WeakValueDictionary()

    def __getitem__(self, key: K) -> asyncio.Lock:
        """The key's lock: the one held or waited on now, else a new one."""
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()  # returned, so alive until the caller lets go of it
        return lock

    def __len__(self) -> int:
        """How many keys have a lock someone holds or waits on (or still has in hand)."""
        return len(self._locks)
