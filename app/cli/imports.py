"""`powercat import`: load published lists; each file lands whole or not at all."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from app import errors
from app.cli.base import CliError, actor, cli, database_url, print_error, session_scope
from app.db.engine import parse_url
from app.schemas.imports import ImportReport
from app.services import imports
from app.services.revisions import Actor

FORMAT_CHOICES = ("auto", "tsv", "pdf-text", "csv", "xlsx", "json", "ndjson")
MAX_IMPORT_FILE_BYTES = 200 * 1024 * 1024
# More files at once than a database host has cores only makes them wait on each other.
MAX_JOBS = 16
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


def _check(path: Path) -> str | None:
    """Why `path` cannot be imported at all, or None."""
    if path.is_dir():
        return f"{path}: a directory; name the files in it (e.g. {path}/*.txt)"
    if not path.is_file():
        return f"{path}: no such file"
    if path.stat().st_size > MAX_IMPORT_FILE_BYTES:
        return f"{path}: larger than {MAX_IMPORT_FILE_BYTES // 1_048_576} MB; not imported"
    return None


def _not_imported(path: Path, exc: errors.DomainError) -> str:
    return f"{path}: {exc.message}; nothing imported"


class _InOrder:
    """Prints each file's outcome in the order the files were given, as soon as it can."""

    def __init__(self, count: int, as_json: bool) -> None:
        self.outcomes: list[ImportReport | str | None] = [None] * count
        self.printed = 0
        self.failed = 0
        self.reports: list[ImportReport] = []
        self.as_json = as_json

    def done(self, index: int, outcome: ImportReport | str) -> None:
        self.outcomes[index] = outcome
        while self.printed < len(self.outcomes):
            ready = self.outcomes[self.printed]
            if ready is None:
                break
            if isinstance(ready, str):
                print_error(ready)
                self.failed += 1
            else:
                self.reports.append(ready)
                if not self.as_json:
                    _print_report(ready)
            self.printed += 1


async def _import_files(
    paths: list[Path], options: dict[str, Any], jobs: int, out: _InOrder
) -> None:
    """Up to `jobs` files at once, each agency's files in the order given.

    With more than one job a file is read before its turn to write, since its agencies decide
    when that is; with one job each file is read as it is imported, under its progress bar.
    """
    ahead = jobs > 1

    async def read(i: int) -> tuple[frozenset[str], Any] | None:
        path = paths[i]
        problem = _check(path)
        if problem is not None:
            out.done(i, problem)
            return None
        request = imports.ImportRequest(file_name=path.name, data=path.read_bytes(), **options)
        if not ahead:
            return frozenset(), (request, None)
        try:
            read_file = await imports.read(request)
        except errors.DomainError as exc:
            out.done(i, _not_imported(path, exc))
            return None
        return read_file.agencies, (request, read_file)

    async def write(i: int, value: Any) -> None:
        request, read_file = value
        bar = contextlib.nullcontext() if ahead else progress_bar(paths[i].name, len(request.data))
        try:
            with bar as progress:
                async with session_scope(write=True) as session:
                    report = await imports.run(
                        session,
                        request,
                        actor=Actor(actor()),
                        progress=progress,
                        read_file=read_file,
                    )
        except errors.DomainError as exc:
            out.done(i, _not_imported(paths[i], exc))
            return
        out.done(i, report)

    await imports.run_in_agency_order(len(paths), read, write, jobs=jobs)


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
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            max=MAX_JOBS,
            help="files imported at once, on PostgreSQL: files of different agencies write"
            " side by side, an agency's own files still one after another in the order given",
        ),
    ] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="print the reports as JSON")] = False,
) -> None:
    """Import published lists; each file lands whole or not at all."""
    if fmt not in FORMAT_CHOICES:
        raise CliError(f"unknown format '{fmt}': use one of {', '.join(FORMAT_CHOICES)}", 2)
    options: dict[str, Any] = {
        "format": fmt,
        "agency": agency,
        "dry_run": dry_run,
        "withdraw_missing": withdraw_missing,
    }
    out = _InOrder(len(paths), as_json)
    # SQLite has one writer at a time: there, files go one after another whatever --jobs says.
    if jobs > 1 and parse_url(database_url()).get_backend_name() == "sqlite":
        jobs = 1
    asyncio.run(_import_files(paths, options, jobs, out))
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in out.reports], ensure_ascii=False))
    if out.failed:
        raise typer.Exit(1)
