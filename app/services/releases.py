"""Releases (发布版本): freeze the catalogue under a name, list, diff, read released items."""

from __future__ import annotations

import typing
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from sqlalchemy import CursorResult, Integer, Select, and_, cast, insert, literal, null, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.enums import Severity
from app.errors import (
    InvalidInputError,
    ItemNotFoundError,
    ReleaseBlockedError,
    ReleaseExistsError,
    ReleaseNotFoundError,
    ReleaseRaceError,
    ReleaseReasonRequiredError,
)
from app.models import Agency, Item, ItemRevision, Release, ReleaseItem
from app.models.types import utcnow
from app.schemas.items import FieldChange, ItemRead
from app.schemas.releases import (
    CURRENT,
    ReleaseCreate,
    ReleaseDiff,
    ReleaseDiffCounts,
    ReleaseItemChange,
    ReleaseItemRef,
    ReleaseRead,
)
from app.services import audit, items, revisions
from app.services.queries import agency_document
from app.services.revisions import Actor
from app.services.text import normalize_code
from app.services.validation import runner

# Revisions loaded per query while diffing: bounded IN lists, bounded memory per step.
_DIFF_BATCH = 500
# Fields that differ between any two versions and say nothing about content.
_DIFF_SKIP = frozenset({"id", "version", "created_at", "updated_at", "status"})


class SeverityCarrier(Protocol):
    """What release creation needs of a validation issue."""

    @property
    def severity(self) -> str: ...


# The catalogue check a release must pass: app.services.validation.evaluate has this shape.
Evaluator = Callable[[AsyncSession], Awaitable[Sequence[SeverityCarrier]]]


async def _validation_issues(session: AsyncSession) -> Sequence[SeverityCarrier]:
    return await runner.evaluate(session)


# --- reads ---------------------------------------------------------------------------------------


def _read(release: Release) -> ReleaseRead:
    return ReleaseRead.model_validate(release, from_attributes=True)


async def _find_row(session: AsyncSession, name: str) -> Release | None:
    return await session.scalar(select(Release).where(Release.name == name))


async def find(session: AsyncSession, *, name: str) -> ReleaseRead | None:
    release = await _find_row(session, name)
    return _read(release) if release is not None else None


async def get(session: AsyncSession, *, name: str) -> ReleaseRead:
    """One release by name.

    Raises:
        ReleaseNotFoundError: no release has that name.
    """
    return _read(await _get_row(session, name))


async def _get_row(session: AsyncSession, name: str) -> Release:
    release = await _find_row(session, name)
    if release is None:
        raise ReleaseNotFoundError(f"release {name!r} does not exist")
    return release


async def get_id(session: AsyncSession, *, name: str) -> int:
    """The id of the release called `name`.

    Raises:
        ReleaseNotFoundError: no release has that name.
    """
    release_id = await session.scalar(select(Release.id).where(Release.name == name))
    if release_id is None:
        raise ReleaseNotFoundError(f"release {name!r} does not exist")
    return release_id


async def list_releases(session: AsyncSession) -> list[ReleaseRead]:
    """Every release, oldest first."""
    rows = (await session.scalars(select(Release).order_by(Release.id))).all()
    return [_read(r) for r in rows]


def released_select(release_id: int) -> Select[Any]:
    """SELECT of what a released item's ItemRead needs, in the release, ordered by nothing yet."""
    return (
        select(
            ReleaseItem.item_id,
            ItemRevision.snapshot,
            ItemRevision.changed_at,
            Agency.id.label("agency_id"),
            Agency.name.label("agency_name"),
            Agency.credit_code.label("agency_credit_code"),
            Agency.division_code.label("agency_division_code"),
            Agency.level.label("agency_level"),
        )
        .select_from(ReleaseItem)
        .join(ItemRevision, ItemRevision.id == ReleaseItem.revision_id)
        # An item's agency never changes (ItemUpdate has no agency), so the current one is right.
        .join(Item, Item.id == ReleaseItem.item_id)
        .join(Agency, Agency.id == Item.agency_id)
        .where(ReleaseItem.release_id == release_id)
    )


def released_document(row: Mapping[Any, Any]) -> dict[str, Any]:
    """One row of released_select() as Item data: the item as that release published it."""
    return revisions.revision_document(row["snapshot"], agency_document(row), row["changed_at"])


def released_item(row: Mapping[Any, Any]) -> ItemRead:
    """The ItemRead of one row of released_select()."""
    return ItemRead.model_validate(released_document(row))


async def get_item_in_release(
    session: AsyncSession, *, release_name: str, item_id: int
) -> ItemRead:
    """The item as the named release published it.

    Raises:
        ReleaseNotFoundError: no release has that name.
        ItemNotFoundError: the item is not in the release (it was created later, or never).
    """
    release_id = await get_id(session, name=release_name)
    stmt = released_select(release_id).where(ReleaseItem.item_id == item_id)
    row = (await session.execute(stmt)).mappings().first()
    if row is None:
        raise ItemNotFoundError(f"item {item_id} is not in release {release_name!r}")
    return released_item(row)


async def get_item_in_release_by_code(
    session: AsyncSession, *, release_name: str, local_code: str, sub_code: str | None = None
) -> ItemRead:
    """The item that carried this code (and sub-item code) when the named release was made.

    The codes are those of the released revisions, not today's: an item recoded since the release
    is found under its old code. Active items win over withdrawn ones, as for a lookup now.

    Raises:
        ReleaseNotFoundError: no release has that name.
        ItemNotFoundError: no item of the release carried the code.
        AmbiguousCodeError: several did; `details["candidates"]` lists them.
    """
    release_id = await get_id(session, name=release_name)
    code_of = ItemRevision.snapshot["local_code"].as_string()
    stmt = released_select(release_id).where(code_of == (normalize_code(local_code) or ""))
    if sub_code is not None:
        sub_of = ItemRevision.snapshot["sub_local_code"].as_string()
        stmt = stmt.where(sub_of == (normalize_code(sub_code) or ""))
    rows = (await session.execute(stmt.order_by(ReleaseItem.item_id))).mappings().all()
    found = [released_document(row) for row in rows]
    return ItemRead.model_validate(items.one_by_code(found, f"in release {release_name!r}"))


# --- create --------------------------------------------------------------------------------------


def _current_revisions() -> Select[int, int, int]:
    """(item_id, revision_id, version) of every item's current state."""
    return select(
        Item.id.label("item_id"), ItemRevision.id.label("revision_id"), Item.version
    ).join(
        ItemRevision, and_(ItemRevision.item_id == Item.id, ItemRevision.version == Item.version)
    )


def _severity_counts(issues: Iterable[SeverityCarrier]) -> dict[str, int]:
    counts = {str(s): 0 for s in Severity}
    for issue in issues:
        counts[str(issue.severity)] = counts.get(str(issue.severity), 0) + 1
    return counts


async def create(
    session: AsyncSession,
    *,
    data: ReleaseCreate,
    actor: Actor,
    evaluate: Evaluator | None = None,
) -> ReleaseRead:
    """Record the current revision of every item under a new name (withdrawn items included).

    Refused while error-severity validation issues exist, unless `force` with a `reason`: the
    reason is stored and the release is marked forced. The actor's reason goes to the audit trail
    when the body gives none.

    Raises:
        InvalidInputError: the name is reserved (`current`).
        ReleaseReasonRequiredError: `force` without a reason.
        ReleaseExistsError: a release already has the name.
        ReleaseBlockedError: error-severity issues exist and `force` is not set.
        ReleaseRaceError: items changed while the release was made; try again.
    """
    if data.name.lower() == CURRENT:
        raise InvalidInputError(
            f"{CURRENT!r} names the catalogue now and cannot name a release",
            details={"errors": [{"pointer": "/body/name", "message": "reserved name"}]},
        )
    reason = data.reason
    if data.force and not (reason and reason.strip()):
        raise ReleaseReasonRequiredError(
            "a forced release needs a reason, which is recorded with it",
            details={"errors": [{"pointer": "/body/reason", "message": "required with force"}]},
        )
    if await _find_row(session, data.name) is not None:
        raise ReleaseExistsError(f"release {data.name!r} already exists; releases never change")

    # A savepoint: a refused release leaves nothing behind, even for a caller that carries on.
    async with session.begin_nested():
        release = await _freeze(session, data, actor)
        counts = _severity_counts(await (evaluate or _validation_issues)(session))
        # Under PostgreSQL's READ COMMITTED each statement sees newer commits, so a write landing
        # between the snapshot and the check would publish items the check never saw. SQLite
        # writers are serialised (BEGIN IMMEDIATE), so there this never trips.
        if await _drifted(session, release.id):
            raise ReleaseRaceError("items changed while the release was being made; try again")
        if counts["error"]:
            if not data.force:
                raise ReleaseBlockedError(
                    f"{counts['error']} error-severity validation issues block the release; fix "
                    "them, or force it with a reason",
                    details={"counts": counts},
                )
            release.is_forced = True
            release.force_reason = (reason or "").strip()[:1000]
        await session.flush()
        await audit.record(
            session,
            replace(actor, reason=reason or actor.reason),
            action="release.create",
            target_type="release",
            target_id=release.name,
            change={
                "item_count": release.item_count,
                "is_forced": release.is_forced,
                "issues": counts,
            },
        )
    return _read(release)


async def _freeze(session: AsyncSession, data: ReleaseCreate, actor: Actor) -> Release:
    """The release row and one release_item per item, at the item's current revision."""
    release = Release(
        name=data.name,
        note=data.note,
        created_at=utcnow(),
        created_by=actor.name[:200],
        item_count=0,
        is_forced=False,
    )
    session.add(release)
    await session.flush()
    # One set-based statement: on PostgreSQL it reads a single snapshot of every item.
    current = _current_revisions().subquery()
    result = await session.execute(
        insert(ReleaseItem).from_select(
            ["release_id", "item_id", "revision_id", "version"],
            select(
                literal(release.id, Integer),
                current.c.item_id,
                current.c.revision_id,
                current.c.version,
            ),
        )
    )
    release.item_count = typing.cast(CursorResult[Any], result).rowcount
    return release


async def _drifted(session: AsyncSession, release_id: int) -> bool:
    """Whether any item differs from (or is missing in) the release's snapshot right now."""
    stmt = (
        select(Item.id)
        .outerjoin(
            ReleaseItem,
            and_(ReleaseItem.release_id == release_id, ReleaseItem.item_id == Item.id),
        )
        .where(or_(ReleaseItem.item_id.is_(None), ReleaseItem.version != Item.version))
        .limit(1)
    )
    return (await session.scalar(stmt)) is not None


# --- diff ----------------------------------------------------------------------------------------


async def _side(session: AsyncSession, name: str) -> Select[int, int]:
    """(item_id, revision_id) of every item of a release, or of the catalogue now."""
    if name == CURRENT:
        current = _current_revisions().subquery()
        return select(current.c.item_id, current.c.revision_id)
    release_id = await get_id(session, name=name)
    return select(ReleaseItem.item_id, ReleaseItem.revision_id).where(
        ReleaseItem.release_id == release_id
    )


async def _candidates(
    session: AsyncSession, base: Select[int, int], target: Select[int, int]
) -> list[tuple[int, int | None, int | None]]:
    """(item_id, base revision, target revision) of items whose revision differs: set-based."""
    a = base.subquery("a")
    b = target.subquery("b")
    only_or_differs = (
        select(a.c.item_id, a.c.revision_id.label("a_rev"), b.c.revision_id.label("b_rev"))
        .select_from(a)
        .outerjoin(b, b.c.item_id == a.c.item_id)
        .where(or_(b.c.revision_id.is_(None), b.c.revision_id != a.c.revision_id))
    )
    only_in_target = (
        select(b.c.item_id, cast(null(), Integer).label("a_rev"), b.c.revision_id.label("b_rev"))
        .select_from(b)
        .outerjoin(a, a.c.item_id == b.c.item_id)
        .where(a.c.item_id.is_(None))
    )
    union = only_or_differs.union_all(only_in_target).subquery("d")
    rows = (await session.execute(select(union).order_by(union.c.item_id))).all()
    return [(int(r[0]), r[1], r[2]) for r in rows]


async def _revision_items(session: AsyncSession, revision_ids: list[int]) -> dict[int, ItemRead]:
    stmt = (
        select(
            ItemRevision.id.label("revision_id"),
            ItemRevision.snapshot,
            ItemRevision.changed_at,
            Agency.id.label("agency_id"),
            Agency.name.label("agency_name"),
            Agency.credit_code.label("agency_credit_code"),
            Agency.division_code.label("agency_division_code"),
            Agency.level.label("agency_level"),
        )
        .join(Item, Item.id == ItemRevision.item_id)
        .join(Agency, Agency.id == Item.agency_id)
        .where(ItemRevision.id.in_(revision_ids))
    )
    return {
        row["revision_id"]: released_item(row) for row in (await session.execute(stmt)).mappings()
    }


def _ref(item: ItemRead) -> ReleaseItemRef:
    return ReleaseItemRef(
        id=item.id,
        agency=item.agency.name,
        seq=item.seq,
        name=item.name,
        local_code=item.local_code,
        version=item.version,
    )


def _field_changes(before: ItemRead, after: ItemRead) -> list[FieldChange]:
    da, db = before.model_dump(mode="json"), after.model_dump(mode="json")
    return [
        FieldChange(field=name, before=da[name], after=db[name])
        for name in da
        if name not in _DIFF_SKIP and da[name] != db[name]
    ]


def _published(item: ItemRead | None) -> bool:
    return item is not None and item.status == "active"


async def diff(session: AsyncSession, *, base: str, target: str) -> ReleaseDiff:
    """What changed from release `base` to release `target`; either may be `current` (now).

    Raises:
        ReleaseNotFoundError: a name is neither a release nor `current`.
    """
    candidates = await _candidates(
        session, await _side(session, base), await _side(session, target)
    )
    added: list[ReleaseItemRef] = []
    changed: list[ReleaseItemChange] = []
    withdrawn: list[ReleaseItemRef] = []
    for start in range(0, len(candidates), _DIFF_BATCH):
        batch = candidates[start : start + _DIFF_BATCH]
        wanted = [rev for _, a, b in batch for rev in (a, b) if rev is not None]
        loaded = await _revision_items(session, wanted)
        for _item_id, a_rev, b_rev in batch:
            before = loaded.get(a_rev) if a_rev is not None else None
            after = loaded.get(b_rev) if b_rev is not None else None
            if _published(before) and _published(after):
                assert before is not None
                assert after is not None
                changes = _field_changes(before, after)
                if changes:
                    changed.append(
                        ReleaseItemChange(
                            id=after.id,
                            agency=after.agency.name,
                            seq=after.seq,
                            name=after.name,
                            local_code=after.local_code,
                            from_version=before.version,
                            to_version=after.version,
                            changes=changes,
                        )
                    )
            elif _published(after):
                assert after is not None
                added.append(_ref(after))
            elif _published(before):
                assert before is not None
                withdrawn.append(_ref(before))
    return ReleaseDiff(
        base=base,
        target=target,
        counts=ReleaseDiffCounts(added=len(added), changed=len(changed), withdrawn=len(withdrawn)),
        added=added,
        changed=changed,
        withdrawn=withdrawn,
    )
