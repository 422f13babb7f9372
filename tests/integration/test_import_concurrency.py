"""An import and an API write to the same item: the import waits, and nothing is lost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import migrations
from app.db.engine import create_engine, create_sessionmaker
from app.models import Item, ItemRevision
from app.schemas.imports import ImportReport
from app.schemas.items import ItemUpdate
from app.services import items
from app.services.revisions import Actor
from app.settings import Settings
from tests.dbutil import drop_database, fresh_database
from tests.factories import import_bytes
from tests.import_samples import csv_bytes, export_rows

pytestmark = pytest.mark.postgres  # SQLite serialises writers; PostgreSQL runs them side by side


@pytest.fixture
async def maker(tmp_path: Path, worker_id: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    url = await asyncio.to_thread(fresh_database, f"impconc{worker_id}", tmp_path)
    await asyncio.to_thread(migrations.upgrade, url)
    engine = create_engine(Settings(database_url=url))
    yield create_sessionmaker(engine)
    await engine.dispose()
    await asyncio.to_thread(drop_database, url)


async def _import(maker: async_sessionmaker[AsyncSession], data: bytes, name: str) -> ImportReport:
    async with maker() as session, session.begin():
        return await import_bytes(session, data, name)


async def _waiting_on_a_lock(maker: async_sessionmaker[AsyncSession]) -> bool:
    async with maker() as session:
        waiting = await session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            )
        )
        return bool(waiting)


class TestImportBesideAnEdit:
    async def test_import_waits_for_an_open_edit_and_builds_on_it(
        self, maker: async_sessionmaker[AsyncSession]
    ) -> None:
        await _import(maker, csv_bytes(export_rows(3)), "a.csv")
        async with maker() as s:
            first = await s.scalar(select(Item).order_by(Item.id).limit(1))
            assert first is not None
            item_id = first.id
        editor = maker()
        await editor.begin()
        try:
            await items.update(
                editor,
                item_id=item_id,
                expected_version=1,
                data=ItemUpdate(remarks="编辑中"),
                actor=Actor("editor"),
            )
            # The import reads the items while the edit is uncommitted: it must wait for it.
            importing = asyncio.create_task(
                _import(maker, csv_bytes(export_rows(3, remarks="已复核")), "b.csv")
            )
            for _ in range(600):
                if importing.done() or await _waiting_on_a_lock(maker):
                    break
                await asyncio.sleep(0.05)
            assert not importing.done(), "the import did not wait for the open edit"
            await editor.commit()
        finally:
            await editor.close()
        report = await importing
        assert report.counts.changed == 3
        async with maker() as s:
            item = await s.get(Item, item_id)
            assert item is not None
            assert (item.remarks, item.version) == ("已复核", 3)
            revs = (
                await s.execute(
                    select(ItemRevision.version, ItemRevision.actor)
                    .where(ItemRevision.item_id == item_id)
                    .order_by(ItemRevision.version)
                )
            ).all()
            # The edit's revision is kept and the import's comes after it: no lost update.
            assert [tuple(r) for r in revs] == [(1, "test"), (2, "editor"), (3, "test")]
