"""Test builders and helpers shared by integration and API tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.db.engine import create_engine, create_sessionmaker
from app.enums import ItemStatus, KeyScope
from app.models import Agency, AuditEntry, Change, ImportBatch, Item, ItemRevision
from app.schemas.imports import ImportReport
from app.services import imports, keys
from app.services.revisions import Actor
from app.settings import Settings

SEED_DIR = Path(__file__).resolve().parents[1] / "seed"
MINQIN = SEED_DIR / "minqin-medical-security.tsv.txt"
DUNHUANG = SEED_DIR / "dunhuang-medical-security.pdf.txt"
SHARED_CODE = "11620621MB176555834621036001000"


async def import_bytes(
    session: AsyncSession,
    data: bytes,
    file_name: str = "list.txt",
    **options: object,
) -> ImportReport:
    request = imports.ImportRequest(file_name=file_name, data=data, **options)  # type: ignore[arg-type]
    return await imports.run(session, request, actor=Actor("test"))


async def import_file(session: AsyncSession, path: Path, **options: object) -> ImportReport:
    data = await anyio.Path(path).read_bytes()
    return await import_bytes(session, data, path.name, **options)


async def seed_committed(url: str, *lists: Path) -> str:
    """`lists` (default: the Minqin list) imported into `url`'s database and committed, as a
    server would find them, with an admin key; the key's token."""
    engine = create_engine(Settings(database_url=url))
    try:
        async with create_sessionmaker(engine)() as s, s.begin():
            for path in lists or (MINQIN,):
                await import_file(s, path)
            _, token = await keys.create(s, name="admin", scope=KeyScope.ADMIN, agency_names=[])
            return token
    finally:
        await engine.dispose()


async def table_counts(session: AsyncSession) -> dict[str, int]:
    """Row counts of the tables an import writes: equal before and after means nothing written."""
    counts: dict[str, int] = {}
    for model in (Agency, Item, ItemRevision, Change, ImportBatch, AuditEntry):
        counts[model.__tablename__] = int(
            (await session.execute(select(func.count()).select_from(model))).scalar_one()
        )
    return counts


async def insert_agency_items(
    conn: AsyncConnection | AsyncSession, items: Sequence[dict[str, Any]], *, now: datetime
) -> None:
    """Agency 1 and `items` of it, written by plain SQL with the ids given: each item a dict of
    id and name, with status (default active) and legal_basis (default none)."""
    await conn.execute(
        text(
            "INSERT INTO agency (id, name, created_at, updated_at)"
            " VALUES (1, '民勤县医疗保障局', :now, :now)"
        ),
        {"now": now},
    )
    await insert_items(conn, items, now=now)


async def insert_items(
    conn: AsyncConnection | AsyncSession, items: Sequence[dict[str, Any]], *, now: datetime
) -> None:
    """`items` of agency 1 (insert_agency_items wrote it), as insert_agency_items writes them."""
    rows = [
        {
            "id": item["id"],
            "name": item["name"],
            "legal_basis": item.get("legal_basis"),
            "status": ItemStatus(item.get("status", ItemStatus.ACTIVE)).value,
            "now": now,
        }
        for item in items
    ]
    await conn.execute(
        text(
            "INSERT INTO item (id, agency_id, name, legal_basis, legal_citations, status, version,"
            " created_at, updated_at)"
            " VALUES (:id, 1, :name, :legal_basis, '[]', :status, 1, :now, :now)"
        ),
        rows,
    )
