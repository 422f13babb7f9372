"""The change feed: every create, update, withdrawal and restore, in an order no consumer misses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Select, String, func, or_, select, tuple_, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.dialect import feed_horizon, feed_order
from app.errors import InvalidCursorError
from app.models import Agency, Change, Item, ItemRevision
from app.services import cursors
from app.services.items import revision_document
from app.services.queries import AGENCY_COLUMNS

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
            # The kind's text: the Enum type would look each one up only for .value to undo it.
            type_coerce(Change.kind, String).label("kind"),
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


@dataclass(frozen=True, slots=True)
class FeedPage:
    """A page of the feed as the JSON of a ChangePage, with its cursor and whether more is ready."""

    body: bytes
    next_cursor: str
    has_more: bool


async def page_json(
    session: AsyncSession, *, after: str | None, limit: int, secret: str
) -> FeedPage:
    """Changes after the cursor, ordered by (transaction, position), as ChangePage JSON.

    On PostgreSQL a position is taken before its transaction commits, so a later position can
    become visible before an earlier one. The feed therefore orders by the writer's transaction id
    and only hands out changes of transactions older than every transaction still running
    (the snapshot's xmin): nothing can later appear before the cursor. SQLite serialises writers,
    so there the position alone is the commit order.

    A consumer catching up reads pages of 1,000 changes, each with its item, and validating them
    model by model cost three times the query (docs/performance.md). The rows come from our own
    revisions, written through the schemas, so the page is built as plain data in ChangePage's
    shape (revision_document) and written by orjson in one call, as ChangePage.model_dump_json
    would write it (UTC times end in Z, as pydantic writes them). The tests in
    tests/integration/test_change_feed_json.py hold every page equal to the schema's own
    validation and serialisation of it.

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
    rows = (await session.execute(stmt)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    agencies: dict[int, dict[str, Any]] = {}
    changes = []
    for (
        position, _txid, kind, item_id, version, changed_at, snap, actor, reason,
        agency_id, agency_name, credit_code, division_code, level,
    ) in rows:  # fmt: skip
        agency = agencies.get(agency_id)
        if agency is None:
            agency = agencies[agency_id] = {
                "id": agency_id,
                "name": agency_name,
                "credit_code": credit_code,
                "division_code": division_code,
                "level": level,
            }
        changes.append(
            {
                "position": position,
                "kind": kind,
                "item_id": item_id,
                "version": version,
                "changed_at": changed_at,
                "actor": actor,
                "reason": reason,
                "item": revision_document(snap, agency, changed_at),
            }
        )
    if rows:
        last = rows[-1]
        next_cursor = cursors.encode([last.txid or 0, last.id], kind=FEED_CURSOR, secret=secret)
    else:
        # Nothing new yet: the same position, so a consumer can keep polling with it.
        next_cursor = after or cursors.encode([0, 0], kind=FEED_CURSOR, secret=secret)
    page = {"changes": changes, "next_cursor": next_cursor, "has_more": more}
    return FeedPage(orjson.dumps(page, option=orjson.OPT_UTC_Z), next_cursor, more)
