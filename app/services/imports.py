"""The import service: one file in, whole or not at all, with a report of what it did."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import anyio.to_thread
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.enums import ChangeKind, ImportStatus, ItemStatus
from app.errors import ForbiddenError, ImportFormatError
from app.models import Agency, ImportBatch, Item
from app.models.types import utcnow
from app.schemas.imports import (
    ImportCounts,
    ImportedItemRef,
    ImportProblem,
    ImportReport,
)
from app.services import audit, revisions
from app.services.importers import matching, registry
from app.services.importers.prepare import (
    CONTENT_FIELDS,
    AgencyInfo,
    Prepared,
    PreparedItem,
    prepare,
)
from app.services.importers.records import ParseProblem
from app.services.revisions import Actor
from app.services.validation import runner as validation
from app.services.validation.rules import IssueData

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class ImportRequest:
    file_name: str
    data: bytes
    format: str = "auto"
    agency: str | None = None
    dry_run: bool = False
    withdraw_missing: bool = False


def _key(values: dict[str, Any]) -> matching.Key:
    return matching.Key(
        values.get("local_code"),
        values.get("sub_local_code"),
        values.get("name") or "",
        values.get("sub_item_name"),
        values.get("seq"),
    )


def _item_key(item: Item) -> matching.Key:
    return matching.Key(
        item.local_code, item.sub_local_code, item.name, item.sub_item_name, item.seq
    )


def _import_key(values: dict[str, Any]) -> str:
    parts = (values.get("local_code") or "", values.get("sub_local_code") or "", values["name"])
    return "|".join(parts)[:200]


def _problem(file: str, p: ParseProblem) -> ImportProblem:
    severity = p.severity if p.severity in {"error", "warning", "info"} else "warning"
    return ImportProblem(
        severity=severity,
        code=p.code,
        message=p.message,
        file=file,
        line=p.line,
        line_end=p.line_end,
        field=p.field,
    )


def _ref(
    item: Item | None, values: dict[str, Any] | None = None, line: int | None = None
) -> ImportedItemRef:
    if item is not None:
        return ImportedItemRef(
            id=item.id, seq=item.seq, name=item.name, local_code=item.local_code, line=line
        )
    assert values is not None
    return ImportedItemRef(
        id=None,
        seq=values.get("seq"),
        name=values["name"],
        local_code=values.get("local_code"),
        line=line,
    )


async def _agency(session: AsyncSession, info: AgencyInfo, *, create: bool) -> Agency | None:
    agency = await session.scalar(select(Agency).where(Agency.name == info.name))
    if agency is None and create:
        agency = Agency(
            name=info.name,
            credit_code=info.credit_code,
            division_code=info.division_code,
            level=info.level,
        )
        session.add(agency)
        await session.flush()
    elif agency is not None and create:
        # Fill what an earlier list without codes could not tell; never overwrite what is known.
        agency.credit_code = agency.credit_code or info.credit_code
        agency.division_code = agency.division_code or info.division_code
        agency.level = agency.level or info.level
    return agency


def _source(file_name: str, prepared: PreparedItem) -> dict[str, Any]:
    return {
        "source_file": file_name,
        "source_line": prepared.line,
        "source_line_end": prepared.line_end,
        "source_page": prepared.page,
        "source_raw": {"cells": prepared.raw},
    }


def _differs(item: Item, values: dict[str, Any]) -> list[str]:
    return [name for name in CONTENT_FIELDS if getattr(item, name) != values.get(name)]


@dataclass(slots=True)
class _Plan:
    """What an import would do, worked out before anything is written."""

    counts: ImportCounts
    create: list[tuple[PreparedItem, Agency | None]]
    # (stored item, kind, the row that replaces it, or None for a withdrawal)
    modify: list[tuple[Item, ChangeKind, PreparedItem | None]]
    changed: list[ImportedItemRef]
    vanished: list[ImportedItemRef]


async def _plan(
    session: AsyncSession,
    prepared_items: list[PreparedItem],
    agencies: dict[str, AgencyInfo],
    request: ImportRequest,
    actor: Actor,
    progress: ProgressFn | None,
) -> _Plan:
    plan = _Plan(ImportCounts(items=len(prepared_items)), [], [], [], [])
    by_agency: dict[str, list[PreparedItem]] = {}
    for row in prepared_items:
        by_agency.setdefault(row.agency, []).append(row)
    done = 0
    for agency_name, rows in by_agency.items():
        agency = await _agency(session, agencies[agency_name], create=False)
        if agency is None and not actor.is_admin:
            raise ForbiddenError(f"only an admin key may add a new agency ({agency_name[:50]})")
        if agency is not None and not actor.may_write(agency.id):
            raise ForbiddenError(f"this key may not import items of {agency_name[:50]}")
        if agency is None and not request.dry_run:
            agency = await _agency(session, agencies[agency_name], create=True)
        elif agency is not None and not request.dry_run:
            await _agency(session, agencies[agency_name], create=True)
        existing: list[Item] = []
        if agency is not None:
            stmt = select(Item).where(Item.agency_id == agency.id).order_by(Item.id)
            existing = list((await session.scalars(stmt)).all())
        pairs = matching.match([_key(r.values) for r in rows], [_item_key(i) for i in existing])
        for index, row in enumerate(rows):
            done += 1
            if progress is not None:
                progress(done, plan.counts.items)
            if index not in pairs:
                plan.counts.new += 1
                plan.create.append((row, agency))
                continue
            item = existing[pairs[index]]
            target = ItemStatus(row.status)
            if item.status == target and not _differs(item, row.values):
                plan.counts.unchanged += 1
                continue
            if item.status == target:
                kind = ChangeKind.UPDATE
                plan.counts.changed += 1
            elif target == ItemStatus.ACTIVE:
                kind = ChangeKind.RESTORE
                plan.counts.restored += 1
            else:  # an export that says the item was withdrawn
                kind = ChangeKind.WITHDRAW
                plan.counts.withdrawn += 1
            plan.changed.append(_ref(item, line=row.line))
            plan.modify.append((item, kind, row))
        matched = set(pairs.values())
        for position, item in enumerate(existing):
            if position in matched or item.status != ItemStatus.ACTIVE:
                continue
            plan.counts.vanished += 1
            plan.vanished.append(_ref(item))
            if request.withdraw_missing:
                plan.counts.withdrawn += 1
                plan.modify.append((item, ChangeKind.WITHDRAW, None))
    return plan


async def _apply(
    session: AsyncSession, plan: _Plan, request: ImportRequest, batch: ImportBatch, actor: Actor
) -> None:
    now = batch.started_at
    rows: list[dict[str, Any]] = []
    for row, agency in plan.create:
        assert agency is not None  # agencies exist unless this is a dry run
        rows.append(
            {
                "agency_id": agency.id,
                "status": ItemStatus(row.status),
                "version": 1,
                "import_key": _import_key(row.values),
                "import_batch_id": batch.id,
                "created_at": now,
                "updated_at": now,
                **{name: row.values.get(name) for name in CONTENT_FIELDS},
                **_source(request.file_name, row),
            }
        )
    entries: list[revisions.Entry] = []
    if rows:
        # One set-based INSERT ... RETURNING for the new items (executemany batches), no ORM
        # object per row; their revisions are built from the same values.
        ids = (
            await session.scalars(
                insert(Item).returning(Item.id, sort_by_parameter_order=True), rows
            )
        ).all()
        entries = [
            revisions.Entry(
                item_id,
                1,
                ChangeKind.CREATE,
                revisions.snapshot_of({**values, "id": item_id}),
                list(revisions.SNAPSHOT_FIELDS),
            )
            for values, item_id in zip(rows, ids, strict=True)
        ]
    befores: list[dict[str, Any]] = []
    for item, _kind, replacement in plan.modify:
        befores.append(revisions.snapshot(item))
        if replacement is None:
            item.status = ItemStatus.WITHDRAWN
        else:
            for name in CONTENT_FIELDS:
                setattr(item, name, replacement.values.get(name))
            for name, value in _source(request.file_name, replacement).items():
                setattr(item, name, value)
            item.status = ItemStatus(replacement.status)
            item.import_batch_id = batch.id
        item.updated_at = now
    await session.flush()
    for (item, kind, _row), before in zip(plan.modify, befores, strict=True):
        after = revisions.snapshot(item)
        entries.append(revisions.entry(item, kind, revisions.changed_fields(before, after)))
    await revisions.record(
        session,
        entries,
        actor=replace(actor, reason=actor.reason or f"import {request.file_name}"),
        import_batch_id=batch.id,
        at=now,
    )


async def _issues_of(session: AsyncSession, agency_ids: set[int]) -> list[IssueData]:
    found: dict[str, IssueData] = {}
    for agency_id in sorted(agency_ids):
        for issue in await validation.evaluate(session, agency_id=agency_id):
            found.setdefault(issue.fingerprint, issue)
    return list(found.values())


async def _agency_ids(session: AsyncSession, names: list[str]) -> set[int]:
    rows = await session.scalars(select(Agency.id).where(Agency.name.in_(names)))
    return set(rows.all())


async def _rehearse(
    session: AsyncSession, prepared: Prepared, request: ImportRequest, actor: Actor
) -> list[dict[str, Any]]:
    """The validation issues the file would add: import it in a savepoint, check, roll back."""
    names = list(prepared.agencies)
    before = await _issues_of(session, await _agency_ids(session, names))
    newest_id = await session.scalar(select(func.max(Item.id))) or 0
    savepoint = await session.begin_nested()
    try:
        real = replace(request, dry_run=False)
        plan = await _plan(session, prepared.items, prepared.agencies, real, actor, None)
        if plan.create or plan.modify:
            batch = ImportBatch(
                file_name=request.file_name[:255],
                sha256="dry-run",
                format="dry-run",
                status=ImportStatus.RUNNING,
                actor=actor.name,
                started_at=utcnow(),
            )
            session.add(batch)
            await session.flush()
            await _apply(session, plan, real, batch, actor)
        after = await _issues_of(session, await _agency_ids(session, names))
    finally:
        await savepoint.rollback()
    issues = []
    for issue in validation.added(before, after):
        doc = issue.as_json()
        for item in doc["items"]:
            # Rows the rehearsal created vanished with the savepoint: their ids mean nothing.
            if item["id"] > newest_id:
                item["id"] = None
        issues.append(doc)
    return issues


async def run(
    session: AsyncSession,
    request: ImportRequest,
    *,
    actor: Actor,
    progress: ProgressFn | None = None,
) -> ImportReport:
    """Import one file in the caller's transaction; a dry run or a file with no news writes nothing.

    Raises:
        ImportFormatError: the file cannot be read as any supported layout, or has unreadable rows.
    """
    sha256 = hashlib.sha256(request.data).hexdigest()
    # Parsing is CPU work: keep it off the event loop so a server stays responsive.
    fmt, parsed = await anyio.to_thread.run_sync(registry.read, request.data, request.format)
    prepared = await anyio.to_thread.run_sync(lambda: prepare(parsed, agency=request.agency))
    problems = [_problem(request.file_name, p) for p in prepared.problems]
    unreadable = [p for p in problems if p.severity == "error"]
    if unreadable and not request.dry_run:
        # A row that cannot be read means the file is damaged (truncated, misaligned): storing the
        # rest would silently lose that row, so the whole file is refused.
        first = unreadable[0]
        more = f" (and {len(unreadable) - 1} more)" if len(unreadable) > 1 else ""
        raise ImportFormatError(
            f"line {first.line}: {first.message}{more}",
            details={"problems": [p.model_dump(mode="json") for p in unreadable[:100]]},
        )
    plan = await _plan(session, prepared.items, prepared.agencies, request, actor, progress)
    plan.counts.warnings = sum(1 for p in problems if p.severity == "warning")
    plan.counts.errors = sum(1 for p in problems if p.severity == "error")
    report = ImportReport(
        batch_id=None,
        file=request.file_name,
        sha256=sha256,
        format=fmt,
        dry_run=request.dry_run,
        status="dry_run",
        agencies=sorted(prepared.agencies),
        counts=plan.counts,
        problems=problems,
        changed=plan.changed,
        vanished=plan.vanished,
    )
    if request.dry_run:
        if not unreadable:
            report.validation = await _rehearse(session, prepared, request, actor)
        return report
    if not (plan.create or plan.modify):
        report.status = "unchanged"
        return report

    batch = ImportBatch(
        file_name=request.file_name[:255],
        sha256=sha256,
        format=fmt,
        status=ImportStatus.RUNNING,
        is_dry_run=False,
        actor=actor.name,
        started_at=utcnow(),
    )
    session.add(batch)
    await session.flush()
    await _apply(session, plan, request, batch, actor)
    report.batch_id = batch.id
    report.status = "imported"
    batch.status = ImportStatus.SUCCEEDED
    batch.counts = plan.counts.model_dump()
    batch.report = report.model_dump(mode="json")
    batch.finished_at = utcnow()
    await audit.record(
        session,
        actor,
        action="import",
        target_type="import_batch",
        target_id=batch.id,
        change={"file": request.file_name, "sha256": sha256, "counts": plan.counts.model_dump()},
    )
    return report
