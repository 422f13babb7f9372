"""`powercat export`: the catalogue (now or as released) as CSV, XLSX, JSON or NDJSON."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path
from secrets import token_hex
from typing import Annotated

import anyio
import typer

from app.cli.base import (
    CliError,
    cli,
    existing_database_url,
    progress_bar,
    require_migrated,
)
from app.db.engine import create_engine, create_sessionmaker
from app.services import exports, reference
from app.settings import get_settings


class _Sink:
    """Where the export goes: a file that appears only when complete, or standard output."""

    def __init__(self, output: Path | None) -> None:
        self.output = output
        self.partial: Path | None = None
        self.file: anyio.AsyncFile[bytes] | None = None

    async def __aenter__(self) -> _Sink:
        if self.output is not None:
            # A file beside the target, renamed at the end: a failed export never leaves a
            # truncated file under the name asked for. "x" refuses to reuse an existing file.
            self.partial = self.output.with_name(f".{self.output.name}.{token_hex(4)}.partial")
            self.file = await anyio.open_file(self.partial, "xb")
        return self

    async def write(self, chunk: bytes) -> None:
        if self.file is not None:
            await self.file.write(chunk)
        else:
            sys.stdout.buffer.write(chunk)

    async def __aexit__(self, exc_type: object, *_: object) -> None:
        if self.file is not None:
            await self.file.aclose()
        if self.partial is None or self.output is None:
            sys.stdout.buffer.flush()
            return
        if exc_type is None:
            await anyio.Path(self.partial).replace(self.output)
        else:
            await anyio.Path(self.partial).unlink(missing_ok=True)


async def _export(
    fmt: exports.ExportFormat, output: Path | None, agency: str | None, release: str | None
) -> int:
    engine = create_engine(get_settings(), url=existing_database_url())
    written = 0
    try:
        await require_migrated(engine)
        maker = create_sessionmaker(engine)
        async with exports.snapshot_session(maker) as session:
            agency_id = (await reference.agency_by_name(session, agency)).id if agency else None
            request = exports.ExportRequest(format=fmt, release=release, agency_id=agency_id)
            # An unknown release fails here, before a first byte reaches stdout.
            await exports.check(session, request)
            # A bar only when the export goes to a file: on stdout it would mix with the data.
            with progress_bar("export") if output is not None else contextlib.nullcontext() as bar:

                def track(done: int, total: int) -> None:
                    nonlocal written
                    written = done
                    if bar is not None:
                        bar(done, total)

                async with _Sink(output) as sink:
                    async for chunk in exports.stream(session, request, progress=track):
                        await sink.write(chunk)
    finally:
        await engine.dispose()
    return written


@cli.command("export")
def export(
    fmt: Annotated[
        str, typer.Option("--format", help="csv (UTF-8 with BOM) | xlsx | json | ndjson")
    ],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="file to write (default: stdout)")
    ] = None,
    agency: Annotated[
        str | None, typer.Option("--agency", help="only this agency's items (its name)")
    ] = None,
    release: Annotated[
        str | None, typer.Option("--release", help="the items as this release published them")
    ] = None,
) -> None:
    """Export every item (withdrawn ones included) in a file `powercat import` reads back."""
    if fmt not in exports.FORMATS:
        raise CliError(f"unknown format '{fmt}': use one of {', '.join(exports.FORMATS)}", 2)
    if output is None and fmt == "xlsx" and sys.stdout.isatty():
        raise CliError("an XLSX workbook is binary: write it to a file with -o FILE", 2)
    if output is not None and not output.parent.is_dir():
        raise CliError(f"{output.parent}: no such directory", 2)
    try:
        written = asyncio.run(_export(fmt, output, agency, release))
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python from complaining when
        # it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(1) from None
    if output is not None:
        typer.echo(f"wrote {output}: {written} items ({fmt})")
