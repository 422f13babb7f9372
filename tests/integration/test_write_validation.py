"""The write-time check under concurrent writers, on committed data in a database of its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import migrations
from app.db.engine import create_engine, create_sessionmaker
from app.db.sqlite import write_transaction
from app.errors import ValidationFailedError
from app.models import Agency, Item
from app.schemas.items import ItemCreate, ItemUpdate
from app.services import items
from app.services.revisions import Actor
from app.settings import Settings
from tests.dbutil import drop_database, fresh_database

AGENCY = "民勤县医疗保障局"
# Three valid, free codes of the Minqin bureau (type 10, department 36, mains 011-013).
FIRST, SECOND, WANTED = (f"11620621MB176555834621036{main}000" for main in ("011", "012", "013"))


@pytest.fixture
async def maker(tmp_path: Path, worker_id: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    url = await asyncio.to_thread(fresh_database, f"wval{worker_id}", tmp_path)
    await asyncio.to_thread(migrations.upgrade, url)
    engine = create_engine(Settings(database_url=url, db_pool_size=4))
    yield create_sessionmaker(engine)
    await engine.dispose()
    await asyncio.to_thread(drop_database, url)


async def _seed(maker: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    """Two complete items of one bureau with their own valid codes: nothing to report."""
    ids = []
    with write_transaction():
        async with maker() as s, s.begin():
            agency = Agency(name=AGENCY, division_code="620621")
            s.add(agency)
            await s.flush()
            for n, code in enumerate((FIRST, SECOND)):
                item = await items.create(
                    s,
                    data=ItemCreate(
                        agency_id=agency.id,
                        name=f"测试事项{n + 1}",
                        power_type="10",
                        local_code=code,
                        exercising_body=AGENCY,
                        handling_unit="基金监管股",
                        legal_basis="《医疗保障基金使用监督管理条例》第三十八条",
                        responsibilities="1.受理阶段责任：依法受理。",
                        accountability="因不履行或不正确履行行政职责的，依法追究责任。",
                    ),
                    actor=Actor("test"),
                )
                ids.append(item.id)
    return ids[0], ids[1]


async def _recode(session: AsyncSession, item_id: int) -> None:
    await items.update(
        session,
        item_id=item_id,
        expected_version=1,
        data=ItemUpdate(local_code=WANTED, reason="改编码"),
        actor=Actor(f"writer-{item_id}"),
    )


async def _recode_and_commit(maker: async_sessionmaker[AsyncSession], item_id: int) -> bool:
    """True when the write landed, False when it was refused for adding an error."""
    with write_transaction():
        try:
            async with maker() as s, s.begin():
                await _recode(s, item_id)
        except ValidationFailedError:
            return False
    return True


async def _holders_of(maker: async_sessionmaker[AsyncSession], code: str) -> list[int]:
    async with maker() as s:
        found = await s.scalars(select(Item.id).where(Item.local_code == code).order_by(Item.id))
        return list(found.all())


async def _waiting_for_a_lock(maker: async_sessionmaker[AsyncSession]) -> bool:
    async with maker() as s:
        waiting = await s.scalar(
            text(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE NOT l.granted AND a.datname = current_database()"
            )
        )
        return bool(waiting)


class TestConcurrentWritesOfOneCode:
    async def test_two_writers_giving_two_items_one_code_cannot_both_land(
        self, maker: async_sessionmaker[AsyncSession]
    ) -> None:
        first, second = await _seed(maker)
        results = await asyncio.gather(
            _recode_and_commit(maker, first), _recode_and_commit(maker, second)
        )
        assert sorted(results) == [False, True]
        holders = await _holders_of(maker, WANTED)
        assert len(holders) == 1
        assert holders[0] == (first if results[0] else second)


@pytest.mark.postgres
class TestSerialisedOnPostgres:
    async def test_second_writer_waits_for_the_first_and_is_refused(
        self, maker: async_sessionmaker[AsyncSession]
    ) -> None:
        """Both PATCHes pass on their own; the second must see the first once it commits."""
        first, second = await _seed(maker)
        early = maker()
        await early.begin()
        await _recode(early, first)  # checked and flushed, not committed

        async def late() -> bool:
            return await _recode_and_commit(maker, second)

        task = asyncio.create_task(late())
        # Let the second writer run as far as it can: to its end, or to a lock it waits for.
        while not task.done():
            if await _waiting_for_a_lock(maker):
                break
            await asyncio.sleep(0.01)
        await early.commit()
        await early.close()
        assert await task is False
        assert await _holders_of(maker, WANTED) == [first]
