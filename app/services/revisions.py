"""Revisions and the change log: written explicitly, in the transaction of every change."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.dialect import current_txid
from app.enums import ChangeKind
from app.models import Change, Item, ItemRevision
from app.models.types import utcnow
from app.services import power_types
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


def revision_document(snap: dict[str, Any], agency: Any, changed_at: datetime) -> dict[str, Any]:
    """The Item of a revision snapshot as plain data, in ItemRead's fields and order.

    ItemRead validates it as it is (items.revision_item), and orjson (with OPT_UTC_Z) writes it
    byte for byte as ItemRead.model_dump_json would: the change feed relies on that to serialise
    a page of 1,000 items without validating each (tests/integration/test_change_feed_json.py).
    """
    code = snap.get("power_type_code")
    source_file = snap.get("source_file")
    created = snap.get("created_at")
    return {
        "id": snap["id"],
        "agency": agency,
        "seq": snap.get("seq"),
        "name": snap.get("name"),
        "sub_item_name": snap.get("sub_item_name"),
        "power_type": {
            "code": code,
            "label": power_types.standard_labels().get(code) if code else None,
            "raw": snap.get("power_type_raw"),
        },
        "local_code": snap.get("local_code"),
        "sub_local_code": snap.get("sub_local_code"),
        "exercising_body": snap.get("exercising_body"),
        "handling_unit": snap.get("handling_unit"),
        "legal_basis": snap.get("legal_basis"),
        "legal_citations": snap.get("legal_citations") or [],
        "responsibilities": snap.get("responsibilities"),
        "accountability": snap.get("accountability"),
        "remarks": snap.get("remarks"),
        "status": snap.get("status"),
        "version": snap["version"],
        "source": (
            {"file": source_file, "line": snap.get("source_line"), "page": snap.get("source_page")}
            if source_file
            else None
        ),
        # Snapshots keep isoformat() text; parsed, it is written the way pydantic writes times.
        "created_at": datetime.fromisoformat(created) if created else changed_at,
        "updated_at": changed_at,
    }


def stored_document(snap: dict[str, Any], changed_at: datetime) -> str:
    """The JSON a revision keeps for the change feed: its Item, the agency left null.

    The feed sends a revision's Item with every change; decoding the snapshot, building the Item
    and writing it again cost twice the database's read of the rows (docs/performance.md), so
    the revision keeps the Item as the feed writes it, and the feed only puts the agency (read
    now, as its codes may be filled in later) in place of the null (changes.item_json).
    Revisions written before migration 0005 have none and are built from their snapshot.
    """
    return orjson.dumps(revision_document(snap, None, changed_at), option=orjson.OPT_UTC_Z).decode()


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


# The Item JSON field that shows each snapshot field stored under another name.
_ITEM_FIELD = {
    "agency_id": "agency",
    "power_type_code": "power_type",
    "power_type_raw": "power_type",
    "source_file": "source",
    "source_line": "source",
    "source_page": "source",
}


def item_fields(stored: Iterable[str]) -> list[str]:
    """A revision's changed fields (stored as the snapshot's column names) as Item JSON names
    them, each once, in order: `power_type_raw` is a change of `power_type`."""
    return list(dict.fromkeys(_ITEM_FIELD.get(name, name) for name in stored))


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
            "document": stored_document(e.snapshot, at),
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
