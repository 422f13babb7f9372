"""The catalogue's state as monitoring reads it (GET /metrics): the feed's head, the last import,
the last validation. Each is a probe of a primary key or a read of a table with a row per import
or per run, never of the items: a scrape every few seconds costs nothing that grows with the
catalogue. Item totals are left out for that reason; counting a million wide rows on every scrape
is the cost a scrape must not have.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.enums import ImportStatus
from app.models import Change, ImportBatch, ValidationRun


@dataclass(frozen=True)
class CatalogueState:
    change_head: int | None
    """The position of the newest change in the feed; None while the feed is empty."""
    last_import_at: datetime | None
    """When the newest import that wrote something finished."""
    validated_at: datetime | None
    """When the newest whole-catalogue validation run finished."""
    issues: dict[str, int] = field(default_factory=dict)
    """That run's issues by severity."""


async def catalogue_state(session: AsyncSession) -> CatalogueState:
    head = await session.scalar(select(func.max(Change.id)))
    imported = await session.scalar(
        select(func.max(ImportBatch.finished_at)).where(
            ImportBatch.status == ImportStatus.SUCCEEDED, ImportBatch.is_dry_run.is_(False)
        )
    )
    run = (
        await session.execute(
            select(ValidationRun.finished_at, ValidationRun.counts)
            .where(ValidationRun.agency_id.is_(None), ValidationRun.finished_at.is_not(None))
            .order_by(ValidationRun.id.desc())
            .limit(1)
        )
    ).first()
    return CatalogueState(
        change_head=head,
        last_import_at=imported,
        validated_at=run.finished_at if run else None,
        issues={str(k): int(v) for k, v in run.counts.items()} if run else {},
    )
