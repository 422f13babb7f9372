"""`powercat` / `python -m app.cli`: serve, db, openapi (and the catalogue commands)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from app import errors
from app.db import migrations
from app.db.engine import parse_url
from app.settings import get_settings

cli = typer.Typer(
    name="powercat",
    help="Catalogue of government power items (权力事项): service and tools.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_cli = typer.Typer(help="Database migrations.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")

log = logging.getLogger("powercat.cli")


class CliError(Exception):
    """A failure the user can act on: printed as one line, exit code 1 (2 for usage)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def _describe(exc: BaseException) -> str:
    """One line for the user; never the raw database URL (it may carry a password)."""
    if isinstance(exc, errors.DomainError):
        return exc.message
    from sqlalchemy.exc import DBAPIError, OperationalError

    if isinstance(exc, OperationalError | OSError | ConnectionError | TimeoutError):
        root = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        return f"cannot reach the database ({root.__class__.__name__}): check POWERCAT_DATABASE_URL"
    return f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else 'failed'}"


def _database_url() -> str:
    url = get_settings().database_url
    parse_url(url)  # a clear error for an unusable URL before anything else happens
    return url


@db_cli.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="target revision")] = "head",
) -> None:
    """Migrate the database up to REVISION (default: head)."""
    migrations.upgrade(_database_url(), revision)
    typer.echo(f"database at {revision}")


@db_cli.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="target revision, e.g. base")],
) -> None:
    """Migrate the database down to REVISION."""
    migrations.downgrade(_database_url(), revision)
    typer.echo(f"database at {revision}")


@db_cli.command("current")
def db_current() -> None:
    """Print the revision the database is at (and whether it is the head)."""
    import asyncio

    from app.db.engine import create_engine

    async def _current() -> tuple[str, ...]:
        engine = create_engine(get_settings(), url=_database_url())
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

    _database_url()
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
    output: Annotated[Path, typer.Option("-o", "--output", help="file to write")] = Path(
        "openapi/openapi.json"
    ),
) -> None:
    """Write the OpenAPI document the app serves."""
    from app.main import create_app

    document = create_app().openapi()
    text = json.dumps(document, ensure_ascii=False, indent=2, sort_keys=False) + "\n"
    if str(output) == "-":
        sys.stdout.write(text)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output}")


def main() -> None:
    """Console entry point: one line and a non-zero exit on any failure, never a traceback."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        # Standalone mode: usage errors print click's usage line and exit 2.
        cli()
    except KeyboardInterrupt:
        _print_error("interrupted")
        sys.exit(130)
    except CliError as exc:
        _print_error(exc.message)
        sys.exit(exc.exit_code)
    except Exception as exc:
        log.debug("command failed", exc_info=exc)
        _print_error(_describe(exc))
        sys.exit(1)


def _print_error(message: str) -> None:
    sys.stderr.write(f"powercat: error: {message}\n")


if __name__ == "__main__":
    main()
