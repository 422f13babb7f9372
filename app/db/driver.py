"""Hot reads run by the database driver itself, past SQLAlchemy's execution layer.

A lookup by code is one indexed row, and measured with py-spy (docs/performance.md) a quarter of
its CPU went to Connection.execute: the compiled-cache lookup, the execution context, the event
dispatch, the result proxy and the greenlet hops around each of them. A `DriverQuery` compiles
its statement once per dialect, the way SQLAlchemy would, and then hands the SQL string and the
positional values straight to asyncpg (whose own statement cache prepares it once per connection)
or to aiosqlite, applying the same bind and result processors as SQLAlchemy does, so rows come
back with the values Core would have given. It runs on the connection it is given (a session's,
or the lookup's fast path's own), inside whatever transaction that connection has: on a session's
connection it sees what the session sees, tests' rollbacks included.

Only statements built once at import time belong here (their compiled form is kept), and only
statements with plain bound values: an expanding IN list is compiled per call by SQLAlchemy and
is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[str, ...]  # bound parameter names in positional order
    defaults: Mapping[str, Any]  # values the statement binds itself (literals in the statement)
    binders: Mapping[str, Processor]
    keys: tuple[str, ...]  # result column names, as RowMapping would key them
    readers: tuple[Processor, ...]


class DriverQuery:
    """A SELECT run through the driver; rows come back as dicts keyed by column name."""

    def __init__(self, stmt: Select[Any]) -> None:
        self.stmt = stmt
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self.stmt.compile(dialect=dialect)
        if "POSTCOMPILE" in compiled.string or not compiled.positional:
            raise TypeError("DriverQuery needs plain positional bound values")
        names = tuple(compiled.positiontup or ())
        binders = {
            name: compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in names
        }
        columns = list(self.stmt.selected_columns)
        return _Compiled(
            sql=compiled.string,
            params=names,
            defaults={n: v for n, v in compiled.params.items() if not compiled.binds[n].required},
            binders=binders,
            keys=tuple(str(c.key) for c in columns),
            readers=tuple(
                c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns
            ),
        )

    def compiled_for(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            found = self._compiled[dialect.name] = self._compile(dialect)
        return found

    async def fetch(
        self, connection: AsyncConnection, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """The rows of the statement with `params` bound, on `connection`, keyed by column."""
        keys = self.compiled_for(connection.dialect).keys
        return [dict(zip(keys, row, strict=True)) for row in await self.rows(connection, params)]

    async def rows(
        self, connection: AsyncConnection, params: Mapping[str, Any] | None = None
    ) -> Sequence[Sequence[Any]]:
        """The rows as sequences in column order: for pages of many rows, where a dict per row
        costs as much as the rest."""
        c = self.compiled_for(connection.dialect)
        given, values = self._bind(c, params)
        raw = await connection.get_raw_connection()
        sync = connection.sync_connection
        if sync is not None and sync.dispatch.before_cursor_execute:
            # Statement listeners (tracing, the tests' statement logs) still see the statement;
            # there is no cursor nor execution context to give them.
            sync.dispatch.before_cursor_execute(sync, None, c.sql, tuple(values), None, False)
        adapter: Any = raw.dbapi_connection  # SQLAlchemy's adapter around the driver's connection
        driver: Any = raw.driver_connection
        if connection.dialect.name == "postgresql":
            if not (adapter.autocommit or driver.is_in_transaction()):
                # SQLAlchemy begins a transaction on its first statement; a snapshot the caller
                # asked for (an export's REPEATABLE READ) must not miss this one, so let it.
                result = await connection.execute(self.stmt, dict(given))
                return list(result.all())
            rows: Sequence[Sequence[Any]] = await driver.fetch(c.sql, *values)
        else:
            async with driver.execute(c.sql, values) as cursor:
                rows = await cursor.fetchall()
        return self._read(c, rows)

    async def fetch_on_driver(
        self, driver: Any, dialect: Dialect, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """fetch() on a bare asyncpg connection of the driver pool (engine.create_driver_pool),
        outside any transaction, as the engine's autocommit reads run. No SQLAlchemy connection
        is involved, so its statement listeners do not see this one."""
        c = self.compiled_for(dialect)
        _given, values = self._bind(c, params)
        rows = self._read(c, await driver.fetch(c.sql, *values))
        return [dict(zip(c.keys, row, strict=True)) for row in rows]

    @staticmethod
    def _bind(c: _Compiled, params: Mapping[str, Any] | None) -> tuple[dict[str, Any], list[Any]]:
        given = {**c.defaults, **(params or {})}
        values = []
        for name in c.params:
            value = given[name]
            binder = c.binders[name]
            values.append(binder(value) if binder is not None and value is not None else value)
        return given, values

    @staticmethod
    def _read(c: _Compiled, rows: Sequence[Sequence[Any]]) -> Sequence[Sequence[Any]]:
        readers = [(i, read) for i, read in enumerate(c.readers) if read is not None]
        if not readers:
            return rows
        out = []
        for row in rows:
            converted = list(row)
            for i, read in readers:
                converted[i] = read(converted[i])
            out.append(converted)
        return out
