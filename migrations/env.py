"""Alembic environment: async, batch mode for SQLite, one transaction per migration."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from app.db.dialect import autogenerate_include_name
from app.db.engine import create_engine
from app.models import Base
from app.settings import get_settings

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    # Tests and the CLI may hand a URL in; otherwise it comes from POWERCAT_DATABASE_URL.
    url = config.attributes.get("sqlalchemy.url")
    return str(url) if url else get_settings().database_url


def _configure(connection: Connection | None = None, url: str | None = None) -> None:
    context.configure(
        connection=connection,
        url=url,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        # Migration 0002 builds search objects for one database only (FTS5 tables on SQLite,
        # pg_trgm GIN indexes on PostgreSQL) that the models cannot declare for both: without
        # this filter autogenerate would propose dropping them.
        include_name=autogenerate_include_name,
        transaction_per_migration=True,
    )


def _run_sync(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_engine(get_settings(), url=_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_sync)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    _configure(url=_url())
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_sync(connection)
    else:
        asyncio.run(_run_async())
