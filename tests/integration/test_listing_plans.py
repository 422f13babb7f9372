"""A listing filtered by status reads that status's items in id order from an index.

Withdrawn items are few, and were found by walking the whole catalogue in id order (migration
0009). The plan is asked for the statement the service sends, on a table where the planner
knows the status is rare.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.enums import ItemStatus
from app.schemas.items import ItemFilter
from app.services import items
from tests.factories import insert_agency_items
from tests.plans import plan_of

NOW = datetime(2026, 12, 7, 7, tzinfo=UTC)
ACTIVE_ITEMS = 2000


async def _catalogue_with_few_withdrawn(session: AsyncSession) -> None:
    withdrawn = (700, 1500)
    await insert_agency_items(
        session,
        [
            {
                "id": item_id,
                "name": f"对第{item_id}项事项的处罚",
                "status": ItemStatus.WITHDRAWN if item_id in withdrawn else ItemStatus.ACTIVE,
            }
            for item_id in range(1, ACTIVE_ITEMS + 3)
        ],
        now=NOW,
    )
    await session.execute(text("ANALYZE item"))


async def _listing_statement(session: AsyncSession) -> tuple[str, tuple[Any, ...], list[int]]:
    """The statement a page of withdrawn items sends, with its parameters, and the page's ids."""
    conn = await session.connection()
    sent: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    event.listen(conn.sync_connection, "before_cursor_execute", record)
    try:
        page = await items.list_items(
            session, filters=ItemFilter(status="withdrawn"), limit=100, cursor=None, secret="s"
        )
    finally:
        event.remove(conn.sync_connection, "before_cursor_execute", record)
    [(statement, parameters)] = [(s, p) for s, p in sent if re.search(r"\bFROM item\b", s)]
    return statement, tuple(parameters), [item.id for item in page.items]


async def test_a_page_of_withdrawn_items_reads_the_status_index(session: AsyncSession) -> None:
    await _catalogue_with_few_withdrawn(session)
    statement, parameters, ids = await _listing_statement(session)
    assert ids == [700, 1500]
    plan = await plan_of(await session.connection(), statement, parameters)
    assert "ix_item_status_id" in plan, plan
