"""Catalogue-wide rules as set-based SQL, one statement each; the per-item rows, streamed once.

Every statement is portable SQLAlchemy Core: window functions (SQLite ≥ 3.25, PostgreSQL) over
expressions of the code columns, so a full run sorts the catalogue a few times and never asks the
database once per item. PostgreSQL has no DISTINCT inside window aggregates, hence "more than one
distinct value" is written min(x) <> max(x).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    ColumnExpressionArgument,
    Select,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from app.enums import ItemStatus
from app.models import Agency, Item, PowerType
from app.services import codes
from app.services.validation import rules
from app.services.validation.rules import IssueData, IssueItem, ItemFacts

STREAM_BATCH = 1000
_CODE_LENGTHS = (codes.CODE_LENGTH, codes.CODE_LENGTH_WITH_HANDLING)
_MAIN_SUBS = ("000", "00Y")
FAMILY_LENGTH = 28  # a sub-item shares its first 28 characters with its 00Y parent


def family_of(code: str) -> str:
    """The code family a write touches: the first 28 characters (the whole code if shorter).

    Items with the same code are in the same family, so duplicates and sub-item integrity of a
    code can both be checked over its family alone.
    """
    return code[:FAMILY_LENGTH]


def _own_code() -> ColumnElement[Any]:
    """The item's own code: its sub-item code when the row carries one, else its local code."""
    return func.coalesce(Item.sub_local_code, Item.local_code)


def _seg(column: ColumnExpressionArgument[Any], start: int, length: int) -> ColumnElement[Any]:
    """Characters start..start+length-1 (1-based, as in codes.md)."""
    return func.substr(column, start, length)


def _well_sized(column: ColumnExpressionArgument[Any]) -> ColumnElement[bool]:
    # Codes of the wrong length are check 1's; their segments would mean nothing here.
    return func.length(column).in_(_CODE_LENGTHS)


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """1 or 0, the same on both databases (a bare boolean is 0/1 on SQLite, bool on PostgreSQL)."""
    return case((condition, 1), else_=0)


def _mine(agency_id: int | None, *partition: ColumnElement[Any]) -> ColumnElement[int]:
    """1 on every row of a group that holds an item of `agency_id` (or of any agency)."""
    if agency_id is None:
        return literal(1)
    return func.max(_flag(Item.agency_id == agency_id)).over(partition_by=partition)


def _ref_columns() -> tuple[ColumnElement[Any], ...]:
    return (
        Item.id.label("id"),
        Item.seq.label("seq"),
        Item.agency_id.label("agency_id"),
        Agency.name.label("agency"),
        Item.name.label("name"),
    )


def _ref(row: RowMapping) -> IssueItem:
    return IssueItem(row["id"], row["seq"], row["agency_id"], row["agency"], row["name"])


def _active() -> ColumnElement[bool]:
    return Item.status == ItemStatus.ACTIVE


def _in_families(families: Sequence[str] | None) -> ColumnElement[bool]:
    """Rows whose own code is in one of `families` (every row when None).

    The window partitions of duplicates (own code) and sub-items (first 28 characters) never
    cross a family, so filtering by family before the windows changes nothing inside it.
    """
    if families is None:
        return true()
    return _seg(_own_code(), 1, FAMILY_LENGTH).in_(sorted(set(families)))


async def _rows(session: AsyncSession, stmt: Select[Any]) -> Sequence[RowMapping]:
    rows: Sequence[RowMapping] = (await session.execute(stmt)).mappings().all()
    return rows


def _grouped(rows: Iterable[RowMapping], *keys: str) -> dict[tuple[Any, ...], list[RowMapping]]:
    groups: dict[tuple[Any, ...], list[RowMapping]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in keys), []).append(row)
    return groups


# --- Per-item rows ----------------------------------------------------------------------------


def _has_text(column: ColumnExpressionArgument[Any]) -> ColumnElement[int]:
    # Only "is there any text" is needed: long texts are not sent over the wire.
    return _flag(func.length(func.trim(func.coalesce(column, ""))) > 0)


async def item_facts(
    session: AsyncSession, *, agency_id: int | None, item_ids: Sequence[int] | None = None
) -> AsyncIterator[ItemFacts]:
    """Every active item (of one agency, or of `item_ids`) with what the per-item rules need.

    Streamed in batches.
    """
    stmt = (
        select(
            *_ref_columns(),
            Agency.division_code.label("agency_division"),
            Agency.level.label("agency_level"),
            Item.sub_item_name,
            Item.power_type_code,
            Item.power_type_raw,
            PowerType.label.label("power_type_label"),
            Item.local_code,
            Item.sub_local_code,
            Item.exercising_body,
            Item.handling_unit,
            _has_text(Item.legal_basis).label("has_legal_basis"),
            _has_text(Item.responsibilities).label("has_responsibilities"),
            _has_text(Item.accountability).label("has_accountability"),
        )
        .join(Agency, Agency.id == Item.agency_id)
        .outerjoin(PowerType, PowerType.code == Item.power_type_code)
        .where(_active())
        .order_by(Item.id)
        .execution_options(yield_per=STREAM_BATCH)
    )
    if agency_id is not None:
        stmt = stmt.where(Item.agency_id == agency_id)
    if item_ids is not None:
        stmt = stmt.where(Item.id.in_(sorted(set(item_ids))))
    result = await session.stream(stmt)
    async for row in result.mappings():
        yield ItemFacts(
            id=row["id"],
            seq=row["seq"],
            agency_id=row["agency_id"],
            agency=row["agency"],
            agency_division=row["agency_division"],
            agency_level=row["agency_level"],
            name=row["name"],
            sub_item_name=row["sub_item_name"],
            power_type_code=row["power_type_code"],
            power_type_raw=row["power_type_raw"],
            power_type_label=row["power_type_label"],
            local_code=row["local_code"],
            sub_local_code=row["sub_local_code"],
            exercising_body=row["exercising_body"],
            handling_unit=row["handling_unit"],
            has_legal_basis=bool(row["has_legal_basis"]),
            has_responsibilities=bool(row["has_responsibilities"]),
            has_accountability=bool(row["has_accountability"]),
        )


# --- Check 3: duplicate codes -----------------------------------------------------------------


async def duplicates(
    session: AsyncSession, *, agency_id: int | None, families: Sequence[str] | None = None
) -> list[IssueData]:
    """The same own code on more than one active item: one issue per code, listing every item.

    With `families`, only codes of those families (see `family_of`).
    """
    own = _own_code()
    inner = (
        select(
            *_ref_columns(),
            own.label("code"),
            _flag(Item.sub_local_code.is_not(None)).label("is_sub"),
            func.count().over(partition_by=own).label("n"),
            _mine(agency_id, own).label("mine"),
        )
        .join(Agency, Agency.id == Item.agency_id)
        .where(_active(), own.is_not(None), _in_families(families))
        .subquery()
    )
    stmt = select(inner).where(inner.c.n > 1, inner.c.mine == 1)
    out: list[IssueData] = []
    for (code,), rows in _grouped(await _rows(session, stmt), "code").items():
        items = [_ref(r) for r in rows]
        out.append(
            rules.issue(
                rules.DUPLICATE,
                f"同一地方权力编码“{code}”用于{len(items)}个现行事项"
                f"（{rules.describe_items(rules.ordered(items))}）：一个编码只能标识一个事项",
                field="sub_local_code" if any(r["is_sub"] for r in rows) else "local_code",
                items=items,
                value=code,
            )
        )
    return out


# --- Check 8: sub-item integrity --------------------------------------------------------------


async def sub_items(
    session: AsyncSession, *, agency_id: int | None, families: Sequence[str] | None = None
) -> list[IssueData]:
    """Parents (00Y) without children, children without a parent, and families split apart.

    With `families`, only those families (see `family_of`).

    A family is every active item whose own code shares the first 28 characters and whose
    sub-item segment is not 000. A row that carries a sub-item code next to a consistent 00Y
    main code is its own parent's declaration (lists that print sub-items on the main row).
    """
    own = _own_code()
    prefix = _seg(own, 1, 28)
    own_sub = _seg(own, 29, 3)
    is_parent = _flag(and_(Item.sub_local_code.is_(None), own_sub == "00Y"))
    is_child_row = _flag(and_(Item.sub_local_code.is_(None), own_sub.not_in(_MAIN_SUBS)))
    is_child = _flag(own_sub.not_in(_MAIN_SUBS))
    declares_parent = _flag(
        or_(
            and_(Item.sub_local_code.is_(None), own_sub == "00Y"),
            and_(
                Item.sub_local_code.is_not(None),
                _seg(Item.local_code, 29, 3) == "00Y",
                _seg(Item.local_code, 1, 28) == prefix,
            ),
        )
    )
    power_type = func.coalesce(Item.power_type_code, "")
    inner = (
        select(
            *_ref_columns(),
            own.label("code"),
            prefix.label("prefix"),
            Item.power_type_code.label("power_type"),
            is_parent.label("is_parent"),
            is_child_row.label("is_child_row"),
            func.max(is_child).over(partition_by=prefix).label("has_child"),
            func.max(declares_parent).over(partition_by=prefix).label("has_parent"),
            func.min(Item.agency_id).over(partition_by=prefix).label("agency_lo"),
            func.max(Item.agency_id).over(partition_by=prefix).label("agency_hi"),
            func.min(power_type).over(partition_by=prefix).label("type_lo"),
            func.max(power_type).over(partition_by=prefix).label("type_hi"),
            _mine(agency_id, prefix).label("mine"),
        )
        .join(Agency, Agency.id == Item.agency_id)
        .where(
            _active(), own.is_not(None), _well_sized(own), own_sub != "000", _in_families(families)
        )
        .subquery()
    )
    c = inner.c
    stmt = select(inner).where(
        c.mine == 1,
        or_(
            and_(c.is_parent == 1, c.has_child == 0),
            and_(c.is_child_row == 1, c.has_parent == 0),
            c.agency_lo != c.agency_hi,
            c.type_lo != c.type_hi,
        ),
    )
    out: list[IssueData] = []
    for (family,), rows in _grouped(await _rows(session, stmt), "prefix").items():
        first = rows[0]
        for row in rows:
            if row["is_parent"] and not row["has_child"]:
                out.append(
                    rules.issue(
                        rules.SUB_ITEM,
                        "编码第29–31位为“00Y”（有子项的主项），但目录中没有它的子项"
                        "（前28位相同、子项码为001–999的编码）",
                        field="local_code",
                        items=[_ref(row)],
                        value=row["code"],
                    )
                )
        orphans = [r for r in rows if r["is_child_row"] and not r["has_parent"]]
        if orphans:
            out.append(
                rules.issue(
                    rules.SUB_ITEM,
                    f"子项编码需要前28位相同的主项“{family}00Y”，目录中没有该主项",
                    field="local_code",
                    items=[_ref(r) for r in orphans],
                    value=f"{family}00Y",
                )
            )
        if first["agency_lo"] != first["agency_hi"]:
            agencies = "、".join(sorted({r["agency"] for r in rows}))
            out.append(
                rules.issue(
                    rules.SUB_ITEM,
                    f"编码前28位为“{family}”的主项与子项分属不同部门（{agencies}），应属同一部门",
                    field="agency",
                    items=[_ref(r) for r in rows],
                    value=family,
                )
            )
        if first["type_lo"] != first["type_hi"]:
            types = "、".join(sorted({r["power_type"] or "空" for r in rows}))
            out.append(
                rules.issue(
                    rules.SUB_ITEM,
                    f"编码前28位为“{family}”的主项与子项权力类型不一致（{types}），应当相同",
                    field="power_type",
                    items=[_ref(r) for r in rows],
                    value=family,
                )
            )
    return out


# --- Check 9: main-item numbers repeated ------------------------------------------------------


async def main_numbers(session: AsyncSession, *, agency_id: int | None) -> list[IssueData]:
    """One main-item number used by different main codes in an (agency, type, department) group.

    Main codes are local codes whose sub-item segment is 000 or 00Y; children share their
    parent's number by design. Identical codes are check 3's, so only differing codes count.
    """
    local = Item.local_code
    code31 = _seg(local, 1, codes.CODE_LENGTH)
    group = (Item.agency_id, _seg(local, 22, 2), _seg(local, 24, 2), _seg(local, 26, 3))
    inner = (
        select(
            *_ref_columns(),
            code31.label("code"),
            group[1].label("type"),
            group[2].label("department"),
            group[3].label("main"),
            func.min(code31).over(partition_by=group).label("lo"),
            func.max(code31).over(partition_by=group).label("hi"),
        )
        .join(Agency, Agency.id == Item.agency_id)
        .where(_active(), _well_sized(local), _seg(local, 29, 3).in_(_MAIN_SUBS))
    )
    if agency_id is not None:
        # The group is per agency, so filtering inside the window changes nothing else.
        inner = inner.where(Item.agency_id == agency_id)
    sub = inner.subquery()
    stmt = select(sub).where(sub.c.lo != sub.c.hi)
    out: list[IssueData] = []
    grouped = _grouped(await _rows(session, stmt), "agency_id", "type", "department", "main")
    for (_agency_id, type_, department, main), rows in grouped.items():
        distinct = sorted({r["code"] for r in rows})
        type_name = codes.POWER_TYPES.get(type_, "")
        out.append(
            rules.issue(
                rules.MAIN_NUMBER_REPEATED,
                f"{rows[0]['agency']}事项类型“{type_} {type_name}”、中央指导部门“{department}”下，"
                f"主项顺序码“{main}”出现在{len(distinct)}个不同的编码中（{'、'.join(distinct)}）："
                "不同主项应使用不同的顺序码",
                field="local_code",
                items=[_ref(r) for r in rows],
                value=main,
            )
        )
    return out


# --- Check 12: names and codes ----------------------------------------------------------------


async def names_with_several_codes(
    session: AsyncSession, *, agency_id: int | None
) -> list[IssueData]:
    """Active items of one agency with the same name (and sub-item name) but different codes."""
    own = _own_code()
    code31 = _seg(own, 1, codes.CODE_LENGTH)
    sub_name = func.coalesce(Item.sub_item_name, "")
    group = (Item.agency_id, Item.name, sub_name)
    # The agency is joined to the few rows that differ, not to every item before the windows: right
    # after a bulk import the planner, misled by stale row counts, nested-looped every agency over
    # every item there (3.3 billion join-filter rows, 180 s of a 1M-item validation run).
    inner = select(
        Item.id.label("id"),
        Item.seq.label("seq"),
        Item.agency_id.label("agency_id"),
        Item.name.label("name"),
        sub_name.label("sub_name"),
        code31.label("code"),
        func.min(code31).over(partition_by=group).label("lo"),
        func.max(code31).over(partition_by=group).label("hi"),
    ).where(_active(), own.is_not(None), _well_sized(own), func.length(Item.name) > 0)
    if agency_id is not None:
        inner = inner.where(Item.agency_id == agency_id)
    sub = inner.subquery()
    stmt = (
        select(sub, Agency.name.label("agency"))
        .join(Agency, Agency.id == sub.c.agency_id)
        .where(sub.c.lo != sub.c.hi)
    )
    out: list[IssueData] = []
    for (_agency_id, name, sub_item_name), rows in _grouped(
        await _rows(session, stmt), "agency_id", "name", "sub_name"
    ).items():
        label = f"{name}（{sub_item_name}）" if sub_item_name else name
        distinct = sorted({r["code"] for r in rows})
        out.append(
            rules.issue(
                rules.NAME_CODE_INCONSISTENT,
                f"{rows[0]['agency']}中名称相同的事项“{label}”使用了{len(distinct)}个不同的编码"
                f"（{'、'.join(distinct)}）：同一事项只应有一个编码，不同事项请在名称上区分",
                field="local_code",
                items=[_ref(r) for r in rows],
                value=label,
            )
        )
    return out


async def reused_codes(session: AsyncSession, *, agency_id: int | None) -> list[IssueData]:
    """A withdrawn item's code on an item of another name created after it: codes are never reused.

    Items that shared a code while both were active are check 3's, not a reuse.
    """
    own = _own_code()
    name_key = Item.name + "|" + func.coalesce(Item.sub_item_name, "")
    is_active = _flag(_active())
    first = (
        select(
            *_ref_columns(),
            Item.sub_item_name.label("sub_name"),
            is_active.label("is_active"),
            own.label("code"),
            func.max(is_active).over(partition_by=own).label("code_in_use"),
            func.max(is_active).over(partition_by=(own, name_key)).label("name_in_use"),
            Item.updated_at.label("changed_at"),  # for a withdrawn item: when it was withdrawn
            func.max(case((_active(), Item.created_at)))
            .over(partition_by=own)
            .label("newest_active"),
            _mine(agency_id, own).label("mine"),
        )
        .join(Agency, Agency.id == Item.agency_id)
        .where(own.is_not(None))
        .subquery()
    )
    conflict = _flag(
        and_(
            first.c.is_active == 0,
            first.c.code_in_use == 1,
            first.c.name_in_use == 0,
            first.c.newest_active > first.c.changed_at,
        )
    )
    second = select(
        first, func.max(conflict).over(partition_by=first.c.code).label("conflict")
    ).subquery()
    c = second.c
    stmt = select(second).where(
        c.conflict == 1,
        c.mine == 1,
        or_(c.is_active == 1, and_(c.name_in_use == 0, c.newest_active > c.changed_at)),
    )
    out: list[IssueData] = []
    for (code,), rows in _grouped(await _rows(session, stmt), "code").items():
        now = "、".join(sorted({f"“{r['name']}”" for r in rows if r["is_active"]}))
        before = "、".join(sorted({f"“{r['name']}”" for r in rows if not r["is_active"]}))
        out.append(
            rules.issue(
                rules.NAME_CODE_INCONSISTENT,
                f"编码“{code}”曾用于已撤销的事项{before}，现又用于名称不同的事项{now}："
                "撤销的编码不再使用；若确是同一事项改名，应恢复原事项并修改名称",
                field="name",
                items=[_ref(r) for r in rows],
                value=code,
            )
        )
    return out
