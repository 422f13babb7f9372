"""`powercat keys …`: create, list and revoke API keys (tokens are shown once)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from app.cli.base import CliError, actor, cli, session_scope
from app.enums import KeyScope
from app.services import keys
from app.services.revisions import Actor

keys_cli = typer.Typer(help="API keys for writers and readers.", no_args_is_help=True)
cli.add_typer(keys_cli, name="keys")


def _actor(reason: str | None) -> Actor:
    """The command line acts as its login user; the reason goes to the audit trail."""
    if reason is not None and (len(reason) > 1000 or "\x00" in reason):
        raise CliError("a reason is at most 1000 characters, without NUL", 2)
    return Actor(actor(), reason=reason or None)


@keys_cli.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", help="who or what the key is for")],
    agency: Annotated[
        list[str] | None, typer.Option("--agency", help="agency a write key may change (repeat)")
    ] = None,
    scope: Annotated[
        str | None,
        typer.Option(
            "--scope",
            help="read, write or admin; by default write with --agency, else read",
            show_default=False,
        ),
    ] = None,
    reason: Annotated[
        str | None, typer.Option("--reason", help="why (for the audit trail)")
    ] = None,
) -> None:
    """Create a key and print its token once: it is stored only as a hash."""
    # Without --scope the key may do what its options name and no more: change the agencies
    # given, or read.
    scope = scope or ("write" if agency else "read")
    if scope not in {s.value for s in KeyScope}:
        raise CliError(f"unknown scope '{scope}': use read, write or admin", 2)

    async def go() -> tuple[keys.KeyInfo, str]:
        async with session_scope(write=True) as session:
            return await keys.create(
                session,
                name=name,
                scope=KeyScope(scope),
                agency_names=agency or [],
                actor=_actor(reason),
            )

    info, token = asyncio.run(go())
    typer.echo(token)
    typer.echo(
        f"key {info.id} ({info.scope}{': ' + ', '.join(info.agencies) if info.agencies else ''}) "
        "created; the token above is shown only now",
        err=True,
    )


@keys_cli.command("list")
def keys_list() -> None:
    """List keys (id, prefix, scope, agencies, created, revoked); never the tokens."""

    async def go() -> list[keys.KeyInfo]:
        async with session_scope() as session:
            return await keys.list_keys(session)

    for k in asyncio.run(go()):
        state = f"revoked {k.revoked_at}" if k.revoked_at else "active"
        agencies = ", ".join(k.agencies) or "-"
        typer.echo(f"{k.id}\t{k.prefix}…\t{k.scope}\t{k.name}\t{agencies}\t{k.created_at}\t{state}")


@keys_cli.command("revoke")
def keys_revoke(
    key_id: Annotated[int, typer.Argument(help="key id from `keys list`")],
    reason: Annotated[
        str | None, typer.Option("--reason", help="why (for the audit trail)")
    ] = None,
) -> None:
    """Revoke a key; requests with it fail at once."""

    async def go() -> keys.KeyInfo:
        async with session_scope(write=True) as session:
            return await keys.revoke(session, key_id=key_id, actor=_actor(reason))

    info = asyncio.run(go())
    typer.echo(f"key {info.id} revoked")
