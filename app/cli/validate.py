"""`powercat validate`: check the catalogue against every rule; exit 1 when errors exist."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from app.cli.base import CliError, cli, describe, session_scope
from app.errors import AgencyNotFoundError
from app.services import reference
from app.services.validation import docs, rules, runner, store
from app.services.validation.rules import IssueData

FORMAT_CHOICES = ("text", "json")
CHECK_FAILED = 3
_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


async def _evaluate(agency: str | None) -> list[IssueData]:
    # Read-only: the check stores nothing (POST /api/v1/validation-runs keeps history).
    async with session_scope() as session:
        agency_id = (await reference.agency_by_name(session, agency)).id if agency else None
        return await runner.evaluate(session, agency_id=agency_id)


def _summary(issues: list[IssueData]) -> str:
    c = runner.counts(issues)
    return f"{len(issues)} issues (error {c.error}, warning {c.warning}, info {c.info})"


def _print_table(issues: list[IssueData]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(show_lines=True)
    for column in ("severity", "rule", "items", "field", "message"):
        table.add_column(column, overflow="fold")
    for found in issues:
        severity = found.severity.value
        table.add_row(
            f"[{_SEVERITY_STYLE[severity]}]{severity}[/]",
            found.rule,
            rules.describe_items(found.items),
            found.field or "",
            found.message,
        )
    console = Console()
    if issues:
        console.print(table)
    console.print(_summary(issues))


def _print_lines(issues: list[IssueData]) -> None:
    # Not a terminal: one tab-separated line per issue, easy to grep and cut.
    for found in issues:
        typer.echo(
            "\t".join(
                (
                    found.severity.value,
                    found.rule,
                    rules.describe_items(found.items),
                    found.field or "",
                    found.message,
                )
            )
        )
    typer.echo(_summary(issues))


@cli.command("validate")
def validate(
    fmt: Annotated[
        str, typer.Option("--format", help="output: " + "|".join(FORMAT_CHOICES))
    ] = "text",
    agency: Annotated[
        str | None, typer.Option("--agency", help="only this agency's items (its name)")
    ] = None,
) -> None:
    """Check the catalogue against every rule; exit 1 when any error-severity issue exists
    (2: bad options; 3: the check could not run, e.g. the database is unreachable)."""
    if fmt not in FORMAT_CHOICES:
        raise CliError(f"unknown format '{fmt}': use one of {', '.join(FORMAT_CHOICES)}", 2)
    try:
        issues = asyncio.run(_evaluate(agency))
    except AgencyNotFoundError as exc:
        raise CliError(exc.message, 2) from exc
    except CliError as exc:
        # Exit 1 says the data has errors: a check that could not run must not say so too.
        raise CliError(exc.message, CHECK_FAILED) from exc
    except Exception as exc:
        raise CliError(describe(exc), CHECK_FAILED) from exc
    if fmt == "json":
        typer.echo(runner.report(issues).model_dump_json())
    elif sys.stdout.isatty():
        _print_table(issues)
    else:
        _print_lines(issues)
    if any(found.severity.value == "error" for found in issues):
        raise typer.Exit(1)


@cli.command("rules-doc")
def rules_doc(
    path: Annotated[
        Path, typer.Argument(help="the document whose rules section to rewrite")
    ] = Path("docs/validation.md"),
    check: Annotated[
        bool, typer.Option("--check", help="change nothing; exit 1 when the section is stale")
    ] = False,
) -> None:
    """Rewrite the rules section of docs/validation.md from the rules registry."""
    try:
        document = path.read_text(encoding="utf-8")
        new = docs.updated(document, store.list_rules())
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except docs.MissingSectionError as exc:
        raise CliError(f"{path}: {exc}") from exc
    if check:
        if new != document:
            raise CliError(f"{path}: the rules section is stale; run powercat rules-doc")
        typer.echo(f"{path} is up to date")
        return
    if new != document:
        path.write_text(new, encoding="utf-8")
        typer.echo(f"wrote {path}")
    else:
        typer.echo(f"{path} is up to date")
