"""The change feed: every create, update, withdrawal and restore, in an order no consumer misses."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.dialect import feed_horizon, feed_order
from app.errors import InvalidCursorError
from app.models import Agency, Change, Item, ItemRevision
from app.schemas.changes import ChangePage
from app.services import cursors
from app.services.items import revision_document
from app.services.queries import AGENCY_COLUMNS, agency_document

FEED_CURSOR = "changes"


def page_statement(
    dialect_name: str, after: list[int] | None, horizon: tuple[int, int | None] | None, limit: int
) -> Select[Any]:
    """The SELECT of a feed page: `limit` changes after the cursor key `after`, in feed order."""
    key = feed_order(Change.__table__, dialect_name)
    stmt = (
        # Plain columns, not ORM entities: a consumer catching up reads many pages of these.
        select(
            Change.id,
            Change.txid,
            Change.kind,
            Change.item_id,
            Change.version,
            Change.changed_at,
            ItemRevision.snapshot,
            ItemRevision.actor,
            ItemRevision.reason,
            *AGENCY_COLUMNS,
        )
        .join(ItemRevision, ItemRevision.id == Change.revision_id)
        # An item's agency never changes (ItemUpdate has no agency), so the current one is right.
        .join(Item, Item.id == Change.item_id)
        .join(Agency, Agency.id == Item.agency_id)
    )
    if after is not None:
        # (transaction, position); SQLite's key is the position alone, its transaction always 0.
        stmt = stmt.where(tuple_(*key) > tuple_(*after[-len(key) :]))
    if horizon is not None:
        xmin, own = horizon
        order_txid = func.coalesce(Change.txid, 0)
        stmt = stmt.where(or_(order_txid < xmin, Change.txid == own) if own else order_txid < xmin)
    return stmt.order_by(*key).limit(limit)


async def list_changes(
    session: AsyncSession, *, after: str | None, limit: int, secret: str
) -> ChangePage:
    """Changes after the cursor, ordered by (transaction, position).

    On PostgreSQL a position is taken before its transaction commits, so a later position can
    become visible before an earlier one. The feed therefore orders by the writer's transaction id
    and only hands out changes of transactions older than every transaction still running
    (the snapshot's xmin): nothing can later appear before the cursor. SQLite serialises writers,
    so there the position alone is the commit order.

    Raises:
        InvalidCursorError: the cursor is not one this service made.
    """
    after_key: list[int] | None = None
    if after:
        after_key = cursors.decode(after, kind=FEED_CURSOR, secret=secret)
        if len(after_key) != 2 or not all(isinstance(v, int) for v in after_key):
            raise InvalidCursorError("the cursor is not valid")
    stmt = page_statement(
        session.get_bind().dialect.name, after_key, await feed_horizon(session), limit + 1
    )
    result = await session.execute(stmt)
    rows = result.mappings().all()
    more = len(rows) > limit
    rows = rows[:limit]
    # Documents validated as one page: one call into pydantic instead of a thousand.
    changes = [
        {
            "position": row["id"],
            "kind": row["kind"].value,
            "item_id": row["item_id"],
            "version": row["version"],
            "changed_at": row["changed_at"],
            "actor": row["actor"],
            "reason": row["reason"],
            "item": revision_document(row["snapshot"], agency_document(row), row["changed_at"]),
        }
        for row in rows
    ]
    if rows:
        last = rows[-1]
        next_cursor = cursors.encode(
            [last["txid"] or 0, last["id"]], kind=FEED_CURSOR, secret=secret
        )
    else:
        # Nothing new yet: the same position, so a consumer can keep polling with it.
        next_cursor = after or cursors.encode([0, 0], kind=FEED_CURSOR, secret=secret)
    return ChangePage.model_validate(
        {"changes": changes, "next_cursor": next_cursor, "has_more": more}
    )
