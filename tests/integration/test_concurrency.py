"""Concurrent writers and the change feed, on committed data in a database of their own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import migrations
from app.db.engine import create_engine, create_sessionmaker
from app.db.sqlite import write_transaction
from app.errors import VersionMismatchError
from app.models import Agency, ItemRevision
from app.schemas.changes import ChangePage
from app.schemas.items import ItemCreate, ItemUpdate
from app.services import changes, items
from app.services.revisions import Actor
from app.settings import Settings
from tests.dbutil import drop_database, fresh_database

WRITERS = 20
SECRET = "test-secret"


@pytest.fixture
async def maker(tmp_path: Path, worker_id: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    url = await asyncio.to_thread(fresh_database, f"conc{worker_id}", tmp_path)
    await asyncio.to_thread(migrations.upgrade, url)
    engine = create_engine(Settings(database_url=url, db_pool_size=WRITERS + 2))
    yield create_sessionmaker(engine)
    await engine.dispose()
    await asyncio.to_thread(drop_database, url)


async def _seed_item(maker: async_sessionmaker[AsyncSession]) -> int:
    async with maker() as s, s.begin():
        agency = await s.scalar(select(Agency).where(Agency.name == "测试县医疗保障局"))
        if agency is None:
            agency = Agency(name="测试县医疗保障局")
            s.add(agency)
            await s.flush()
        item = await items.create(
            s,
            data=ItemCreate(
                agency_id=agency.id,
                name="测试事项",
                power_type="02",
                exercising_body="测试县医疗保障局",
                legal_basis="《中华人民共和国社会保险法》第八十七条",
                responsibilities="1.立案",
                accountability="1.追责",
            ),
            actor=Actor("test"),
        )
        return item.id


async def _write(
    maker: async_sessionmaker[AsyncSession], item_id: int, n: int, version: int | None
) -> bool:
    with write_transaction():
        try:
            async with maker() as s, s.begin():
                current = (
                    version
                    if version is not None
                    else (await items.get(s, item_id=item_id)).version
                )
                await items.update(
                    s,
                    item_id=item_id,
                    expected_version=current,
                    data=ItemUpdate(remarks=f"writer {n}"),
                    actor=Actor(f"writer-{n}"),
                )
            return True
        except VersionMismatchError:
            return False


class TestConcurrentWriters:
    async def test_one_winner_per_version(self, maker: async_sessionmaker[AsyncSession]) -> None:
        item_id = await _seed_item(maker)
        results = await asyncio.gather(*(_write(maker, item_id, n, 1) for n in range(WRITERS)))
        assert results.count(True) == 1
        async with maker() as s:
            assert (await items.get(s, item_id=item_id)).version == 2
            revs = await s.scalar(select(func.count()).select_from(ItemRevision))
            assert revs == 2

    async def test_retrying_writers_lose_nothing(
        self, maker: async_sessionmaker[AsyncSession]
    ) -> None:
        item_id = await _seed_item(maker)

        async def until_done(n: int) -> None:
            for _attempt in range(WRITERS * 4):
                if await _write(maker, item_id, n, None):
                    return
            raise AssertionError(f"writer {n} never got its turn")

        await asyncio.gather(*(until_done(n) for n in range(WRITERS)))
        async with maker() as s:
            item = await items.get(s, item_id=item_id)
            assert item.version == WRITERS + 1
            revisions = await items.list_revisions(s, item_id=item_id)
        assert [r.version for r in revisions] == list(range(1, WRITERS + 2))
        assert {r.actor for r in revisions[1:]} == {f"writer-{n}" for n in range(WRITERS)}


async def _feed(session: AsyncSession, after: str | None) -> ChangePage:
    page = await changes.page_json(session, after=after, limit=100, secret=SECRET)
    return ChangePage.model_validate_json(page.body)


@pytest.mark.postgres
class TestFeedWithOverlappingTransactions:
    async def test_consumer_never_misses_a_change_committed_out_of_order(
        self, maker: async_sessionmaker[AsyncSession]
    ) -> None:
        first = await _seed_item(maker)
        second = await _seed_item(maker)
        async with maker() as s:
            seen = await _feed(s, None)
        cursor = seen.next_cursor
        delivered = [(c.item_id, c.version) for c in seen.changes]

        early = maker()
        late = maker()
        await early.begin()
        await late.begin()
        # `early` gets the older transaction id, but takes its feed position after `late`.
        await early.execute(text("SELECT pg_current_xact_id()"))
        await items.update(
            late,
            item_id=second,
            expected_version=1,
            data=ItemUpdate(remarks="late"),
            actor=Actor("l"),
        )
        await items.update(
            early,
            item_id=first,
            expected_version=1,
            data=ItemUpdate(remarks="early"),
            actor=Actor("e"),
        )
        await early.commit()

        async with maker() as s:
            page = await _feed(s, cursor)
        delivered += [(c.item_id, c.version) for c in page.changes]
        cursor = page.next_cursor
        await late.commit()
        async with maker() as s:
            page = await _feed(s, cursor)
        delivered += [(c.item_id, c.version) for c in page.changes]
        await early.close()
        await late.close()

        assert sorted(delivered) == sorted([(first, 1), (second, 1), (first, 2), (second, 2)])
        assert len(delivered) == len(set(delivered))

    async def test_open_transaction_holds_back_later_positions(
        self, maker: async_sessionmaker[AsyncSession]
    ) -> None:
        first = await _seed_item(maker)
        second = await _seed_item(maker)
        async with maker() as s:
            cursor = (await _feed(s, None)).next_cursor
        slow = maker()
        await slow.begin()
        await items.update(
            slow,
            item_id=first,
            expected_version=1,
            data=ItemUpdate(remarks="slow"),
            actor=Actor("s"),
        )
        async with maker() as s, s.begin():
            await items.update(
                s,
                item_id=second,
                expected_version=1,
                data=ItemUpdate(remarks="fast"),
                actor=Actor("f"),
            )
        async with maker() as s:
            held = await _feed(s, cursor)
        assert held.changes == []
        await slow.commit()
        await slow.close()
        async with maker() as s:
            page = await _feed(s, cursor)
        assert [(c.item_id, c.version) for c in page.changes] == [(first, 2), (second, 2)]
