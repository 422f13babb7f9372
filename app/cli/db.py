"""`powercat db …`, `serve` and `openapi`: operating the service."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from app.cli.base import CliError, cli, database_url, missing_sqlite_file
from app.db import migrations
from app.db.engine import create_engine
from app.settings import METRICS_DIR_VARIABLE, METRICS_FILE, get_settings

db_cli = typer.Typer(help="Database migrations.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")


@db_cli.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="target revision")] = "head",
) -> None:
    """Migrate the database up to REVISION (default: head)."""
    with _alembic_errors():
        migrations.upgrade(database_url(), revision)
    typer.echo(f"database at {revision}")


@db_cli.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="target revision, e.g. base")],
) -> None:
    """Migrate the database down to REVISION."""
    with _alembic_errors():
        migrations.downgrade(database_url(), revision)
    typer.echo(f"database at {revision}")


@contextlib.contextmanager
def _alembic_errors() -> Iterator[None]:
    """Alembic's refusals (a revision it does not know, a direction that does not go there) in
    its own words, without its class name."""
    from alembic.util import CommandError

    try:
        yield
    except CommandError as exc:
        raise CliError(str(exc).splitlines()[0] if str(exc) else "migration refused") from exc


@db_cli.command("current")
def db_current() -> None:
    """Print the revision the database is at (and whether it is the head)."""

    async def _current() -> tuple[str, ...] | None:
        url = database_url()
        if missing_sqlite_file(url) is not None:
            return None  # asking must not create it
        engine = create_engine(get_settings(), url=url)
        try:
            return await migrations.current_revisions(engine)
        finally:
            await engine.dispose()

    current = asyncio.run(_current())
    heads = migrations.head_revisions()
    if current is None:
        typer.echo("none (no database file yet): run `powercat db upgrade`")
        return
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
    _check_address(host, port, workers)
    with _shared_metrics(workers):
        uvicorn.run(
            "app.main:create_app",
            factory=True,
            # Named, not imported: importing app.api makes the metrics, which must wait for
            # _shared_metrics to ready their directory (uvicorn imports it as it starts).
            http="app.api.wire:ProblemHttpToolsProtocol",
            host=host,
            port=port,
            workers=workers,
            server_header=False,
            proxy_headers=False,
            log_level=get_settings().log_level.lower(),
        )


def _check_address(host: str, port: int, workers: int) -> None:
    """Fail in one line when the server could not listen on host:port (the port is taken, the
    host is no address of this machine), rather than with uvicorn's log of the error. Bound as
    uvicorn binds: IPv6 when the host has a colon, with SO_REUSEADDR (a port that only has
    connections closing on it is free). One worker listens through asyncio, whose IPv6 socket
    is IPv6 only; several share one socket of uvicorn's, which takes the IPv4 port too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and workers == 1:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            probe.bind((host, port))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        shown = f"[{host}]" if family == socket.AF_INET6 else host
        raise CliError(f"cannot listen on {shown}:{port}: {reason.lower()}") from exc


@contextlib.contextmanager
def _shared_metrics(workers: int) -> Iterator[None]:
    """Where the workers keep their metrics, so that a scrape of any of them reports all
    (app/api/metrics.py): PROMETHEUS_MULTIPROC_DIR when the operator set it, emptied of an earlier
    run's figures (prometheus_client asks for that); else, for more than one worker, a directory
    of this run's own, removed when it ends. The workers inherit the variable as they start."""
    given = os.environ.get(METRICS_DIR_VARIABLE)
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        # prometheus_client's files only: the directory may hold anything else, a SQLite
        # catalogue included.
        for stale in directory.glob("*.db"):
            if METRICS_FILE.fullmatch(stale.name):
                stale.unlink()
        yield
    elif workers == 1:
        yield
    else:
        with tempfile.TemporaryDirectory(prefix="powercat-metrics-") as made:
            os.environ[METRICS_DIR_VARIABLE] = made
            try:
                yield
            finally:
                del os.environ[METRICS_DIR_VARIABLE]


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
