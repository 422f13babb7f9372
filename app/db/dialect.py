"""Dialect differences kept in one place: transaction ids for the change feed, busy detection."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, exists, func, literal, select, text, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession


async def current_txid(session: AsyncSession) -> int | None:
    """PostgreSQL's id of the current transaction (for the change feed); None on SQLite.

    SQLite serialises writers, so positions there are always taken in commit order.
    """
    if session.get_bind().dialect.name != "postgresql":
        return None
    value = (await session.execute(text("SELECT pg_current_xact_id()::text::bigint"))).scalar_one()
    return int(value)


async def feed_horizon(session: AsyncSession) -> tuple[int, int | None] | None:
    """(oldest transaction id still running, this transaction's own id if it wrote) on PostgreSQL.

    Changes of transactions below the first are final; the reader's own writes are visible to it.
    None on SQLite, whose serialised writers commit in position order.
    """
    if session.get_bind().dialect.name != "postgresql":
        return None
    row = (
        await session.execute(
            text(
                "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint, "
                "pg_current_xact_id_if_assigned()::text::bigint"
            )
        )
    ).one()
    return int(row[0]), (int(row[1]) if row[1] is not None else None)


def json_array_contains(
    dialect_name: str, column: ColumnElement[Any], value: int, *, key: str | None = None
) -> ColumnElement[bool]:
    """True where the JSON array in `column` (or in its member `key`) holds the integer `value`.

    `key` is a constant member name, never user input.
    """
    if dialect_name == "postgresql":
        # JSONB containment, which a GIN index on the column could serve.
        doc = type_coerce(column, JSONB)
        target = type_coerce(doc[key], JSONB) if key is not None else doc
        return target.contains([value])
    # SQLite has no containment operator: walk the array with the json_each table function.
    each = func.json_each(column, "$" if key is None else f"$.{key}").table_valued("value")
    return exists(select(literal(1)).select_from(each).where(each.c.value == value))
