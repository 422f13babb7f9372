"""POWERCAT_READ_DATABASE_URL: public reads go to the read engine, writes and writers' reads don't.

The "replica" here is a second, read-only connection to the same database: what the routing
needs to prove is which engine each request used, and that the read engine cannot write.
"""

from __future__ import annotations

import asyncio
import gc
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

import app.main
from app.db import engine as engine_module
from app.db import migrations
from app.db.engine import create_engine, create_sessionmaker
from app.enums import KeyScope
from app.main import create_app
from app.services import keys
from app.settings import Settings
from tests.asgi import LifespanClient, lifespan_client
from tests.dbutil import drop_database, fresh_database
from tests.factories import MINQIN, SHARED_CODE, import_file


@dataclass
class Served:
    settings: Settings
    tokens: dict[str, str] = field(default_factory=dict)


@pytest.fixture
async def served(tmp_path: Path, worker_id: str) -> AsyncIterator[Served]:
    """A database of its own with the 民勤县 seed and one key per scope, committed."""
    url = await asyncio.to_thread(fresh_database, f"api_rr{worker_id}", tmp_path)
    await asyncio.to_thread(migrations.upgrade, url)
    served = Served(Settings(database_url=url, read_database_url=url))
    engine = create_engine(served.settings)
    async with create_sessionmaker(engine)() as s, s.begin():
        await import_file(s, MINQIN)
        for scope in KeyScope:
            _, served.tokens[scope.value] = await keys.create(
                s,
                name=f"rr {scope.value}",
                scope=scope,
                agency_names=["民勤县医疗保障局"] if scope == KeyScope.WRITE else [],
            )
    await engine.dispose()
    yield served
    await asyncio.to_thread(drop_database, url)


class StatementLog:
    """Which engine ran each SQL statement the app sent."""

    def __init__(self) -> None:
        self.by_engine: dict[str, list[str]] = {"primary": [], "read": []}

    def watch(self, name: str, engine: AsyncEngine) -> None:
        def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            self.by_engine[name].append(statement)

        event.listen(engine.sync_engine, "before_cursor_execute", record)

    def clear(self) -> None:
        for statements in self.by_engine.values():
            statements.clear()

    def writes(self, name: str) -> list[str]:
        verbs = ("INSERT", "UPDATE", "DELETE")
        return [s for s in self.by_engine[name] if s.lstrip().upper().startswith(verbs)]


@pytest.fixture
async def client(served: Served) -> AsyncIterator[tuple[LifespanClient, StatementLog]]:
    async with lifespan_client(create_app(served.settings)) as c:
        log = StatementLog()
        log.watch("primary", c.state["engine"])
        log.watch("read", c.state["read_engine"])
        yield c, log


def reads_table(statement: str, table: str) -> bool:
    return re.search(rf"\bFROM \"?{table}\b\"?(?!_)", statement) is not None


PUBLIC_READS = [
    "/api/v1/items?limit=5",
    "/api/v1/items?q=医疗",
    "/api/v1/items/by-code/11620621MB176555834620236001000",
    "/api/v1/items/1",
    "/api/v1/items/1/revisions",
    "/api/v1/agencies",
    "/api/v1/power-types",
    "/api/v1/releases",
    "/api/v1/exports?format=ndjson",
]


@pytest.mark.parametrize("path", PUBLIC_READS)
async def test_public_reads_use_the_read_engine_only(
    client: tuple[LifespanClient, StatementLog], path: str
) -> None:
    c, log = client
    r = await c.get(path)
    assert r.status_code == 200, r.text
    pool = c.state["lookup_pool"]
    if "/by-code/" in path and pool is not None:
        # On PostgreSQL the lookup's fast route reads through its own driver pool, which no
        # engine event sees: it must have been made on the read side, and have served this.
        assert pool.get_size() > 0, "the lookup's pool opened no connection"
        async with pool.acquire() as conn:
            assert await conn.fetchval("SHOW default_transaction_read_only") == "on"
            assert await conn.fetchval("SHOW application_name") == "powercat.read"
    else:
        assert log.by_engine["read"], "the read engine ran no statement"
    assert log.by_engine["primary"] == []


async def test_a_read_key_reads_the_replica_after_the_key_check_on_the_primary(
    client: tuple[LifespanClient, StatementLog], served: Served
) -> None:
    c, log = client
    r = await c.get("/api/v1/items/1", headers={"Authorization": f"Bearer {served.tokens['read']}"})
    assert r.status_code == 200
    # The key is looked up on the primary (a revoked key stops at once, whatever the lag) ...
    assert any(reads_table(s, "api_key") for s in log.by_engine["primary"])
    # ... and the item itself comes from the replica.
    assert any(reads_table(s, "item") for s in log.by_engine["read"])
    assert not any(reads_table(s, "item") for s in log.by_engine["primary"])


async def test_writers_write_and_read_their_writes_on_the_primary(
    client: tuple[LifespanClient, StatementLog], served: Served
) -> None:
    c, log = client
    auth = {"Authorization": f"Bearer {served.tokens['write']}"}
    before = (await c.get("/api/v1/items/1", headers=auth)).json()
    patched = await c.patch(
        "/api/v1/items/1",
        json={"remarks": "读写分离"},
        headers={**auth, "If-Match": f'"{before["version"]}"'},
    )
    assert patched.status_code == 200, patched.text
    again = await c.get("/api/v1/items/1", headers=auth)
    assert again.json()["version"] == before["version"] + 1
    assert again.json()["remarks"] == "读写分离"
    assert log.writes("primary"), "the PATCH wrote nothing on the primary"
    assert log.by_engine["read"] == []


async def test_the_change_feed_reads_the_primary(
    client: tuple[LifespanClient, StatementLog],
) -> None:
    c, log = client
    r = await c.get("/api/v1/changes")
    assert r.status_code == 200
    assert len(r.json()["changes"]) == 9
    assert log.by_engine["read"] == []


async def test_an_ambiguous_code_is_still_409_from_the_replica(
    client: tuple[LifespanClient, StatementLog],
) -> None:
    c, log = client
    r = await c.get(f"/api/v1/items/by-code/{SHARED_CODE}")
    assert r.status_code == 409
    assert len(r.json()["candidates"]) == 3
    assert log.by_engine["primary"] == []


async def test_the_read_engine_refuses_writes(client: tuple[LifespanClient, StatementLog]) -> None:
    c, _ = client
    read_engine: AsyncEngine = c.state["read_engine"]
    with pytest.raises(DBAPIError, match=r"(?i)read.only|readonly"):
        async with read_engine.begin() as conn:
            await conn.execute(text("UPDATE item SET remarks = 'x'"))


async def test_without_a_read_url_there_is_no_read_engine(served: Served) -> None:
    settings = served.settings.model_copy(update={"read_database_url": None})
    async with lifespan_client(create_app(settings)) as c:
        assert c.state["read_engine"] is None
        log = StatementLog()
        log.watch("primary", c.state["engine"])
        assert (await c.get("/api/v1/items/1")).status_code == 200
        assert log.by_engine["primary"]


async def test_a_start_up_that_fails_halfway_unmakes_what_it_made(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Behind a replica the start-up makes two engines and two driver pools; the second pool
    # failing must leave nothing open (nor the collector frozen) behind it.
    pools: list[Any] = []
    make_pool = engine_module.create_driver_pool

    async def second_fails(engine: AsyncEngine, settings: Settings, *, read_only: bool) -> Any:
        if pools:
            raise RuntimeError("the primary's pool could not be made")
        pools.append(await make_pool(engine, settings, read_only=read_only))
        return pools[-1]

    disposed: list[AsyncEngine] = []
    dispose = AsyncEngine.dispose

    async def counted(engine: AsyncEngine, close: bool = True) -> None:
        disposed.append(engine)
        await dispose(engine, close)

    monkeypatch.setattr(app.main, "create_driver_pool", second_fails)
    monkeypatch.setattr(AsyncEngine, "dispose", counted)
    frozen = gc.get_freeze_count()
    settings = served.settings.model_copy(
        update={"read_database_url": served.settings.database_url}
    )
    with pytest.raises(RuntimeError, match="could not be made"):
        async with lifespan_client(create_app(settings)):
            pass
    assert gc.get_freeze_count() == frozen
    assert len(disposed) == 2  # the primary's engine and the replica's
    assert pools[0] is None or pools[0].is_closing()  # PostgreSQL: the lookup's pool closed
