"""The change feed: every create, update, withdrawal and restore, in an order no consumer misses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Integer,
    Select,
    String,
    bindparam,
    case,
    func,
    or_,
    select,
    tuple_,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.dialect import feed_horizon, feed_order, utf8_bytes
from app.db.driver import DriverQuery
from app.models import Agency, Change, Item, ItemRevision
from app.models.types import JSONDoc
from app.schemas.items import ItemRead
from app.services import cursors, revisions
from app.services.queries import AGENCY_COLUMNS

FEED_CURSOR = "changes"


# Which transactions a page may show (see page_json): every one (SQLite), those older than the
# oldest still running, or those and the reader's own.
Horizon = Literal["all", "settled", "settled_and_own"]


def page_statement(dialect_name: str, *, after: bool, horizon: Horizon) -> Select[Any]:
    """The SELECT of a feed page, in feed order, with bound values: `limit`; with `after`, the
    cursor's key `after_txid`, `after_id` (SQLite: the id alone); `xmin` unless horizon is
    "all"; `own` for "settled_and_own"."""
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
            _changed_at(dialect_name),
            utf8_bytes(ItemRevision.document, dialect_name).label("document"),
            # The snapshot only where there is no document (revisions from before 0005).
            type_coerce(
                case((ItemRevision.document.is_(None), ItemRevision.snapshot)), JSONDoc
            ).label("snapshot"),
            ItemRevision.actor,
            ItemRevision.reason,
            *AGENCY_COLUMNS,
        )
        .join(ItemRevision, ItemRevision.id == Change.revision_id)
        # An item's agency never changes (ItemUpdate has no agency), so the current one is right.
        .join(Item, Item.id == Change.item_id)
        .join(Agency, Agency.id == Item.agency_id)
    )
    if after:
        # (transaction, position); SQLite's key is the position alone, its transaction always 0.
        marks = (bindparam("after_txid", type_=BigInteger), bindparam("after_id", type_=BigInteger))
        stmt = stmt.where(tuple_(*key) > tuple_(*marks[-len(key) :]))
    if horizon != "all":
        settled = func.coalesce(Change.txid, 0) < bindparam("xmin", type_=BigInteger)
        if horizon == "settled_and_own":
            settled = or_(settled, Change.txid == bindparam("own", type_=BigInteger))
        stmt = stmt.where(settled)
    return stmt.order_by(*key).limit(bindparam("limit", type_=Integer))


def _changed_at(dialect_name: str) -> ColumnElement[Any]:
    # asyncpg returns timestamptz as aware UTC datetimes already; UTCDateTime would copy each of a
    # page's thousand only to make it so (and make the driver convert every row for it).
    if dialect_name == "postgresql":
        return type_coerce(Change.changed_at, DateTime(timezone=True)).label("changed_at")
    return Change.__table__.c.changed_at


_PAGE_QUERIES: dict[tuple[str, bool, Horizon], DriverQuery] = {}


def _page_query(dialect_name: str, after: bool, horizon: Horizon) -> DriverQuery:
    """page_statement built once for each of its forms, run through the driver."""
    found = _PAGE_QUERIES.get((dialect_name, after, horizon))
    if found is None:
        stmt = page_statement(dialect_name, after=after, horizon=horizon)
        found = _PAGE_QUERIES[(dialect_name, after, horizon)] = DriverQuery(stmt)
    return found


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
    revisions, written through the schemas, so the page is written as ChangePage.model_dump_json
    would write it without building the models: each item is the JSON its revision keeps
    (item_json), each change's own fields are written by orjson (UTC times end in Z, as pydantic
    writes them). The tests in tests/integration/test_change_feed_json.py hold every page equal
    to the schema's own validation and serialisation of it.

    Raises:
        InvalidCursorError: the cursor is not one this service made.
    """
    after_key: list[int] | None = None
    if after:
        after_key = cursors.decode_key(after, kind=FEED_CURSOR, secret=secret, length=2)
    params: dict[str, Any] = {"limit": limit + 1}
    if after_key is not None:
        params["after_txid"], params["after_id"] = after_key
    horizon: Horizon = "all"
    window = await feed_horizon(session)
    if window is not None:
        params["xmin"], own = window
        horizon = "settled"
        if own is not None:
            params["own"], horizon = own, "settled_and_own"
    connection = await session.connection()
    query = _page_query(connection.dialect.name, after_key is not None, horizon)
    rows = await query.rows(connection, params)
    more = len(rows) > limit
    rows = rows[:limit]
    agencies: dict[int, bytes] = {}
    # The page's JSON in pieces, joined once at the end: each item is copied once.
    parts: list[bytes | memoryview] = [b'{"changes":[']
    for (
        position, _txid, kind, item_id, version, changed_at, document, snap, actor, reason,
        agency_id, agency_name, credit_code, division_code, level,
    ) in rows:  # fmt: skip
        agency = agencies.get(agency_id)
        if agency is None:
            agency = agencies[agency_id] = orjson.dumps(
                {
                    "id": agency_id,
                    "name": agency_name,
                    "credit_code": credit_code,
                    "division_code": division_code,
                    "level": level,
                }
            )
        head = orjson.dumps(
            {
                "position": position,
                "kind": kind,
                "item_id": item_id,
                "version": version,
                "changed_at": changed_at,
                "actor": actor,
                "reason": reason,
            },
            option=orjson.OPT_UTC_Z,
        )
        parts += (head[:-1], b',"item":', *item_json(item_id, document, snap, agency, changed_at))
        parts.append(b"},")
    if rows:
        parts[-1] = b"}"
        last = rows[-1]
        next_cursor = cursors.encode([last[1] or 0, last[0]], kind=FEED_CURSOR, secret=secret)
    else:
        # Nothing new yet: the same position, so a consumer can keep polling with it.
        next_cursor = after or cursors.encode([0, 0], kind=FEED_CURSOR, secret=secret)
    tail = orjson.dumps({"next_cursor": next_cursor, "has_more": more})
    parts += (b"],", tail[1:])
    return FeedPage(b"".join(parts), next_cursor, more)


def item_json(
    item_id: int,
    document: bytes | None,
    snap: dict[str, Any] | None,
    agency: bytes,
    changed_at: datetime,
) -> tuple[bytes | memoryview, ...]:
    """A revision's Item as ItemRead writes it, with `agency` (its JSON) in place, in pieces.

    From the revision's stored document when it has one (revisions.stored_document), which is
    that JSON with `"agency":null` right after the id; from its snapshot otherwise.
    """
    if document is not None:
        head = b'{"id":%d,"agency":' % item_id
        if document.startswith(head) and document.startswith(b"null,", len(head)):
            return head, agency, b",", memoryview(document)[len(head) + 5 :]
        # Not as this code writes it (another key order, say): let the schema write it.
        parsed = {**orjson.loads(document), "agency": orjson.loads(agency)}
        return (ItemRead.model_validate(parsed).model_dump_json().encode(),)
    assert snap is not None, "a revision has a document or a snapshot"
    item = revisions.revision_document(snap, orjson.loads(agency), changed_at)
    return (orjson.dumps(item, option=orjson.OPT_UTC_Z),)
