"""`powercat import`: load published lists; each file lands whole or not at all."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from app import errors
from app.cli.base import CliError, actor, cli, print_error, session_scope
from app.schemas.imports import ImportReport
from app.services import imports
from app.services.revisions import Actor

FORMAT_CHOICES = ("auto", "tsv", "pdf-text", "csv", "xlsx", "json", "ndjson")
MAX_IMPORT_FILE_BYTES = 200 * 1024 * 1024
# A file this large takes long enough to import that a bar is worth showing; a smaller one is
# done before a bar would tell anything.
PROGRESS_MIN_BYTES = 1024 * 1024
_PHASES = {
    "parse": "parsing",
    "prepare": "cleaning text",
    "match": "matching",
    "write": "writing",
    "done": "done",
}


@contextmanager
def progress_bar(label: str, size: int) -> Iterator[imports.ProgressFn | None]:
    """A bar over the whole import on stderr, for a long file when stderr is a terminal.

    Nothing is drawn otherwise, so piped or redirected output (`--json > report.json`, logs in
    CI) never carries control sequences; the bar goes to stderr even when stdout is redirected.
    """
    if size < PROGRESS_MIN_BYTES or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn())
    console = Console(stderr=True)
    with Progress(*columns, TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task(f"{label}: {_PHASES['parse']}", total=None)

        def advance(phase: str, done: int, total: int | None) -> None:
            description = f"{label}: {_PHASES.get(phase, phase)}"
            bar.update(task, description=description, completed=done, total=total)

        yield advance


async def _import_one(
    path: Path,
    data: bytes,
    *,
    fmt: str,
    agency: str | None,
    dry_run: bool,
    withdraw_missing: bool,
) -> ImportReport:
    with progress_bar(path.name, len(data)) as progress:
        async with session_scope(write=True) as session:
            return await imports.run(
                session,
                imports.ImportRequest(
                    file_name=path.name,
                    data=data,
                    format=fmt,
                    agency=agency,
                    dry_run=dry_run,
                    withdraw_missing=withdraw_missing,
                ),
                actor=Actor(actor()),
                progress=progress,
            )


def _print_report(report: ImportReport) -> None:
    c = report.counts
    verb = {"imported": "imported", "unchanged": "unchanged", "dry_run": "dry run"}[report.status]
    typer.echo(
        f"{report.file}: {verb} ({report.format}, {', '.join(report.agencies) or 'no agency'}): "
        f"{c.items} items, {c.new} new, {c.changed} changed, {c.unchanged} unchanged, "
        f"{c.restored} restored, {c.vanished} vanished, {c.withdrawn} withdrawn, "
        f"{c.warnings} warnings, {c.errors} errors"
    )
    for p in report.problems:
        where = f"{p.file}:{p.line}" if p.line else p.file
        if p.line_end and p.line_end != p.line:
            where += f"-{p.line_end}"
        field = f" [{p.field}]" if p.field else ""
        typer.echo(f"  {p.severity}: {where}{field} {p.code}: {p.message}")
    for ref in report.vanished:
        typer.echo(f"  vanished: id {ref.id} seq {ref.seq} {ref.name}")
    for issue in report.validation:
        seqs = ", ".join(str(i.get("seq")) for i in issue["items"])
        typer.echo(
            f"  would add {issue['severity']}: {issue['rule']} (seq {seqs}): {issue['message']}"
        )


@cli.command("import")
def import_(
    paths: Annotated[list[Path], typer.Argument(help="list files to import", show_default=False)],
    agency: Annotated[
        str | None, typer.Option("--agency", help="agency the items belong to")
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="layout: " + "|".join(FORMAT_CHOICES))
    ] = "auto",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="report only; write nothing")] = False,
    withdraw_missing: Annotated[
        bool,
        typer.Option(
            "--withdraw-missing", help="withdraw the agency's items missing from the file"
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the reports as JSON")] = False,
) -> None:
    """Import published lists; each file lands whole or not at all."""
    if fmt not in FORMAT_CHOICES:
        raise CliError(f"unknown format '{fmt}': use one of {', '.join(FORMAT_CHOICES)}", 2)
    failed = 0
    reports: list[ImportReport] = []
    for path in paths:
        if not path.is_file():
            print_error(f"{path}: no such file")
            failed += 1
            continue
        if path.stat().st_size > MAX_IMPORT_FILE_BYTES:
            print_error(
                f"{path}: larger than {MAX_IMPORT_FILE_BYTES // 1_048_576} MB; not imported"
            )
            failed += 1
            continue
        try:
            report = asyncio.run(
                _import_one(
                    path,
                    path.read_bytes(),
                    fmt=fmt,
                    agency=agency,
                    dry_run=dry_run,
                    withdraw_missing=withdraw_missing,
                )
            )
        except errors.DomainError as exc:
            print_error(f"{path}: {exc.message}; nothing imported")
            failed += 1
            continue
        reports.append(report)
        if not as_json:
            _print_report(report)
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in reports], ensure_ascii=False))
    if failed:
        raise typer.Exit(1)
