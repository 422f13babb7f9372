"""The import service: one file in, whole or not at all, with a report of what it did."""

from __future__ import annotations

import asyncio
import functools
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar, cast

import anyio.to_thread
from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from app.db import dialect
from app.enums import ChangeKind, ImportStatus, ItemStatus
from app.errors import ConflictError, ForbiddenError, ImportFormatError
from app.models import Agency, Change, ImportBatch, Item, ItemRevision
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
    PROGRESS_EVERY,
    AgencyInfo,
    Prepared,
    PreparedItem,
    prepare,
)
from app.services.importers.records import ParseProblem
from app.services.revisions import Actor
from app.services.validation import runner as validation
from app.services.validation.rules import IssueData

_T = TypeVar("_T")

ProgressFn = Callable[[str, int, int | None], None]
"""Called with (phase, done, total) in units of the whole import: parse, prepare, match, write.

`total` is None while the file is still being parsed (its number of items is not known yet);
after that it stays fixed and `done` only grows, reaching `total` when the import is written.
"""

# Units per item of each phase, roughly their share of the time on a large file: cleaning the
# text and writing the rows dominate, matching is quick.
_UNITS = {"parse": 1, "prepare": 2, "match": 1, "write": 4}
_UNITS_PER_ITEM = sum(_UNITS.values())
# Rows per write statement: the same page size SQLAlchemy's insertmanyvalues uses, so chunking
# adds no statement, and the progress bar moves once per chunk.
WRITE_CHUNK = 1000


class _Progress:
    """Maps each phase's own count onto one bar over the whole import."""

    def __init__(self, report: ProgressFn | None) -> None:
        self._report = report
        self._items = 0
        self.total: int | None = None

    def parsing(self) -> None:
        if self._report is not None:
            self._report("parse", 0, None)

    def parsed(self, items: int) -> None:
        self._items = max(items, 1)
        self.total = self._items * _UNITS_PER_ITEM
        self._at("parse", 1.0)

    def _at(self, phase: str, fraction: float) -> None:
        if self._report is None or self.total is None:
            return
        before = 0
        for name, units in _UNITS.items():
            if name == phase:
                break
            before += units
        units = _UNITS[phase]
        done = self._items * before + round(self._items * units * min(max(fraction, 0.0), 1.0))
        self._report(phase, done, self.total)

    def step(self, phase: str, done: int, of: int) -> None:
        self._at(phase, done / of if of else 1.0)

    def finished(self) -> None:
        """Nothing is left to do (a dry run or an unchanged file skips the writing)."""
        if self._report is not None and self.total is not None:
            self._report("done", self.total, self.total)


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
    progress: _Progress | None,
    *,
    lock: bool,
) -> _Plan:
    """Match the file's rows to the stored items; `lock` holds the agency's items until commit.

    The lock (SELECT ... FOR UPDATE on PostgreSQL; SQLite writers already hold the database) keeps
    another writer from changing an item between this read and the bulk UPDATE that replaces it.
    """
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
            if lock:
                stmt = stmt.with_for_update()
            existing = list((await session.scalars(stmt)).all())
        pairs = matching.match([_key(r.values) for r in rows], [_item_key(i) for i in existing])
        for index, row in enumerate(rows):
            done += 1
            if progress is not None and (done % PROGRESS_EVERY == 0 or done == plan.counts.items):
                progress.step("match", done, plan.counts.items)
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


def _chunks(rows: Sequence[Any]) -> list[Sequence[Any]]:
    return [rows[i : i + WRITE_CHUNK] for i in range(0, len(rows), WRITE_CHUNK)]


# Bulk UPDATEs by id, guarded by the version the plan read; the b_ names keep the WHERE
# parameters apart from the SET columns, which come from the rows' keys.
_TABLE = cast(Table, Item.__table__)
_BY_ID_AND_VERSION = (_TABLE.c.id == bindparam("b_id")) & (
    _TABLE.c.version == bindparam("b_version")
)


def _replacement_values(file_name: str, row: PreparedItem, batch: ImportBatch) -> dict[str, Any]:
    return {
        **{name: row.values.get(name) for name in CONTENT_FIELDS},
        **_source(file_name, row),
        "status": ItemStatus(row.status),
        "import_batch_id": batch.id,
    }


# (item, the values it had before) for every stored item an import updated
_Undo = list[tuple[Item, dict[str, Any]]]


async def _update_items(
    session: AsyncSession, rows: list[tuple[Item, dict[str, Any]]], undo: _Undo
) -> None:
    """One executemany UPDATE for rows that set the same columns; the session's objects follow."""
    params = [
        {**values, "b_id": item.id, "b_version": item.version, "version": item.version + 1}
        for item, values in rows
    ]
    result = await session.execute(update(_TABLE).where(_BY_ID_AND_VERSION), params)
    # SQLite counts the rows of an executemany; asyncpg does not, and there the plan's
    # FOR UPDATE lock is what guarantees that every row still had the version read.
    if session.get_bind().dialect.supports_sane_multi_rowcount and (
        getattr(result, "rowcount", -1) != len(params)
    ):
        raise ConflictError("an item changed while the file was being imported")
    for (item, values), row_params in zip(rows, params, strict=True):
        undo.append((item, {name: getattr(item, name) for name in (*values, "version")}))
        # Keep the identity map true to the database without reloading: the caller (and a test
        # in the same session) sees the written values.
        for name, value in values.items():
            set_committed_value(item, name, value)
        set_committed_value(item, "version", row_params["version"])


# The ORM's bulk INSERT leaves out of each row the columns it has as None, and rows that leave
# out different ones cannot share a statement: a file whose rows differ in which optional fields
# they fill went out as a statement every ~10 rows, not every WRITE_CHUNK, each firing the
# statement triggers on item (the list of names) once. Every row here names every column it
# sets, and none of them has a default that None would have stood for, so NULL is what the
# omission meant anyway.
_BULK_INSERT = insert(Item).execution_options(render_nulls=True)


async def _insert_items(session: AsyncSession, rows: list[dict[str, Any]]) -> list[int]:
    """INSERT ... RETURNING for many new items at once; their ids in the order of `rows`."""
    lines = [row["source_line"] for row in rows]
    if len(set(lines)) < len(lines):
        result = await session.scalars(
            _BULK_INSERT.returning(Item.id, sort_by_parameter_order=True), rows
        )
        return list(result.all())
    # Rows of one file start on different lines, so RETURNING the line maps each id back to
    # its row and the INSERT needs no order: SQLite cannot keep the order of a batched
    # INSERT ... RETURNING and sends one statement per row for sort_by_parameter_order.
    returned = await session.execute(_BULK_INSERT.returning(Item.id, Item.source_line), rows)
    by_line = {line: item_id for item_id, line in returned}
    return [by_line[line] for line in lines]


async def _apply(
    session: AsyncSession,
    plan: _Plan,
    request: ImportRequest,
    batch: ImportBatch,
    actor: Actor,
    progress: _Progress | None = None,
) -> _Undo:
    """Write the plan set-based: INSERT ... RETURNING for new items, executemany UPDATEs by id
    and version for changed ones, bulk inserts of their revisions; a fixed number of statements
    per chunk of WRITE_CHUNK rows, never one per item. Returns what the updated items were.
    """
    undo: _Undo = []
    now = batch.started_at
    actor = replace(actor, reason=actor.reason or f"import {request.file_name}")
    to_write = len(plan.create) + len(plan.modify)
    written = 0

    def advance(rows: int) -> None:
        nonlocal written
        written += rows
        if progress is not None:
            progress.step("write", written, to_write)

    advance(0)
    for chunk in _chunks(plan.create):
        rows: list[dict[str, Any]] = []
        for row, agency in chunk:
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
        ids = await _insert_items(session, rows)
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
        await revisions.record(session, entries, actor=actor, import_batch_id=batch.id, at=now)
        advance(len(chunk))
    for modify_chunk in _chunks(plan.modify):
        befores = [revisions.snapshot(item) for item, _kind, _row in modify_chunk]
        replaced: list[tuple[Item, dict[str, Any]]] = []
        withdrawn: list[tuple[Item, dict[str, Any]]] = []
        for item, _kind, replacement in modify_chunk:
            if replacement is None:
                withdrawn.append((item, {"status": ItemStatus.WITHDRAWN, "updated_at": now}))
            else:
                values = _replacement_values(request.file_name, replacement, batch)
                replaced.append((item, {**values, "updated_at": now}))
        # Two shapes of row (a replacement sets every field, a withdrawal only the status):
        # one executemany each, as executemany needs the same columns in every row.
        for group in (replaced, withdrawn):
            if group:
                await _update_items(session, group, undo)
        entries = []
        for (item, kind, _row), before in zip(modify_chunk, befores, strict=True):
            after = revisions.snapshot(item)
            entries.append(revisions.entry(item, kind, revisions.changed_fields(before, after)))
        await revisions.record(session, entries, actor=actor, import_batch_id=batch.id, at=now)
        advance(len(modify_chunk))
    return undo


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
    undo: _Undo = []
    try:
        real = replace(request, dry_run=False)
        plan = await _plan(session, prepared.items, prepared.agencies, real, actor, None, lock=True)
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
            undo = await _apply(session, plan, real, batch, actor)
        after = await _issues_of(session, await _agency_ids(session, names))
    finally:
        await savepoint.rollback()
        # The bulk UPDATEs bypassed the unit of work, so the rollback does not know to expire
        # those objects: give them back the values the database has again.
        for item, values in reversed(undo):
            for name, value in values.items():
                set_committed_value(item, name, value)
    issues = []
    for issue in validation.added(before, after):
        doc = issue.as_json()
        for item in doc["items"]:
            # Rows the rehearsal created vanished with the savepoint: their ids mean nothing.
            if item["id"] > newest_id:
                item["id"] = None
        issues.append(doc)
    return issues


@dataclass(frozen=True, slots=True)
class ReadFile:
    """A file parsed and its rows cleaned: all an import does before it needs the database."""

    format: str
    prepared: Prepared

    @property
    def agencies(self) -> frozenset[str]:
        """The agencies whose items the file holds (imports of disjoint sets may run at once)."""
        return frozenset(self.prepared.agencies)


async def _read(request: ImportRequest, bar: _Progress) -> ReadFile:
    bar.parsing()
    # Parsing is CPU work: keep it off the event loop so a server stays responsive.
    fmt, parsed = await anyio.to_thread.run_sync(registry.read, request.data, request.format)
    items = len(parsed.items)
    bar.parsed(items)
    prepared = await anyio.to_thread.run_sync(
        lambda: prepare(
            parsed,
            agency=request.agency,
            progress=lambda done: bar.step("prepare", done, items),
        )
    )
    return ReadFile(fmt, prepared)


async def read(request: ImportRequest) -> ReadFile:
    """Parse and clean a file without the database, to pass to `run` later (or elsewhere).

    Raises:
        ImportFormatError: the file cannot be read as any supported layout.
    """
    return await _read(request, _Progress(None))


async def run(
    session: AsyncSession,
    request: ImportRequest,
    *,
    actor: Actor,
    progress: ProgressFn | None = None,
    read_file: ReadFile | None = None,
) -> ImportReport:
    """Import one file in the caller's transaction; a dry run or a file with no news writes nothing.

    `read_file` is what `read(request)` gave for this request, when it was read beforehand.

    Raises:
        ImportFormatError: the file cannot be read as any supported layout, or has unreadable rows.
    """
    sha256 = hashlib.sha256(request.data).hexdigest()
    bar = _Progress(progress)
    if read_file is None:
        read_file = await _read(request, bar)
    else:
        bar.parsed(len(read_file.prepared.items))
    fmt, prepared = read_file.format, read_file.prepared
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
    plan = await _plan(
        session, prepared.items, prepared.agencies, request, actor, bar, lock=not request.dry_run
    )
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
        bar.finished()
        return report
    if not (plan.create or plan.modify):
        report.status = "unchanged"
        bar.finished()
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
    await _apply(session, plan, request, batch, actor, bar)
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
    # A batch of new rows waits in the search indexes' pending lists, which every search would
    # read through: merge it now, at the importer's cost, not each search's.
    await session.flush()
    await dialect.settle_search_indexes(session)
    # And a big import would leave the planner estimating from statistics of a much smaller
    # catalogue (or none) until autovacuum came round: refresh them while the rows are at hand.
    rows = len(plan.create) + len(plan.modify)
    await dialect.refresh_statistics(
        session,
        {
            Item.__tablename__: rows,
            ItemRevision.__tablename__: rows,
            Change.__tablename__: rows,
            Agency.__tablename__: len(prepared.agencies),
            # PostgreSQL's list of names gains at most one row an item (fewer: names repeat).
            dialect.SEARCH_NAME.name: rows,
        },
    )
    bar.finished()
    return report


async def run_in_agency_order(
    count: int,
    read: Callable[[int], Awaitable[tuple[frozenset[str], _T] | None]],
    write: Callable[[int, _T], Awaitable[None]],
    *,
    jobs: int,
) -> None:
    """Import files 0..count-1 up to `jobs` at once, as if one after the other.

    `read(i)` reads file i without the database and gives the agencies it holds with what
    `write` needs, or None when the file is not to be written (it could not be read); `write(i,
    ...)` imports it in its own transaction. File i starts to write once every earlier file is
    read and every earlier file sharing an agency with it is written: an agency's files land in
    the order given, each matched against the one before, exactly as in a serial run, while
    files of other agencies (which lock only their own agencies' items) write alongside. Files
    are taken in order, one a job, so at most `jobs` are held in memory, and a job waits only
    on earlier files, which other jobs already hold: nothing waits in a circle.

    An exception other than what `read` and `write` handle themselves ends the run: the jobs
    still writing are cancelled (their transactions roll back) and it is raised.
    """
    agencies: list[frozenset[str] | None] = [None] * count  # None: not read yet
    written = [False] * count
    turn = asyncio.Condition()
    next_file = 0

    def may_write(i: int) -> bool:
        mine = agencies[i]
        assert mine is not None
        for j in range(i):
            theirs = agencies[j]
            if theirs is None or (theirs & mine and not written[j]):
                return False
        return True

    async def finish(i: int, held: frozenset[str]) -> None:
        async with turn:
            agencies[i] = held
            written[i] = True
            turn.notify_all()

    async def job() -> None:
        nonlocal next_file
        while next_file < count:
            i, next_file = next_file, next_file + 1
            got = await read(i)
            if got is None:
                await finish(i, frozenset())
                continue
            held, value = got
            async with turn:
                agencies[i] = held
                turn.notify_all()
                await turn.wait_for(functools.partial(may_write, i))
            try:
                await write(i, value)
            finally:
                await finish(i, held)

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(max(1, min(jobs, count))):
                group.create_task(job())
    except BaseExceptionGroup as failed:
        # The first failure, as a serial run would have raised it (the others were cancelled).
        raise failed.exceptions[0] from None
