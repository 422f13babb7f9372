"""Catalogue exports (CSV, XLSX, JSON, NDJSON), streamed in keyset batches with flat memory.

Every format imports back with `powercat import`: CSV and XLSX carry the importer's FLAT_COLUMNS,
JSON and NDJSON the Item JSON of the API.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import anyio.lowlevel
import anyio.to_thread
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from app.models import Item, ReleaseItem
from app.schemas.items import ItemRead
from app.services import queries, reference, releases
from app.services.importers.structured import FLAT_COLUMNS

ExportFormat = Literal["csv", "xlsx", "json", "ndjson"]
FORMATS: tuple[ExportFormat, ...] = ("csv", "xlsx", "json", "ndjson")

ProgressFn = Callable[[int, int], None]

# Items per query: one keyset batch is all an export holds in memory at a time.
BATCH_SIZE = 500
# Bytes per chunk when streaming the finished XLSX file.
FILE_CHUNK = 64 * 1024
# Excel opens a CSV as UTF-8 only when it starts with a byte order mark.
UTF8_BOM = "\ufeff"
# XML 1.0 cannot carry these control characters, so an XLSX cell cannot hold them.
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# Excel's limit; openpyxl cuts longer text silently, which a re-import would take as a change.
_EXCEL_CELL_LIMIT = 32_767


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """What to export: the catalogue now, or as a release published it; optionally one agency."""

    format: ExportFormat
    release: str | None = None
    agency_id: int | None = None


@dataclass(frozen=True, slots=True)
class _Scope:
    release_id: int | None
    agency_id: int | None


def file_name(request: ExportRequest) -> str:
    """A download name such as `powercat-current.csv` or `powercat-2026-11-agency-3.xlsx`."""
    parts = ["powercat", request.release or "current"]
    if request.agency_id is not None:
        parts.append(f"agency-{request.agency_id}")
    return "-".join(parts) + "." + request.format


async def check(session: AsyncSession, request: ExportRequest) -> None:
    """Fail before the first byte is sent, while an error can still be a proper response.

    Raises:
        ReleaseNotFoundError: the release does not exist.
        AgencyNotFoundError: the agency does not exist.
    """
    await _scope(session, request)


async def _scope(session: AsyncSession, request: ExportRequest) -> _Scope:
    release_id = None
    if request.release is not None:
        release_id = await releases.get_id(session, name=request.release)
    if request.agency_id is not None:
        await reference.require_agency(session, request.agency_id)
    return _Scope(release_id, request.agency_id)


# --- reading -------------------------------------------------------------------------------------


async def _count(session: AsyncSession, scope: _Scope) -> int:
    if scope.release_id is None:
        stmt = select(func.count()).select_from(Item)
        if scope.agency_id is not None:
            stmt = stmt.where(Item.agency_id == scope.agency_id)
    else:
        stmt = (
            select(func.count())
            .select_from(ReleaseItem)
            .where(ReleaseItem.release_id == scope.release_id)
        )
        if scope.agency_id is not None:
            stmt = stmt.join(Item, Item.id == ReleaseItem.item_id).where(
                Item.agency_id == scope.agency_id
            )
    return int(await session.scalar(stmt) or 0)


def _current_item(row: Any) -> ItemRead:
    return ItemRead.model_validate(queries.item_document(row))


async def _batches(
    session: AsyncSession, scope: _Scope, batch_size: int
) -> AsyncIterator[list[ItemRead]]:
    """Items in id order, one keyset batch per query: nothing reads ahead of the consumer."""
    key: Any
    if scope.release_id is None:
        key, stmt, convert = Item.id, queries.item_select(), _current_item
    else:
        key = ReleaseItem.item_id
        stmt = releases.released_select(scope.release_id)
        convert = releases.released_item
    if scope.agency_id is not None:
        stmt = stmt.where(Item.agency_id == scope.agency_id)
    last = 0
    while True:
        query = stmt.where(key > last).order_by(key).limit(batch_size)
        # A cancel waiting for the shield below to end lands here, before the next read: the
        # consumer may never wait on anything itself (a HEAD drops every chunk unsent).
        await anyio.lowlevel.checkpoint()
        with _uncancelled(session):  # see snapshot_session
            rows = (await session.execute(query)).mappings().all()
        if not rows:
            return
        batch = [convert(row) for row in rows]
        yield batch
        if len(rows) < batch_size:
            return
        last = batch[-1].id


# --- formats -------------------------------------------------------------------------------------


def flat_row(item: ItemRead) -> dict[str, Any]:
    """The FLAT_COLUMNS values of an item (CSV and XLSX): nested parts flattened, JSON scalars."""
    doc = item.model_dump(mode="json")
    source = doc["source"] or {}
    row = {
        **doc,
        "agency": doc["agency"]["name"],
        "agency_credit_code": doc["agency"]["credit_code"],
        "agency_division_code": doc["agency"]["division_code"],
        "power_type_code": doc["power_type"]["code"],
        "power_type_label": doc["power_type"]["label"],
        "power_type_raw": doc["power_type"]["raw"],
        "source_file": source.get("file"),
        "source_line": source.get("line"),
    }
    return {name: row[name] for name in FLAT_COLUMNS}


def _csv_text(rows: Sequence[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return buffer.getvalue()


async def _csv(batches: AsyncIterator[list[ItemRead]]) -> AsyncIterator[bytes]:
    yield (UTF8_BOM + _csv_text([FLAT_COLUMNS])).encode()
    async for batch in batches:
        yield _csv_text([list(flat_row(i).values()) for i in batch]).encode()


async def _ndjson(batches: AsyncIterator[list[ItemRead]]) -> AsyncIterator[bytes]:
    async for batch in batches:
        yield b"".join(i.model_dump_json().encode() + b"\n" for i in batch)


async def _json(batches: AsyncIterator[list[ItemRead]]) -> AsyncIterator[bytes]:
    # An array written piece by piece: "[", items joined by ",\n", "]".
    first = True
    yield b"["
    async for batch in batches:
        body = b",\n".join(i.model_dump_json().encode() for i in batch)
        yield (b"\n" if first else b",\n") + body
        first = False
    yield b"\n]\n" if not first else b"]\n"


def _xlsx_cell(sheet: Any, value: Any) -> Any:
    from openpyxl.cell import WriteOnlyCell

    if not isinstance(value, str):
        return WriteOnlyCell(sheet, value=value)
    text = _XML_ILLEGAL.sub("", value)
    cell = WriteOnlyCell(sheet, value=text)
    # openpyxl types any string starting with "=" as a formula; ours are text, always. Data type
    # "s" is stored as an inline string, so Excel never evaluates "=…", "+…", "-…" or "@…", and
    # the importer, which refuses formula cells, reads it back as the text it is.
    cell.data_type = "s"
    if len(text) > _EXCEL_CELL_LIMIT:
        # Written whole on purpose: cutting would change the item on a re-import (see the docs).
        cell._value = text  # type: ignore[attr-defined]
    return cell


class _Workbook:
    """An openpyxl write-only workbook: rows go to a temporary file, never held in memory."""

    def __init__(self) -> None:
        from openpyxl import Workbook

        self.book = Workbook(write_only=True)
        self.sheet = self.book.create_sheet("items")
        self.saved = False

    def append(self, rows: list[list[Any]]) -> None:
        for row in rows:
            self.sheet.append([_xlsx_cell(self.sheet, v) for v in row])

    def save(self) -> str:
        fd, path = tempfile.mkstemp(prefix="powercat-export-", suffix=".xlsx")
        os.close(fd)
        try:
            self.book.save(path)
        except BaseException:
            os.unlink(path)
            raise
        self.saved = True
        return path

    def discard(self) -> None:
        """Remove the sheet's temporary file of an unfinished workbook."""
        # openpyxl deletes it when saving, otherwise only at interpreter exit: a server whose
        # clients abort downloads would collect them.
        if self.saved:
            return
        # Ends the sheet's XML first, so nothing writes to the file after it is gone.
        with contextlib.suppress(Exception):
            self.sheet.close()
        writer = getattr(self.sheet, "_writer", None)
        if writer is not None:
            with contextlib.suppress(OSError, ValueError):
                writer.cleanup()


async def _xlsx_file(batches: AsyncIterator[list[ItemRead]]) -> str:
    """The path of a finished workbook of the items; the caller deletes it."""
    # A ZIP archive cannot be sent before it is complete: openpyxl's write-only mode spools the
    # rows to disk, and the finished file is streamed from there.
    workbook = await anyio.to_thread.run_sync(_Workbook)
    try:
        await anyio.to_thread.run_sync(workbook.append, [list(FLAT_COLUMNS)])
        async for batch in batches:
            rows = [list(flat_row(i).values()) for i in batch]
            await anyio.to_thread.run_sync(workbook.append, rows)
        return await anyio.to_thread.run_sync(workbook.save)
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(workbook.discard)


async def _file_chunks(path: str) -> AsyncIterator[bytes]:
    """The file's bytes, then the file is gone (also when the reader stops early)."""
    try:
        async with await anyio.open_file(path, "rb") as f:
            while chunk := await f.read(FILE_CHUNK):
                yield chunk
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.Path(path).unlink(missing_ok=True)


_TEXT_ENCODERS: dict[str, Callable[[AsyncIterator[list[ItemRead]]], AsyncIterator[bytes]]] = {
    "csv": _csv,
    "json": _json,
    "ndjson": _ndjson,
}


async def _items(
    session: AsyncSession, request: ExportRequest, batch_size: int, progress: ProgressFn | None
) -> AsyncIterator[list[ItemRead]]:
    with _uncancelled(session):  # see snapshot_session
        scope = await _scope(session, request)
        total = None if progress is None else await _count(session, scope)
    batches = _batches(session, scope, batch_size)
    if progress is not None and total is not None:
        batches = _counted(batches, progress, total)
    async for batch in batches:
        yield batch


async def stream(
    session: AsyncSession,
    request: ExportRequest,
    *,
    batch_size: int = BATCH_SIZE,
    progress: ProgressFn | None = None,
) -> AsyncGenerator[bytes, None]:
    """The export as byte chunks, read from `session` one batch at a time, in id order.

    Withdrawn items are included, with status withdrawn. The caller owns the session and its
    transaction (see snapshot_session for one consistent view).

    Raises:
        ReleaseNotFoundError, AgencyNotFoundError: before the first chunk.
    """
    batches = _items(session, request, batch_size, progress)
    if request.format == "xlsx":
        chunks = _file_chunks(await _xlsx_file(batches))
    else:
        chunks = _TEXT_ENCODERS[request.format](batches)
    async for chunk in chunks:
        yield chunk


async def _counted(
    batches: AsyncIterator[list[ItemRead]], progress: ProgressFn, total: int
) -> AsyncIterator[list[ItemRead]]:
    done = 0
    async for batch in batches:
        yield batch
        done += len(batch)
        progress(done, total)


def _uncancelled(session: AsyncSession) -> anyio.CancelScope:
    """A scope that a cancel waits outside of, on SQLite (see snapshot_session); else none."""
    return anyio.CancelScope(shield=session.get_bind().dialect.name == "sqlite")


@asynccontextmanager
async def snapshot_session(
    maker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A session in one read-only transaction that sees a single state of the catalogue.

    PostgreSQL gets REPEATABLE READ, READ ONLY: every batch of an export reads the snapshot its
    first query saw, whatever commits meanwhile. SQLite (WAL) gives one read transaction that
    snapshot by itself. A sessionmaker bound to a connection joins its owner's transaction.

    An HTTP client that goes away mid-download cancels the body's task. On SQLite, a cancel that
    lands inside a database call makes SQLAlchemy invalidate the connection there, in a task that
    is being cancelled: the pool then logs a failed reset, and the closing of the connection's
    thread is left pending. So there the export's database calls (here and in _items, _batches)
    run shielded (_uncancelled), and the cancel lands between them, where the session closes
    cleanly; a SQLite call is bounded by the pool's and the busy timeouts. On PostgreSQL nothing
    is shielded: a query there can wait on a lock for as long as the lock is held, and a
    cancelled export must not keep its connection that long (asyncpg's cancelled connection is
    discarded without noise). The transaction only reads: it ends by closing the session (a
    rollback).
    """
    session = maker()
    try:
        with _uncancelled(session):
            await session.begin()
            options: dict[str, Any] = {}
            if (
                not isinstance(maker.kw.get("bind"), AsyncConnection)
                and session.get_bind().dialect.name == "postgresql"
            ):
                options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
            # The options apply to the connection this transaction starts on, and end with it.
            await session.connection(execution_options=options)
        yield session
    finally:
        with _uncancelled(session):
            await session.close()


async def _xlsx_in_own_session(
    maker: async_sessionmaker[AsyncSession],
    request: ExportRequest,
    batch_size: int,
    progress: ProgressFn | None,
) -> str:
    path: str | None = None
    try:
        async with snapshot_session(maker) as session:
            path = await _xlsx_file(_items(session, request, batch_size, progress))
    except BaseException:
        if path is not None:
            await anyio.Path(path).unlink(missing_ok=True)
        raise
    return path


async def export(
    maker: async_sessionmaker[AsyncSession],
    request: ExportRequest,
    *,
    batch_size: int = BATCH_SIZE,
    progress: ProgressFn | None = None,
) -> AsyncGenerator[bytes, None]:
    """The export as byte chunks, from a session of its own (an HTTP body outlives the request's).

    Raises:
        ReleaseNotFoundError, AgencyNotFoundError: before the first chunk.
    """
    if request.format == "xlsx":
        # Streamed from the file once the session has ended: the connection is back in the pool
        # before a slow client starts downloading.
        chunks = _file_chunks(await _xlsx_in_own_session(maker, request, batch_size, progress))
        async for chunk in chunks:
            yield chunk
        return
    async with snapshot_session(maker) as session:
        async for chunk in stream(session, request, batch_size=batch_size, progress=progress):
            yield chunk
