"""DriverQuery: the driver runs the statement and the rows equal what SQLAlchemy Core returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import bindparam, event, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.db.driver import DriverQuery
from app.enums import ItemStatus
from app.models import Item
from app.services.queries import item_select
from tests.factories import MINQIN, import_file

EVERY_ITEM = item_select().where(Item.id >= bindparam("from_id")).order_by(Item.id)


async def core_rows(
    session: AsyncSession, stmt: Any, params: dict[str, Any]
) -> list[dict[str, Any]]:
    result = await (await session.connection()).execute(stmt, params)
    return [dict(row) for row in result.mappings()]


async def test_rows_equal_core_rows_value_for_value(session: AsyncSession) -> None:
    await import_file(session, MINQIN)
    await session.flush()
    got = await DriverQuery(EVERY_ITEM).fetch(await session.connection(), {"from_id": 1})
    want = await core_rows(session, EVERY_ITEM, {"from_id": 1})
    assert len(want) > 1
    assert got == want
    first = got[0]
    # The types SQLAlchemy's processors give, not the driver's raw values (SQLite keeps text).
    assert isinstance(first["created_at"], datetime)
    assert first["created_at"].tzinfo is not None
    assert isinstance(first["status"], ItemStatus)
    assert any(isinstance(row["legal_citations"], list) and row["legal_citations"] for row in got)


async def test_values_bound_in_the_statement_itself_are_sent(session: AsyncSession) -> None:
    await import_file(session, MINQIN)
    await session.flush()
    ids = sorted((await session.scalars(select(Item.id))).all())
    stmt = select(Item.id).where(Item.status == ItemStatus.ACTIVE, Item.id <= bindparam("to_id"))
    got = await DriverQuery(stmt).fetch(await session.connection(), {"to_id": ids[4]})
    assert got == await core_rows(session, stmt, {"to_id": ids[4]})
    assert sorted(row["id"] for row in got) == ids[:5]


async def test_a_missing_parameter_is_an_error(session: AsyncSession) -> None:
    with pytest.raises(KeyError, match="from_id"):
        await DriverQuery(EVERY_ITEM).fetch(await session.connection(), {})


async def test_expanding_in_lists_are_refused(session: AsyncSession) -> None:
    stmt = select(Item.id).where(Item.id.in_(bindparam("ids", expanding=True)))
    with pytest.raises(TypeError, match="positional"):
        await DriverQuery(stmt).fetch(await session.connection(), {"ids": [1]})


async def test_statement_listeners_see_the_statement(session: AsyncSession) -> None:
    connection = await session.connection()
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(connection.sync_connection, "before_cursor_execute", record)
    try:
        await DriverQuery(EVERY_ITEM).fetch(connection, {"from_id": 1})
    finally:
        event.remove(connection.sync_connection, "before_cursor_execute", record)
    assert len(seen) == 1
    assert "FROM item" in seen[0]


@pytest.mark.postgres
async def test_on_postgres_the_first_statement_of_a_transaction_begins_it(
    engine: AsyncEngine,
) -> None:
    """A transaction SQLAlchemy has not begun on the driver yet (an export's snapshot) gets its
    BEGIN: the query goes through Core, which sends it, instead of running outside it."""
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="REPEATABLE READ")
        driver: Any = (await conn.get_raw_connection()).driver_connection
        assert not driver.is_in_transaction()
        await DriverQuery(EVERY_ITEM).fetch(conn, {"from_id": 1})
        assert driver.is_in_transaction()
        await conn.rollback()
