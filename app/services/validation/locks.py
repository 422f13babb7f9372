"""Serialise writes that touch the same code family, so two of them cannot add a duplicate."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

_NAMESPACE = "powercat.validation.family:"


def family_lock_key(family: str) -> int:
    """A signed 64-bit advisory-lock key for a code family (stable across processes)."""
    digest = hashlib.sha256((_NAMESPACE + family).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def lock_families(session: AsyncSession, families: Iterable[str]) -> None:
    """Hold, until the transaction ends, a lock on each code family the write touches.

    PostgreSQL: a transaction-level advisory lock per family, taken in key order so that two
    writers never wait for each other in a circle. Under READ COMMITTED every later statement
    sees what the previous holder committed, so its check sees the other write. SQLite needs
    nothing: a writer holds the database lock from BEGIN IMMEDIATE until it commits.
    """
    # The one PostgreSQL-only statement of the validation package (a write-time lock, not a
    # query); it stays next to its only caller rather than in app.db.dialect.
    if session.get_bind().dialect.name != "postgresql":
        return
    for key in sorted({family_lock_key(f) for f in families}):
        await session.execute(select(func.pg_advisory_xact_lock(key)))
