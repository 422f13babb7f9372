"""`powercat db …`, `serve` and `openapi`: operating the service."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from app.cli.base import cli, database_url
from app.db import migrations
from app.db.engine import create_engine
from app.settings import get_settings

db_cli = typer.Typer(help="Database migrations.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")


@db_cli.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="target revision")] = "head",
) -> None:
    """Migrate the database up to REVISION (default: head)."""
    migrations.upgrade(database_url(), revision)
    typer.echo(f"database at {revision}")


@db_cli.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="target revision, e.g. base")],
) -> None:
    """Migrate the database down to REVISION."""
    migrations.downgrade(database_url(), revision)
    typer.echo(f"database at {revision}")


@db_cli.command("current")
def db_current() -> None:
    """Print the revision the database is at (and whether it is the head)."""

    async def _current() -> tuple[str, ...]:
        engine = create_engine(get_settings(), url=database_url())
        try:
            return await migrations.current_revisions(engine)
        finally:
            await engine.dispose()

    current = asyncio.run(_current())
    heads = migrations.head_revisions()
    if not current:
        typer.echo("none (not migrated): run `powercat db upgrade`")
        return
    state = "head" if set(current) == set(heads) else f"behind head {','.join(heads)}"
    typer.echo(f"{','.join(current)} ({state})")


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="worker processes")] = 1,
) -> None:
    """Serve the HTTP API (uvicorn)."""
    import uvicorn

    database_url()
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        server_header=False,
        proxy_headers=False,
        log_level=get_settings().log_level.lower(),
    )


@cli.command()
def openapi(
    output: Annotated[
        Path, typer.Option("-o", "--output", help="file to write, - for stdout")
    ] = Path("openapi/openapi.json"),
) -> None:
    """Write the OpenAPI document the app serves."""
    from app.main import create_app

    document = create_app().openapi()
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    if str(output) == "-":
        sys.stdout.write(text)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output}")
