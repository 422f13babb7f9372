"""Test databases: a fresh SQLite file or a fresh PostgreSQL database, migrated for real."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from pathlib import Path

from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

TEST_URL_ENV = "POWERCAT_TEST_DATABASE_URL"


def test_backend() -> str:
    raw = os.environ.get(TEST_URL_ENV)
    return make_url(raw).get_backend_name() if raw else "sqlite"


def _word(name: str | None) -> str:
    if not (name and name.replace("_", "").isalnum()):
        raise ValueError(f"test database name must be a word, got {name!r}")
    return name


async def _as_admin(url: str, *statements: str) -> None:
    """Run `statements` on the server of `url`, connected to its `postgres` database."""
    admin = create_async_engine(
        make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=None
    )
    try:
        async with admin.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await admin.dispose()


async def _recreate_pg(url: str) -> None:
    name = _word(make_url(url).database)
    await _as_admin(
        url,
        f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
        # UTF-8 so that Chinese text and pg_trgm behave as in production.
        f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0 "
        "LC_COLLATE 'C' LC_CTYPE 'C.UTF-8'",
    )


async def _drop_pg(url: str) -> None:
    await _as_admin(url, f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


def fresh_database(name: str, tmp_dir: Path) -> str:
    """A URL to a new, empty database called `name` (SQLite file in tmp_dir otherwise)."""
    raw = os.environ.get(TEST_URL_ENV)
    if not raw:
        return f"sqlite+aiosqlite:///{tmp_dir / (name + '.db')}"
    parsed = make_url(raw)
    url = parsed.set(database=f"{parsed.database}_{name}").render_as_string(hide_password=False)
    asyncio.run(_recreate_pg(url))
    return url


def drop_database(url: str) -> None:
    if make_url(url).get_backend_name() == "postgresql":
        asyncio.run(_drop_pg(url))


def copy_database(url: str, name: str, tmp_dir: Path) -> str:
    """A new database called `name` holding what `url`'s holds now (nothing may be connected to
    it on PostgreSQL): a replica frozen at this moment, as a lagging one would be."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        target = tmp_dir / (name + ".db")
        with (
            contextlib.closing(sqlite3.connect(str(parsed.database))) as source,
            contextlib.closing(sqlite3.connect(target)) as copy,
        ):
            source.backup(copy)
        return f"sqlite+aiosqlite:///{target}"
    copy_url = parsed.set(database=f"{parsed.database}_{name}").render_as_string(
        hide_password=False
    )
    asyncio.run(_copy_pg(url, copy_url))
    return copy_url


async def _copy_pg(url: str, copy_url: str) -> None:
    source, copy = _word(make_url(url).database), _word(make_url(copy_url).database)
    await _as_admin(
        url,
        f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)',
        f'CREATE DATABASE "{copy}" TEMPLATE "{source}"',
    )
