"""SQLite connection setup: PRAGMAs and explicit BEGIN, so savepoints and DDL behave."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

# Set by write paths so their transaction takes SQLite's write lock up front (BEGIN IMMEDIATE)
# instead of upgrading halfway and failing with SQLITE_BUSY.
WRITE_TXN: ContextVar[bool] = ContextVar("powercat_write_txn", default=False)


@contextmanager
def write_transaction() -> Iterator[None]:
    """Mark the transactions begun inside this block as writers."""
    token = WRITE_TXN.set(True)
    try:
        yield
    finally:
        WRITE_TXN.reset(token)


def install(engine: AsyncEngine, *, busy_timeout_ms: int, read_only: bool = False) -> None:
    """Attach the connect/begin listeners to a SQLite engine (`read_only`: refuse writes)."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Python 3.11's sqlite3 opens transactions late and commits before DDL; with
        # isolation_level=None it emits no BEGIN/COMMIT of its own and we issue them below.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        if read_only:
            cur.execute("PRAGMA query_only=ON")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if WRITE_TXN.get() else "BEGIN")
