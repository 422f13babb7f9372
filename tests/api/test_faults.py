"""Database faults over HTTP: outages, pool exhaustion, disconnects, SQLite lock contention."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, make_url, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import create_engine, create_sessionmaker
from app.main import create_app
from app.models import AuditEntry, ItemRevision
from app.settings import Settings
from tests.asgi import LifespanClient, lifespan_client
from tests.factories import seed_committed
from tests.tcpproxy import TcpProxy

FIRST_CODE = "11620621MB176555834620236001000"


@contextlib.asynccontextmanager
async def _serve(
    settings: Settings, token: str, *, fast_lookups: bool = True
) -> AsyncIterator[LifespanClient]:
    app = create_app(settings)
    if not fast_lookups:
        # Any override sends lookups by code to the documented route (app/api/fastpath.py).
        app.dependency_overrides[object] = object
    async with lifespan_client(app, {"Authorization": f"Bearer {token}"}) as c:
        yield c


async def _behind_proxy(url: str) -> tuple[TcpProxy, Settings]:
    """A started proxy in front of `url`'s server, and settings that reach the database by it."""
    parsed = make_url(url)
    proxy = TcpProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
    await proxy.start()
    via_proxy = parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    return proxy, Settings(database_url=via_proxy, db_pool_timeout_s=2)


@pytest.mark.postgres
class TestDatabaseOutage:
    async def test_outage_is_503_and_service_recovers_by_itself(self, migrated_url: str) -> None:
        token = await seed_committed(migrated_url)
        proxy, settings = await _behind_proxy(migrated_url)
        async with _serve(settings, token, fast_lookups=False) as c:
            assert (await c.get("/readyz")).status_code == 200
            assert (await c.get("/api/v1/items")).status_code == 200
            await proxy.cut()
            documented_lookup = f"/api/v1/items/by-code/{FIRST_CODE}"
            for path in ("/readyz", "/api/v1/items", documented_lookup):
                r = await c.get(path)
                assert r.status_code == 503, (path, r.status_code, r.text[:200])
                assert r.headers["content-type"] == "application/problem+json"
                assert "retry-after" in r.headers
            await proxy.restore()
            assert (await c.get("/readyz")).status_code == 200
            assert (await c.get("/api/v1/items")).status_code == 200
            assert (await c.get(documented_lookup)).status_code == 200
        await proxy.cut()

    async def test_a_search_page_fails_as_503_and_recovers(self, migrated_url: str) -> None:
        # An anonymous search's first statement is its page's BEGIN (services/items.py runs the
        # page in one snapshot), on a pooled connection the outage has broken.
        await seed_committed(migrated_url)
        proxy, settings = await _behind_proxy(migrated_url)
        search = "/api/v1/items?q=" + "医疗保障"
        async with lifespan_client(create_app(settings)) as c:
            assert (await c.get(search)).status_code == 200
            await proxy.cut()
            for _ in range(2):
                r = await c.get(search)
                assert r.status_code == 503, r.text[:200]
                assert r.json()["code"] == "database.unavailable"
            await proxy.restore()
            r = await c.get(search)
            assert r.status_code == 200, r.text[:200]
            assert r.json()["items"]
        await proxy.cut()

    async def test_the_lookups_fast_route_fails_as_503_and_recovers(
        self, migrated_url: str
    ) -> None:
        # By-code lookups take the fast route and its own driver pool (the test above sends its
        # lookup down the documented route).
        await seed_committed(migrated_url)
        proxy, settings = await _behind_proxy(migrated_url)
        lookup = f"/api/v1/items/by-code/{FIRST_CODE}"
        async with lifespan_client(create_app(settings)) as c:
            assert (await c.get(lookup)).status_code == 200
            await proxy.cut()
            for _ in range(2):  # the pooled connection lost, then no new one to be had
                r = await c.get(lookup)
                assert r.status_code == 503, r.text[:200]
                assert r.headers["content-type"] == "application/problem+json"
                assert r.json()["code"] == "database.unavailable"
                assert r.headers["retry-after"] == "1"
            await proxy.restore()
            assert (await c.get(lookup)).status_code == 200
        await proxy.cut()

    async def test_the_lookups_pool_exhausted_is_503(self, migrated_url: str) -> None:
        await seed_committed(migrated_url)
        settings = Settings(database_url=migrated_url, db_pool_size=1, db_pool_timeout_s=0.5)
        lookup = f"/api/v1/items/by-code/{FIRST_CODE}"
        async with lifespan_client(create_app(settings)) as c:
            async with c.state["lookup_pool"].acquire():
                r = await c.get(lookup)
            assert r.status_code == 503
            assert r.json()["code"] == "database.unavailable"
            assert (await c.get(lookup)).status_code == 200

    async def test_a_database_that_accepts_and_never_answers_is_503_unavailable(
        self, migrated_url: str
    ) -> None:
        # A listener that takes the connection and says nothing: the driver's connect timeout
        # (POWERCAT_DB_POOL_TIMEOUT_S) ends the wait with a bare TimeoutError, on both routes.
        writers: list[asyncio.StreamWriter] = []

        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writers.append(writer)
            await reader.read()  # whatever the client says, until it gives up and hangs up
            writer.close()

        listener = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        url = make_url(migrated_url).set(host="127.0.0.1", port=port)
        settings = Settings(
            database_url=url.render_as_string(hide_password=False), db_pool_timeout_s=0.5
        )
        try:
            async with lifespan_client(create_app(settings)) as c:
                for path in (f"/api/v1/items/by-code/{FIRST_CODE}", "/api/v1/items"):
                    r = await c.get(path)
                    assert r.status_code == 503, (path, r.text[:200])
                    assert r.json()["code"] == "database.unavailable", path
                    assert r.headers["retry-after"] == "1"
        finally:
            # Every connection closed here: one left to the collector warns in a later test.
            listener.close()
            for writer in writers:
                writer.close()
            await listener.wait_closed()

    async def test_pool_exhaustion_is_503_with_retry_after(self, migrated_url: str) -> None:
        token = await seed_committed(migrated_url)
        settings = Settings(database_url=migrated_url, db_pool_size=1, db_pool_timeout_s=0.5)
        async with _serve(settings, token) as c:
            engine: AsyncEngine = c.state["engine"]
            async with engine.connect() as held:
                await held.exec_driver_sql("SELECT 1")
                r = await c.get("/api/v1/items")
            assert r.status_code == 503
            assert r.headers["retry-after"] == "1"
            assert r.json()["code"] == "database.unavailable"
            assert (await c.get("/api/v1/items")).status_code == 200


async def _history_is_whole(url: str) -> None:
    """Every version has its revision, and every API write its audit entry: nothing half done."""
    engine = create_engine(Settings(database_url=url))
    try:
        async with create_sessionmaker(engine)() as s:
            from app.models import Item

            for item in (await s.scalars(select(Item))).all():
                revs = await s.scalar(
                    select(func.count())
                    .select_from(ItemRevision)
                    .where(ItemRevision.item_id == item.id)
                )
                assert revs == item.version, (item.id, item.version, revs)
            updates = await s.scalar(
                select(func.count()).select_from(ItemRevision).where(ItemRevision.kind == "update")
            )
            audits = await s.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "item.update")
            )
            assert updates == audits
    finally:
        await engine.dispose()


class TestDisconnects:
    async def test_clients_that_vanish_mid_write_leave_no_half_change(
        self, migrated_url: str
    ) -> None:
        token = await seed_committed(migrated_url)
        async with _serve(Settings(database_url=migrated_url), token) as c:
            item = (await c.get(f"/api/v1/items/by-code/{FIRST_CODE}")).json()

            async def write(n: int) -> None:
                current = (await c.get(f"/api/v1/items/{item['id']}")).json()["version"]
                await c.patch(
                    f"/api/v1/items/{item['id']}",
                    json={"remarks": f"第{n}次"},
                    headers={"If-Match": f'"{current}"'},
                )

            for n in range(12):
                task = asyncio.create_task(write(n))
                # Give up on the request at a different moment each time.
                await asyncio.sleep(0.002 * n)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await _history_is_whole(migrated_url)


class TestSqliteContention:
    @pytest.mark.sqlite
    async def test_concurrent_http_writers_never_see_database_locked(
        self, migrated_url: str
    ) -> None:
        token = await seed_committed(migrated_url)
        async with _serve(Settings(database_url=migrated_url), token) as c:
            item = (await c.get(f"/api/v1/items/by-code/{FIRST_CODE}")).json()

            async def write(n: int) -> int:
                r = await c.patch(
                    f"/api/v1/items/{item['id']}",
                    json={"remarks": f"写入{n}"},
                    headers={"If-Match": '"1"'},
                )
                return r.status_code

            statuses = await asyncio.gather(*(write(n) for n in range(20)))
        assert sorted(set(statuses)) == [200, 412]
        assert statuses.count(200) == 1
        await _history_is_whole(migrated_url)
