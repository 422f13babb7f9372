"""The one engine factory: SQLite (embedded default) or PostgreSQL, chosen by URL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import orjson
from sqlalchemy import make_url
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from app.db import sqlite
from app.errors import InvalidInputError
from app.settings import Settings

SUPPORTED_BACKENDS = ("sqlite", "postgresql")


def parse_url(raw: str) -> URL:
    """Parse and check a database URL; raises InvalidInputError with a one-line reason."""
    try:
        url = make_url(raw)
    except Exception as exc:  # SQLAlchemy raises ArgumentError with the raw URL inside
        raise InvalidInputError("database URL is not a valid SQLAlchemy URL") from exc
    backend = url.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise InvalidInputError(
            f"unsupported database '{backend}': use sqlite+aiosqlite:// or postgresql+asyncpg://"
        )
    if backend == "sqlite" and url.get_driver_name() != "aiosqlite":
        url = url.set(drivername="sqlite+aiosqlite")
    if backend == "postgresql" and url.get_driver_name() != "asyncpg":
        url = url.set(drivername="postgresql+asyncpg")
    return url


def sqlite_file(url: URL) -> Path | None:
    """The file a SQLite URL names; None for another database, an in-memory one or a `file:`
    URI (whose path SQLite reads itself)."""
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return None if database.startswith("file:") else Path(database).expanduser()


def create_engine(
    settings: Settings, *, url: str | None = None, read_only: bool = False, pooled: bool = False
) -> AsyncEngine:
    """Build the async engine for `url` (default: settings.database_url).

    `read_only` engines (the read replica) refuse writes at the database, so a write routed to
    them by mistake fails loudly instead of landing on the wrong server.

    `pooled` SQLite engines keep their connections: the server's lifespan creates and disposes
    its engine on one event loop, and opening a SQLite connection (a thread, the PRAGMAs) costs
    more than a lookup. Elsewhere (CLI, tests) several loops may share an engine, so the default
    opens a connection per use. PostgreSQL engines are always pooled.

    JSON columns are read with orjson, at twice the stdlib's speed: a page of the change feed
    decodes 1,000 revision snapshots. Writes keep the stdlib's serialiser (see models/types.py).
    """
    parsed = parse_url(url or settings.database_url)
    logging_name = _name(read_only)
    if parsed.get_backend_name() == "sqlite":
        if (path := sqlite_file(parsed)) is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        # NullPool never hands a connection across event loops (tests and the CLI run several).
        pool: dict[str, Any] = (
            {
                "pool_size": settings.db_pool_size,
                "max_overflow": 0,
                "pool_timeout": settings.db_pool_timeout_s,
            }
            if pooled
            else {"poolclass": NullPool}
        )
        engine = create_async_engine(
            parsed, logging_name=logging_name, json_deserializer=orjson.loads, **pool
        )
        sqlite.install(engine, busy_timeout_ms=settings.sqlite_busy_timeout_ms, read_only=read_only)
        return engine
    server_settings = _server_settings(read_only)
    return create_async_engine(
        parsed,
        # No pre-ping: it costs three round trips (BEGIN, a ping, ROLLBACK) on every checkout,
        # more than a lookup itself. A connection the database dropped fails its request with a
        # 503 (Retry-After), and SQLAlchemy then recycles every pooled connection older than the
        # failure, so the requests after it reconnect (tests/api/test_faults.py).
        pool_size=settings.db_pool_size,
        max_overflow=0,
        pool_timeout=settings.db_pool_timeout_s,
        logging_name=logging_name,
        json_deserializer=orjson.loads,
        # READ COMMITTED (PostgreSQL's default, stated so nobody has to guess): writes are
        # guarded by the item version column; exports open their own REPEATABLE READ transaction.
        isolation_level="READ COMMITTED",
        connect_args={
            "server_settings": server_settings,
            "timeout": settings.db_pool_timeout_s,
        },
    )


def _name(read_only: bool) -> str:
    """The engine's logging name and its connections' application_name."""
    return "powercat.read" if read_only else "powercat"


def _server_settings(read_only: bool) -> dict[str, str]:
    settings = {"application_name": _name(read_only)}
    if read_only:
        settings["default_transaction_read_only"] = "on"
    return settings


async def create_driver_pool(
    engine: AsyncEngine, settings: Settings, *, read_only: bool
) -> asyncpg.Pool | None:
    """PostgreSQL: a bare asyncpg pool on `engine`'s database, for the lookup's fast route.

    Checking a connection out of SQLAlchemy's async pool and back (the AsyncConnection, its
    greenlet, the events) was a fifth of a lookup's server time; on a bare pool the fast route
    answered about a third more lookups at 1M items (docs/performance.md). The pool is made as
    the engine's connections are: the same server settings (read-only for the replica), size
    and timeout, and JSON decoded by orjson as the engine's codecs do, so rows are equal.
    It opens no connection until a lookup needs one, as the engine does. None on SQLite.
    """
    if engine.dialect.name != "postgresql":
        return None
    connect = driver_connect_args(engine)

    async def init(connection: asyncpg.Connection) -> None:
        for name in ("json", "jsonb"):
            await connection.set_type_codec(
                name,
                schema="pg_catalog",
                encoder=_json_text,
                decoder=orjson.loads,
                format="text",
            )

    pool: asyncpg.Pool = await asyncpg.create_pool(
        min_size=0,
        max_size=settings.db_pool_size,
        timeout=settings.db_pool_timeout_s,
        server_settings=_server_settings(read_only),
        init=init,
        reset=_nothing_to_reset,
        **connect,
    )
    return pool


async def _nothing_to_reset(connection: asyncpg.Connection) -> None:
    """The driver pool's reset on release: nothing beyond what asyncpg always does.

    Its connections run single SELECTs in autocommit, which leave no session state: no SET, no
    LISTEN, no open cursor, no advisory lock. asyncpg's default reset sends a query to clear all
    of those (advisory unlock, CLOSE ALL, UNLISTEN *, RESET ALL) on every release, a round trip
    and some server work on each lookup. Before calling this, asyncpg still rolls back an open
    transaction and drops listeners (tests/api/test_lookup_fast_path.py).
    """


# URL query options that SQLAlchemy's asyncpg adapter consumes itself; asyncpg would send any
# option it does not know to the server as a setting, and the server refuses the connection.
_ADAPTER_OPTIONS = ("prepared_statement_cache_size", "prepared_statement_name_func")
# Options asyncpg.connect takes as numbers, which a URL query can only give as text.
_NUMERIC_OPTIONS = {
    "statement_cache_size": int,
    "max_cached_statement_lifetime": float,
    "max_cacheable_statement_size": int,
    "command_timeout": float,
}


def driver_connect_args(engine: AsyncEngine) -> dict[str, Any]:
    """asyncpg.connect's keywords for `engine`'s database, read from its URL as SQLAlchemy does.

    Not a DSN rendered from the URL: the dialect's own reading already undid the URL's quoting
    (a password with '@' or '/'), splits several hosts, and keeps the query options, of which
    those meant for SQLAlchemy's adapter are dropped here. An adapter told to prepare nothing
    (prepared_statement_cache_size=0, as behind PgBouncer in transaction mode) makes the pool
    keep no prepared statements either.
    """
    _args, params = engine.dialect.create_connect_args(engine.url)
    params = dict(params)
    adapter = {name: params.pop(name) for name in _ADAPTER_OPTIONS if name in params}
    for name, kind in _NUMERIC_OPTIONS.items():
        if isinstance(params.get(name), str):
            params[name] = kind(params[name])
    if adapter.get("prepared_statement_cache_size") == 0:
        params.setdefault("statement_cache_size", 0)
    return params


def _json_text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded attributes after commit (responses are built after it)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def create_read_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for requests that only read.

    On PostgreSQL their connections run in autocommit: under READ COMMITTED every statement takes
    its own snapshot anyway, so a transaction around a read adds nothing but the BEGIN and COMMIT
    round trips, which for a lookup by code are two of its three. (Exports, which need one
    snapshot for the whole file, open their own REPEATABLE READ transaction.) SQLite's BEGIN is
    not a round trip, and its read transaction keeps a multi-statement read on one WAL snapshot.
    """
    return async_sessionmaker(reads_engine(engine), expire_on_commit=False)


def reads_engine(engine: AsyncEngine) -> AsyncEngine:
    """`engine` as requests that only read use it: autocommit on PostgreSQL (see above)."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine


@asynccontextmanager
async def one_snapshot(session: AsyncSession) -> AsyncIterator[None]:
    """The block's statements on `session` read one state of the database.

    For a read of several statements that must agree with each other (a search page: its two
    ranks and the fetch of the items shown). On PostgreSQL a read session runs in autocommit,
    a snapshot a statement; here its connection, the one it already holds if any (a key lookup
    took it), runs the block in a REPEATABLE READ, READ ONLY transaction. No second connection
    is taken, so a request still holds at most one. A session already inside a transaction is
    left to it, and SQLite's read transaction is one snapshot by itself.

    The BEGIN and ROLLBACK are sent as statements of the autocommit connection (SQLAlchemy
    begins a transaction of its own only when autocommit is off, and cannot change the isolation
    of a connection a session already holds). Sent through SQLAlchemy, a lost connection is
    the same error as on any statement (a 503; the pool recycled). The transaction must end
    before the connection goes back to the pool, shared with writers: its end is shielded from
    cancellation, and a connection whose BEGIN or ROLLBACK did not complete (an error, a
    cancellation in flight) is discarded rather than returned, since its state is unknown.
    """
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        yield
        return
    raw = await connection.get_raw_connection()
    adapter: Any = raw.dbapi_connection
    driver: asyncpg.Connection = raw.driver_connection
    if not adapter.autocommit or driver.is_in_transaction():
        yield
        return
    try:
        await connection.exec_driver_sql("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    except BaseException:
        await _discard(connection)
        raise
    try:
        yield
    except BaseException:
        await _end_snapshot(connection, failed=True)  # the block's own error is the one to raise
        raise
    await _end_snapshot(connection, failed=False)


async def _end_snapshot(connection: AsyncConnection, *, failed: bool) -> None:
    with anyio.CancelScope(shield=True):
        try:
            await connection.exec_driver_sql("ROLLBACK")  # read only: nothing to commit
        except BaseException:
            await _discard(connection)
            if not failed:
                raise


async def _discard(connection: AsyncConnection) -> None:
    """Close the connection instead of returning it to the pool (once SQLAlchemy has not)."""
    with anyio.CancelScope(shield=True):
        if not connection.invalidated:
            await connection.invalidate()


def backend_name(engine: AsyncEngine) -> str:
    return engine.dialect.name
