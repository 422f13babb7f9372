"""Revisions and the change log: written explicitly, in the transaction of every change."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.dialect import current_txid
from app.enums import ChangeKind
from app.models import Change, Item, ItemRevision
from app.models.types import utcnow
from app.services.importers.prepare import CONTENT_FIELDS

SNAPSHOT_FIELDS: tuple[str, ...] = (
    "agency_id",
    *CONTENT_FIELDS,
    "status",
    "source_file",
    "source_line",
    "source_page",
)


def snapshot(item: Item) -> dict[str, Any]:
    """The full state of an item as a JSON document (what a revision keeps)."""
    data = {name: getattr(item, name) for name in SNAPSHOT_FIELDS}
    data["status"] = str(item.status)
    data["id"] = item.id
    data["version"] = item.version
    data["created_at"] = item.created_at.isoformat() if item.created_at else None
    return data


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [name for name in SNAPSHOT_FIELDS if before.get(name) != after.get(name)]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change, with what rights, and why: recorded with every revision and audit entry.

    `agency_ids` None means every agency (admin keys and the command line, which runs with the
    database owner's rights); otherwise the agencies a write key may change.
    """

    name: str
    reason: str | None = None
    request_id: str | None = None
    key_id: int | None = None
    scope: str = "admin"
    agency_ids: frozenset[int] | None = None

    @property
    def is_admin(self) -> bool:
        return self.scope == "admin"

    def may_write(self, agency_id: int | None) -> bool:
        if self.scope not in {"write", "admin"}:
            return False
        return self.agency_ids is None or (agency_id is not None and agency_id in self.agency_ids)


async def record(
    session: AsyncSession,
    items: Sequence[tuple[Item, ChangeKind, list[str]]],
    *,
    actor: Actor,
    import_batch_id: int | None = None,
    at: datetime | None = None,
) -> None:
    """Append one revision and one change-log entry per (item, kind, changed fields), in bulk."""
    if not items:
        return
    at = at or utcnow()
    revision_rows = [
        {
            "item_id": item.id,
            "version": item.version,
            "kind": kind,
            "snapshot": snapshot(item),
            "changed_fields": fields,
            "changed_at": at,
            "actor": actor.name,
            "reason": actor.reason,
            "request_id": actor.request_id,
            "import_batch_id": import_batch_id,
        }
        for item, kind, fields in items
    ]
    revision_ids = (
        await session.scalars(
            insert(ItemRevision).returning(ItemRevision.id, sort_by_parameter_order=True),
            revision_rows,
        )
    ).all()
    txid = await current_txid(session)
    await session.execute(
        insert(Change),
        [
            {
                "item_id": item.id,
                "revision_id": revision_id,
                "version": item.version,
                "kind": kind,
                "changed_at": at,
                "txid": txid,
            }
            for (item, kind, _), revision_id in zip(items, revision_ids, strict=True)
        ],
    )
