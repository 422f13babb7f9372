"""Revisions and the change log: written explicitly, in the transaction of every change."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


def snapshot_of(values: Mapping[str, Any]) -> dict[str, Any]:
    """The full state of an item, from its column values, as a JSON document."""
    data = {name: values.get(name) for name in SNAPSHOT_FIELDS}
    data["status"] = str(values["status"])
    data["id"] = values["id"]
    data["version"] = values["version"]
    created = values.get("created_at")
    data["created_at"] = created.isoformat() if created else None
    return data


def snapshot(item: Item) -> dict[str, Any]:
    """The full state of an item as a JSON document (what a revision keeps)."""
    names = (*SNAPSHOT_FIELDS, "id", "version", "created_at")
    return snapshot_of({name: getattr(item, name) for name in names})


@dataclass(frozen=True, slots=True)
class Entry:
    """One revision to append: the item's state after a change of `kind`."""

    item_id: int
    version: int
    kind: ChangeKind
    snapshot: dict[str, Any]
    fields: list[str]


def entry(item: Item, kind: ChangeKind, fields: list[str]) -> Entry:
    return Entry(item.id, item.version, kind, snapshot(item), fields)


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


async def _insert_revisions(session: AsyncSession, rows: list[dict[str, Any]]) -> list[int]:
    """Insert revision rows in bulk; their ids in the order of `rows`."""
    item_ids = [row["item_id"] for row in rows]
    if len(set(item_ids)) < len(item_ids):
        # Two revisions of one item: only the parameter order tells them apart.
        result = await session.scalars(
            insert(ItemRevision).returning(ItemRevision.id, sort_by_parameter_order=True), rows
        )
        return list(result.all())
    # RETURNING the item id maps each new id back to its row, so the INSERT needs no order:
    # SQLite cannot keep the order of a batched INSERT ... RETURNING and would send one
    # statement per row for sort_by_parameter_order; this way every database gets one batch.
    returned = await session.execute(
        insert(ItemRevision).returning(ItemRevision.id, ItemRevision.item_id), rows
    )
    by_item = {item_id: revision_id for revision_id, item_id in returned}
    return [by_item[item_id] for item_id in item_ids]


async def record(
    session: AsyncSession,
    entries: Sequence[Entry],
    *,
    actor: Actor,
    import_batch_id: int | None = None,
    at: datetime | None = None,
) -> None:
    """Append one revision and one change-log entry per entry, in bulk."""
    if not entries:
        return
    at = at or utcnow()
    revision_rows = [
        {
            "item_id": e.item_id,
            "version": e.version,
            "kind": e.kind,
            "snapshot": e.snapshot,
            "changed_fields": e.fields,
            "changed_at": at,
            "actor": actor.name,
            "reason": actor.reason,
            "request_id": actor.request_id,
            "import_batch_id": import_batch_id,
        }
        for e in entries
    ]
    revision_ids = await _insert_revisions(session, revision_rows)
    txid = await current_txid(session)
    await session.execute(
        insert(Change),
        [
            {
                "item_id": e.item_id,
                "revision_id": revision_id,
                "version": e.version,
                "kind": e.kind,
                "changed_at": at,
                "txid": txid,
            }
            for e, revision_id in zip(entries, revision_ids, strict=True)
        ],
    )
