"""The history tables refuse UPDATE and DELETE in the database itself (migration 0003)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import MINQIN, import_file

STATEMENTS = {
    "item_revision": ("UPDATE item_revision SET reason = 'rewritten'", "DELETE FROM item_revision"),
    "change": ("UPDATE change SET version = version + 1", "DELETE FROM change"),
    "audit_entry": ("UPDATE audit_entry SET reason = 'rewritten'", "DELETE FROM audit_entry"),
}


@pytest.mark.parametrize("table", list(STATEMENTS))
@pytest.mark.parametrize("verb", [0, 1], ids=["update", "delete"])
async def test_history_cannot_be_rewritten_or_erased(
    session: AsyncSession, table: str, verb: int
) -> None:
    await import_file(session, MINQIN)  # 9 revisions, 9 changes, 1 audit entry
    before = await session.scalar(text(f'SELECT count(*) FROM "{table}"'))
    assert before
    with pytest.raises(DBAPIError, match="append-only"):
        async with session.begin_nested():
            await session.execute(text(STATEMENTS[table][verb]))
    assert await session.scalar(text(f'SELECT count(*) FROM "{table}"')) == before
