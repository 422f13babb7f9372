"""GET /metrics: Prometheus text with every request counted by route template and status, and
the catalogue's state read from the database.

The request figures live in the process (prometheus_client's registry), shared by every app a
test process builds, so each test compares a scrape after its requests with one before them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from app import __version__
from app.api.fastpath import FastLookup
from app.api.metrics import route_of, route_templates
from app.db.engine import create_engine, create_sessionmaker
from app.main import create_app
from app.models import Change, ImportBatch
from app.settings import Settings
from tests.asgi import lifespan_client
from tests.factories import seed_committed

REQUESTS = "powercat_http_requests_total"
DURATIONS = "powercat_http_request_duration_seconds_count"
FIRST_CODE = "11620621MB176555834620236001000"
BY_CODE = "/api/v1/items/by-code/{local_code}"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape(client: httpx.AsyncClient) -> Samples:
    r = await client.get("/metrics")
    assert r.status_code == 200, r.text[:300]
    return parse(r.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def counted(before: Samples, after: Samples, method: str, route: str, status: int) -> float:
    """Requests counted between two scrapes under (method, route, status)."""
    labels = {"method": method, "route": route, "status": str(status)}
    return value(after, REQUESTS, **labels) - value(before, REQUESTS, **labels)


async def _database_figures(url: str) -> tuple[int, float]:
    """The newest change's position and when the newest import finished, as the database has
    them."""
    engine = create_engine(Settings(database_url=url))
    try:
        async with create_sessionmaker(engine)() as s:
            head = await s.scalar(select(func.max(Change.id)))
            finished = await s.scalar(select(func.max(ImportBatch.finished_at)))
    finally:
        await engine.dispose()
    assert head is not None
    assert finished is not None
    return head, finished.timestamp()


class TestRequests:
    async def test_metrics_are_prometheus_text(self, anon_client: httpx.AsyncClient) -> None:
        r = await anon_client.get("/metrics")
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        samples = parse(r.text)
        assert value(samples, "powercat_build_info", version=__version__) == 1
        assert value(samples, "powercat_database_up") == 1
        # Nothing else runs: the scrape is the one request in progress.
        assert value(samples, "powercat_http_requests_in_progress") == 1

    async def test_requests_count_by_route_template_and_status(
        self, anon_client: httpx.AsyncClient
    ) -> None:
        before = await scrape(anon_client)
        assert (await anon_client.get("/api/v1/items/987654321")).status_code == 404
        assert (await anon_client.get("/api/v1/items/987654322")).status_code == 404
        assert (await anon_client.get("/api/v1/power-types")).status_code == 200
        assert (await anon_client.get("/api/v1/items?limit=0")).status_code == 422
        assert (await anon_client.get("/no/such/page")).status_code == 404
        assert (await anon_client.get("/docs-assets/swagger-ui.css")).status_code == 200
        # FastAPI's own document is a plain Starlette route, named in the scope by its endpoint.
        assert (await anon_client.get("/openapi.json")).status_code == 200
        after = await scrape(anon_client)
        assert counted(before, after, "GET", "/docs-assets/{path}", 200) == 1
        assert counted(before, after, "GET", "/openapi.json", 200) == 1
        assert counted(before, after, "GET", "/api/v1/items/{item_id}", 404) == 2
        assert counted(before, after, "GET", "/api/v1/power-types", 200) == 1
        assert counted(before, after, "GET", "/api/v1/items", 422) == 1
        assert counted(before, after, "GET", "unrouted", 404) == 1
        durations = {"method": "GET", "route": "/api/v1/items/{item_id}"}
        assert value(after, DURATIONS, **durations) - value(before, DURATIONS, **durations) == 2
        # Paths never become labels: one series a route, not one an item.
        labels = {v for _name, pairs in after for _k, v in pairs}
        assert not any("987654321" in v or "/no/such" in v for v in labels)

    async def test_made_up_methods_share_one_series(self, anon_client: httpx.AsyncClient) -> None:
        before = await scrape(anon_client)
        for method in ("PROPFIND", "MKCOL"):
            assert (await anon_client.request(method, "/healthz")).status_code == 405
        after = await scrape(anon_client)
        assert counted(before, after, "other", "/healthz", 405) == 2
        assert not any(dict(labels).get("method") == "PROPFIND" for _name, labels in after)

    async def test_refusals_at_the_edge_are_counted(self, database_url: str) -> None:
        settings = Settings(database_url=database_url, rate_limit_per_minute=2, max_body_bytes=1024)
        async with lifespan_client(create_app(settings)) as c:
            before = await scrape(c)
            too_big = await c.post("/api/v1/items", content=b"x" * 2000)
            assert too_big.status_code == 413
            # The bucket held two requests; the refused upload took one.
            statuses = [(await c.get("/api/v1/power-types")).status_code for _ in range(2)]
            assert statuses == [200, 429]
            after = await scrape(c)
        assert counted(before, after, "GET", "/api/v1/power-types", 200) == 1
        assert counted(before, after, "GET", "unrouted", 429) == 1
        assert counted(before, after, "POST", "unrouted", 413) == 1

    async def test_fast_lookups_count_under_the_documented_route(
        self, migrated_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        await seed_committed(migrated_url)
        answered = []
        original = FastLookup.answer

        async def spy(fast: FastLookup, scope: Any, receive: Any, send: Any, lookup: Any) -> bool:
            answered.append(await original(fast, scope, receive, send, lookup))
            return answered[-1]

        monkeypatch.setattr(FastLookup, "answer", spy)
        unknown = FIRST_CODE[:-4] + "9999"
        async with lifespan_client(create_app(Settings(database_url=migrated_url))) as c:
            before = await scrape(c)
            assert (await c.get(f"/api/v1/items/by-code/{FIRST_CODE}")).status_code == 200
            assert (await c.get(f"/api/v1/items/by-code/{unknown}")).status_code == 404
            after = await scrape(c)
        assert answered == [True, True], "the fast layer answered both"
        assert counted(before, after, "GET", BY_CODE, 200) == 1
        assert counted(before, after, "GET", BY_CODE, 404) == 1


def test_a_route_under_two_prefixes_is_named_by_its_own_template() -> None:
    # FastAPI shares an included router's routes: one route object, two prefixes. Neither prefix
    # may name the other's requests.
    router = APIRouter()

    @router.get("/x")
    async def x() -> None: ...

    app = FastAPI()
    app.include_router(router, prefix="/a")
    app.include_router(router, prefix="/b")
    app.include_router(router, prefix="/a")
    [route] = router.routes
    templates = route_templates(app)
    assert route_of({"route": route}, templates) == "/x"
    assert route_of({}, templates) == "unrouted"


class TestCatalogue:
    async def test_the_catalogue_figures_follow_the_database(self, migrated_url: str) -> None:
        token = await seed_committed(migrated_url)
        head, imported = await _database_figures(migrated_url)
        app = create_app(Settings(database_url=migrated_url))
        async with lifespan_client(app, {"Authorization": f"Bearer {token}"}) as c:
            samples = await scrape(c)
            assert value(samples, "powercat_change_feed_head") == head
            assert value(samples, "powercat_last_import_timestamp_seconds") == pytest.approx(
                imported, abs=1e-3
            )
            # No validation has run: its figures are absent, not zero.
            assert not any("validation" in name for name, _ in samples)

            created = await c.post("/api/v1/validation-runs")
            assert created.status_code == 201, created.text
            run = (await c.get(f"/api/v1/validation-runs/{created.json()['id']}")).json()
            item = (await c.get(f"/api/v1/items/by-code/{FIRST_CODE}")).json()
            withdrawn = await c.delete(
                f"/api/v1/items/{item['id']}", headers={"If-Match": f'"{item["version"]}"'}
            )
            assert withdrawn.status_code == 200, withdrawn.text
            samples = await scrape(c)
        new_head, _ = await _database_figures(migrated_url)
        assert new_head > head
        assert value(samples, "powercat_change_feed_head") == new_head
        assert sum(run["counts"].values()) > 0, "the seed has issues to count"
        for severity, count in run["counts"].items():
            assert value(samples, "powercat_validation_issues", severity=severity) == count
        finished = datetime.fromisoformat(run["finished_at"]).timestamp()
        # The API writes RFC 3339 times to the second or finer.
        validated = value(samples, "powercat_last_validation_timestamp_seconds")
        assert validated == pytest.approx(finished, abs=1.0)

    async def test_a_scrape_without_the_database_still_answers(self) -> None:
        settings = Settings(database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none")
        async with lifespan_client(create_app(settings)) as c:
            assert (await c.get("/healthz")).status_code == 200
            r = await c.get("/metrics")
        assert r.status_code == 200
        samples = parse(r.text)
        assert value(samples, "powercat_database_up") == 0
        assert not any(name == "powercat_change_feed_head" for name, _ in samples)
        # The request figures are all there.
        assert value(samples, REQUESTS, method="GET", route="/healthz", status="200") >= 1
