"""Liveness, readiness and the documentation pages."""

from __future__ import annotations

import gc
from pathlib import Path

import httpx
import pytest

from app.main import create_app
from app.settings import Settings
from tests.asgi import lifespan_client


async def _get(settings: Settings, path: str) -> httpx.Response:
    async with lifespan_client(create_app(settings)) as c:
        return await c.get(path)


class TestHealth:
    async def test_healthz_answers_ok(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/healthz")
        assert r.status_code == 200
        assert r.json()["status"] == "ok"

    async def test_readyz_reports_migrated_database(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/readyz")
        assert r.status_code == 200
        body = r.json()
        assert body["status"] == "ok"
        assert body["revision"]

    async def test_readyz_is_503_problem_when_database_unreachable(self) -> None:
        settings = Settings(database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none")
        r = await _get(settings, "/readyz")
        assert r.status_code == 503
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "database.unavailable"
        assert "Retry-After" in r.headers

    @pytest.mark.sqlite
    async def test_readyz_is_503_problem_when_not_migrated(self, tmp_path: Path) -> None:
        settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
        r = await _get(settings, "/readyz")
        assert r.status_code == 503
        assert r.json()["code"] == "database.not_migrated"


class TestDocs:
    async def test_swagger_ui_loads_only_packaged_assets(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/docs")
        assert r.status_code == 200
        assert "https://" not in r.text
        assert "http://" not in r.text
        for asset in ("/docs-assets/swagger-ui-bundle.js", "/docs-assets/swagger-ui.css"):
            assert asset in r.text
            assert (await client.get(asset)).status_code == 200

    async def test_redoc_loads_only_packaged_assets(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/redoc")
        assert r.status_code == 200
        assert "fonts.googleapis" not in r.text
        assert "cdn" not in r.text
        assert (await client.get("/docs-assets/redoc.standalone.js")).status_code == 200


async def test_a_served_app_keeps_its_startup_objects_out_of_the_collector(
    settings: Settings,
) -> None:
    app = create_app(settings)
    assert gc.get_freeze_count() == 0
    async with lifespan_client(app) as c:
        assert (await c.get("/healthz")).status_code == 200
        assert gc.get_freeze_count() > 10_000
    assert gc.get_freeze_count() == 0
