"""Shared CLI plumbing: the Typer app, one-line errors, database sessions, progress."""

from __future__ import annotations

import getpass
import logging
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import typer
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app import errors
from app.db import migrations
from app.db.engine import create_engine, create_sessionmaker, parse_url, sqlite_file
from app.db.sqlite import write_transaction
from app.settings import get_settings

cli = typer.Typer(
    name="powercat",
    help="Catalogue of government power items (权力事项): service and tools.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

log = logging.getLogger("powercat.cli")


class CliError(Exception):
    """A failure the user can act on: printed as one line, exit code 1 (2 for usage)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def describe(exc: BaseException) -> str:
    """One line for the user; never the raw database URL (it may carry a password)."""
    if isinstance(exc, errors.DomainError):
        return exc.message
    from sqlalchemy.exc import DBAPIError, OperationalError

    if isinstance(exc, OperationalError | OSError | ConnectionError | TimeoutError):
        root = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        return f"cannot reach the database ({root.__class__.__name__}): check POWERCAT_DATABASE_URL"
    return f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else 'failed'}"


def print_error(message: str) -> None:
    sys.stderr.write(f"powercat: error: {message}\n")


def database_url() -> str:
    url = get_settings().database_url
    parse_url(url)  # a clear error for an unusable URL before anything else happens
    return url


def actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name in some containers
        return "cli"


def missing_sqlite_file(url: str) -> Path | None:
    """The path of a SQLite database file that does not exist (connecting, or making an engine,
    would create it and its directory, empty), else None."""
    path = sqlite_file(parse_url(url))
    return path if path is not None and not path.exists() else None


def existing_database_url() -> str:
    """database_url(), for a command that needs the database made already: reading must not
    leave an empty database file (and its directory) behind."""
    url = database_url()
    if (path := missing_sqlite_file(url)) is not None:
        raise CliError(f"no database at {path}: run `powercat db upgrade`")
    return url


async def require_migrated(engine: AsyncEngine) -> None:
    current = await migrations.current_revisions(engine)
    if set(current) != set(migrations.head_revisions()):
        raise CliError("the database is not migrated to the head: run `powercat db upgrade`")


@asynccontextmanager
async def session_scope(*, write: bool = False) -> AsyncIterator[AsyncSession]:
    """A session in one transaction on a migrated database; commits when the block succeeds."""
    engine = create_engine(get_settings(), url=existing_database_url())
    try:
        await require_migrated(engine)
        maker = create_sessionmaker(engine)
        if write:
            with write_transaction():
                async with maker() as session, session.begin():
                    yield session
        else:
            async with maker() as session, session.begin():
                yield session
    finally:
        await engine.dispose()


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on a terminal; nothing when stderr is not one."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(label, total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance
