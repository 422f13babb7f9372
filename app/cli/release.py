"""`powercat release create | list | diff`: named, immutable states of the catalogue."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Annotated

import pydantic
import typer

from app.cli.base import CliError, actor, cli, session_scope
from app.schemas.releases import (
    CURRENT,
    RELEASE_NAME_PATTERN,
    ReleaseCreate,
    ReleaseDiff,
    ReleaseRead,
)
from app.services import releases
from app.services.revisions import Actor

release_cli = typer.Typer(
    help="Releases: the catalogue frozen under a name, compared with each other or with now.",
    no_args_is_help=True,
)
cli.add_typer(release_cli, name="release")


def _check_name(name: str, *, allow_current: bool = False) -> str:
    if allow_current and name == CURRENT:
        return name
    if not re.fullmatch(RELEASE_NAME_PATTERN, name):
        raise CliError(
            f"'{name[:100]}' is not a release name: letters, digits, '.', '_' and '-', "
            "starting with a letter or digit, at most 100",
            2,
        )
    return name


def _line(r: ReleaseRead) -> str:
    forced = f"forced: {r.force_reason}" if r.is_forced else "not forced"
    note = f"\t{r.note}" if r.note else ""
    when = r.created_at.isoformat()
    return f"{r.name}\t{when}\t{r.item_count} items\t{r.created_by}\t{forced}{note}"


async def _create(data: ReleaseCreate) -> ReleaseRead:
    async with session_scope(write=True) as session:
        return await releases.create(session, data=data, actor=Actor(actor(), data.reason))


@release_cli.command("create")
def release_create(
    name: Annotated[str, typer.Argument(help="release name, e.g. 2026-11", show_default=False)],
    note: Annotated[str | None, typer.Option("--note", help="what this release is")] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="release despite error-severity issues (needs --reason)"),
    ] = False,
    reason: Annotated[
        str | None, typer.Option("--reason", help="why a forced release is made (recorded)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the release as JSON")] = False,
) -> None:
    """Freeze the current catalogue as NAME; refused while validation finds errors."""
    _check_name(name)
    if force and not (reason and reason.strip()):
        raise CliError("--force needs --reason TEXT: the reason is recorded with the release", 2)
    try:
        data = ReleaseCreate(name=name, note=note, force=force, reason=reason)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CliError(f"--{where}: {first['msg']}", 2) from None
    created = asyncio.run(_create(data))
    if as_json:
        typer.echo(created.model_dump_json())
    else:
        typer.echo(_line(created))


@release_cli.command("list")
def release_list(
    as_json: Annotated[bool, typer.Option("--json", help="print the releases as JSON")] = False,
) -> None:
    """Every release, oldest first: name, time, items, author, whether forced, note."""

    async def _list() -> list[ReleaseRead]:
        async with session_scope() as session:
            return await releases.list_releases(session)

    found = asyncio.run(_list())
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in found], ensure_ascii=False))
        return
    for r in found:
        typer.echo(_line(r))
    if not found:
        typer.echo("no releases yet: powercat release create NAME")


def _print_diff(d: ReleaseDiff) -> None:
    c = d.counts
    typer.echo(
        f"{d.base} → {d.target}: {c.added} added, {c.changed} changed, {c.withdrawn} withdrawn"
    )
    for ref in d.added:
        typer.echo(f"+ {ref.id}\t{ref.agency}\t{ref.seq or ''}\t{ref.name}")
    for ch in d.changed:
        fields = ", ".join(f.field for f in ch.changes)
        typer.echo(f"~ {ch.id}\t{ch.agency}\t{ch.seq or ''}\t{ch.name}\t{fields}")
    for ref in d.withdrawn:
        typer.echo(f"- {ref.id}\t{ref.agency}\t{ref.seq or ''}\t{ref.name}")


@release_cli.command("diff")
def release_diff(
    base: Annotated[str, typer.Argument(help="release name, or current", show_default=False)],
    target: Annotated[str, typer.Argument(help="release name, or current", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="print the diff as JSON")] = False,
) -> None:
    """What changed from release BASE to TARGET (current: now): added, changed, withdrawn."""
    _check_name(base, allow_current=True)
    _check_name(target, allow_current=True)

    async def _diff() -> ReleaseDiff:
        async with session_scope() as session:
            return await releases.diff(session, base=base, target=target)

    found = asyncio.run(_diff())
    if as_json:
        typer.echo(found.model_dump_json())
    else:
        _print_diff(found)
