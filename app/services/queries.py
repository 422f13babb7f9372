"""Read paths built from plain rows (no ORM objects), for lookups, lists and the change feed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.db.driver import DriverQuery
from app.models import Agency, Item, PowerType
from app.schemas.items import ItemRead

# An item's agency as plain columns, for any read path joined to Agency; see agency_document.
AGENCY_COLUMNS = (
    Agency.id.label("agency_id"),
    Agency.name.label("agency_name"),
    Agency.credit_code.label("agency_credit_code"),
    Agency.division_code.label("agency_division_code"),
    Agency.level.label("agency_level"),
)

_ITEM_COLUMNS = (
    Item.id,
    Item.seq,
    Item.name,
    Item.sub_item_name,
    Item.power_type_code,
    Item.power_type_raw,
    Item.local_code,
    Item.sub_local_code,
    Item.exercising_body,
    Item.handling_unit,
    Item.legal_basis,
    Item.legal_citations,
    Item.responsibilities,
    Item.accountability,
    Item.remarks,
    Item.status,
    Item.version,
    Item.source_file,
    Item.source_line,
    Item.source_page,
    Item.created_at,
    Item.updated_at,
    *AGENCY_COLUMNS,
    PowerType.label.label("power_type_label"),
)


def item_select() -> Select[Any]:
    """SELECT of everything an ItemRead needs, joined to its agency and power type."""
    return (
        select(*_ITEM_COLUMNS)
        .join(Agency, Agency.id == Item.agency_id)
        .outerjoin(PowerType, PowerType.code == Item.power_type_code)
    )


def agency_document(row: Mapping[Any, Any]) -> dict[str, Any]:
    """The AgencyRef JSON of a row holding AGENCY_COLUMNS."""
    return {
        "id": row["agency_id"],
        "name": row["agency_name"],
        "credit_code": row["agency_credit_code"],
        "division_code": row["agency_division_code"],
        "level": row["agency_level"],
    }


def item_document(row: Mapping[str, Any]) -> dict[str, Any]:
    """The Item of one row of item_select() as plain data, in ItemRead's fields and order.

    ItemRead validates it as it is, and orjson (with OPT_UTC_Z) writes it as
    ItemRead.model_dump_json would.
    """
    source = None
    if row["source_file"]:
        source = {
            "file": row["source_file"],
            "line": row["source_line"],
            "page": row["source_page"],
        }
    return {
        "id": row["id"],
        "agency": agency_document(row),
        "seq": row["seq"],
        "name": row["name"],
        "sub_item_name": row["sub_item_name"],
        "power_type": {
            "code": row["power_type_code"],
            "label": row["power_type_label"],
            "raw": row["power_type_raw"],
        },
        "local_code": row["local_code"],
        "sub_local_code": row["sub_local_code"],
        "exercising_body": row["exercising_body"],
        "handling_unit": row["handling_unit"],
        "legal_basis": row["legal_basis"],
        "legal_citations": row["legal_citations"] or [],
        "responsibilities": row["responsibilities"],
        "accountability": row["accountability"],
        "remarks": row["remarks"],
        "status": str(row["status"]),
        "version": row["version"],
        "source": source,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def to_read(rows: Iterable[Mapping[str, Any]]) -> list[ItemRead]:
    return [ItemRead.model_validate(item_document(r)) for r in rows]


async def session_connection(session: AsyncSession) -> AsyncConnection:
    """The session's connection, with its pending writes flushed (what autoflush would do)."""
    if session.new or session.dirty or session.deleted:
        await session.flush()
    return await session.connection()


async def read_items(
    connection: AsyncConnection, query: DriverQuery, params: Mapping[str, Any] | None = None
) -> list[ItemRead]:
    """Run a query built on item_select() and return ItemRead models.

    Through the driver (app/db/driver.py), not Session.execute: the rows are plain columns, and
    the ORM's and Core's execution layers would only add their cost to every lookup.
    """
    return to_read(await query.fetch(connection, params))


async def read_documents(
    connection: AsyncConnection, query: DriverQuery, params: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """read_items without the models: each row as Item data (item_document), unvalidated."""
    return [item_document(row) for row in await query.fetch(connection, params)]


async def fetch_items(
    session: AsyncSession, query: DriverQuery, params: Mapping[str, Any] | None = None
) -> list[ItemRead]:
    """read_items on the session's connection, seeing what the session has pending."""
    return await read_items(await session_connection(session), query, params)
