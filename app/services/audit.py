"""The audit trail: who changed what, when and why, written in the transaction of the change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEntry
from app.schemas.audit import AuditEntryRead
from app.services.revisions import Actor, item_fields


async def record(
    session: AsyncSession,
    actor: Actor,
    *,
    action: str,
    target_type: str,
    target_id: str | int | None,
    change: dict[str, Any] | None = None,
) -> None:
    """Add one audit entry; it commits or rolls back with the change it describes."""
    session.add(
        AuditEntry(
            api_key_id=actor.key_id,
            actor=actor.name[:200],
            request_id=actor.request_id,
            action=action,
            target_type=target_type,
            target_id=None if target_id is None else str(target_id),
            reason=actor.reason,
            change=change,
        )
    )
    await session.flush()


async def list_entries(
    session: AsyncSession,
    *,
    action: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    key_id: int | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[AuditEntryRead]:
    """Entries matching every filter given, newest first; `since` inclusive, `until` exclusive."""
    stmt = select(AuditEntry)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if target_type:
        stmt = stmt.where(AuditEntry.target_type == target_type)
    if target_id:
        stmt = stmt.where(AuditEntry.target_id == target_id)
    if key_id is not None:
        stmt = stmt.where(AuditEntry.api_key_id == key_id)
    if actor:
        stmt = stmt.where(AuditEntry.actor == actor)
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEntry.at < until)
    rows = (await session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(limit))).all()
    return [_read(row) for row in rows]


def _read(row: AuditEntry) -> AuditEntryRead:
    entry = AuditEntryRead.model_validate(row, from_attributes=True)
    change = entry.change
    if entry.target_type == "item" and change is not None and "fields" in change:
        # Stored as the snapshot's column names; shown as Item JSON names, as /revisions does.
        entry.change = {**change, "fields": item_fields(change["fields"])}
    return entry
