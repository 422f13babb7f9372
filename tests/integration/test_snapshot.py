"""one_snapshot: a read of several statements sees one state, on the connection it already has."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.db.engine import create_engine, create_read_sessionmaker, one_snapshot
from app.models import Item
from app.settings import Settings
from tests.factories import insert_agency_items, insert_items

NOW = datetime(2026, 12, 7, tzinfo=UTC)
ITEM_COUNT = select(func.count()).select_from(Item)
ISOLATION = text(
    "SELECT current_setting('transaction_isolation'), current_setting('transaction_read_only')"
)


@pytest.fixture
async def engines(migrated_url: str) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """A reader with a pool of one connection, which a second checkout would wait on, and a
    writer of its own. The catalogue holds items 1 and 2."""
    reader = create_engine(Settings(database_url=migrated_url, db_pool_size=1, db_pool_timeout_s=2))
    writer = create_engine(Settings(database_url=migrated_url))
    async with writer.begin() as conn:
        await insert_agency_items(conn, [{"id": 1, "name": "甲"}, {"id": 2, "name": "乙"}], now=NOW)
    try:
        yield reader, writer
    finally:
        await reader.dispose()
        await writer.dispose()


async def _add_item(writer: AsyncEngine, item_id: int) -> None:
    async with writer.begin() as conn:
        await insert_items(conn, [{"id": item_id, "name": "丙"}], now=NOW)


async def _the_pool_reads_a_new_item(reader: AsyncEngine, writer: AsyncEngine) -> None:
    """The reader's one pooled connection sees an item committed now: were it still inside an
    earlier block's transaction, it would see the old state."""
    await _add_item(writer, 3)
    async with create_read_sessionmaker(reader)() as session:
        assert await session.scalar(ITEM_COUNT) == 3


async def test_the_block_reads_one_state_on_the_connection_already_held(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    reader, writer = engines
    async with create_read_sessionmaker(reader)() as session:
        # As a key lookup does: the session holds the pool's only connection before the block.
        assert await session.scalar(ITEM_COUNT) == 2
        async with one_snapshot(session):
            assert await session.scalar(ITEM_COUNT) == 2
            await _add_item(writer, 3)
            assert await session.scalar(ITEM_COUNT) == 2
            if reader.dialect.name == "postgresql":
                assert tuple((await session.execute(ISOLATION)).one()) == ("repeatable read", "on")
        if reader.dialect.name == "postgresql":
            # Back in autocommit: the next statement sees what was committed meanwhile.
            assert await session.scalar(ITEM_COUNT) == 3
            assert tuple((await session.execute(ISOLATION)).one()) == ("read committed", "off")


async def test_the_block_ends_its_transaction_when_it_fails(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    reader, writer = engines
    async with create_read_sessionmaker(reader)() as session:

        async def read_then_fail() -> None:
            async with one_snapshot(session):
                assert await session.scalar(ITEM_COUNT) == 2
                raise LookupError("the page could not be built")

        with pytest.raises(LookupError):
            await read_then_fail()
    await _the_pool_reads_a_new_item(reader, writer)


async def test_a_cancelled_block_leaves_its_connection_clean(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    # A request cancelled mid-page (a client gone, the request timeout): the pool's only
    # connection must come back out of the page's transaction, or every later read on it
    # would see the old state.
    reader, writer = engines
    inside = asyncio.Event()

    async def page() -> None:
        async with create_read_sessionmaker(reader)() as session, one_snapshot(session):
            assert await session.scalar(ITEM_COUNT) == 2
            inside.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(page())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _the_pool_reads_a_new_item(reader, writer)


async def test_a_session_inside_a_transaction_keeps_its_own(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    reader, writer = engines
    async with reader.connect() as conn, conn.begin():
        # A write session's transaction (READ COMMITTED on PostgreSQL) is not changed: the block
        # reads as its statements would without it.
        session = AsyncSession(bind=conn)
        async with one_snapshot(session):
            assert await session.scalar(ITEM_COUNT) == 2
            await _add_item(writer, 3)
            expected = 3 if reader.dialect.name == "postgresql" else 2
            assert await session.scalar(ITEM_COUNT) == expected
