"""`python -m tests.pgcheck URL`: fail fast, in one line, when test PostgreSQL is unreachable."""

from __future__ import annotations

import asyncio
import sys

from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine


async def check(url: str) -> None:
    engine = create_async_engine(make_url(url).set(database="postgres"))
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    finally:
        await engine.dispose()


if __name__ == "__main__":
    try:
        asyncio.run(check(sys.argv[1]))
    except Exception as exc:
        sys.stderr.write(
            f"PostgreSQL for the tests is unreachable ({exc.__class__.__name__}); start it with "
            "`pg_ctlcluster --skip-systemctl-redirect 15 main start` or set PG_TEST_URL\n"
        )
        sys.exit(1)
