"""The lookup's fast path (app/api/fastpath.py) answers exactly as the documented route does.

Two apps over one committed database: the real one, and one with the fast route taken out, so
that every request there reaches `get_item_by_code`. Each case is asked of both and the answers
compared (status, body, headers); a counter on the fast route shows which requests it took.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Response
from sqlalchemy import select, update

from app.api.fastpath import FastLookup
from app.db import migrations
from app.db.engine import create_engine, create_sessionmaker, driver_connect_args
from app.enums import ItemStatus, KeyScope
from app.main import create_app
from app.models import Agency, ApiKey, Item
from app.schemas.items import ItemRead
from app.services import items, keys
from app.services.revisions import Actor
from app.settings import Settings, get_settings
from tests.asgi import lifespan_client
from tests.dbutil import copy_database, drop_database, fresh_database
from tests.factories import DUNHUANG, MINQIN, SHARED_CODE, import_file

VOLATILE_HEADERS = {"x-request-id", "date", "server"}
BY_CODE = "/api/v1/items/by-code/"


class Catalogue:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.unique_code = ""
        self.parent_code = ""
        self.sub_code = ""
        self.withdrawn_code = ""
        self.read_key = ""
        self.write_key = ""
        self.revoked_key = ""


@pytest.fixture
async def catalogue(tmp_path: Path, worker_id: str) -> AsyncIterator[Catalogue]:
    """Both seeds, a withdrawn item, a read key: committed, as a server would see them."""
    url = await asyncio.to_thread(fresh_database, f"api_fast{worker_id}", tmp_path)
    await asyncio.to_thread(migrations.upgrade, url)
    cat = Catalogue(Settings(database_url=url, rate_limit_per_minute=1_000_000))
    engine = create_engine(cat.settings)
    async with create_sessionmaker(engine)() as s, s.begin():
        await import_file(s, MINQIN)
        await import_file(s, DUNHUANG)
        rows = (await s.execute(select(Item.id, Item.local_code, Item.sub_local_code))).all()
        coded = [r for r in rows if r.local_code]
        counts: dict[str, int] = {}
        for r in coded:
            counts[r.local_code] = counts.get(r.local_code, 0) + 1
        singles = [r for r in coded if counts[r.local_code] == 1]
        cat.unique_code = singles[0].local_code
        # The seeds' sub-items carry no codes of their own: give one item a sub-item code.
        with_sub = singles[2]
        cat.parent_code, cat.sub_code = with_sub.local_code, with_sub.local_code[:-3] + "001"
        await s.execute(
            update(Item).where(Item.id == with_sub.id).values(sub_local_code=cat.sub_code)
        )
        gone = singles[1]
        cat.withdrawn_code = gone.local_code
        await items.set_status(
            s,
            item_id=gone.id,
            expected_version=None,
            status=ItemStatus.WITHDRAWN,
            actor=Actor("fast path test"),
        )
        _, cat.read_key = await keys.create(
            s, name="fast path", scope=KeyScope.READ, agency_names=[]
        )
        _, cat.write_key = await keys.create(
            s, name="fast path writer", scope=KeyScope.ADMIN, agency_names=[]
        )
        revoked, cat.revoked_key = await keys.create(
            s, name="fast path, revoked", scope=KeyScope.READ, agency_names=[]
        )
        await keys.revoke(s, key_id=revoked.id)
    await engine.dispose()
    yield cat
    await asyncio.to_thread(drop_database, url)


def without_fast_route(app: FastAPI) -> FastAPI:
    fast: object = FastLookup
    app.user_middleware[:] = [m for m in app.user_middleware if m.cls is not fast]
    return app


class Counter:
    """Counts the lookups the fast layer took, and records those it passed on (a key that did
    not verify) by path."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.declined: list[str] = []
        original = FastLookup.answer

        async def counted(
            fast: FastLookup, scope: Any, receive: Any, send: Any, lookup: Any
        ) -> bool:
            self.calls += 1
            answered = await original(fast, scope, receive, send, lookup)
            if not answered:
                self.declined.append(scope["path"])
            return answered

        monkeypatch.setattr(FastLookup, "answer", counted)


@pytest.fixture
def counter(monkeypatch: pytest.MonkeyPatch) -> Counter:
    return Counter(monkeypatch)


async def both(
    settings: Settings, method: str, url: str, headers: dict[str, str] | None = None
) -> tuple[httpx.Response, httpx.Response]:
    async with (
        lifespan_client(create_app(settings)) as fast,
        lifespan_client(without_fast_route(create_app(settings))) as documented,
    ):
        return (
            await fast.request(method, url, headers=headers),
            await documented.request(method, url, headers=headers),
        )


def same_answer(fast: httpx.Response, documented: httpx.Response) -> None:
    assert fast.status_code == documented.status_code, (fast.text, documented.text)
    assert fast.content == documented.content

    def strip(r: httpx.Response) -> dict[str, str]:
        return {k: v for k, v in r.headers.items() if k not in VOLATILE_HEADERS}

    assert strip(fast) == strip(documented)


def plain_cases(cat: Catalogue) -> list[tuple[str, dict[str, str], int]]:
    """(url, headers, expected status) of requests the fast route takes."""
    return [
        (BY_CODE + cat.unique_code, {}, 200),
        (BY_CODE + cat.unique_code.lower(), {}, 200),
        (f"{BY_CODE}{cat.parent_code}?sub_code={cat.sub_code}", {}, 200),
        (f"{BY_CODE}{cat.parent_code.lower()}?sub_code={cat.sub_code.lower()}", {}, 200),
        (BY_CODE + SHARED_CODE, {}, 409),
        (BY_CODE + "11620621MB1765558346202360010" + "99", {}, 404),
        (BY_CODE + cat.withdrawn_code, {}, 200),
        (BY_CODE + cat.unique_code, {"If-None-Match": '"1"'}, 200),  # a bare tag: no 304 here
        (BY_CODE + cat.unique_code, {"If-None-Match": "*"}, 304),
        (BY_CODE + cat.unique_code + "?_=1733500000000", {}, 200),  # jQuery's cache: false
        (f"{BY_CODE}{cat.parent_code}?_=1&sub_code={cat.sub_code}&_=2", {}, 200),
    ]


async def test_plain_lookups_take_the_fast_route_and_answer_the_same(
    catalogue: Catalogue, counter: Counter
) -> None:
    cases = plain_cases(catalogue)
    for url, headers, status in cases:
        fast, documented = await both(catalogue.settings, "GET", url, headers)
        assert fast.status_code == status, (url, fast.text)
        same_answer(fast, documented)
    assert counter.calls == len(cases)


async def test_lookups_write_the_item_as_item_read_does(catalogue: Catalogue) -> None:
    # Both routes answer with unvalidated Item data written by orjson: it must be ItemRead's JSON.
    cases = [c for c in plain_cases(catalogue) if c[2] == 200]
    for url, headers, _ in cases:
        fast, documented = await both(catalogue.settings, "GET", url, headers)
        for r in (fast, documented):
            assert r.content == ItemRead.model_validate_json(r.content).model_dump_json().encode()


async def test_the_by_code_etag_gives_a_304_on_the_fast_route(
    catalogue: Catalogue, counter: Counter
) -> None:
    async with lifespan_client(create_app(catalogue.settings)) as c:
        first = await c.get(BY_CODE + catalogue.unique_code)
        again = await c.get(
            BY_CODE + catalogue.unique_code, headers={"If-None-Match": first.headers["ETag"]}
        )
    assert again.status_code == 304
    assert again.headers["ETag"] == first.headers["ETag"]
    assert counter.calls == 2


async def test_other_requests_fall_through_to_the_documented_route(
    catalogue: Catalogue, counter: Counter
) -> None:
    code = catalogue.unique_code
    key = catalogue.read_key
    cases: list[tuple[str, str, dict[str, str], int]] = [
        ("GET", BY_CODE + code, {"Authorization": f"Basic {key}"}, 401),
        ("GET", BY_CODE + code, {"Authorization": "Bearer "}, 401),
        ("GET", BY_CODE + code + "?release=none", {"Authorization": f"Bearer {key}"}, 404),
        ("GET", BY_CODE + code + f"?x={key}", {"Authorization": f"Bearer {key}"}, 422),
        ("GET", BY_CODE + code + "?release=no-such-release", {}, 404),
        ("GET", BY_CODE + code + "?unknown=1", {}, 422),
        ("GET", BY_CODE + code + "?sub_code=short", {}, 422),
        ("GET", f"{BY_CODE}{code}?sub_code={code}&sub_code={code}", {}, 422),
        ("GET", BY_CODE + code[:8] + "o" + code[9:], {}, 422),  # O is not in the codes' alphabet
        ("GET", BY_CODE + code[:-1], {}, 422),
        ("GET", BY_CODE + code, {"If-None-Match": '"' + "9" * 300 + '"'}, 422),
        ("POST", BY_CODE + code, {}, 405),
    ]
    for method, url, headers, status in cases:
        fast, documented = await both(catalogue.settings, method, url, headers)
        assert fast.status_code == status, (url, fast.text)
        same_answer(fast, documented)
    assert counter.calls == 0


async def test_a_head_is_answered_here_as_the_documented_route_answers_it(
    catalogue: Catalogue, counter: Counter
) -> None:
    # The edge serves a HEAD as the GET it mirrors (tests/api/test_head.py): a plain lookup's
    # is this layer's, with the documented route's status and headers.
    fast, documented = await both(catalogue.settings, "HEAD", BY_CODE + catalogue.unique_code)
    assert fast.status_code == 200
    assert fast.content == b""
    same_answer(fast, documented)
    assert counter.calls == 1


async def test_lookups_with_a_key_take_the_fast_route_when_it_verifies(
    catalogue: Catalogue, counter: Counter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live key's lookups are answered here, as integrators with keys make them; a key that
    does not verify is passed on, and the documented route refuses it as before."""
    declined = counter.declined
    code = catalogue.unique_code
    cases = [
        ({"Authorization": f"Bearer {catalogue.read_key}"}, 200, False),
        ({"Authorization": f"bearer  {catalogue.read_key} "}, 200, False),
        ({"Authorization": f"Bearer {catalogue.revoked_key}"}, 401, True),
        ({"Authorization": "Bearer pck_not_a_key"}, 401, True),
        ({"Authorization": "Bearer not_even_the_prefix"}, 401, True),
    ]
    for headers, status, passed_on in cases:
        before = len(declined)
        fast, documented = await both(catalogue.settings, "GET", BY_CODE + code, headers)
        assert fast.status_code == status, (headers, fast.text)
        same_answer(fast, documented)
        assert len(declined) - before == int(passed_on), headers
    assert counter.calls == len(cases)
    # Closed to the public, a key still reads here.
    monkeypatch.setattr(get_settings(), "public_read", False)
    headers = {"Authorization": f"Bearer {catalogue.read_key}"}
    fast, documented = await both(catalogue.settings, "GET", BY_CODE + code, headers)
    assert fast.status_code == 200
    same_answer(fast, documented)
    assert counter.calls == len(cases) + 1


async def test_a_lookup_with_a_key_counts_against_the_keys_rate_limit(
    catalogue: Catalogue, counter: Counter
) -> None:
    # The limiter charges a key's requests to the key once it has verified (its first request
    # in a worker counts against the address): the fast route must report the key it verified,
    # or every one of them would use up the address's bucket.
    settings = catalogue.settings.model_copy(update={"rate_limit_per_minute": 2})
    headers = {"Authorization": f"Bearer {catalogue.read_key}"}
    async with lifespan_client(create_app(settings)) as c:
        answers = [(await c.get(BY_CODE + catalogue.unique_code, headers=headers)).status_code
                   for _ in range(4)]  # fmt: skip
        anonymous = (await c.get(BY_CODE + catalogue.unique_code)).status_code
    assert answers == [200, 200, 200, 429]  # one from the address's 2, then the key's 2
    assert anonymous == 200  # the address's second
    assert counter.calls == 4


async def test_cross_origin_lookups_get_the_same_cors_answer(
    catalogue: Catalogue, counter: Counter
) -> None:
    """With CORS open to a portal, the fast route's answers, and those it passes on, carry the
    same CORS headers as the documented route's (once each: a passed-on request is not wrapped
    twice)."""
    declined = counter.declined
    portal = "https://portal.example.gov.cn"
    settings = catalogue.settings.model_copy(update={"cors_origins": [portal]})
    cases = [
        ({"Origin": portal}, 200),
        ({"Origin": portal, "Authorization": f"Bearer {catalogue.read_key}"}, 200),
        ({"Origin": portal, "Authorization": f"Bearer {catalogue.revoked_key}"}, 401),
        ({"Origin": "https://elsewhere.example"}, 200),
    ]
    for headers, status in cases:
        fast, documented = await both(settings, "GET", BY_CODE + catalogue.unique_code, headers)
        assert fast.status_code == status, (headers, fast.text)
        same_answer(fast, documented)
        allowed = fast.headers.get("access-control-allow-origin")
        assert allowed == (portal if headers["Origin"] == portal else None)
        assert fast.headers.get_list("vary") == documented.headers.get_list("vary")
    assert counter.calls == len(cases)
    assert len(declined) == 1


async def test_behind_a_replica_keys_are_checked_on_the_primary(
    catalogue: Catalogue, counter: Counter, tmp_path: Path, worker_id: str
) -> None:
    """Behind a replica a key is checked on the primary, where a revocation lands first (a
    lagging replica would still honour a revoked key); a read key's lookup then reads the
    replica, and a writing key's the primary, its own writes, as the documented route does.
    The replica is a copy of the catalogue frozen before the changes below: a lagging one."""
    primary = catalogue.settings.database_url
    replica = await asyncio.to_thread(
        copy_database, primary, f"api_fast_replica{worker_id}", tmp_path
    )
    code = catalogue.unique_code
    try:
        engine = create_engine(catalogue.settings)
        async with create_sessionmaker(engine)() as s, s.begin():
            old_name = await s.scalar(select(Item.name).where(Item.local_code == code))
            await s.execute(update(Item).where(Item.local_code == code).values(name="改名事项"))
            revoked = await s.scalar(
                select(ApiKey.id).where(ApiKey.key_hash == keys.hash_token(catalogue.read_key))
            )
            assert revoked is not None
            await keys.revoke(s, key_id=revoked)
            _, new_key = await keys.create(
                s, name="after the copy", scope=KeyScope.READ, agency_names=[]
            )
            agency = await s.scalar(select(Agency.name).join(Item).where(Item.local_code == code))
            assert agency is not None
            _, writer_key = await keys.create(
                s, name="an agency's writer", scope=KeyScope.WRITE, agency_names=[agency]
            )
        await engine.dispose()
        settings = catalogue.settings.model_copy(update={"read_database_url": replica})
        cases = [
            (new_key, 200, old_name),  # unknown to the replica; reads the replica
            (catalogue.read_key, 401, None),  # still live on the replica
            (catalogue.write_key, 200, "改名事项"),  # an admin key: reads the primary
            (writer_key, 200, "改名事项"),  # a write key too
        ]
        for token, status, name in cases:
            headers = {"Authorization": f"Bearer {token}"}
            fast, documented = await both(settings, "GET", BY_CODE + code, headers)
            assert fast.status_code == status, (token, fast.text)
            same_answer(fast, documented)
            if name is not None:
                assert fast.json()["name"] == name
        assert counter.calls == len(cases)
        assert counter.declined == [BY_CODE + code]
    finally:
        await asyncio.to_thread(drop_database, replica)


async def test_reads_closed_to_the_public_fall_through_to_the_key_check(
    catalogue: Catalogue, counter: Counter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "public_read", False)
    fast, documented = await both(catalogue.settings, "GET", BY_CODE + catalogue.unique_code)
    assert fast.status_code == 401
    same_answer(fast, documented)
    assert counter.calls == 0


async def test_dependency_overrides_reach_the_documented_route(
    catalogue: Catalogue, counter: Counter
) -> None:
    app = create_app(catalogue.settings)
    app.dependency_overrides[object] = object  # any override: tests' sessions must be honoured
    async with lifespan_client(app) as c:
        r = await c.get(BY_CODE + catalogue.unique_code)
    assert r.status_code == 200
    assert counter.calls == 0


async def test_a_replica_serves_the_fast_route(catalogue: Catalogue, counter: Counter) -> None:
    settings = catalogue.settings.model_copy(
        update={"read_database_url": catalogue.settings.database_url}
    )
    async with lifespan_client(create_app(settings)) as c:
        assert c.state["lookup_engine"].url == c.state["read_engine"].url
        assert c.state["lookup_engine"].sync_engine.pool is c.state["read_engine"].sync_engine.pool
        r = await c.get(BY_CODE + catalogue.unique_code)
    assert r.status_code == 200
    assert counter.calls == 1


@pytest.mark.postgres
async def test_on_postgresql_the_fast_route_reads_through_its_driver_pool(
    catalogue: Catalogue, counter: Counter
) -> None:
    async with lifespan_client(create_app(catalogue.settings)) as c:
        pool = c.state["lookup_pool"]
        assert pool.get_size() == 0  # it connects when a lookup needs it, as the engine does
        r = await c.get(BY_CODE + catalogue.unique_code)
        assert r.status_code == 200
        assert pool.get_size() > 0
        async with pool.acquire() as conn:  # the primary's pool: writes are not refused
            assert await conn.fetchval("SHOW default_transaction_read_only") == "off"
            assert await conn.fetchval("SHOW application_name") == "powercat"
    assert counter.calls == 1


@pytest.mark.postgres
async def test_the_driver_pool_sends_nothing_when_a_lookup_gives_its_connection_back(
    catalogue: Catalogue,
) -> None:
    """asyncpg's default reset (advisory unlock, CLOSE ALL, UNLISTEN, RESET ALL) would cost every
    lookup a second round trip; the fast route leaves no session state for it to clear."""
    async with lifespan_client(create_app(catalogue.settings)) as c:
        pool = c.state["lookup_pool"]
        assert (await c.get(BY_CODE + catalogue.unique_code)).status_code == 200
        assert pool.get_size() == 1
        sent: list[str] = []
        async with pool.acquire() as conn:
            conn.add_query_logger(lambda record: sent.append(record.query))
            await conn.execute("BEGIN")  # left open: asyncpg still rolls it back on release
        await asyncio.sleep(0)  # query loggers are called soon, not at once
        assert sent == ["BEGIN", "ROLLBACK"]
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
        assert (await c.get(BY_CODE + catalogue.unique_code)).status_code == 200
        await asyncio.sleep(0)
        assert len(sent) == 3, sent  # the lookup's SELECT alone
        assert sent[-1].lstrip().upper().startswith("SELECT"), sent


async def _prepared_statements(pool: Any) -> int:
    async with pool.acquire() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM pg_prepared_statements"))


@pytest.mark.postgres
@pytest.mark.parametrize(("cache_size", "keeps_statements"), [("100", True), ("0", False)])
async def test_the_driver_pool_takes_the_adapters_url_options(
    catalogue: Catalogue, counter: Counter, cache_size: str, keeps_statements: bool
) -> None:
    """SQLAlchemy's own URL options (here its statement cache size, which PgBouncer setups set to
    0) are not sent to the server as settings, which refused the connection; 0 makes the driver
    pool prepare nothing to keep either."""
    url = f"{catalogue.settings.database_url}?prepared_statement_cache_size={cache_size}"
    settings = catalogue.settings.model_copy(update={"database_url": url})
    async with lifespan_client(create_app(settings)) as c:
        for _ in range(2):
            r = await c.get(BY_CODE + catalogue.unique_code)
            assert r.status_code == 200, r.text
        assert (await _prepared_statements(c.state["lookup_pool"]) > 0) is keeps_statements
    assert counter.calls == 2


@pytest.mark.postgres
def test_the_driver_pool_reads_the_url_as_the_engine_does() -> None:
    """Credentials come unquoted, several hosts stay several, text options become numbers."""
    url = (
        "postgresql+asyncpg://us%3Aer:p%40ss%3Aw%2Frd%25@/cat%20alogue?host=db1:5433&host=db2:5434"
        "&statement_cache_size=7&command_timeout=2.5&prepared_statement_name_func=x"
    )
    args = driver_connect_args(create_engine(Settings(database_url=url)))
    assert args == {
        "user": "us:er",
        "password": "p@ss:w/rd%",
        "host": ["db1", "db2"],
        "port": [5433, 5434],
        "database": "cat alogue",
        "statement_cache_size": 7,
        "command_timeout": 2.5,
    }


@pytest.mark.sqlite
async def test_on_sqlite_the_fast_route_uses_the_engine(catalogue: Catalogue) -> None:
    async with lifespan_client(create_app(catalogue.settings)) as c:
        assert c.state["lookup_pool"] is None
        assert (await c.get(BY_CODE + catalogue.unique_code)).status_code == 200


def test_the_fast_layer_refuses_handlers_it_could_not_apply_as_starlette_does(
    settings: Settings,
) -> None:
    # It applies the app's handlers itself; a kind it does not (a sync handler, one keyed by
    # status code) must stop the app at start-up rather than answer lookups differently.
    def sync_handler(_request: Any, _exc: Exception) -> Response:
        return Response(status_code=500)

    async def status_handler(_request: Any, _exc: Exception) -> Response:
        return Response(status_code=418)

    handlers: list[tuple[Any, Any]] = [(KeyError, sync_handler), (418, status_handler)]

    create_app(settings).build_middleware_stack()  # the app's own handlers are fine
    for kind, handler in handlers:
        app = create_app(settings)
        app.add_exception_handler(kind, handler)
        with pytest.raises(TypeError, match="fast layer"):
            app.build_middleware_stack()
