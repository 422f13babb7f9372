"""A page of the change feed is an index range scan in feed order, not a sort of the whole log."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.changes import Horizon, page_statement

AFTER = [7_000_000, 123]
XMIN = 7_000_100


async def _plan(session: AsyncSession, after: list[int] | None) -> str:
    conn = await session.connection()
    horizon: Horizon = "all" if conn.dialect.name == "sqlite" else "settled"
    stmt = page_statement(conn.dialect.name, after=after is not None, horizon=horizon)
    values = {"limit": 1001, "xmin": XMIN}
    if after is not None:
        values["after_txid"], values["after_id"] = after
    compiled = stmt.params(values).compile(
        dialect=conn.dialect, compile_kwargs={"literal_binds": True}
    )
    prefix = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
    rows = await conn.exec_driver_sql(prefix + str(compiled))
    return "\n".join(str(row[-1]) for row in rows)


@pytest.mark.postgres
@pytest.mark.parametrize("after", [None, AFTER])
async def test_postgresql_reads_the_feed_order_index(
    session: AsyncSession, after: list[int] | None
) -> None:
    # An empty test table makes any plan cheap; without sorts the planner must find the order in
    # an index, and only ix_change_feed_order holds (coalesce(txid, 0), id).
    await session.execute(text("SET LOCAL enable_sort = off"))
    plan = await _plan(session, after)
    assert "ix_change_feed_order" in plan, plan
    assert "Sort" not in plan, plan


@pytest.mark.sqlite
@pytest.mark.parametrize("after", [None, AFTER])
async def test_sqlite_pages_by_the_primary_key(
    session: AsyncSession, after: list[int] | None
) -> None:
    plan = await _plan(session, after)
    assert "USE TEMP B-TREE FOR ORDER BY" not in plan, plan
    assert "change" in plan, plan
