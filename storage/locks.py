"""Writers that count before they write take turns, so two at once cannot both pass a server's cap."""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

# PostgreSQL: a lock held until the transaction ends, keyed on the purpose and the server. Two keys that hash
# alike only make their writers take turns, which is harmless.
_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:purpose, :guild_id))")
# SQLite has one writer at a time: a write that changes nothing takes the database's write lock at once.
_WRITE_LOCK = text("UPDATE leases SET name = name WHERE 0 = 1")


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
