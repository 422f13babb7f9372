"""The lookup baseline: the smallest server that answers GET /api/v1/items/by-code/{code}.

A bare ASGI app, one SQL query through the driver (asyncpg, or aiosqlite for the SQLite run),
the same Item JSON powercat returns: the harness checks the two documents are equal before it
measures. No framework, no validation, no middleware, no ORM: what is left is the price of the
database round trip, the JSON and the HTTP server, which is what powercat's lookup is compared to.

Run under uvicorn with BENCH_DB_URL set (a SQLAlchemy-style URL, as POWERCAT_DATABASE_URL).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

from starlette.types import Receive, Scope, Send

COLUMNS = (
    "i.id, i.seq, i.name, i.sub_item_name, i.power_type_code, pt.label, i.power_type_raw, "
    "i.local_code, i.sub_local_code, i.exercising_body, i.handling_unit, i.legal_basis, "
    "i.legal_citations, i.responsibilities, i.accountability, i.remarks, i.status, i.version, "
    "i.source_file, i.source_line, i.source_page, i.created_at, i.updated_at, "
    "a.id, a.name, a.credit_code, a.division_code, a.level"
)
FROM = (
    "FROM item i JOIN agency a ON a.id = i.agency_id "
    "LEFT JOIN power_type pt ON pt.code = i.power_type_code"
)


def _time(value: Any) -> str:
    if isinstance(value, str):  # SQLite keeps timestamps as text
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    stamp: str = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return stamp


def document(row: Any) -> dict[str, Any]:
    citations = row[12]
    if isinstance(citations, str):
        citations = json.loads(citations)
    return {
        "id": row[0],
        "agency": {
            "id": row[23],
            "name": row[24],
            "credit_code": row[25],
            "division_code": row[26],
            "level": row[27],
        },
        "seq": row[1],
        "name": row[2],
        "sub_item_name": row[3],
        "power_type": {"code": row[4], "label": row[5], "raw": row[6]}
        if row[4] or row[6]
        else None,
        "local_code": row[7],
        "sub_local_code": row[8],
        "exercising_body": row[9],
        "handling_unit": row[10],
        "legal_basis": row[11],
        "legal_citations": citations or [],
        "responsibilities": row[13],
        "accountability": row[14],
        "remarks": row[15],
        "status": row[16],
        "version": row[17],
        "source": {"file": row[18], "line": row[19], "page": row[20]},
        "created_at": _time(row[21]),
        "updated_at": _time(row[22]),
    }


async def _nothing_to_reset(connection: Any) -> None:
    """No reset query when a connection goes back (asyncpg still ends any open transaction)."""


class Responder:
    def __init__(self, url: str) -> None:
        self.url = url
        self.fetch: Any = None

    async def startup(self) -> None:
        if self.url.startswith("postgresql"):
            import asyncpg

            dsn = self.url.replace("postgresql+asyncpg://", "postgresql://")
            # As powercat's driver pool does: a single SELECT in autocommit leaves nothing for
            # asyncpg's default reset query to clear, so neither side sends it on release.
            pool = await asyncpg.create_pool(dsn, min_size=1, max_size=5, reset=_nothing_to_reset)
            sql = f"SELECT {COLUMNS} {FROM} WHERE i.local_code = $1 ORDER BY i.id"

            async def fetch(code: str) -> list[Any]:
                async with pool.acquire() as conn:
                    return list(await conn.fetch(sql, code))

        else:
            import aiosqlite

            path = self.url.split(":///", 1)[1]
            conn = await aiosqlite.connect(path)
            sql = f"SELECT {COLUMNS} {FROM} WHERE i.local_code = ? ORDER BY i.id"

            async def fetch(code: str) -> list[Any]:
                async with conn.execute(sql, (code,)) as cursor:
                    return list(await cursor.fetchall())

        self.fetch = fetch

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await self.startup()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        code = scope["path"].rsplit("/", 1)[-1]
        rows = await self.fetch(code)
        if len(rows) == 1:
            status, body = 200, json.dumps(document(rows[0]), ensure_ascii=False).encode()
        else:
            status, body = (404 if not rows else 409), b'{"status": "not one"}'
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


app = Responder(os.environ.get("BENCH_DB_URL", ""))
