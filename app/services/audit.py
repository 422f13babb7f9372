"""The audit trail: who changed what, when and why, written in the transaction of the change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEntry
from app.schemas.audit import AuditEntryRead
from app.services import cursors
from app.services.revisions import Actor, item_fields

AUDIT_CURSOR = "audit"


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
    cursor: str | None = None,
    secret: str,
) -> tuple[list[AuditEntryRead], str | None]:
    """Entries matching every filter given, newest first; `since` inclusive, `until` exclusive.

    Returns the page and the cursor of the next one (None after the last). A cursor resumes
    after the last entry it was made from, by id: entries written since are not in the pages
    that follow (they come first in a new listing), and entries that share a time are never
    split or repeated across pages, as paging by `until` would.

    Raises:
        InvalidCursorError: the cursor is not one this listing made.
    """
    stmt = select(AuditEntry)
    if cursor:
        [before] = cursors.decode_key(cursor, kind=AUDIT_CURSOR, secret=secret, length=1)
        stmt = stmt.where(AuditEntry.id < before)
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
    rows = (await session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(limit + 1))).all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = cursors.encode([rows[-1].id], kind=AUDIT_CURSOR, secret=secret)
    return [_read(row) for row in rows], next_cursor


def _read(row: AuditEntry) -> AuditEntryRead:
    entry = AuditEntryRead.model_validate(row, from_attributes=True)
    change = entry.change
    if entry.target_type == "item" and change is not None and "fields" in change:
        # Stored as the snapshot's column names; shown as Item JSON names, as /revisions does.
        entry.change = {**change, "fields": item_fields(change["fields"])}
    return entry
