"""Item use cases: read, find by code, list, create, update, withdraw, restore, revisions."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from app.db.driver import DriverQuery
from app.db.engine import one_snapshot
from app.enums import ChangeKind, ItemStatus
from app.errors import (
    AmbiguousCodeError,
    ForbiddenError,
    InvalidInputError,
    ItemNotFoundError,
    ItemRevisionNotFoundError,
    ValidationFailedError,
    VersionMismatchError,
)
from app.models import Agency, Item, ItemRevision
from app.models.types import utcnow
from app.schemas.common import Page
from app.schemas.items import (
    AgencyRef,
    FieldChange,
    ItemCreate,
    ItemDiff,
    ItemFilter,
    ItemRead,
    ItemRevisionRead,
    ItemUpdate,
)
from app.services import audit, cursors, power_types, queries, reference, revisions, search
from app.services.citations import extract_citations
from app.services.revisions import Actor
from app.services.text import clean_text, normalize_code, normalize_label
from app.services.validation import locks as validation_locks
from app.services.validation import runner as validation
from app.services.validation import sql as validation_sql
from app.services.validation.rules import IssueData

REQUIRED_FIELDS = (
    "name",
    "power_type",
    "exercising_body",
    "legal_basis",
    "responsibilities",
    "accountability",
)
_LABEL_FIELDS = ("name", "sub_item_name", "exercising_body", "handling_unit")
_TEXT_FIELDS = ("legal_basis", "responsibilities", "accountability", "remarks")
_CODE_FIELDS = ("local_code", "sub_local_code")
LIST_CURSOR = "items"


# --- reads ---------------------------------------------------------------------------------------


# Built once: the hottest read paths should not rebuild (and re-key) their statements per request.
_BY_CODE_SELECT = (
    queries.item_select().where(Item.local_code == bindparam("code")).order_by(Item.id)
)
_BY_ID = DriverQuery(queries.item_select().where(Item.id == bindparam("id")))
_BY_CODE = DriverQuery(_BY_CODE_SELECT)
_BY_CODE_AND_SUB = DriverQuery(_BY_CODE_SELECT.where(Item.sub_local_code == bindparam("sub")))


async def find(session: AsyncSession, *, item_id: int) -> ItemRead | None:
    rows = await queries.fetch_items(session, _BY_ID, {"id": item_id})
    return rows[0] if rows else None


async def get(session: AsyncSession, *, item_id: int) -> ItemRead:
    """The item's current state.

    Raises:
        ItemNotFoundError: no item has that id.
    """
    item = await find(session, item_id=item_id)
    if item is None:
        raise ItemNotFoundError(f"item {item_id} does not exist")
    return item


async def get_document_by_code(
    session: AsyncSession, *, local_code: str, sub_code: str | None = None
) -> dict[str, Any]:
    """The one item with this local code (and sub-item code), as Item data; active items win over
    withdrawn ones. On the session's connection, seeing what it has pending.

    Raises:
        ItemNotFoundError: no item carries the code.
        AmbiguousCodeError: several items carry it; `details["candidates"]` lists them.
    """
    connection = await queries.session_connection(session)
    return await get_document_by_code_on(connection, local_code=local_code, sub_code=sub_code)


async def get_document_by_code_on(
    connection: AsyncConnection, *, local_code: str, sub_code: str | None = None
) -> dict[str, Any]:
    """get_document_by_code on a connection of its own (the lookup's fast route).

    The Item is plain data (queries.item_document), not an ItemRead.

    The lookup routes answer with it as it is: a lookup is what integrators hammer, and validating
    the document that the database's own columns make, only to write it out again, cost as much
    as the query (docs/performance.md). tests/api/test_lookup_fast_path.py holds its JSON equal to
    ItemRead's.

    Raises:
        ItemNotFoundError: no item carries the code.
        AmbiguousCodeError: several items carry it; `details["candidates"]` lists them.
    """
    stmt, params = _by_code(local_code, sub_code)
    return one_by_code(await queries.read_documents(connection, stmt, params))


async def get_document_by_code_on_driver(
    driver: Any, dialect: Dialect, *, local_code: str, sub_code: str | None = None
) -> dict[str, Any]:
    """get_document_by_code_on, on a bare connection of the driver pool (the fast route's, on
    PostgreSQL).

    Raises:
        ItemNotFoundError: no item carries the code.
        AmbiguousCodeError: several items carry it; `details["candidates"]` lists them.
    """
    stmt, params = _by_code(local_code, sub_code)
    rows = await stmt.fetch_on_driver(driver, dialect, params)
    return one_by_code([queries.item_document(row) for row in rows])


def _by_code(local_code: str, sub_code: str | None) -> tuple[DriverQuery, dict[str, str]]:
    """The lookup's statement and its parameters, the codes normalized as they are stored."""
    params = {"code": normalize_code(local_code) or ""}
    if sub_code is None:
        return _BY_CODE, params
    params["sub"] = normalize_code(sub_code) or ""
    return _BY_CODE_AND_SUB, params


def one_by_code(found: list[dict[str, Any]], where: str = "") -> dict[str, Any]:
    """The one item (as Item data) a code lookup found; active items win over withdrawn ones.

    Raises:
        ItemNotFoundError: none. AmbiguousCodeError: several, listed in `candidates`.
    """
    active = [i for i in found if i["status"] == ItemStatus.ACTIVE] or found
    suffix = f" {where}" if where else ""
    if not active:
        raise ItemNotFoundError(f"no item carries this code{suffix}")
    if len(active) > 1:
        raise AmbiguousCodeError(
            f"{len(active)} items carry this code{suffix}: choose one by id",
            details={
                "candidates": [
                    {
                        "id": i["id"],
                        "seq": i["seq"],
                        "agency": i["agency"]["name"],
                        "name": i["name"],
                    }
                    for i in active
                ]
            },
        )
    return active[0]


def _filtered(stmt: Select[Any], f: ItemFilter) -> Select[Any]:
    if f.agency is not None:
        stmt = stmt.where(Item.agency_id == f.agency)
    if f.power_type is not None:
        stmt = stmt.where(Item.power_type_code == f.power_type)
    if f.status is not None:
        stmt = stmt.where(Item.status == ItemStatus(f.status))
    if f.local_code is not None:
        stmt = stmt.where(Item.local_code == normalize_code(f.local_code))
    if f.updated_since is not None:
        stmt = stmt.where(Item.updated_at >= f.updated_since.astimezone(UTC))
    return stmt


async def list_items(
    session: AsyncSession, *, filters: ItemFilter, limit: int, cursor: str | None, secret: str
) -> Page[ItemRead]:
    """One page of items: in id order, or with `q` name matches first (keyset pagination).

    Raises:
        InvalidCursorError: the cursor is not one this service made for this listing.
        InvalidInputError: the search term is too long or holds NUL.
        AgencyNotFoundError: the agency filter names no agency.
    """
    term = search.normalize_term(filters.q)
    if term is not None:
        page = await _search_items(
            session, filters=filters, term=term, limit=limit, cursor=cursor, secret=secret
        )
    else:
        page = await _listed_items(
            session, filters=filters, limit=limit, cursor=cursor, secret=secret
        )
    if not page.items and filters.agency is not None:
        # Not "this agency has no such items" when there is no such agency: a 404, as exports.
        await reference.require_agency(session, filters.agency)
    return page


async def _listed_items(
    session: AsyncSession, *, filters: ItemFilter, limit: int, cursor: str | None, secret: str
) -> Page[ItemRead]:
    """One page of items in id order."""
    stmt = _filtered(queries.item_select(), filters).order_by(Item.id)
    if cursor:
        after = cursors.decode_key(cursor, kind=LIST_CURSOR, secret=secret, length=1)
        stmt = stmt.where(Item.id > after[0])
    result = await session.execute(stmt.limit(limit + 1))
    rows = list(result.mappings())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = cursors.encode([rows[-1]["id"]], kind=LIST_CURSOR, secret=secret)
    return Page[ItemRead](items=queries.to_read(rows), next_cursor=next_cursor)


async def _search_items(
    session: AsyncSession,
    *,
    filters: ItemFilter,
    term: str,
    limit: int,
    cursor: str | None,
    secret: str,
) -> Page[ItemRead]:
    """One page of a search: name matches first, each rank in id order (see services/search)."""
    # The cursor of a search remembers its term, so it cannot page through another search.
    kind = f"{LIST_CURSOR}:q:{hashlib.sha256(term.encode()).hexdigest()[:16]}"
    after = None
    if cursor:
        rank, after_id = cursors.decode_key(cursor, kind=kind, secret=secret, length=2)
        after = (rank, after_id)
    # Several words: the lead word's search, filtered to the items that hold the others too.
    lead, others = search.words(term)
    also = search.holding(others, session.get_bind().dialect.name)

    def filtered(stmt: Select[Any]) -> Select[Any]:
        return _filtered(stmt, filters).where(*also)

    # The ranks and the items shown read one state: an item renamed meanwhile could otherwise
    # match in both ranks (shown twice), or be shown as it is after it stopped matching.
    async with one_snapshot(session):
        keys = await search.search_page(
            session, filtered=filtered, term=lead, after=after, limit=limit + 1
        )
        ids = [item_id for _, item_id in keys[:limit]]
        result = await session.execute(queries.item_select().where(Item.id.in_(ids)))
        by_id = {row["id"]: row for row in result.mappings()}
    next_cursor = None
    if len(keys) > limit:
        next_cursor = cursors.encode(list(keys[limit - 1]), kind=kind, secret=secret)
    return Page[ItemRead](items=queries.to_read(by_id[i] for i in ids), next_cursor=next_cursor)


# --- writes --------------------------------------------------------------------------------------


def _cleaned(changes: dict[str, Any]) -> dict[str, Any]:
    """Apply the catalogue's text standard to written values (as imports do)."""
    out: dict[str, Any] = {}
    for name, value in changes.items():
        if name in _LABEL_FIELDS:
            out[name] = normalize_label(value)
        elif name in _TEXT_FIELDS:
            out[name] = clean_text(value)
        elif name in _CODE_FIELDS:
            out[name] = normalize_code(value)
        else:
            out[name] = value
    if "power_type" in out:
        code = out.pop("power_type")
        out["power_type_code"] = code
        if "power_type_raw" not in changes or changes["power_type_raw"] is None:
            out["power_type_raw"] = power_types.standard_labels().get(code) if code else None
    if "legal_basis" in out:
        out["legal_citations"] = [
            c.as_dict() for c in extract_citations(out["legal_basis"], cleaned=True)
        ]
    return out


def _require_fields(changes: dict[str, Any]) -> None:
    missing = [name for name in REQUIRED_FIELDS if name in changes and not changes[name]]
    if missing:
        raise InvalidInputError(
            "required fields cannot be empty",
            details={
                "errors": [
                    {"pointer": f"/body/{name}", "message": "this field is required"}
                    for name in missing
                ]
            },
        )


def _authorize(actor: Actor, agency_id: int) -> None:
    if not actor.may_write(agency_id):
        raise ForbiddenError("this key may not change items of this agency")


# The version(s) a write expects to change: an int, or the set an If-Match list names (any one
# current will do); None for any version (If-Match: *).
ExpectedVersion = int | frozenset[int] | None


async def _load_for_write(
    session: AsyncSession, item_id: int, expected_version: ExpectedVersion, actor: Actor
) -> Item:
    # FOR UPDATE makes a concurrent PostgreSQL writer wait and then see the new version; SQLite
    # renders nothing and relies on BEGIN IMMEDIATE plus the version column.
    item = await session.scalar(select(Item).where(Item.id == item_id).with_for_update())
    if item is None:
        raise ItemNotFoundError(f"item {item_id} does not exist")
    _authorize(actor, item.agency_id)
    expected = {expected_version} if isinstance(expected_version, int) else expected_version
    if expected is not None and item.version not in expected:
        # An empty set is If-Match's tags naming no version of this item (weak, or another's).
        named = " or ".join(str(v) for v in sorted(expected))
        given = f"not {named}" if named else "which If-Match does not name"
        raise VersionMismatchError(
            f"the item is at version {item.version}, {given}",
            details={"current_etag": f'"{item.version}"'},
        )
    return item


def _families(*codes: str | None) -> list[str]:
    return sorted({validation_sql.family_of(code) for code in codes if code})


def _own_code(values: Item | dict[str, Any]) -> str | None:
    """The code duplicates are keyed on: the sub-item code if there is one, else the local code."""
    if isinstance(values, Item):
        return values.sub_local_code or values.local_code
    return values.get("sub_local_code") or values.get("local_code")


async def _errors_before(
    session: AsyncSession, item_ids: list[int], families: list[str]
) -> list[IssueData]:
    """Lock the code families the write touches, then read their errors as they are now.

    The lock (PostgreSQL; SQLite writers are serialised anyway) makes a concurrent write to the
    same family wait until this one commits, and then check against it.
    """
    await validation_locks.lock_families(session, families)
    return await validation.evaluate_errors(session, item_ids=item_ids, families=families)


async def _refuse_new_errors(
    session: AsyncSession, item: Item, families: list[str], before: list[IssueData]
) -> None:
    """Refuse the write when it flags an item under an error rule that did not flag it before.

    Compared over every item the write can affect: the written item, the items sharing its old or
    new code, and the parents and children in its old and new code families (first 28
    characters), whether it stays active or is withdrawn. Existing errors may stay (a clerk fixes
    one field at a time) and fixing one is always allowed; an error that only loses items (a
    duplicate group shrinking) adds nothing. See `runner.added`.
    """
    after = await validation.evaluate_errors(session, item_ids=[item.id], families=families)
    new = validation.added(before, after)
    if new:
        raise ValidationFailedError(
            "the change would add catalogue errors: " + "; ".join(i.message for i in new[:3]),
            details={
                "issues": [i.as_json() for i in new],
                "errors": [
                    {"pointer": f"/body/{i.field or ''}", "message": i.message} for i in new
                ],
            },
        )


async def _save(
    session: AsyncSession,
    item: Item,
    kind: ChangeKind,
    before: dict[str, Any],
    actor: Actor,
    check: tuple[list[str], list[IssueData]],
) -> ItemRead:
    """Flush the change, refuse it if it adds errors, record the revision and the audit entry.

    Callers run it inside a savepoint opened before they change the item, so a refusal rolls the
    change back in the session too, whatever the owner of the transaction does next.
    """
    now = utcnow()
    item.updated_at = now
    if kind == ChangeKind.CREATE:
        # The same instant, not the column default's later one at flush: a new item's
        # created_at after its updated_at would let `updated_since=<created_at>` skip it.
        item.created_at = now
    try:
        await session.flush()
    except StaleDataError as exc:  # another writer got there between our read and our write
        raise VersionMismatchError("the item was changed by someone else") from exc
    families, issues_before = check
    await _refuse_new_errors(session, item, families, issues_before)
    fields = (
        list(revisions.SNAPSHOT_FIELDS)
        if kind == ChangeKind.CREATE
        else revisions.changed_fields(before, revisions.snapshot(item))
    )
    await revisions.record(session, [revisions.entry(item, kind, fields)], actor=actor, at=now)
    await audit.record(
        session,
        actor,
        action=f"item.{kind.value}",
        target_type="item",
        target_id=item.id,
        change={"version": item.version, "fields": fields},
    )
    return await get(session, item_id=item.id)


async def create(session: AsyncSession, *, data: ItemCreate, actor: Actor) -> ItemRead:
    """Add an item (version 1) and its first revision.

    Raises:
        ForbiddenError: the actor may not write this agency's items.
        InvalidInputError: the agency does not exist or a required field is empty.
    """
    _authorize(actor, data.agency_id)
    if await session.get(Agency, data.agency_id) is None:
        raise InvalidInputError(
            "the agency does not exist",
            details={"errors": [{"pointer": "/body/agency_id", "message": "unknown agency"}]},
        )
    values = data.model_dump(exclude={"reason"})
    _require_fields(values)
    values = _cleaned(values)
    _require_fields({k: values.get(k) for k in REQUIRED_FIELDS if k != "power_type"})
    families = _families(_own_code(values))
    issues_before = await _errors_before(session, [], families)
    async with session.begin_nested():  # a refused write leaves nothing behind (see _save)
        item = Item(status=ItemStatus.ACTIVE, **values)
        session.add(item)
        return await _save(session, item, ChangeKind.CREATE, {}, actor, (families, issues_before))


async def update(
    session: AsyncSession,
    *,
    item_id: int,
    expected_version: ExpectedVersion,
    data: ItemUpdate,
    actor: Actor,
) -> ItemRead:
    """Change the given fields (absent ones stay; null clears an optional one).

    Raises:
        ItemNotFoundError, ForbiddenError, VersionMismatchError, InvalidInputError.
    """
    item = await _load_for_write(session, item_id, expected_version, actor)
    changes = data.model_dump(exclude_unset=True, exclude={"reason"})
    _require_fields(changes)
    changes = _cleaned(changes)
    _require_fields({k: v for k, v in changes.items() if k in REQUIRED_FIELDS})
    before = revisions.snapshot(item)
    if not revisions.changed_fields(before, {**before, **changes}):
        return await get(session, item_id=item_id)  # nothing changes, so no new version
    families = _families(_own_code(item), _own_code({**before, **changes}))
    issues_before = await _errors_before(session, [item.id], families)
    async with session.begin_nested():  # a refused write leaves nothing behind (see _save)
        for name, value in changes.items():
            setattr(item, name, value)
        return await _save(
            session, item, ChangeKind.UPDATE, before, actor, (families, issues_before)
        )


async def set_status(
    session: AsyncSession,
    *,
    item_id: int,
    expected_version: ExpectedVersion,
    status: ItemStatus,
    actor: Actor,
) -> ItemRead:
    """Withdraw or restore an item; nothing is ever erased. Same status again is a no-op.

    Raises:
        ItemNotFoundError, ForbiddenError, VersionMismatchError.
    """
    item = await _load_for_write(session, item_id, expected_version, actor)
    if item.status == status:
        return await get(session, item_id=item_id)
    families = _families(_own_code(item))
    issues_before = await _errors_before(session, [item.id], families)
    before = revisions.snapshot(item)
    kind = ChangeKind.WITHDRAW if status == ItemStatus.WITHDRAWN else ChangeKind.RESTORE
    async with session.begin_nested():  # a refused write leaves nothing behind (see _save)
        item.status = status
        return await _save(session, item, kind, before, actor, (families, issues_before))


# --- history -------------------------------------------------------------------------------------


async def _revision_reads(
    session: AsyncSession, item_id: int, version: int | None = None
) -> list[ItemRevisionRead]:
    current = await get(session, item_id=item_id)
    stmt = select(ItemRevision).where(ItemRevision.item_id == item_id)
    if version is not None:
        stmt = stmt.where(ItemRevision.version == version)
    revs = (await session.scalars(stmt.order_by(ItemRevision.version))).all()
    agencies = {current.agency.id: current.agency}
    out: list[ItemRevisionRead] = []
    for rev in revs:
        snap = rev.snapshot
        if snap["agency_id"] not in agencies:
            agency = await session.get(Agency, snap["agency_id"])
            assert agency is not None
            agencies[agency.id] = AgencyRef.model_validate(agency, from_attributes=True)
        out.append(
            ItemRevisionRead(
                item_id=item_id,
                version=rev.version,
                kind=rev.kind.value,
                changed_at=rev.changed_at,
                actor=rev.actor,
                reason=rev.reason,
                changed_fields=revisions.item_fields(rev.changed_fields),
                item=revision_item(snap, agencies[snap["agency_id"]], rev.changed_at),
            )
        )
    return out


def revision_item(snap: dict[str, Any], agency: Any, changed_at: datetime) -> ItemRead:
    """The Item of a revision snapshot."""
    return ItemRead.model_validate(revisions.revision_document(snap, agency, changed_at))


async def list_revisions(session: AsyncSession, *, item_id: int) -> list[ItemRevisionRead]:
    """Every revision of an item, oldest first.

    Raises:
        ItemNotFoundError: no item has that id.
    """
    return await _revision_reads(session, item_id)


async def get_revision(session: AsyncSession, *, item_id: int, version: int) -> ItemRevisionRead:
    """One revision.

    Raises:
        ItemNotFoundError, ItemRevisionNotFoundError.
    """
    found = await _revision_reads(session, item_id, version)
    if not found:
        raise ItemRevisionNotFoundError(f"item {item_id} has no version {version}")
    return found[0]


_DIFF_SKIP = {"version", "updated_at", "created_at"}


async def diff(
    session: AsyncSession, *, item_id: int, from_version: int, to_version: int
) -> ItemDiff:
    """Field-level differences between two versions of an item.

    Raises:
        ItemNotFoundError, ItemRevisionNotFoundError.
    """
    a = (await get_revision(session, item_id=item_id, version=from_version)).item
    b = (await get_revision(session, item_id=item_id, version=to_version)).item
    da, db = a.model_dump(mode="json"), b.model_dump(mode="json")
    changes = [
        FieldChange(field=name, before=da[name], after=db[name])
        for name in da
        if name not in _DIFF_SKIP and da[name] != db[name]
    ]
    return ItemDiff(
        item_id=item_id, from_version=from_version, to_version=to_version, changes=changes
    )
